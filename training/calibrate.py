"""Calibration on the dev split: a softmax temperature and the out-of-scope threshold.

The decision rule (shared with ``ivr.runtime.classify``): predict the arg-max label; answer
``out_of_scope`` when that label is ``out_of_scope`` or its calibrated probability is below the
threshold. A threshold of 0 leaves rejection to the trained out-of-scope class alone.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import Tensor


def fit_temperature(logits: Tensor, labels: Tensor, *, steps: int = 100) -> float:
    """The T > 0 minimizing the NLL of softmax(logits / T) (Guo et al., 2017)."""
    log_t = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=steps)

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp().clamp(0.05, 20.0))


def rejected(probs: npt.NDArray[np.floating], threshold: float, oos_index: int) -> npt.NDArray[np.bool_]:
    """(N,) whether each row would be answered ``out_of_scope``."""
    top = probs.argmax(-1)
    return (top == oos_index) | (probs.max(-1) < threshold)


def choose_threshold(
    probs: npt.NDArray[np.floating],
    labels: npt.NDArray[np.integer],
    oos_index: int,
    *,
    max_false_rejection: float,
    groups: npt.NDArray[np.integer] | None = None,
) -> float:
    """The threshold that rejects the most out-of-scope rows while false-rejecting at most the budget.

    ``groups`` (one id per row) holds the budget in every group of in-scope rows, not only over all of
    them: dev clips of wording the model trained on are rejected far less often than clips of unheard
    wording, and a budget met on the mix is broken on a caller's own words. Ties go to the lowest
    threshold (fewest in-scope rejections). With no out-of-scope rows there is nothing to trade
    against, and the threshold is 0.
    """
    inscope = labels != oos_index
    if inscope.all() or not inscope.any():
        return 0.0
    groups = np.zeros(len(labels), np.int64) if groups is None else np.asarray(groups)
    members = [inscope & (groups == g) for g in np.unique(groups[inscope])]
    best, best_rejection = 0.0, -1.0
    for threshold in np.unique(np.concatenate([[0.0], probs.max(-1)])):
        rej = rejected(probs, float(threshold), oos_index)
        false_rejection = max(rej[m].mean() for m in members)
        if false_rejection <= max_false_rejection and rej[~inscope].mean() > best_rejection:
            best, best_rejection = float(threshold), float(rej[~inscope].mean())
    return best
