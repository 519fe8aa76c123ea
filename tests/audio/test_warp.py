"""Voice warps: speed and formant factors checked on synthetic tones and vowels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from ivr.audio.warp import VoiceView, parse_views, shift_formants, speed_up
from tests import conftest

SR = 8000


def dominant_hz(y: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(y))
    return float(np.fft.rfftfreq(len(y), 1 / SR)[np.argmax(spectrum)])


def test_speed_up_plays_a_clip_faster_or_slower_by_a_fixed_factor():
    x = conftest.tone(500.0, 1.0, SR, amplitude=0.3)
    assert np.array_equal(speed_up(x, 1.0), x)
    faster, slower = speed_up(x, 1.25), speed_up(x, 0.8)
    assert len(faster) == 6400 and dominant_hz(faster) == pytest.approx(625.0, abs=2.0)
    assert len(slower) == 10000 and dominant_hz(slower) == pytest.approx(400.0, abs=2.0)


def voiced(pitch_hz: float, formant_hz: float, seconds: float = 1.0) -> np.ndarray:
    """A pulse train at ``pitch_hz`` through one resonance at ``formant_hz``: a crude sustained vowel."""
    n = int(seconds * SR)
    pulses = np.zeros(n)
    pulses[:: round(SR / pitch_hz)] = 1.0
    r, theta = 0.97, 2 * np.pi * formant_hz / SR
    y = signal.lfilter([1.0], [1.0, -2 * r * np.cos(theta), r * r], pulses)
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def envelope_peak_hz(y: np.ndarray) -> float:
    freqs, power = signal.welch(y, SR, nperseg=256)  # 31 Hz bins: harmonics at 125 Hz smear into the envelope
    return float(freqs[np.argmax(power)])


def pitch_hz(y: np.ndarray) -> float:
    ac = np.correlate(y, y, "full")[len(y) - 1 :]
    lag = 20 + int(np.argmax(ac[20:200]))  # 40-400 Hz
    return SR / lag


@pytest.mark.parametrize("factor", [0.85, 1.2])
def test_shift_formants_moves_the_envelope_and_keeps_pitch_and_length(factor):
    x = voiced(125.0, 1000.0)
    y = shift_formants(x, factor)
    assert len(y) == len(x) and y.dtype == np.float32
    assert envelope_peak_hz(x) == pytest.approx(1000.0, abs=70.0)
    assert envelope_peak_hz(y) == pytest.approx(1000.0 * factor, abs=70.0)
    assert pitch_hz(y) == pytest.approx(125.0, abs=3.0)
    np.testing.assert_array_equal(shift_formants(x, 1.0), x)


def test_voice_views_parse_and_name_what_is_wrong():
    assert parse_views("speed:0.9, formants:1.15") == (VoiceView("speed", 0.9), VoiceView("formants", 1.15))
    assert parse_views("") == ()
    assert str(VoiceView("formants", 0.85)) == "formants:0.85"
    x = conftest.tone(500.0, 1.0, SR, amplitude=0.3)
    np.testing.assert_array_equal(VoiceView("speed", 1.25).apply(x), speed_up(x, 1.25))
    for bad, message in (
        ("pitch:0.9", "one of"),
        ("speed", "KIND:FACTOR"),
        ("speed:x", "KIND:FACTOR"),
        ("speed:3", r"\[0.5, 2\]"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_views(bad)
