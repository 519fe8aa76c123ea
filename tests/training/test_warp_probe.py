"""The speed-warp probe: the clips it picks, and a table on the smoke corpus."""

from __future__ import annotations

from pathlib import Path

from ivr.intents import OUT_OF_SCOPE
from ivr.model.checkpoint import save_checkpoint
from ivr.model.dims import tiny_8k
from ivr.model.model import build_model
from training.manifest import Utterance, read_manifest
from training.warp_probe import main, pick


def test_pick_takes_in_scope_clips_of_each_voice_of_the_split():
    utts = [
        Utterance(Path(f"{v}{i}.wav"), label, split, "t", "", v)
        for v in ("a", "b")
        for i, (label, split) in enumerate(
            [
                ("x", "test"),
                ("y", "test"),
                ("z", "test"),
                (OUT_OF_SCOPE, "test"),
                (None, "test"),
                ("x", "dev"),
            ]
        )
    ]
    chosen = pick(utts, "test", per_voice=2, seed=0)
    assert [u.voice for u in chosen] == ["a", "a", "b", "b"]
    assert all(u.split == "test" and u.label in ("x", "y", "z") for u in chosen)
    assert pick(utts, "test", per_voice=2, seed=0) == chosen
    assert len(pick(utts, "test", per_voice=10, seed=0)) == 6


def test_probe_writes_a_row_per_voice_and_a_column_per_factor(tiny_corpus: Path, tmp_path: Path):
    labels = ("check_balance", OUT_OF_SCOPE, "report_lost_card")
    ckpt = tmp_path / "m.safetensors"
    save_checkpoint(ckpt, build_model(tiny_8k(), labels), labels=labels, extra={"threshold": 0.3})
    out = tmp_path / "probe"
    args = ["--model", str(ckpt), "--manifest", str(tiny_corpus), "--split", "dev", "--factors", "0.9,1,1.1"]
    assert main([*args, "--per-voice", "1", "--out", str(out)]) == 0
    voices = {u.voice for u in read_manifest(tiny_corpus) if u.split == "dev" and u.label != OUT_OF_SCOPE}
    text = (out / "probe.md").read_text()
    assert "| voice | 0.9 | 1 | 1.1 |" in text
    assert all(f"| {voice} | " in text for voice in voices)
