"""Levenshtein alignment of phoneme id strings and the phoneme error rate.

Stage 2b counts the decoder's confusions on the alignment; evaluation reports the error rate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def align(ref: Sequence[int], hyp: Sequence[int]) -> list[tuple[int | None, int | None]]:
    """Levenshtein alignment: (ref, hyp) pairs; None on one side marks an insertion or a deletion."""
    n, m = len(ref), len(hyp)
    cost = np.zeros((n + 1, m + 1), np.int32)
    cost[:, 0], cost[0, :] = np.arange(n + 1), np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            sub = cost[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1])
            cost[i, j] = min(sub, cost[i - 1, j] + 1, cost[i, j - 1] + 1)
    pairs: list[tuple[int | None, int | None]] = []
    i, j = n, m
    while i or j:  # prefer diagonal moves so a substitution is not split into a deletion + insertion
        if i and j and cost[i, j] == cost[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]):
            i, j = i - 1, j - 1
            pairs.append((ref[i], hyp[j]))
        elif i and cost[i, j] == cost[i - 1, j] + 1:
            i -= 1
            pairs.append((ref[i], None))
        else:
            j -= 1
            pairs.append((None, hyp[j]))
    return pairs[::-1]


def edit_distance(ref: Sequence[int], hyp: Sequence[int]) -> int:
    return sum(r != h for r, h in align(ref, hyp))


def error_rate(refs: Sequence[Sequence[int]], hyps: Sequence[Sequence[int]]) -> float:
    """Edits over reference symbols, word boundaries included (the phoneme error rate)."""
    edits = sum(edit_distance(r, h) for r, h in zip(refs, hyps, strict=True))
    return edits / max(1, sum(len(r) for r in refs))
