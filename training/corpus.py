"""Build the synthetic call-center corpus: phrases x voices -> WAVs + one JSONL manifest.

Splits (the held-out ones are the numbers that matter):

- ``unlabeled``: generic and caller-like sentences, training voices (stage 1);
- ``train``: training templates, training voices;
- ``dev``: training templates plus calibration templates (wording nobody trains on), training voices:
  the dev curve, the temperature and the out-of-scope threshold see unheard wording as the tests do;
- ``test_voice``: training templates, voices never heard in training;
- ``test_phrase``: templates never seen in training (nor in ``unlabeled``), training voices;
- ``test_both``: those held-out templates in the held-out voices: new wording *and* new voices, the
  closest this corpus comes to an independent test set;
- ``text_bank`` (only with ``--text-bank-per-label``): sentences of the text-only bank
  (``training/text_bank.py``, none sharing held-out or calibration wording), training voices; no
  stage trains on its audio, stage 2b reads its decodes (``decode_splits``).

One assignment of templates to train / calibration / held-out (``heldout_seed = spec.seed``) serves
every split; each split draws its sample with its own seed.

    python -m training.corpus --out data/corpus --train-per-label 600
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ivr.intents import DEFAULT_INTENTS, OUT_OF_SCOPE
from training.manifest import Utterance, write_manifest
from training.phrases import phrases, unlabeled_sentences
from training.synth import (
    HELDOUT_VOICES,
    SynthJob,
    Voice,
    all_voices,
    phonemize_all,
    sample_jobs,
    synthesize_all,
)
from training.text_bank import TEXT_BANK_SPLIT, bank_phrases


@dataclass(frozen=True, slots=True)
class CorpusSpec:
    """How many utterances of each kind to make."""

    unlabeled: int = 4000
    train_per_label: int = 600
    dev_per_label: int = 40
    test_voice_per_label: int = 60
    test_phrase_per_label: int = 60
    dev_phrase_per_label: int = 40  # dev clips from the calibration templates
    test_both_per_label: int = 60
    text_bank_per_label: int = 0  # text-bank sentences per label (the ``text_bank`` split); 0 = none
    seed: int = 0
    # ``Voice.key``s never heard in training (``test_voice``, ``test_both``); the rest train.
    heldout_voices: frozenset[str] = HELDOUT_VOICES


def plan(spec: CorpusSpec) -> Iterator[tuple[str, str | None, SynthJob]]:
    """(split, label, job) for every utterance of the corpus, deterministic given the seed."""
    voices = all_voices()
    unknown = spec.heldout_voices - {v.key for v in voices}
    if unknown:
        raise ValueError(f"held-out voices the recipe does not have: {', '.join(sorted(unknown))}")
    seen = [v for v in voices if v.key not in spec.heldout_voices]
    unseen = [v for v in voices if v.key in spec.heldout_voices]
    labels = [*DEFAULT_INTENTS, OUT_OF_SCOPE]
    unlabeled = unlabeled_sentences(spec.unlabeled, seed=spec.seed, heldout_seed=spec.seed)
    for job in sample_jobs(unlabeled, seen, seed=spec.seed):
        yield "unlabeled", None, job
    # (split, template split, voices, count): dev draws new samples from the training templates and
    # the calibration templates.
    layout: list[tuple[str, str, list[Voice], int]] = [
        ("train", "train", seen, spec.train_per_label),
        ("dev", "train", seen, spec.dev_per_label),
        ("test_voice", "train", unseen, spec.test_voice_per_label),
        ("test_phrase", "heldout_phrase", seen, spec.test_phrase_per_label),
        ("dev", "calibration_phrase", seen, spec.dev_phrase_per_label),
        ("test_both", "heldout_phrase", unseen, spec.test_both_per_label),
    ]
    for i, (split, phrase_split, pool, count) in enumerate(layout):
        for label in labels:
            sample = phrases(label, phrase_split, count, seed=spec.seed + 1000 * i, heldout_seed=spec.seed)
            texts = [p.text for p in sample]
            for job in sample_jobs(texts, pool, seed=f"{spec.seed}:{split}:{phrase_split}:{label}"):
                yield split, label, job
    for label in labels if spec.text_bank_per_label else ():  # last: the splits above stay as they were
        texts = [p.text for p in bank_phrases(label, spec.text_bank_per_label, seed=spec.seed)]
        for job in sample_jobs(texts, seen, seed=f"{spec.seed}:{TEXT_BANK_SPLIT}:{label}"):
            yield TEXT_BANK_SPLIT, label, job


def build_corpus(out: Path, spec: CorpusSpec, *, workers: int | None = None) -> Path:
    """Synthesize (cached under ``out/wav``) and write ``out/manifest.jsonl``; returns its path."""
    planned = list(plan(spec))
    phonemes = phonemize_all((job.text for _, _, job in planned), workers=workers, cache=out / "ipa.json")
    jobs = [job for _, _, job in planned]
    start = time.perf_counter()
    paths = {}
    for job, path in tqdm(synthesize_all(jobs, out / "wav", workers=workers), total=len(jobs), desc="synth"):
        paths[job] = path
    elapsed = time.perf_counter() - start
    print(f"synthesized {len(jobs)} clips in {elapsed:.0f} s ({len(jobs) / max(elapsed, 1e-9):.0f}/s)")
    manifest = out / "manifest.jsonl"
    write_manifest(
        manifest,
        (
            Utterance(paths[job], label, split, job.text, phonemes[job.text], job.voice.key)
            for split, label, job in planned
        ),
    )
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description="Build the synthetic call-center corpus.")
    parser.add_argument("--out", type=Path, default=Path("data/corpus"))
    parser.add_argument("--workers", type=int, default=None)
    fields = CorpusSpec.__dataclass_fields__
    counts = [name for name, field in fields.items() if field.type == "int"]
    for name in counts:
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=fields[name].default)
    parser.add_argument(
        "--heldout-voices",
        default=",".join(sorted(HELDOUT_VOICES)),
        help="comma-separated engine:name voices kept out of training (default: %(default)s)",
    )
    args = parser.parse_args()
    heldout = frozenset(key.strip() for key in args.heldout_voices.split(",") if key.strip())
    spec = CorpusSpec(**{k: getattr(args, k) for k in counts}, heldout_voices=heldout)
    print(build_corpus(args.out, spec, workers=args.workers))


if __name__ == "__main__":
    main()
