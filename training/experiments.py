"""The experiments the model card reports, each a grid of short stage-2 runs scored on held-out splits.

- ``labels``: 1, 5, 20 and all labeled clips per intent, from the stage-1 encoder and from
  scratch (why stage 1 exists); plot in ``docs/label_efficiency.png``.
- ``ablations``: with and without the phoneme CTC task, with and without stage 1.

Each run goes to ``runs/<experiment>/<name>/`` and is skipped when its report exists, so an
interrupted grid continues where it stopped. ``--only`` trains just the named runs, so two
one-thread processes can share a grid (1.4x the throughput of one two-thread process here). With
the same overrides, ``labels/*-all`` are the same runs as ``ablations/*-ctc``: a symlink trains
them once.

    python -m training.experiments labels --max_steps=1500 --threads=1 --only=pretrained-1,scratch-1
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from ivr.intents import DEFAULT_INTENTS
from training import finetune
from training.config import load_config
from training.evaluate import evaluate

SPLITS = ("test_voice", "test_phrase")
LABEL_COUNTS: tuple[int | None, ...] = (1, 5, 20, None)  # None: every labeled clip


def grid(experiment: str, pretrained: str) -> list[tuple[str, dict[str, object]]]:
    """(run name, config overrides) of every run of ``experiment``."""
    inits = {"pretrained": pretrained, "scratch": ""}
    if experiment == "labels":
        return [
            (f"{init}-{n or 'all'}", {"init": path, "labels_per_intent": n})
            for init, path in inits.items()
            for n in LABEL_COUNTS
        ]
    # With CTC: the config's own weight, so the grid follows the recipe; without: weight 0.
    return [
        (f"{init}-{'ctc' if ctc else 'noctc'}", {"init": path} if ctc else {"init": path, "ctc_weight": 0.0})
        for init, path in inits.items()
        for ctc in (True, False)
    ]


def run(
    experiment: str,
    config: Path,
    overrides: Sequence[str],
    out: Path,
    pretrained: str,
    only: Sequence[str] = (),
) -> dict[str, dict[str, float]]:
    """Train and score the grid's unfinished runs (only those named in ``only``, when given), then
    read back every finished one, so the last of several processes sharing a grid sees them all;
    returns {run: {split_metric: value}}."""
    for name, extra in grid(experiment, pretrained):
        run_dir = out / experiment / name
        if (only and name not in only) or (run_dir / "eval" / "report.json").exists():
            continue
        options = [*overrides, *(f"{k}={json.dumps(v)}" for k, v in extra.items()), f"out_dir={run_dir}"]
        cfg = load_config(config, options)
        evaluate(finetune.train(cfg), Path(cfg.manifest), SPLITS, run_dir / "eval")
    results = {
        name: summary(out / experiment / name)
        for name, _ in grid(experiment, pretrained)
        if (out / experiment / name / "eval" / "report.json").exists()
    }
    (out / experiment / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def summary(run_dir: Path) -> dict[str, float]:
    """Accuracy, macro-F1 and phoneme error rate per split, and the steps trained, of a finished run."""
    report = json.loads((run_dir / "eval" / "report.json").read_text())
    row: dict[str, float] = {
        f"{split}_{key}": report["splits"][split]["with_threshold"][key]
        for split in SPLITS
        for key in ("inscope_accuracy", "macro_f1")
    }
    last = (run_dir / "metrics.jsonl").read_text().splitlines()[-1]
    row["steps"] = json.loads(last)["step"]
    for split, rate in report.get("phoneme_error_rate", {}).items():
        if rate is not None:
            row[f"{split}_per"] = rate
    return row


def plot_labels(
    results: dict[str, dict[str, float]], path: Path, reference: dict[str, float] | None = None
) -> None:
    """Accuracy against labels per intent; ``reference``: {split: accuracy} of the full-length
    recipe with every label (the shipped model), drawn as stars at "all"."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = ["1", "5", "20", "all"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for init, style in (("pretrained", "o-"), ("scratch", "s--")):
        for split, color in zip(SPLITS, ("C0", "C1"), strict=True):
            ys = [results[f"{init}-{x}"][f"{split}_inscope_accuracy"] for x in xs]
            ax.plot(xs, ys, style, color=color, label=f"{init}, {split}")
    for split, color in zip(SPLITS, ("C0", "C1"), strict=True):
        if reference and split in reference:
            ax.plot(
                ["all"], [reference[split]], "*", color=color, markersize=12, label=f"make model, {split}"
            )
    chance = 1 / (len(DEFAULT_INTENTS) + 1)  # a uniform guess over the labels, out_of_scope included
    ax.axhline(chance, color="gray", linestyle=":", label="chance")
    ax.set_xlabel("labeled clips per intent")
    ax.set_ylabel("in-scope accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    steps = sorted({int(row["steps"]) for row in results.values()})
    ax.set_title(f"Label efficiency, stage-1 encoder vs random init ({'/'.join(map(str, steps))} steps)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def reference_accuracy(report: Path) -> dict[str, float] | None:
    if not report.exists():
        return None
    splits = json.loads(report.read_text())["splits"]
    return {split: splits[split]["with_threshold"]["inscope_accuracy"] for split in SPLITS if split in splits}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Label-efficiency and ablation grids of stage-2 runs.")
    parser.add_argument("experiment", choices=("labels", "ablations"))
    parser.add_argument("--config", type=Path, default=Path("training/configs/finetune.yaml"))
    parser.add_argument("--pretrained", default="runs/pretrain/encoder.safetensors")
    parser.add_argument("--out", type=Path, default=Path("runs/experiments"))
    parser.add_argument("--plot", type=Path, default=Path("docs/label_efficiency.png"))
    parser.add_argument(
        "--reference",
        type=Path,
        default=Path("runs/eval/report.json"),
        help="evaluation report of the full recipe, drawn beside the grid (skipped if absent)",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated run names to train (to split a grid across processes)"
    )
    args, overrides = parser.parse_known_args(argv)
    only = [name for name in args.only.split(",") if name]
    results = run(args.experiment, args.config, overrides, args.out, args.pretrained, only)
    if args.experiment == "labels" and len(results) == len(grid("labels", args.pretrained)):
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        plot_labels(results, args.plot, reference_accuracy(args.reference))
    for name, row in results.items():
        print(name, " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
