"""Intent from a phoneme string: the text head that learns from phrasings nobody synthesized.

The audio intent head only ever hears the few hundred sentences per intent that were synthesized; the
phrase bank holds thousands more. This classifier reads the CTC decode of the acoustic model (greedy,
or a beam search with a phoneme LM: ``ivr.model.ctc_decode``; phoneme ids, blanks and repeats removed,
word boundaries kept), so it can be trained on text run
through espeak-ng and corrupted the way the acoustic model errs, then fused with the audio head.

Two readers: ``bigru`` (the default) convolves, runs a BiGRU and attends; ``ngram`` averages
embeddings of hashed phoneme n-grams, a fastText-style bag of n-grams. From *reference* phonemes the
bag of n-grams recognises held-out wording far better (0.65 vs 0.50), since a new phrasing shares
most of its n-grams with trained ones; from real decodes, where a third of the phonemes are wrong or
missing, the BiGRU reads both held-out voices and wording at least as well (docs/training.md).
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
READERS = ("ngram", "bigru")  # training.config.TEXT_READERS repeats them (the CLI's help must not load torch)
_HASH_BASE = 1_000_003  # n-gram hashing: a polynomial over (id + 1), reduced modulo a Mersenne prime
_HASH_PRIME = 2**31 - 1


@dataclass(frozen=True, slots=True)
class PhonemeIntentDims:
    """Shape of a ``PhonemeIntentClassifier``; stored in checkpoint metadata to rebuild it."""

    vocab_size: int = 51  # CTC vocabulary, blank (0) and word boundary (1) included
    reader: str = "bigru"  # "bigru": conv + BiGRU + attention; "ngram": bag of hashed phoneme n-grams
    embed_dim: int = 64
    ngram_orders: tuple[int, ...] = (1, 2, 3, 4)  # ngram reader: n-gram lengths, word boundaries included
    ngram_buckets: int = 8192  # ngram reader: hash buckets (rows of the n-gram embedding table)
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
        if self.reader not in READERS:
            raise ValueError(
                f"invalid PhonemeIntentDims: reader must be one of {READERS}, got {self.reader!r}"
            )
        if not self.ngram_orders or min(self.ngram_orders) < 1 or self.ngram_buckets < 1:
            raise ValueError(f"invalid PhonemeIntentDims: n-gram orders and buckets must be >= 1, got {self}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["ngram_orders"] = list(self.ngram_orders)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PhonemeIntentDims:
        reject_unknown_fields(cls, d)
        d = {"reader": "bigru", **d}  # heads saved before the n-gram reader existed were all BiGRUs: say so
        if "ngram_orders" in d:
            d["ngram_orders"] = tuple(int(n) for n in d["ngram_orders"])
        return cls(**d)


class PhonemeIntentClassifier(nn.Module):
    """Phoneme ids (B, U) + lengths (B,) -> intent logits (B, L): a reader pools the sequence, an MLP decides."""

    temperature: Tensor

    def __init__(self, dims: PhonemeIntentDims, labels: Sequence[str]):
        super().__init__()
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise ValueError(f"a phoneme intent head needs at least two distinct labels, got {list(labels)}")
        self.dims = dims
        self.labels = tuple(labels)
        self.reader: NgramReader | RecurrentReader = (
            NgramReader(dims) if dims.reader == "ngram" else RecurrentReader(dims)
        )
        self.mlp = nn.Sequential(
            nn.Linear(self.reader.out_dim, dims.mlp_dim),
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
        ids = ids.masked_fill(~valid, PAD_ID)
        return self.mlp(self.dropout(self.reader(ids, lengths, valid)))

    def probabilities(self, logits: Tensor) -> Tensor:
        """Calibrated probabilities: softmax(logits / temperature), (B, L)."""
        return F.softmax(logits / self.temperature, dim=-1)


class NgramReader(nn.Module):
    """Mean embedding of the hashed n-grams of ``SPACE ids SPACE``: a bag of phoneme n-grams."""

    def __init__(self, dims: PhonemeIntentDims):
        super().__init__()
        self.orders = dims.ngram_orders
        self.buckets = dims.ngram_buckets
        self.embed = nn.Embedding(dims.ngram_buckets, dims.embed_dim)
        # Small, so n-grams no training sentence had (most of a new decode's) add little noise to the mean.
        nn.init.normal_(self.embed.weight, std=0.02)
        self.norm = nn.LayerNorm(dims.embed_dim)  # the mean of small embeddings is small: rescale it
        self.out_dim = dims.embed_dim
        self.gram_dropout = dims.dropout

    def forward(self, ids: Tensor, lengths: Tensor, valid: Tensor) -> Tensor:
        bounded = F.pad(ids, (1, 1), value=PAD_ID)  # (B, U + 2): room for a boundary at each end
        bounded[:, 0] = SPACE_ID
        bounded.scatter_(1, lengths[:, None] + 1, SPACE_ID)
        hashes, masks = [], []
        for n in self.orders:
            if bounded.shape[1] < n:
                continue
            windows = bounded.unfold(1, n, 1)  # (B, U + 3 - n, n)
            h = torch.full(windows.shape[:2], n, dtype=torch.int64, device=ids.device)  # the order salts it
            for k in range(n):
                h = (h * _HASH_BASE + windows[..., k] + 1) % _HASH_PRIME
            hashes.append(h % self.buckets)
            starts = torch.arange(windows.shape[1], device=ids.device)
            masks.append(starts[None, :] + n <= lengths[:, None] + 2)  # (B, U + 3 - n) inside the bounds
        grams = torch.cat(hashes, dim=1)  # (B, G)
        mask = torch.cat(masks, dim=1).to(self.embed.weight.dtype)  # (B, G)
        if self.training and self.gram_dropout:
            # Whole n-grams dropped: no single n-gram (a sentence's fingerprint) can carry a decision alone.
            mask = mask * (torch.rand_like(mask) >= self.gram_dropout)
        summed = torch.einsum("bg,bge->be", mask, self.embed(grams))
        return self.norm(summed / mask.sum(1, keepdim=True).clamp_min(1))  # (B, E)


class RecurrentReader(nn.Module):
    """Embed, convolve, BiGRU, attention pooling: a reader that sees phoneme order across the sentence."""

    def __init__(self, dims: PhonemeIntentDims):
        super().__init__()
        self.embed = nn.Embedding(dims.vocab_size, dims.embed_dim, padding_idx=PAD_ID)
        self.convs = nn.ModuleList(
            nn.Conv1d(dims.embed_dim, dims.embed_dim, dims.conv_kernel, padding=dims.conv_kernel // 2)
            for _ in range(dims.conv_layers)
        )
        self.gru = nn.GRU(dims.embed_dim, dims.hidden_dim, batch_first=True, bidirectional=True)
        self.score = nn.Linear(2 * dims.hidden_dim, 1)
        self.dropout = nn.Dropout(dims.dropout)
        self.out_dim = 2 * dims.hidden_dim

    def forward(self, ids: Tensor, lengths: Tensor, valid: Tensor) -> Tensor:
        x = self.dropout(self.embed(ids)) * valid[..., None]  # (B, U, E)
        for conv in self.convs:
            # Zeroing padding after every layer keeps the decision independent of how much padding follows.
            x = (x + F.gelu(conv(x.transpose(1, 2)).transpose(1, 2))) * valid[..., None]  # (B, U, E)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        h, _ = self.gru(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=ids.shape[1])  # (B, U, 2H)
        score = self.score(h).squeeze(-1).masked_fill(~valid, torch.finfo(h.dtype).min)  # (B, U)
        return torch.einsum("bu,buh->bh", F.softmax(score, dim=1), h)  # (B, 2H)


def legacy_tensor_names(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """Tensors of a head saved before readers existed (a BiGRU with its layers at the top level)."""

    def renamed(name: str) -> str:
        rest = name.removeprefix(prefix)
        moved = name.startswith(prefix) and rest.startswith(("embed.", "convs.", "gru.", "score."))
        return f"{prefix}reader.{rest}" if moved else name

    return {renamed(name): t for name, t in tensors.items()}


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
