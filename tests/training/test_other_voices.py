"""The evaluation-only set of other recorded voices: never in training, built from a split's sentences."""

from __future__ import annotations

from pathlib import Path

import pytest

from training import synth
from training.manifest import ManifestError, Utterance, write_manifest
from training.other_voices import OTHER_VOICES, build, jobs_for, pick
from training.synth import EVALUATION_ENGINES, SynthError, SynthJob, Voice, all_voices, command, stdin_text


def test_the_recipe_never_draws_an_evaluation_voice() -> None:
    assert {v.engine for v in all_voices()} == {"espeak", "flite"}
    assert {v.engine for v in OTHER_VOICES} <= set(EVALUATION_ENGINES)
    assert "rhvoice:slt" not in {v.key for v in OTHER_VOICES}  # flite's slt, one ARCTIC speaker


def test_pick_takes_the_first_clips_of_each_label_in_the_split() -> None:
    layout: list[tuple[str | None, str]] = [
        ("a", "test_voice"),
        ("a", "train"),
        ("a", "test_voice"),
        ("b", "test_voice"),
        ("a", "test_voice"),
        (None, "test_voice"),
    ]
    rows = [Utterance(Path(f"{i}.wav"), label, split, f"text {i}") for i, (label, split) in enumerate(layout)]
    assert [u.text for u in pick(rows, "test_voice", 2)] == ["text 0", "text 2", "text 3"]


def test_every_sentence_is_spoken_by_every_voice_at_its_defaults() -> None:
    sources = [
        Utterance(Path("x.wav"), "a", "test_voice", "one"),
        Utterance(Path("y.wav"), "b", "test_voice", "two"),
    ]
    planned = jobs_for(sources, OTHER_VOICES)
    assert len(planned) == 2 * len(OTHER_VOICES)
    assert {(u.text, job.text) for u, job in planned} == {("one", "one"), ("two", "two")}
    assert all(job.rate == 1.0 and job.pitch == 1.0 for _, job in planned)


def test_rhvoice_reads_stdin_and_pico_takes_the_words(tmp_path: Path) -> None:
    rh = SynthJob("my card is gone", Voice("rhvoice", "clb"))
    assert command(rh, tmp_path / "a.wav") == ["RHVoice-test", "-p", "clb", "-o", str(tmp_path / "a.wav")]
    assert stdin_text(rh) == b"my card is gone"
    pico = SynthJob("my card is gone", Voice("pico", "en-GB"))
    assert command(pico, tmp_path / "b.wav")[:3] == ["pico2wave", "-l", "en-GB"]
    assert command(pico, tmp_path / "b.wav")[-1] == "my card is gone" and stdin_text(pico) is None


def test_a_missing_evaluation_synthesizer_names_its_non_free_packages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(synth.shutil, "which", lambda _name: None)
    with pytest.raises(SynthError, match="rhvoice-english libttspico-utils"):
        synth.check_engines({"pico"})
    with pytest.raises(SynthError, match="apt-get install -y --no-install-recommends flite"):
        synth.check_engines({"flite"})


def test_a_manifest_without_the_split_is_named(tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, [Utterance(tmp_path / "a.wav", "affirm", "train", "yes")])
    with pytest.raises(ManifestError, match="no labeled clips in split 'test_voice'"):
        build(manifest, tmp_path / "out")
