"""Task heads over encoder frames: intent classification (pooled) and CTC (per frame)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ivr.model.dims import HeadDims
from ivr.model.features import lengths_to_mask


@dataclass(frozen=True, slots=True)
class PoolState:
    """Running softmax-weighted sum over the frames seen so far, so pooling can be streamed exactly."""

    max_score: Tensor  # (B,) largest frame score so far (the softmax shift)
    weight: Tensor  # (B,) sum of exp(score - max_score)
    total: Tensor  # (B, D) sum of exp(score - max_score) * frame
    frames: Tensor  # (B,) int64 frames seen


class IntentHead(nn.Module):
    """Pool valid frames (learned attention weights or the mean), then a small MLP -> one logit per label."""

    temperature: Tensor

    def __init__(self, dim: int, labels: tuple[str, ...] | list[str], head: HeadDims | None = None):
        super().__init__()
        head = head or HeadDims()
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise ValueError(f"an intent head needs at least two distinct labels, got {list(labels)}")
        self.labels = tuple(labels)
        self.dims = head
        self.pooling = head.pooling
        self.score = nn.Linear(dim, 1) if head.pooling == "attention" else None
        self.mlp = nn.Sequential(
            nn.Linear(dim, head.hidden_dim),
            nn.GELU(),
            nn.Dropout(head.dropout),
            nn.Linear(head.hidden_dim, len(labels)),
        )
        # Softmax temperature fitted after training on held-out calls (calibration); 1 until then.
        self.register_buffer("temperature", torch.ones(()))

    def init_pool(self, batch: int, dim: int, *, device: torch.device | None = None) -> PoolState:
        low = torch.full((batch,), torch.finfo(torch.float32).min, device=device)
        zeros = torch.zeros(batch, device=device)
        return PoolState(low, zeros, torch.zeros(batch, dim, device=device), zeros.long())

    def accumulate(self, pool: PoolState, frames: Tensor, frame_lengths: Tensor) -> PoolState:
        """Add frames (B, F, D) with frame_lengths (B,) valid to the running pool."""
        valid = lengths_to_mask(frame_lengths, frames.shape[1])  # (B, F)
        if self.score is None:
            score = torch.zeros(valid.shape, dtype=frames.dtype, device=frames.device)  # mean pooling
        else:
            score = self.score(frames).squeeze(-1)  # (B, F)
        score = score.masked_fill(~valid, torch.finfo(score.dtype).min)
        top = torch.maximum(
            pool.max_score, score.max(dim=1).values if score.shape[1] else pool.max_score
        )  # (B,)
        rescale = torch.exp(pool.max_score - top)  # (B,)
        w = torch.exp(score - top[:, None]) * valid  # (B, F)
        weight = pool.weight * rescale + w.sum(1)  # (B,)
        total = pool.total * rescale[:, None] + torch.einsum("bf,bfd->bd", w, frames)  # (B, D)
        return PoolState(top, weight, total, pool.frames + frame_lengths)

    def logits_from(self, pool: PoolState) -> Tensor:
        """(B, L) logits from a pool; a pool with no frames gives the logits of a zero vector."""
        pooled = pool.total / pool.weight.clamp_min(1e-12)[:, None]  # (B, D)
        return self.mlp(pooled)

    def forward(self, frames: Tensor, frame_lengths: Tensor) -> Tensor:
        """frames (B, F, D), frame_lengths (B,) -> logits (B, L)."""
        pool = self.init_pool(frames.shape[0], frames.shape[2], device=frames.device)
        return self.logits_from(self.accumulate(pool, frames, frame_lengths))

    def probabilities(self, logits: Tensor) -> Tensor:
        """Calibrated probabilities: softmax(logits / temperature), (B, L)."""
        return F.softmax(logits / self.temperature, dim=-1)


class CTCHead(nn.Module):
    """Frames -> per-frame log-probabilities over a phoneme/character vocabulary (index 0: blank)."""

    def __init__(self, dim: int, vocab_size: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(dim, vocab_size)

    def forward(self, frames: Tensor) -> Tensor:
        """(B, F, D) -> (B, F, V) log-probabilities."""
        return F.log_softmax(self.proj(self.dropout(frames)).float(), dim=-1)
