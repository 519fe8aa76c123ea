"""A tiny synthetic corpus, built once per session: three labels, a handful of clips each."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require_binaries
from training.manifest import Utterance, write_manifest
from training.phrases import phrases, unlabeled_sentences
from training.synth import Voice, all_voices, phonemize_all, sample_jobs, synthesize_all

LABELS = ("check_balance", "report_lost_card", "out_of_scope")


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``manifest.jsonl`` with unlabeled, train (4 per label) and dev (2 per label) clips."""
    require_binaries("espeak-ng", "flite")
    root = tmp_path_factory.mktemp("corpus")
    voices = [v for v in all_voices() if not v.heldout and v.variant in ("", "f3", "m3")]
    rows: list[tuple[str | None, str, str]] = [(None, "unlabeled", t) for t in unlabeled_sentences(6, seed=7)]
    for label in LABELS:
        rows += [(label, "train", p.text) for p in phrases(label, "train", 4, seed=7)]
        rows += [(label, "dev", p.text) for p in phrases(label, "train", 2, seed=8)]
    jobs = sample_jobs([text for _, _, text in rows], voices, seed=7)
    paths = dict(synthesize_all(jobs, root / "wav", workers=2))
    ipa = phonemize_all([text for _, _, text in rows], workers=2)
    write_manifest(
        root / "manifest.jsonl",
        (
            Utterance(paths[job], label, split, text, ipa[text], job.voice.key)
            for (label, split, text), job in zip(rows, jobs, strict=True)
        ),
    )
    return root / "manifest.jsonl"


def tiny_voice() -> Voice:
    return Voice("espeak", "en-us")
