"""The CLI shell: version, help, and one-line errors without tracebacks."""

import json
import subprocess
import sys

import numpy as np
import pytest

from ivr import __version__
from ivr.audio.wav import write_wav
from ivr.cli import build_parser, main


def _ivr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ivr", *args], capture_output=True, text=True, timeout=120)


def test_version():
    result = _ivr("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"ivr {__version__}"


def test_every_subcommand_has_help(capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert {"info", "audio"} <= set(commands)
    for name in commands:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage: ivr" in capsys.readouterr().out


def _assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_bad_arguments():
    _assert_one_line_error(_ivr("audio", "convert", "only-one.wav"), "error:", "required")
    _assert_one_line_error(_ivr("no-such-command"), "invalid choice")
    _assert_one_line_error(_ivr("audio", "tones", "12x", "-o", "/tmp/x.wav"), "not DTMF keys: X")


def test_missing_file(tmp_path):
    _assert_one_line_error(_ivr("audio", "dtmf", str(tmp_path / "gone.wav")), "gone.wav", "No such file")


def test_unreadable_file(tmp_path):
    _assert_one_line_error(_ivr("audio", "info", str(tmp_path)), str(tmp_path))


def test_not_audio_and_truncated(tmp_path):
    text = tmp_path / "text.wav"
    text.write_text("just text")
    _assert_one_line_error(_ivr("audio", "info", str(text)), "text.wav: not a WAV file")
    cut = tmp_path / "cut.wav"
    write_wav(cut, np.zeros(8000), 8000)
    cut.write_bytes(cut.read_bytes()[:1000])
    _assert_one_line_error(_ivr("audio", "dtmf", str(cut)), "cut.wav: truncated")


def test_debug_shows_the_traceback(tmp_path):
    text = tmp_path / "text.wav"
    text.write_text("just text")
    result = _ivr("--debug", "audio", "info", str(text))
    assert result.returncode == 1 and "Traceback" in result.stderr


def test_tones_then_dtmf_round_trip(tmp_path):
    out = tmp_path / "keys.wav"
    assert _ivr("audio", "tones", "0800*#", "-o", str(out), "--encoding", "alaw").returncode == 0
    result = _ivr("audio", "dtmf", str(out))
    assert result.returncode == 0 and result.stdout.split() == [str(out), "0800*#"]
    info = json.loads(_ivr("audio", "info", "--json", str(out)).stdout)
    assert (info["encoding"], info["sample_rate_hz"], info["channels"]) == ("alaw", 8000, 1)


def test_convert_changes_rate_and_encoding(tmp_path):
    source, target = tmp_path / "in.wav", tmp_path / "out.wav"
    t = np.arange(48000) / 48000
    write_wav(source, np.stack([np.sin(2 * np.pi * 440 * t), np.zeros_like(t)], axis=1) * 0.5, 48000)
    result = _ivr(
        "audio", "convert", str(source), str(target), "--rate", "8000", "--encoding", "ulaw", "--channel", "0"
    )
    assert result.returncode == 0, result.stderr
    info = json.loads(_ivr("audio", "info", "--json", str(target)).stdout)
    assert (info["encoding"], info["sample_rate_hz"], info["channels"], info["duration_s"]) == (
        "ulaw",
        8000,
        1,
        1.0,
    )
    assert info["peak"] == pytest.approx(0.5, abs=0.02)


def test_info_names_the_default_model_and_flow():
    result = _ivr("info")
    assert result.returncode == 0
    assert (
        "models/ivr-tiny-8k.safetensors" in result.stdout and "flows/customer_service.yaml" in result.stdout
    )


def test_cli_constants_match_the_audio_library():
    from ivr.audio import dtmf, wav
    from ivr.cli import audio

    assert audio.DIGITS == dtmf.DIGITS and audio.ENCODINGS == wav.ENCODINGS


def test_help_does_not_load_torch_or_scipy():
    code = "import sys; from ivr.cli import build_parser; build_parser(); print(sorted({'torch', 'scipy'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
