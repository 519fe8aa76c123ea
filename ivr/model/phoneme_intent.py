"""Intent from a phoneme string: the text head that learns from phrasings nobody synthesized.

The audio intent head only ever hears the few hundred sentences per intent that were synthesized; the
phrase bank holds thousands more. This classifier reads the greedy CTC decode of the acoustic model
(phoneme ids, blanks and repeats removed, word boundaries kept), so it can be trained on text run
through espeak-ng and corrupted the way the acoustic model errs, then fused with the audio head.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ivr.model.dims import reject_unknown_fields

PAD_ID = 0  # the CTC blank never survives a greedy decode, so it is free to pad with
SPACE_ID = 1  # the word boundary of training.synth.PHONEMES


@dataclass(frozen=True, slots=True)
class PhonemeIntentDims:
    """Shape of a ``PhonemeIntentClassifier``; stored in checkpoint metadata to rebuild it."""

    vocab_size: int = 51  # CTC vocabulary, blank (0) and word boundary (1) included
    embed_dim: int = 64
    conv_layers: int = 2  # 1-D convolutions over the phoneme sequence (local context: clusters, syllables)
    conv_kernel: int = 5  # phonemes seen per convolution: odd, so the output stays aligned
    hidden_dim: int = 128  # GRU units per direction
    mlp_dim: int = 128
    dropout: float = 0.2

    def __post_init__(self) -> None:
        if self.vocab_size < 2 or min(self.embed_dim, self.hidden_dim, self.mlp_dim) < 1:
            raise ValueError(f"invalid PhonemeIntentDims: sizes must be positive, got {self}")
        if self.conv_layers < 0 or self.conv_kernel < 1 or self.conv_kernel % 2 == 0:
            raise ValueError(f"invalid PhonemeIntentDims: conv_kernel must be odd, got {self.conv_kernel}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"invalid PhonemeIntentDims: dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PhonemeIntentDims:
        reject_unknown_fields(cls, d)
        return cls(**d)


class PhonemeIntentClassifier(nn.Module):
    """Phoneme ids (B, U) + lengths (B,) -> intent logits (B, L): embed, convolve, BiGRU, attend, MLP."""

    temperature: Tensor

    def __init__(self, dims: PhonemeIntentDims, labels: Sequence[str]):
        super().__init__()
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise ValueError(f"a phoneme intent head needs at least two distinct labels, got {list(labels)}")
        self.dims = dims
        self.labels = tuple(labels)
        self.embed = nn.Embedding(dims.vocab_size, dims.embed_dim, padding_idx=PAD_ID)
        self.convs = nn.ModuleList(
            nn.Conv1d(dims.embed_dim, dims.embed_dim, dims.conv_kernel, padding=dims.conv_kernel // 2)
            for _ in range(dims.conv_layers)
        )
        self.gru = nn.GRU(dims.embed_dim, dims.hidden_dim, batch_first=True, bidirectional=True)
        self.score = nn.Linear(2 * dims.hidden_dim, 1)
        self.mlp = nn.Sequential(
            nn.Linear(2 * dims.hidden_dim, dims.mlp_dim),
            nn.GELU(),
            nn.Dropout(dims.dropout),
            nn.Linear(dims.mlp_dim, len(self.labels)),
        )
        self.dropout = nn.Dropout(dims.dropout)
        # Softmax temperature fitted on dev decodes (calibration); 1 until then.
        self.register_buffer("temperature", torch.ones(()))

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """ids (B, U) int64 padded with PAD_ID, lengths (B,) int64 -> logits (B, L).

        An empty decode (length 0) is read as one padding symbol, so silence still gets a decision.
        """
        if ids.dim() != 2 or lengths.shape != ids.shape[:1]:
            raise ValueError(
                f"expected ids (B, U) and lengths (B,), found {tuple(ids.shape)} and {tuple(lengths.shape)}"
            )
        lengths = lengths.clamp(1, max(1, ids.shape[1]))
        if ids.shape[1] == 0:
            ids = ids.new_zeros(ids.shape[0], 1)
        valid = torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths[:, None]  # (B, U)
        x = self.dropout(self.embed(ids)) * valid[..., None]  # (B, U, E)
        for conv in self.convs:
            # Zeroing padding after every layer keeps the decision independent of how much padding follows.
            x = (x + F.gelu(conv(x.transpose(1, 2)).transpose(1, 2))) * valid[..., None]  # (B, U, E)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        h, _ = self.gru(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=ids.shape[1])  # (B, U, 2H)
        score = self.score(h).squeeze(-1).masked_fill(~valid, torch.finfo(h.dtype).min)  # (B, U)
        pooled = torch.einsum("bu,buh->bh", F.softmax(score, dim=1), h)  # (B, 2H)
        return self.mlp(self.dropout(pooled))

    def probabilities(self, logits: Tensor) -> Tensor:
        """Calibrated probabilities: softmax(logits / temperature), (B, L)."""
        return F.softmax(logits / self.temperature, dim=-1)


def clean_ids(ids: Sequence[int]) -> list[int]:
    """Drop blanks, merge runs of word boundaries and trim them at the ends: one spelling per decode."""
    out: list[int] = []
    for i in ids:
        if i == PAD_ID or (i == SPACE_ID and (not out or out[-1] == SPACE_ID)):
            continue
        out.append(int(i))
    if out and out[-1] == SPACE_ID:
        out.pop()
    return out


def pad_ids(seqs: Sequence[Sequence[int]]) -> tuple[Tensor, Tensor]:
    """Sequences of ids -> (B, U) int64 padded with PAD_ID and (B,) int64 lengths."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
    ids = torch.full((len(seqs), max(1, int(lengths.max()) if len(seqs) else 1)), PAD_ID, dtype=torch.int64)
    for row, s in enumerate(seqs):
        ids[row, : len(s)] = torch.as_tensor(list(s), dtype=torch.int64)
    return ids, lengths


def fuse(audio_probs: Tensor, text_probs: Tensor, weight: float) -> Tensor:
    """Log-linear fusion, renormalized: softmax((1 - w) log p_audio + w log p_text), (B, L)."""
    if not 0 <= weight <= 1:
        raise ValueError(f"fusion weight must be in [0, 1], got {weight}")
    tiny = torch.finfo(audio_probs.dtype).tiny  # log 0 would make one head veto a label outright
    mixed = (1 - weight) * audio_probs.clamp_min(tiny).log() + weight * text_probs.clamp_min(tiny).log()
    return F.softmax(mixed, dim=-1)
