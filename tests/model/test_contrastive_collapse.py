import math

import pytest
import torch

from ivr.model.pretrain import contrastive_loss


def test_codebook_collapse_is_the_worst_contrastive_outcome():
    """Every frame quantized to the same code: no distractor can be told apart, so loss = log(1 + K)."""
    torch.manual_seed(0)
    predictions = torch.randn(1, 30, 8)
    targets = torch.ones(1, 30, 8)  # one code for every frame
    mask = torch.ones(1, 30, dtype=torch.bool)
    loss, accuracy = contrastive_loss(predictions, targets, mask, num_negatives=10)
    assert loss.item() == pytest.approx(math.log(11), rel=1e-5)
    assert accuracy.item() == 0.0  # ties with identical distractors are not hits
    collapsed_fairseq, _ = contrastive_loss(
        predictions, targets, mask, num_negatives=10, exclude_identical=True
    )
    assert collapsed_fairseq.item() == pytest.approx(0.0, abs=1e-6)  # the incentive the default removes
