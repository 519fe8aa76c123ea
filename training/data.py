"""Clips in memory and batches through the channel: what the training loops consume.

Audio is decoded once to 8 kHz float32 and cached next to the manifest as one packed ``.npy``
(int16, plus offsets), so a run re-reads it in seconds. Batches are drawn by a generator seeded
with (seed, step, rank): a resumed run sees exactly the batches it would have seen, with no
sampler state to save.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from ivr.audio.pcm import float_to_pcm16, pcm16_to_float
from ivr.audio.wav import load_audio
from training.channel import ChannelConfig, LineFilterSpread, apply_channel
from training.manifest import Utterance
from training.synth import phoneme_ids

SAMPLE_RATE_HZ = 8000
DEFAULT_CHANNEL = ChannelConfig()
SPREAD_CHANNEL = ChannelConfig(line_filters=LineFilterSpread())  # phone lines whose band filters differ
# Batches are padded to a multiple of 200 ms. Every new batch width is a new shape for oneDNN's convolution and
# matmul primitives, and creating them cost a stage-2 step about a fifth of its time on the 2-core VM; with
# widths on this grid the few shapes repeat and their primitives are reused (docs/benchmarks.md, "Training step").
PAD_MULTIPLE = 1600


@dataclass(frozen=True, slots=True)
class Batch:
    """One padded batch; ``labels`` is -1 for unlabeled clips, ``targets`` are CTC phoneme ids."""

    wave: torch.Tensor  # (B, T) float32 at 8 kHz
    lengths: torch.Tensor  # (B,) int64 samples
    labels: torch.Tensor  # (B,) int64 label index, -1 when unlabeled
    targets: torch.Tensor  # (B, U) int64 phoneme ids, 0-padded
    target_lengths: torch.Tensor  # (B,) int64; 0 where no phonemes are known


class ClipBank:
    """The utterances of one or more splits with their audio decoded at 8 kHz."""

    def __init__(self, utterances: list[Utterance], clips: list[npt.NDArray[np.float32]]) -> None:
        assert len(utterances) == len(clips)
        self.utterances = utterances
        self.clips = clips

    def __len__(self) -> int:
        return len(self.utterances)

    @classmethod
    def load(cls, utterances: list[Utterance], cache_dir: Path | None = None) -> ClipBank:
        """Decode every clip (any WAV format and rate) to 8 kHz, via the packed cache if present."""
        key = hashlib.sha256("\n".join(str(u.audio) for u in utterances).encode()).hexdigest()[:16]
        cache = cache_dir / f"clips-{key}.npz" if cache_dir else None
        if cache is not None and cache.exists():
            packed = np.load(cache)
            pcm, offsets = packed["pcm"], packed["offsets"]
            return cls(utterances, [pcm16_to_float(pcm[a:b]) for a, b in itertools.pairwise(offsets)])
        # Quantized to 16 bits as the cache stores them, so a run reads the same samples either way.
        clips = [
            pcm16_to_float(float_to_pcm16(load_audio(u.audio, sample_rate_hz=SAMPLE_RATE_HZ)))
            for u in utterances
        ]
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            offsets = np.cumsum([0] + [len(c) for c in clips])
            # A name of its own per process: DDP ranks build the same cache at once, and os.replace is
            # atomic, so the last identical copy wins instead of one rank renaming another's file away.
            tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(
                tmp,
                pcm=float_to_pcm16(np.concatenate(clips or [np.zeros(0, np.float32)])),
                offsets=offsets,
            )
            tmp.replace(cache)
        return cls(utterances, clips)

    def subset(self, indices: list[int]) -> ClipBank:
        return ClipBank([self.utterances[i] for i in indices], [self.clips[i] for i in indices])

    def __add__(self, other: ClipBank) -> ClipBank:
        return ClipBank(self.utterances + other.utterances, self.clips + other.clips)

    def split(self, *names: str) -> ClipBank:
        return self.subset([i for i, u in enumerate(self.utterances) if u.split in names])


def step_rng(seed: int, step: int, rank: int = 0) -> np.random.Generator:
    """The generator for one step of one rank: batches depend on nothing but these three."""
    return np.random.default_rng([seed, step, rank])


def padded_width(samples: int) -> int:
    """The batch width that holds ``samples``: the next multiple of ``PAD_MULTIPLE``."""
    return -(-samples // PAD_MULTIPLE) * PAD_MULTIPLE


def make_batch(
    bank: ClipBank,
    indices: list[int],
    rng: np.random.Generator,
    *,
    label_index: dict[str, int],
    channel: ChannelConfig | None = DEFAULT_CHANNEL,
    max_samples: int = 8000 * 6,
) -> Batch:
    """Clips ``indices`` through the channel (``None``: clean), cropped to ``max_samples``, padded to a multiple
    of ``PAD_MULTIPLE`` samples (``lengths`` keep each clip's own)."""
    babble = [bank.clips[int(i)] for i in rng.integers(len(bank), size=8)] if channel else []
    waves, cropped = [], []
    for i in indices:
        clip = bank.clips[i]
        wave = apply_channel(clip, SAMPLE_RATE_HZ, rng, channel, babble) if channel else clip
        cropped.append(len(wave) > max_samples)
        if cropped[-1]:  # a random crop keeps batches bounded; the intent label still holds, mostly
            start = int(rng.integers(len(wave) - max_samples + 1))
            wave = wave[start : start + max_samples]
        waves.append(wave)
    lengths = torch.tensor([len(w) for w in waves], dtype=torch.int64)
    wave_t = torch.zeros(len(waves), padded_width(int(lengths.max())))
    for row, w in enumerate(waves):
        wave_t[row, : len(w)] = torch.from_numpy(np.ascontiguousarray(w))
    utts = [bank.utterances[i] for i in indices]
    labels = torch.tensor([label_index.get(u.label, -1) if u.label else -1 for u in utts], dtype=torch.int64)
    # A cropped clip no longer says its whole sentence: no CTC target for it.
    ids = [[] if cut else phoneme_ids(u.phonemes) for u, cut in zip(utts, cropped, strict=True)]
    target_lengths = torch.tensor([len(t) for t in ids], dtype=torch.int64)
    targets = torch.zeros(len(ids), max(1, int(target_lengths.max())), dtype=torch.int64)
    for row, t in enumerate(ids):
        targets[row, : len(t)] = torch.tensor(t, dtype=torch.int64)
    return Batch(wave_t, lengths, labels, targets, target_lengths)


def sample_indices(n: int, batch_size: int, rng: np.random.Generator) -> list[int]:
    return [int(i) for i in rng.choice(n, size=min(batch_size, n), replace=batch_size > n)]


def length_bucketed_indices(
    lengths: list[int], batch_size: int, *, seed: int, step: int, rank: int = 0, world_size: int = 1
) -> list[int]:
    """The batch of (step, rank) when every epoch is cut into batches of clips of similar length.

    Random batches are padded to their longest clip, about 30 % of the compute on this corpus; here each
    epoch shuffles the clips, sorts pools of 32 batches by length, cuts them and shuffles the batches.
    Every clip is seen once per epoch (less the remainder), and the batch is a pure function of
    (seed, step, rank), so resuming needs no sampler state.
    """
    n = len(lengths)
    if n < batch_size:
        return sample_indices(n, batch_size, np.random.default_rng([seed, step, rank]))
    per_epoch = n // batch_size
    epoch, k = divmod(step * world_size + rank, per_epoch)
    return _epoch_batches(tuple(lengths), batch_size, seed, epoch)[k]


@functools.lru_cache(maxsize=2)
def _epoch_batches(lengths: tuple[int, ...], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    rng = np.random.default_rng([seed, epoch, 0x6C656E])
    order = rng.permutation(len(lengths))
    pool = batch_size * 32
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool].tolist(), key=lengths.__getitem__)
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk) - batch_size + 1, batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def balanced_subset(bank: ClipBank, per_label: int | None, *, seed: int) -> ClipBank:
    """At most ``per_label`` utterances of each label (``None``: all): the label-efficiency knob."""
    if per_label is None:
        return bank
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for label in sorted({u.label for u in bank.utterances if u.label}):
        idx = [i for i, u in enumerate(bank.utterances) if u.label == label]
        chosen += sorted(int(i) for i in rng.permutation(idx)[:per_label])
    return bank.subset(sorted(chosen))
