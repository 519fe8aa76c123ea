"""Training curves of several runs side by side: means of each ``metrics.jsonl`` over step windows.

Stage-2 runs that differ in one setting (precision, an augmentation, the stage-1 encoder) are compared
step for step: with the same seed they see the same batches, so the window means of their losses and
batch accuracy, and their dev accuracy at the scheduled evaluations, show where the curves part. The
bf16-against-float32 table of docs/training.md comes from here.

    python -m training.curves runs/bf16/finetune runs/fp32/finetune --window 500
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

KEYS = ("ctc", "ce", "accuracy")  # stage 2's columns; stage 1 logs loss/contrastive/diversity/accuracy


@dataclass(frozen=True)
class Window:
    """Means of some metrics over steps ``first``..``last`` of one run."""

    first: int
    last: int
    means: dict[str, float]


def read_metrics(run_dir: Path) -> list[dict[str, float]]:
    """The rows of ``run_dir/metrics.jsonl``; a torn last line (a run killed mid-write) is left out."""
    rows = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def windows(rows: Sequence[dict[str, float]], size: int, keys: Sequence[str], upto: int) -> list[Window]:
    """Means of ``keys`` over consecutive windows of ``size`` steps, up to step ``upto``.

    NaN values (stage 2's batch accuracy when a batch has no labeled clip) are left out of a mean.
    """
    by_step = {int(row["step"]): row for row in rows}
    out = []
    for first in range(1, upto + 1, size):
        last = min(first + size - 1, upto)
        chunk = [by_step[s] for s in range(first, last + 1) if s in by_step]
        means = {}
        for key in keys:
            values = [float(r[key]) for r in chunk if key in r and not math.isnan(float(r[key]))]
            means[key] = sum(values) / len(values) if values else math.nan
        out.append(Window(first, last, means))
    return out


def dev_accuracy(rows: Sequence[dict[str, float]]) -> dict[int, float]:
    """Step -> dev accuracy at the scheduled evaluations."""
    return {int(r["step"]): float(r["dev_accuracy"]) for r in rows if "dev_accuracy" in r}


def seconds_per_step(rows: Sequence[dict[str, float]], last: int = 100) -> float:
    """Wall time per step over the ``last`` logged steps (dev evaluations included)."""
    if len(rows) <= last:
        return math.nan
    return (float(rows[-1]["time"]) - float(rows[-1 - last]["time"])) / last


def table(runs: dict[str, list[dict[str, float]]], size: int, keys: Sequence[str]) -> str:
    """A Markdown table: one row per window, ``a / b / ...`` per metric, over the steps all runs reached."""
    upto = min((int(rows[-1]["step"]) for rows in runs.values() if rows), default=0)
    per_run = {name: windows(rows, size, keys, upto) for name, rows in runs.items()}
    lines = [
        "| steps | " + " | ".join(keys) + " |",
        "|---" * (len(keys) + 1) + "|",
    ]
    for i, window in enumerate(next(iter(per_run.values()), [])):
        cells = [" / ".join(f"{w[i].means[key]:.3f}" for w in per_run.values()) for key in keys]
        lines.append(f"| {window.first:,}-{window.last:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.curves", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories holding metrics.jsonl")
    parser.add_argument("--window", type=int, default=500, help="steps per window")
    parser.add_argument("--keys", default=",".join(KEYS), help="comma-separated metric names")
    args = parser.parse_args(argv)
    if args.window < 1:
        parser.error("--window must be at least 1")
    runs = {}
    for run_dir in args.runs:
        if not (run_dir / "metrics.jsonl").is_file():
            parser.error(f"{run_dir}: no metrics.jsonl")
        runs[str(run_dir)] = read_metrics(run_dir)
    print("columns: " + " / ".join(runs))
    print(table(runs, args.window, args.keys.split(",")))
    for name, rows in runs.items():
        dev = ", ".join(f"{step:,}: {acc:.3f}" for step, acc in dev_accuracy(rows).items()) or "none yet"
        last = int(rows[-1]["step"]) if rows else 0
        print(f"{name}: step {last:,}, dev accuracy {dev}; {seconds_per_step(rows):.3f} s/step (last 100)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
