"""Manifests, ours and a call center's: both formats, and every bad line reported at once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ivr.audio.wav import write_wav
from ivr.cli import main
from training.manifest import ManifestError, Utterance, labels_of, read_manifest, write_manifest


@pytest.fixture
def wavs(tmp_path: Path) -> list[Path]:
    paths = []
    for i in range(2):
        path = tmp_path / "audio" / f"call{i}.wav"
        path.parent.mkdir(exist_ok=True)
        write_wav(path, np.zeros(800, np.float32), 8000)
        paths.append(path)
    return paths


def test_jsonl_round_trip_with_relative_paths(tmp_path, wavs):
    utts = [Utterance(wavs[0], "affirm", "train", "yes", "jɛs", "espeak:en-us"), Utterance(wavs[1])]
    manifest = tmp_path / "m.jsonl"
    assert write_manifest(manifest, utts) == 2
    assert '"audio": "audio/call0.wav"' in manifest.read_text()
    assert read_manifest(manifest) == [
        Utterance(wavs[0].resolve(), "affirm", "train", "yes", "jɛs", "espeak:en-us"),
        Utterance(wavs[1].resolve()),
    ]


def test_csv_with_optional_split(tmp_path, wavs):
    manifest = tmp_path / "calls.csv"
    manifest.write_text("audio,label,split\naudio/call0.wav,billing,train\naudio/call1.wav,refund,\n")
    utts = read_manifest(manifest)
    assert [(u.label, u.split) for u in utts] == [("billing", "train"), ("refund", "train")]
    assert labels_of(utts) == ["billing", "refund"]


def test_every_bad_jsonl_line_is_reported_with_its_line(tmp_path, wavs):
    manifest = tmp_path / "bad.jsonl"
    manifest.write_text(
        '{"audio": "audio/call0.wav", "label": "ok"}\n'
        "{not json\n"
        "\n"
        '{"label": "x"}\n'
        '{"audio": "missing.wav"}\n'
        '{"audio": "audio/call1.wav", "speaker": "bob"}\n'
        "[1, 2]\n"
        '{"audio": "audio/call1.wav", "label": 3}\n'
    )
    with pytest.raises(ManifestError) as err:
        read_manifest(manifest)
    lines = str(err.value).splitlines()
    assert [line.split(": ")[0] for line in lines] == [f"{manifest}:{n}" for n in (2, 4, 5, 6, 7, 8)]
    assert "not valid JSON" in lines[0]
    assert "missing 'audio'" in lines[1]
    assert "audio file not found" in lines[2]
    assert "unknown field(s) speaker" in lines[3]
    assert "expected a JSON object" in lines[4]
    assert "'label' must be a string" in lines[5]


def test_bad_csv_header_and_row(tmp_path, wavs):
    no_audio = tmp_path / "a.csv"
    no_audio.write_text("path,label\nx.wav,y\n")
    with pytest.raises(ManifestError, match=r"a\.csv:1: CSV header must name an 'audio' column"):
        read_manifest(no_audio)
    extra = tmp_path / "b.csv"
    extra.write_text("audio,label\naudio/call0.wav,a\naudio/call1.wav,b,c\n")
    with pytest.raises(ManifestError, match=r"b\.csv:3: more fields than the header"):
        read_manifest(extra)


def test_empty_and_missing_manifests(tmp_path):
    empty = tmp_path / "e.jsonl"
    empty.write_text("\n")
    with pytest.raises(ManifestError, match="manifest is empty"):
        read_manifest(empty)
    with pytest.raises(ManifestError, match="cannot read manifest"):
        read_manifest(tmp_path / "nope.jsonl")


def test_cli_reports_a_bad_manifest_in_one_error(tmp_path, capsys):
    manifest = tmp_path / "calls.csv"
    manifest.write_text("audio,label\ngone.wav,billing\n")
    code = main(
        ["train", "finetune", "--manifest", str(manifest), "--out-dir", str(tmp_path / "run"), "--init", ""]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert f"{manifest}:2: audio file not found" in err
    assert "Traceback" not in err


def test_paths_relative_to_the_working_directory_are_rebased(tmp_path, wavs, monkeypatch):
    monkeypatch.chdir(tmp_path)
    manifest = Path("out") / "m.jsonl"
    write_manifest(manifest, [Utterance(Path("audio/call0.wav"), "a")])
    assert (
        '"audio": "../audio/call0.wav"' in manifest.read_text()
        or '"audio": "' + str(wavs[0].resolve()) in manifest.read_text()
    )
    assert read_manifest(manifest)[0].audio == wavs[0].resolve()
