"""Evaluation reports side by side: what each column holds, and a split or voice one report lacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.compare import main, read_report, split_table, voice_table


def _report(accuracy: float, voices: dict[str, float]) -> dict:
    rule = {
        "n": 100,
        "inscope_accuracy": accuracy,
        "macro_f1": 0.5,
        "oos_rejection": 0.25,
        "false_rejection": 0.04,
    }
    by_voice = {
        v: {"n": 50, "inscope_accuracy": a, "false_rejection": 0.0, "phoneme_error_rate": 0.3}
        for v, a in voices.items()
    }
    return {"splits": {"test_voice": {"with_threshold": rule, "oos_class_only": rule, "by_voice": by_voice}}}


def test_each_cell_holds_every_report_in_order_and_a_missing_one_reads_dash() -> None:
    a = _report(0.6, {"flite:rms": 0.5, "flite:slt": 0.35})
    b = _report(0.7, {"flite:rms": 0.566})
    b["splits"]["test_other"] = {
        "with_threshold": {**b["splits"]["test_voice"]["with_threshold"], "macro_f1": 0.9}
    }
    splits = split_table({"control": a, "slt": b}).splitlines()
    assert splits[0].startswith("| split (control / slt) |")
    assert splits[2] == "| test_voice | 0.600 / 0.700 | 0.500 / 0.500 | 0.250 / 0.250 | 0.040 / 0.040 |"
    assert splits[3].startswith("| test_other | - / 0.700 | - / 0.900 |")
    voices = voice_table({"control": a, "slt": b}).splitlines()
    assert voices[2] == "| test_voice | flite:rms | 50 | 0.500 / 0.566 | 0.000 / 0.000 | 0.300 / 0.300 |"
    assert voices[3] == "| test_voice | flite:slt | 50 | 0.350 / - | 0.000 / - | 0.300 / - |"


def test_the_command_reads_folders_and_refuses_what_is_not_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, acc in (("arm-a", 0.6), ("arm-b", 0.7)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(json.dumps(_report(acc, {"espeak:en-us": acc})))
    main([str(tmp_path / "arm-a"), str(tmp_path / "arm-b")])
    out = capsys.readouterr().out
    assert "| split (arm-a / arm-b) |" in out and "| test_voice | espeak:en-us | 50 | 0.600 / 0.700 |" in out
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(ValueError, match=r"other\.json: not a training\.evaluate report"):
        read_report(tmp_path / "other.json")
    with pytest.raises(SystemExit):
        main([str(tmp_path / "other.json"), str(tmp_path / "arm-a")])
    assert "not a training.evaluate report" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path / "arm-a"), str(tmp_path / "arm-b"), "--names", "x,x"])
