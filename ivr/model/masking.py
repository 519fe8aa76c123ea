"""Span masking of the paper: random span starts, ``mask_length`` frames each, inside each utterance."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True, slots=True)
class SpanMasking:
    """How much of an utterance to mask: ``prob`` x frames as span starts, ``length`` frames a span.

    Pre-training masks about half the frames (the preset's 0.65 / 10); wav2vec 2.0 fine-tunes with masking
    too, as a regulariser (stage 2's ``finetune_mask_prob``).
    """

    prob: float
    length: int

    def __post_init__(self) -> None:
        if not 0.0 <= self.prob <= 1.0 or self.length < 1:
            raise ValueError(
                f"span masking needs prob in [0, 1] and length >= 1, got {self.prob}, {self.length}"
            )


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
