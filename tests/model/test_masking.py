import math

import pytest
import torch

from ivr.model import span_mask


def runs(row):
    """Lengths of maximal runs of True."""
    out, current = [], 0
    for value in [*row.tolist(), False]:
        if value:
            current += 1
        elif current:
            out.append(current)
            current = 0
    return out


@pytest.mark.parametrize("mask_prob", [0.65, 0.05])
def test_masked_fraction_matches_overlapping_spans(mask_prob):
    # Starts ~ mask_prob * L / 10 uniform positions, spans of 10: a frame stays unmasked with
    # probability ~ (1 - 10 / L) ** (mask_prob * L / 10) ~ exp(-mask_prob); 0.65 -> ~48 % (paper: ~49 %).
    g = torch.Generator().manual_seed(0)
    lengths = torch.full((64,), 1000)
    mask = span_mask(lengths, 1000, mask_prob=mask_prob, mask_length=10, generator=g)
    assert mask.float().mean().item() == pytest.approx(1 - math.exp(-mask_prob), abs=0.02)


def test_spans_are_whole_and_padding_is_never_masked():
    g = torch.Generator().manual_seed(1)
    lengths = torch.tensor([300, 120, 37, 5, 0])
    mask = span_mask(lengths, 300, mask_prob=0.65, mask_length=10, generator=g)
    for b, n in enumerate(lengths.tolist()):
        assert not mask[b, n:].any()
        if n >= 10:
            assert mask[b].any()
            assert min(runs(mask[b, :n])) >= 10
    assert mask[3, :5].all()  # shorter than a span: masked whole
    assert not mask[4].any()


def test_same_generator_seed_same_mask():
    lengths = torch.tensor([200, 150])
    a = span_mask(lengths, 200, mask_prob=0.65, mask_length=10, generator=torch.Generator().manual_seed(7))
    b = span_mask(lengths, 200, mask_prob=0.65, mask_length=10, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
