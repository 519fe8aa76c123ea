"""``ivr classify`` on the bundled sample with a tiny checkpoint made here (not the shipped model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ivr.audio.warp import VoiceView
from ivr.audio.wav import load_audio, write_wav
from ivr.cli import main
from ivr.errors import CheckpointError
from ivr.intents import OUT_OF_SCOPE
from ivr.model.checkpoint import save_checkpoint
from ivr.model.ctc_decode import greedy_ids, spell
from ivr.model.dims import tiny_8k
from ivr.model.model import build_model
from ivr.model.phoneme_intent import clean_ids
from ivr.runtime.classify import Classifier, decide

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "lost_card_8k_ulaw.wav"
LABELS = ("report_lost_card", "check_balance", OUT_OF_SCOPE)
VOCAB = ["<blank>", " ", "a", "b", "c"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = build_model(tiny_8k(), LABELS, ctc_vocab_size=len(VOCAB))
    model.intent_head.temperature.fill_(1.5)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_checkpoint(path, model, labels=LABELS, extra={"threshold": 0.2, "ctc_vocab": VOCAB})
    return path


def test_json_lines_for_each_file(checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # Any WAV format and rate: the sample re-encoded as 16 kHz PCM16 and 8 kHz A-law.
    samples = load_audio(SAMPLE, 8000)
    wide = tmp_path / "wide.wav"
    write_wav(wide, load_audio(SAMPLE, 16000), 16000)
    alaw = tmp_path / "alaw.wav"
    write_wav(alaw, samples, 8000, encoding="alaw")
    code = main(["classify", "--json", "--model", str(checkpoint), str(SAMPLE), str(wide), str(alaw)])
    assert code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["path"] for r in rows] == [str(SAMPLE), str(wide), str(alaw)]
    expected = Classifier.from_checkpoint(checkpoint).classify(samples)
    for r in rows:
        assert set(r) >= {"path", "intent", "confidence", "scores", "top_k", "transcript"}
        assert set(r["scores"]) == set(LABELS)
        assert sum(r["scores"].values()) == pytest.approx(1.0, abs=1e-3)
        assert r["intent"] in LABELS
        assert r["confidence"] == pytest.approx(max(r["scores"].values()), abs=1e-4)
        assert set(r["transcript"]) <= set("abc ")
    assert rows[0]["intent"] == expected.intent
    assert rows[0]["scores"] == pytest.approx(expected.scores, abs=1e-4)
    # The same audio through another encoding lands close (G.711 noise only).
    assert rows[2]["scores"] == pytest.approx(rows[0]["scores"], abs=0.05)


def test_text_output(checkpoint: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["classify", "--model", str(checkpoint), str(SAMPLE)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{SAMPLE}: ") and "[" in line


def test_missing_model_and_bad_audio_are_one_line_errors(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["classify", "--model", str(tmp_path / "none.safetensors"), str(SAMPLE)]) == 1
    err = capsys.readouterr().err
    assert "none.safetensors: model checkpoint not found" in err and "Traceback" not in err
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not a wav file at all")
    assert main(["classify", "--model", str(checkpoint), str(junk)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ivr: error:") and "junk.wav" in err and len(err.strip().splitlines()) == 1
    assert main(["classify", "--model", str(junk), str(SAMPLE)]) == 1
    assert "junk.wav" in capsys.readouterr().err


def test_a_bare_encoder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "enc.safetensors"
    save_checkpoint(path, build_model(tiny_8k(), LABELS).encoder)
    assert main(["classify", "--model", str(path), str(SAMPLE)]) == 1
    assert "no intent head" in capsys.readouterr().err


def test_decide_applies_class_and_threshold():
    assert decide({"a": 0.7, "b": 0.2, OUT_OF_SCOPE: 0.1}, 0.5) == ("a", 0.7)
    assert decide({"a": 0.4, "b": 0.35, OUT_OF_SCOPE: 0.25}, 0.5) == (OUT_OF_SCOPE, 0.4)
    assert decide({"a": 0.2, OUT_OF_SCOPE: 0.8}, 0.0) == (OUT_OF_SCOPE, 0.8)
    assert decide({"a": 0.7, "b": 0.1, OUT_OF_SCOPE: 0.2}, 0.0, 0.15) == (
        OUT_OF_SCOPE,
        0.7,
    )  # out-of-scope rule
    assert decide({"a": 0.7, "b": 0.1, OUT_OF_SCOPE: 0.2}, 0.0, 0.25) == ("a", 0.7)


def test_greedy_ctc_merges_repeats_and_drops_blanks():
    frames = [2, 2, 0, 2, 3, 1, 1, 4, 0]
    log_probs = np.log(np.eye(5)[frames] * 0.9 + 0.02)
    assert spell(clean_ids(greedy_ids(log_probs)), VOCAB) == "aab c"
    assert spell(clean_ids(greedy_ids(log_probs)), []) == ""


def test_the_out_of_scope_threshold_comes_from_the_checkpoint_and_a_bad_one_is_named(tmp_path: Path):
    model = build_model(tiny_8k(), LABELS, ctc_vocab_size=len(VOCAB))
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, model, labels=LABELS, extra={"oos_threshold": 0.0, "ctc_vocab": VOCAB})
    classifier = Classifier.from_checkpoint(path)
    assert classifier.oos_threshold == 0.0
    assert classifier.classify(load_audio(SAMPLE, 8000)).intent == OUT_OF_SCOPE  # any share of it rejects
    save_checkpoint(path, model, labels=LABELS, extra={"oos_threshold": 1.5, "ctc_vocab": VOCAB})
    with pytest.raises(CheckpointError, match="'oos_threshold' must be a number in"):
        Classifier.from_checkpoint(path)


def test_views_flag_hears_each_file_through_voice_warps(checkpoint: Path, capsys: pytest.CaptureFixture[str]):
    args = ["classify", "--json", "--model", str(checkpoint), str(SAMPLE)]
    assert main([*args, "--views", "speed:0.9,formants:1.1", "--view-rule", "min_entropy"]) == 0
    warped = json.loads(capsys.readouterr().out)
    classifier = Classifier.from_checkpoint(checkpoint)
    classifier.views = (VoiceView("speed", 0.9), VoiceView("formants", 1.1))
    classifier.view_rule = "min_entropy"
    expected = classifier.classify(load_audio(SAMPLE, 8000))
    assert warped["scores"] == pytest.approx(expected.scores, abs=1e-4)
    plain = Classifier.from_checkpoint(checkpoint).classify(load_audio(SAMPLE, 8000)).scores
    assert max(abs(plain[k] - expected.scores[k]) for k in LABELS) > 1e-3
    assert main([*args, "--views", "pitch:2"]) == 1
    assert "--views" in capsys.readouterr().err
