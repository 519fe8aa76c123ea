"""Evaluation metrics on hand-made predictions, and a full report on the smoke corpus."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ivr.cli import main
from ivr.intents import OUT_OF_SCOPE
from ivr.model.checkpoint import save_checkpoint
from ivr.model.dims import tiny_8k
from ivr.model.model import build_model
from ivr.runtime.classify import ClassifyResult
from training.evaluate import (
    OPERATING_OOS_THRESHOLDS,
    OPERATING_THRESHOLDS,
    evaluate,
    expected_calibration_error,
    operating_points,
    score,
    transcript_error_rate,
)
from training.manifest import Utterance, read_manifest

LABELS = ["a", "b", OUT_OF_SCOPE]


def one_hot(rows: list[int], conf: float = 0.9) -> np.ndarray:
    p = np.full((len(rows), 3), (1 - conf) / 2)
    p[np.arange(len(rows)), rows] = conf
    return p


def test_score_counts_rejections_and_confusions():
    truth = np.array([0, 0, 1, 1, 2, 2])
    probs = one_hot([0, 1, 1, 2, 2, 0])
    probs[5] = [0.4, 0.35, 0.25]  # out-of-scope, low confidence: the threshold catches it
    m = score(probs, truth, LABELS, threshold=0.5)
    assert m.n == 6
    assert m.inscope_accuracy == pytest.approx(2 / 4)
    assert m.false_rejection == pytest.approx(1 / 4)
    assert m.oos_rejection == pytest.approx(1.0)
    assert m.per_intent["a"] == {"precision": 1.0, "recall": 0.5, "support": 2}
    assert m.per_intent["b"]["precision"] == pytest.approx(0.5)
    assert m.macro_f1 == pytest.approx((2 / 3 + 0.5) / 2)
    class_only = score(probs, truth, LABELS, threshold=0.0)
    assert class_only.oos_rejection == pytest.approx(0.5)


def test_operating_points_trade_false_rejection_for_out_of_scope_rejection():
    truth = np.array([0, 0, 1, 1, 2, 2])  # labels a, b, out_of_scope (LABELS)
    probs = one_hot([0, 0, 1, 1, 0, 1])
    probs[[1, 3, 4, 5]] = [[0.32, 0.3, 0.38], [0.3, 0.36, 0.34], [0.3, 0.34, 0.36], [0.3, 0.38, 0.32]]
    all_points = operating_points(probs, truth, LABELS)
    points = {p["threshold"]: p for p in all_points if p["rule"] == "max_probability"}
    by_oos = {p["threshold"]: p for p in all_points if p["rule"] == "oos_probability"}
    assert by_oos[0.1]["false_rejection"] == 0.5 and by_oos[0.1]["oos_rejection"] == 1.0  # rows 1, 3, 4, 5
    assert by_oos[0.4]["false_rejection"] == pytest.approx(0.25) and by_oos[0.4]["oos_rejection"] == 0.5
    assert points[0.1]["false_rejection"] == pytest.approx(0.25)  # row 1: the out-of-scope class wins
    assert points[0.1]["oos_rejection"] == pytest.approx(0.5)
    assert points[0.4]["false_rejection"] == pytest.approx(0.5) and points[0.4]["oos_rejection"] == 1.0
    rates = [p["false_rejection"] for p in points.values()]
    assert rates == sorted(rates)


def test_ece_is_zero_when_confidence_matches_accuracy():
    truth = np.array([0] * 9 + [1])
    assert expected_calibration_error(one_hot([0] * 10, conf=0.9), truth) == pytest.approx(0.0, abs=1e-9)
    assert expected_calibration_error(one_hot([1] * 10, conf=0.9), truth) == pytest.approx(0.8)


def test_report_and_plots_on_the_smoke_corpus(tiny_corpus: Path, tmp_path: Path):
    labels = ("check_balance", OUT_OF_SCOPE, "report_lost_card")
    ckpt = tmp_path / "m.safetensors"
    save_checkpoint(ckpt, build_model(tiny_8k(), labels), labels=labels, extra={"threshold": 0.3})
    report = evaluate(ckpt, tiny_corpus, ["dev"], tmp_path / "eval")
    dev = report["splits"]["dev"]
    assert [p["threshold"] for p in dev["operating_points"]] == [
        *OPERATING_THRESHOLDS,
        *OPERATING_OOS_THRESHOLDS,
    ]
    assert evaluate(ckpt, tiny_corpus, ["dev"], tmp_path / "eval2", threshold=0.6)["threshold"] == 0.6
    again = evaluate(ckpt, tiny_corpus, ["dev"], tmp_path / "eval3", threshold=0.0, oos_threshold=0.0)
    assert (
        again["oos_threshold"] == 0.0 and again["splits"]["dev"]["with_threshold"]["false_rejection"] == 1.0
    )
    assert dev["with_threshold"]["n"] == 6
    voices = {u.voice for u in read_manifest(tiny_corpus) if u.split == "dev"}
    assert set(dev["by_voice"]) == voices and sum(v["n"] for v in dev["by_voice"].values()) == 6
    assert "| dev | " + sorted(voices)[0] + " |" in (tmp_path / "eval" / "report.md").read_text()
    assert 0 <= dev["with_threshold"]["inscope_accuracy"] <= 1
    assert json.loads((tmp_path / "eval" / "report.json").read_text())["threshold"] == 0.3
    for name in ("confusion-dev.png", "reliability-dev.png"):
        assert (tmp_path / "eval" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| dev | with_threshold | 6 |" in (tmp_path / "eval" / "report.md").read_text()
    assert report["phoneme_error_rate"] == {"dev": None}  # no CTC head, no transcripts


def test_transcript_error_rate_counts_edits_over_reference_phonemes():
    def said(transcript: str) -> ClassifyResult:
        return ClassifyResult("a", 1.0, {"a": 1.0}, [("a", 1.0)], transcript)

    utts = [Utterance(Path("x.wav"), "a", "dev", "key", "kit"), Utterance(Path("y.wav"), "a", "dev", "", "")]
    assert transcript_error_rate([said("kit"), said("zzz")], utts) == 0.0  # no reference: not counted
    assert transcript_error_rate([said("kt"), said("")], utts) == pytest.approx(1 / 3)
    assert transcript_error_rate([said(""), said("")], utts) == 1.0  # all blank: every phoneme deleted
    assert transcript_error_rate([said("")], utts[1:]) is None


def test_ivr_train_evaluate_scores_at_the_threshold_asked_for(tiny_corpus: Path, tmp_path: Path):
    labels = ("check_balance", OUT_OF_SCOPE, "report_lost_card")
    ckpt = tmp_path / "m.safetensors"
    save_checkpoint(ckpt, build_model(tiny_8k(), labels), labels=labels, extra={"threshold": 0.3})
    out = tmp_path / "eval"
    args = ["train", "evaluate", "--model", str(ckpt), "--manifest", str(tiny_corpus), "--splits", "dev"]
    assert main([*args, "--out", str(out), "--threshold", "0.7"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert (
        report["threshold"] == 0.7
        and "Out-of-scope rejection / false rejection" in (out / "report.md").read_text()
    )
    assert report["band_limit"] is True and report["channel"]["line_filters"] is None
    assert main([*args, "--out", str(tmp_path / "spread"), "--line-spread"]) == 0
    spread = json.loads((tmp_path / "spread" / "report.json").read_text())
    assert spread["channel"]["line_filters"]["orders"] == [2, 4, 6, 8]
    assert main([*args, "--out", str(tmp_path / "as-is"), "--no-channel", "--no-band-limit"]) == 0
    as_is = json.loads((tmp_path / "as-is" / "report.json").read_text())
    assert as_is["channel"] is None and as_is["band_limit"] is False
    assert (
        spread["splits"]["dev"]["with_threshold"]["ece"] != report["splits"]["dev"]["with_threshold"]["ece"]
    )
    assert report["views"] == [] and report["view_rule"] == "mean"
    assert (
        main([*args, "--out", str(tmp_path / "views"), "--views", "speed:0.9", "--view-rule", "min_entropy"])
        == 0
    )
    views = json.loads((tmp_path / "views" / "report.json").read_text())
    assert views["views"] == ["speed:0.9"] and views["view_rule"] == "min_entropy"
    assert views["splits"]["dev"]["with_threshold"]["ece"] != report["splits"]["dev"]["with_threshold"]["ece"]
    assert main([*args, "--out", str(tmp_path / "bad"), "--views", "speed:fast"]) == 1
