"""Span masking of the paper: random span starts, ``mask_length`` frames each, inside each utterance."""

from __future__ import annotations

import torch
from torch import Tensor


def span_mask(
    frame_lengths: Tensor,
    width: int,
    *,
    mask_prob: float,
    mask_length: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    """(B,) valid frames -> (B, width) bool mask of frames to replace with the mask embedding.

    Each utterance of L valid frames gets floor(mask_prob * L / mask_length + u), u ~ U[0, 1), span starts
    (at least one) drawn without replacement from its valid starts; spans may overlap, so with 0.65 / 10
    about half the frames end up masked. Padding is never masked; an utterance shorter than a span is
    masked whole.
    """
    mask = torch.zeros(len(frame_lengths), width, dtype=torch.bool)
    for b, length in enumerate(frame_lengths.tolist()):
        if length <= 0:
            continue
        span = min(mask_length, length)
        starts_available = length - span + 1
        wanted = mask_prob * length / mask_length + float(torch.rand((), generator=generator))
        num_spans = min(max(int(wanted), 1), starts_available)
        starts = torch.randperm(starts_available, generator=generator)[:num_spans]  # (S,)
        frames = (starts[:, None] + torch.arange(span)[None, :]).reshape(-1)  # (S * span,)
        mask[b, frames] = True
    return mask.to(frame_lengths.device)
