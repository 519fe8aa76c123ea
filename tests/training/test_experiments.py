"""The experiment grids: which runs train, and what is read back when processes share a grid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from training import experiments
from training.config import TrainConfig


def fake_training(monkeypatch: pytest.MonkeyPatch, trained: list[str]) -> None:
    """Replace training and evaluation by writing what a finished run leaves behind."""

    def train(cfg: TrainConfig) -> Path:
        out = Path(cfg.out_dir)
        out.mkdir(parents=True)
        (out / "metrics.jsonl").write_text(json.dumps({"step": cfg.max_steps}) + "\n")
        trained.append(out.name)
        return out / "model.safetensors"

    def evaluate(model: Path, manifest: Path, splits: Any, out: Path) -> None:
        out.mkdir()
        metrics = {"with_threshold": {"inscope_accuracy": 0.5, "macro_f1": 0.4}}
        report = {"splits": {s: metrics for s in splits}, "phoneme_error_rate": {"test_voice": 0.3}}
        (out / "report.json").write_text(json.dumps(report))

    monkeypatch.setattr(experiments.finetune, "train", train)
    monkeypatch.setattr(experiments, "evaluate", evaluate)


def test_processes_sharing_a_grid_train_their_own_runs_and_the_last_reads_all(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    trained: list[str] = []
    fake_training(monkeypatch, trained)
    config = Path(__file__).resolve().parents[2] / "training/configs/smoke.yaml"
    args = (config, ["--max_steps=7"], tmp_path, "enc.safetensors")
    first = experiments.run("ablations", *args, only=["pretrained-ctc", "scratch-ctc"])
    assert trained == ["pretrained-ctc", "scratch-ctc"] and set(first) == {"pretrained-ctc", "scratch-ctc"}
    last = experiments.run("ablations", *args, only=["pretrained-noctc", "scratch-noctc"])
    assert trained[2:] == ["pretrained-noctc", "scratch-noctc"]
    assert set(last) == {"pretrained-ctc", "pretrained-noctc", "scratch-ctc", "scratch-noctc"}
    assert last["scratch-noctc"] == {
        "test_voice_inscope_accuracy": 0.5, "test_voice_macro_f1": 0.4, "test_phrase_inscope_accuracy": 0.5,
        "test_phrase_macro_f1": 0.4, "steps": 7, "test_voice_per": 0.3,
    }  # fmt: skip
    experiments.run("ablations", *args)  # everything finished: nothing trains again
    assert len(trained) == 4


def test_the_ablation_grid_keeps_the_recipes_ctc_weight_and_drops_it_to_zero_without_ctc():
    runs = dict(experiments.grid("ablations", "runs/pretrain/encoder.safetensors"))
    assert "ctc_weight" not in runs["pretrained-ctc"] and "ctc_weight" not in runs["scratch-ctc"]
    assert runs["pretrained-noctc"]["ctc_weight"] == 0.0 and runs["scratch-noctc"]["init"] == ""
