"""Evaluation reports side by side: each split's figures, then each voice's, one column per model.

Two models scored on the same manifest (two arms of an experiment, the shipped model and a new one) differ
in a few voices more than in any split's total; this prints both views as the markdown tables the docs use.
A split or voice that one report lacks reads ``-``.

    python -m training.compare runs/eval-control runs/eval-slt --names control,slt
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

Report = Mapping[str, Any]  # training.evaluate's report.json
SPLIT_METRICS = ("inscope_accuracy", "macro_f1", "oos_rejection", "false_rejection")
VOICE_METRICS = ("inscope_accuracy", "false_rejection", "phoneme_error_rate")


def read_report(path: Path) -> Report:
    """``path`` (a report.json, or the evaluation folder holding one) as a dict."""
    file = path / "report.json" if path.is_dir() else path
    report: Report = json.loads(file.read_text())
    if "splits" not in report:
        raise ValueError(f"{file}: not a training.evaluate report (no 'splits')")
    return report


def _cell(values: Sequence[float | None]) -> str:
    return " / ".join("-" if v is None else f"{v:.3f}" for v in values)


def _ordered_union(groups: Sequence[Sequence[str]]) -> list[str]:
    seen: dict[str, None] = {}
    for group in groups:
        seen.update(dict.fromkeys(group))
    return list(seen)


def split_table(reports: Mapping[str, Report], rule: str = "with_threshold") -> str:
    """One row per split, one column per metric; each cell holds every report's figure, in order."""
    splits = _ordered_union([list(r["splits"]) for r in reports.values()])
    headers = [m.replace("_", " ") for m in SPLIT_METRICS]
    lines = [
        f"| split ({' / '.join(reports)}) | {' | '.join(headers)} |",
        "|---" * (1 + len(SPLIT_METRICS)) + "|",
    ]
    for split in splits:
        rows = [r["splits"].get(split, {}).get(rule) for r in reports.values()]
        cells = [_cell([None if row is None else row.get(m) for row in rows]) for m in SPLIT_METRICS]
        lines.append(f"| {split} | {' | '.join(cells)} |")
    return "\n".join(lines)


def voice_table(reports: Mapping[str, Report]) -> str:
    """One row per (split, voice), with each report's in-scope accuracy, false rejection and phoneme error."""
    together = " / ".join(reports)
    headers = [f"{m.replace('_', ' ')} ({together})" for m in VOICE_METRICS]
    lines = [
        f"| split | voice | n | {' | '.join(headers)} |",
        "|---" * (3 + len(VOICE_METRICS)) + "|",
    ]
    splits = _ordered_union([list(r["splits"]) for r in reports.values()])
    for split in splits:
        by_voice = [r["splits"].get(split, {}).get("by_voice", {}) for r in reports.values()]
        for voice in sorted(_ordered_union([list(v) for v in by_voice])):
            rows = [v.get(voice) for v in by_voice]
            n = next((row["n"] for row in rows if row is not None), 0)
            cells = [_cell([None if row is None else row.get(m) for row in rows]) for m in VOICE_METRICS]
            lines.append(f"| {split} | {voice} | {n} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Evaluation reports side by side, per split and per voice.")
    parser.add_argument("reports", nargs="+", type=Path, help="report.json files or the folders holding them")
    parser.add_argument(
        "--names", default="", help="comma-separated column names (default: the folder names)"
    )
    parser.add_argument("--rule", default="with_threshold", choices=("with_threshold", "oos_class_only"))
    args = parser.parse_args(argv)
    names = [n for n in args.names.split(",") if n] or [
        (p if p.is_dir() else p.parent).name for p in args.reports
    ]
    if len(names) != len(args.reports) or len(set(names)) != len(names):
        parser.error("--names needs one distinct name per report")
    try:
        reports = {name: read_report(path) for name, path in zip(names, args.reports, strict=True)}
    except (OSError, ValueError) as err:
        parser.error(str(err))
    print(split_table(reports, args.rule))
    print()
    print(voice_table(reports))


if __name__ == "__main__":
    main()
