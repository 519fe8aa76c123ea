"""An evaluation-only set: held-out-voice sentences spoken by recorded-speech voices outside the recipe.

The recipe trains on espeak-ng and flite, whose recorded-speech voices are all men but one (slt).
Debian's non-free section has more English recorded-speech voices: RHVoice's HTS voices of CMU ARCTIC
speakers and SVOX Pico's. Scoring a model on them tells whether what it misses is one speaker or a kind of
voice; nothing here is ever trained on (``training.synth.all_voices`` does not list them), and the packages
are installed by hand (``training.synth.EVALUATION_PACKAGES``), not by the recipe.

    python -m training.other_voices --manifest data/corpus/manifest.jsonl --out data/other-voices
    python -m training.evaluate --model models/ivr-tiny-8k.safetensors \\
        --manifest data/other-voices/manifest.jsonl --splits test_other --out runs/eval-other-voices
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path

from training.manifest import ManifestError, Utterance, read_manifest, write_manifest
from training.synth import SynthJob, Voice, synthesize_all

# RHVoice's slt is flite's trained slt (one CMU ARCTIC speaker), so it is left out; alan is Alan W Black,
# the speaker of flite's trained awb, a control for the synthesizer rather than the speaker.
OTHER_VOICES = (
    Voice("rhvoice", "alan"),
    Voice("rhvoice", "bdl"),
    Voice("rhvoice", "clb"),
    Voice("pico", "en-US"),
    Voice("pico", "en-GB"),
)
SPLIT = "test_other"


def pick(utterances: Sequence[Utterance], split: str, per_label: int) -> list[Utterance]:
    """The first ``per_label`` labeled utterances of each label in ``split``, in manifest order."""
    taken: dict[str, int] = {}
    out = []
    for u in utterances:
        if u.split != split or u.label is None or taken.get(u.label, 0) >= per_label:
            continue
        taken[u.label] = taken.get(u.label, 0) + 1
        out.append(u)
    return out


def jobs_for(sources: Sequence[Utterance], voices: Sequence[Voice]) -> list[tuple[Utterance, SynthJob]]:
    """Every source sentence in every voice, at the voice's default rate and pitch."""
    return [(u, SynthJob(u.text, v)) for v in voices for u in sources]


def build(
    manifest: Path,
    out: Path,
    *,
    split: str = "test_voice",
    per_label: int = 20,
    voices: Sequence[Voice] = OTHER_VOICES,
    workers: int | None = None,
) -> Path:
    """Synthesize (cached under ``out/wav``) and write ``out/manifest.jsonl`` with split ``test_other``."""
    sources = pick(read_manifest(manifest, check_audio=False), split, per_label)
    if not sources:
        raise ManifestError(f"{manifest}: no labeled clips in split {split!r} to speak")
    planned = jobs_for(sources, voices)
    paths = dict(synthesize_all([job for _, job in planned], out / "wav", workers=workers))
    target = out / "manifest.jsonl"
    write_manifest(
        target,
        (dataclasses.replace(u, audio=paths[job], split=SPLIT, voice=job.voice.key) for u, job in planned),
    )
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the evaluation-only set of other recorded voices.")
    parser.add_argument("--manifest", type=Path, default=Path("data/corpus/manifest.jsonl"))
    parser.add_argument("--out", type=Path, default=Path("data/other-voices"))
    parser.add_argument("--split", default="test_voice", help="the split whose sentences they speak")
    parser.add_argument("--per-label", type=int, default=20)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    print(build(args.manifest, args.out, split=args.split, per_label=args.per_label, workers=args.workers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
