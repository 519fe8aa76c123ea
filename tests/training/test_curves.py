"""Side-by-side training curves: window means, dev accuracy, torn lines and runs of unequal length."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from training import curves


def write_run(path: Path, ctc: list[float], dev: dict[int, float] | None = None, torn: bool = False) -> Path:
    path.mkdir(parents=True)
    rows = []
    for i, value in enumerate(ctc):
        step = i + 1
        row = {
            "step": step,
            "ctc": value,
            "ce": 2.0,
            "accuracy": math.nan if step == 2 else 0.5,
            "time": step * 0.5,
        }
        if dev and step in dev:
            row["dev_accuracy"] = dev[step]
        rows.append(json.dumps(row))
    text = "\n".join(rows) + "\n" + ('{"step": ' if torn else "")
    (path / "metrics.jsonl").write_text(text)
    return path


def test_window_means_leave_nan_out(tmp_path: Path) -> None:
    rows = curves.read_metrics(write_run(tmp_path / "a", [4.0, 3.0, 2.0, 1.0, 0.0]))
    got = curves.windows(rows, 2, ("ctc", "accuracy"), upto=5)
    assert [(w.first, w.last) for w in got] == [(1, 2), (3, 4), (5, 5)]
    assert [w.means["ctc"] for w in got] == [3.5, 1.5, 0.0]
    assert got[0].means["accuracy"] == 0.5  # step 2's NaN is not averaged in


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    rows = curves.read_metrics(write_run(tmp_path / "a", [1.0, 2.0], torn=True))
    assert [r["step"] for r in rows] == [1, 2]


def test_table_stops_where_the_shorter_run_stops(tmp_path: Path) -> None:
    runs = {
        "a": curves.read_metrics(write_run(tmp_path / "a", [4.0, 3.0, 2.0, 1.0])),
        "b": curves.read_metrics(write_run(tmp_path / "b", [5.0, 4.0, 3.0])),
    }
    text = curves.table(runs, 2, ("ctc",))
    assert text.splitlines()[2:] == ["| 1-2 | 3.500 / 4.500 |", "| 3-3 | 2.000 / 3.000 |"]


def test_main_prints_dev_accuracy_and_rejects_a_missing_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = write_run(tmp_path / "a", [1.0] * 120, dev={100: 0.25})
    assert curves.main([str(run), "--window", "60"]) == 0
    out = capsys.readouterr().out
    assert "dev accuracy 100: 0.250" in out
    assert "0.500 s/step" in out
    with pytest.raises(SystemExit):
        curves.main([str(tmp_path / "missing")])
