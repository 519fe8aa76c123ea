"""How far a held-out voice sits from the voices a model trained on, in vocal-tract length.

Each voice's in-scope clips are played faster or slower by fixed factors (speed perturbation, as
``training.channel.warp_voice`` draws it in training: pitch and formants move together) and then cross the
evaluation channel. A voice whose accuracy peaks at a factor other than 1 would be heard better with a
shorter (factor > 1) or longer (< 1) vocal tract: training with a wider ``voice_warp`` should reach it.
A voice that is poor at every factor differs in something a speed change does not move.

    python -m training.warp_probe --model models/ivr-tiny-8k.safetensors \
        --manifest data/corpus/manifest.jsonl --split test_voice --out runs/warp-probe
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ivr.audio.warp import speed_up
from ivr.intents import OUT_OF_SCOPE
from ivr.runtime.classify import Classifier
from training.data import DEFAULT_CHANNEL, ClipBank
from training.evaluate import classify_results, transcript_error_rate
from training.manifest import Utterance, read_manifest

FACTORS = (0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2)


def pick(utts: Sequence[Utterance], split: str, per_voice: int, seed: int) -> list[Utterance]:
    """Up to ``per_voice`` in-scope clips of each voice of ``split``, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    chosen: list[Utterance] = []
    in_split = [u for u in utts if u.split == split and u.label not in (None, OUT_OF_SCOPE)]
    for voice in sorted({u.voice for u in in_split}):
        own = [u for u in in_split if u.voice == voice]
        keep = sorted(rng.choice(len(own), size=min(per_voice, len(own)), replace=False))
        chosen += [own[int(i)] for i in keep]
    return chosen


def probe(
    model: Path, manifest: Path, split: str, factors: Sequence[float], per_voice: int, seed: int = 0
) -> dict[str, dict[str, dict[str, float | None]]]:
    """``{voice: {factor: {"inscope_accuracy", "phoneme_error_rate"}}}`` for ``split``'s in-scope clips."""
    classifier = Classifier.from_checkpoint(model)
    utts = pick(read_manifest(manifest), split, per_voice, seed)
    bank = ClipBank.load(utts, manifest.parent / "cache")
    rows_of = {v: [i for i, u in enumerate(utts) if u.voice == v] for v in sorted({u.voice for u in utts})}
    out: dict[str, dict[str, dict[str, float | None]]] = {v or "-": {} for v in rows_of}
    for factor in factors:
        warped = ClipBank(utts, [speed_up(c, factor) for c in bank.clips])
        results = classify_results(classifier, warped, channel=DEFAULT_CHANNEL)
        for voice, rows in rows_of.items():
            correct = [results[i].intent == utts[i].label for i in rows]
            out[voice or "-"][f"{factor:g}"] = {
                "inscope_accuracy": float(np.mean(correct)),
                "phoneme_error_rate": transcript_error_rate(
                    [results[i] for i in rows], [utts[i] for i in rows]
                ),
            }
        print(f"factor {factor:g} done", flush=True)
    return out


def markdown(table: dict[str, dict[str, dict[str, float | None]]], model: Path, split: str, n: int) -> str:
    factors = list(next(iter(table.values())))
    head = "| voice | " + " | ".join(factors) + " |"
    lines = [
        f"# Speed-warp probe of {model} on {split} ({n} in-scope clips per voice at most)",
        "",
        "In-scope accuracy / phoneme error rate at each speed factor (> 1: faster, higher, a shorter vocal tract):",
        "",
        head,
        "|---" * (len(factors) + 1) + "|",
    ]
    for voice, row in table.items():
        cells = []
        for f in factors:
            per = row[f]["phoneme_error_rate"]
            cells.append(f"{row[f]['inscope_accuracy']:.2f} / " + ("-" if per is None else f"{per:.2f}"))
        lines.append(f"| {voice} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=Path("models/ivr-tiny-8k.safetensors"))
    parser.add_argument("--manifest", type=Path, default=Path("data/corpus/manifest.jsonl"))
    parser.add_argument("--split", default="test_voice")
    parser.add_argument("--factors", default=",".join(f"{f:g}" for f in FACTORS))
    parser.add_argument("--per-voice", type=int, default=60, help="in-scope clips per voice, at most")
    parser.add_argument("--out", type=Path, default=Path("runs/warp-probe"))
    args = parser.parse_args(argv)
    factors = [float(f) for f in args.factors.split(",")]
    table = probe(args.model, args.manifest, args.split, factors, args.per_voice)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "probe.json").write_text(json.dumps(table, indent=2) + "\n")
    text = markdown(table, args.model, args.split, args.per_voice)
    (args.out / "probe.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
