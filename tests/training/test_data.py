"""Clip bank and batches: the packed cache, seeded batches, crops without stale CTC targets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ivr.audio.wav import write_wav
from training.data import (
    PAD_MULTIPLE,
    ClipBank,
    balanced_subset,
    length_bucketed_indices,
    make_batch,
    step_rng,
)
from training.manifest import Utterance


def bank_of(tmp_path: Path, seconds: list[float]) -> ClipBank:
    utts = []
    for i, s in enumerate(seconds):
        path = tmp_path / f"{i}.wav"
        t = np.arange(int(s * 16000)) / 16000
        write_wav(path, 0.3 * np.sin(2 * np.pi * (300 + 100 * i) * t), 16000)
        utts.append(Utterance(path, "a" if i % 2 else "b", "train", "", "hɛloʊ"))
    return ClipBank.load(utts, tmp_path / "cache")


def test_clip_bank_resamples_to_8k_and_caches(tmp_path):
    bank = bank_of(tmp_path, [0.5, 1.0])
    assert [len(c) for c in bank.clips] == [4000, 8000]
    assert len(list((tmp_path / "cache").glob("clips-*.npz"))) == 1
    again = ClipBank.load(bank.utterances, tmp_path / "cache")
    for a, b in zip(bank.clips, again.clips, strict=True):
        np.testing.assert_array_equal(a, b)  # a run reads the same samples with or without the cache


def test_batches_are_a_function_of_seed_step_and_rank(tmp_path):
    bank = bank_of(tmp_path, [0.5, 1.0, 0.7])
    li = {"a": 0, "b": 1}
    one = make_batch(bank, [0, 1, 2], step_rng(1, 5), label_index=li)
    two = make_batch(bank, [0, 1, 2], step_rng(1, 5), label_index=li)
    other = make_batch(bank, [0, 1, 2], step_rng(1, 5, rank=1), label_index=li)
    torch.testing.assert_close(one.wave, two.wave)
    assert not torch.equal(one.wave[:, :3000], other.wave[:, :3000])
    assert one.labels.tolist() == [1, 0, 1]
    assert (one.lengths >= torch.tensor([4000, 8000, 5600])).all()  # leading/trailing silence added


def test_cropped_clips_lose_their_ctc_target(tmp_path):
    bank = bank_of(tmp_path, [0.5, 2.0])
    b = make_batch(bank, [0, 1], step_rng(0, 0), label_index={"a": 0, "b": 1}, channel=None, max_samples=8000)
    assert b.lengths.tolist() == [4000, 8000]
    assert b.target_lengths.tolist() == [5, 0]
    assert b.targets[0].tolist() != [0] * 5


def test_balanced_subset_caps_each_label(tmp_path):
    bank = bank_of(tmp_path, [0.1] * 7)
    sub = balanced_subset(bank, 2, seed=0)
    assert sorted(u.label for u in sub.utterances) == ["a", "a", "b", "b"]
    assert balanced_subset(bank, None, seed=0) is bank


def test_length_bucketed_batches_cover_each_epoch_once_with_little_padding():
    rng = np.random.default_rng(0)
    lengths = [int(x) for x in rng.integers(4000, 32000, size=960)]
    per_epoch = len(lengths) // 12
    epoch = [length_bucketed_indices(lengths, 12, seed=1, step=s) for s in range(per_epoch)]
    seen = [i for batch in epoch for i in batch]
    assert sorted(seen) == list(range(len(lengths)))  # 960 = 80 batches of 12: nothing left over

    def padding(batches: list[list[int]]) -> float:
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)

    shuffled = [[int(i) for i in rng.choice(len(lengths), 12, replace=False)] for _ in range(per_epoch)]
    assert padding(epoch) < 0.15 * padding(shuffled)
    # A pure function of (seed, step, rank): resuming needs no sampler state; ranks and epochs differ.
    assert length_bucketed_indices(lengths, 12, seed=1, step=5) == epoch[5]
    assert length_bucketed_indices(lengths, 12, seed=1, step=2, rank=1, world_size=2) == epoch[5]
    assert length_bucketed_indices(lengths, 12, seed=1, step=per_epoch + 5) != epoch[5]
    assert (
        len(length_bucketed_indices(lengths[:5], 12, seed=1, step=0)) == 5
    )  # a tiny bank: as sample_indices


def test_batch_width_is_on_the_padding_grid_and_lengths_stay_exact(tmp_path):
    bank = bank_of(tmp_path, [0.5, 0.61])
    b = make_batch(bank, [0, 1], step_rng(0, 0), label_index={"a": 0, "b": 1}, channel=None)
    assert b.lengths.tolist() == [4000, 4880]
    assert b.wave.shape[1] == 4 * PAD_MULTIPLE  # 4880 samples round up to 6400
    assert torch.all(b.wave[0, 4000:] == 0) and torch.all(b.wave[1, 4880:] == 0)
