"""DTMF detection: all 16 keys under Q.24-style conditions, and no false triggers."""

import numpy as np
import pytest

from ivr.audio.dtmf import DIGITS, DtmfDetector, dbm0_to_amplitude, detect_dtmf, dtmf_tone, dtmf_tones
from ivr.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from ivr.audio.pcm import float_to_pcm16, pcm16_to_float

RATE = 8000


def _g711_round_trip(x: np.ndarray, law: str) -> np.ndarray:
    pcm = float_to_pcm16(x)
    codes = ulaw_encode(pcm) if law == "ulaw" else alaw_encode(pcm)
    return pcm16_to_float(ulaw_decode(codes) if law == "ulaw" else alaw_decode(codes))


def _with_noise(x: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    tone_power = 2 * dbm0_to_amplitude(-25) ** 2 / 2  # two sines at -25 dBm0
    noise = np.random.default_rng(seed).standard_normal(len(x)) * np.sqrt(tone_power / 10 ** (snr_db / 10))
    return (x + noise).astype(np.float32)


def test_all_16_keys_at_minimum_timing_level_noise_and_g711():
    for law in ("ulaw", "alaw"):
        for seed in range(3):
            x = dtmf_tones(DIGITS, tone_ms=40, gap_ms=40, level_dbm0=-25)
            assert detect_dtmf(_g711_round_trip(_with_noise(x, 10, seed), law)) == DIGITS


def test_repeated_key_is_reported_twice():
    assert detect_dtmf(dtmf_tones("1100#", tone_ms=40, gap_ms=40, level_dbm0=-25)) == "1100#"


@pytest.mark.parametrize("twist_db", [-6.0, 6.0])
def test_accepts_twist_within_limits(twist_db):
    gap = np.zeros(400, dtype=np.float32)
    x = np.concatenate([gap, dtmf_tone("5", 60, level_dbm0=-20, twist_db=twist_db), gap])
    assert detect_dtmf(x) == "5"


def test_rejects_excessive_twist():
    gap = np.zeros(400, dtype=np.float32)
    x = np.concatenate([gap, dtmf_tone("5", 100, level_dbm0=-20, twist_db=14), gap])
    assert detect_dtmf(x) == ""


def test_rejects_tones_shorter_than_the_minimum():
    assert detect_dtmf(dtmf_tones("5", tone_ms=25, gap_ms=60, level_dbm0=-10)) == ""


def test_rejects_tones_below_the_level_floor():
    assert detect_dtmf(dtmf_tones("5", tone_ms=100, gap_ms=60, level_dbm0=-45)) == ""


def test_short_dropout_inside_a_press_is_one_digit():
    tone = dtmf_tone("7", 120, level_dbm0=-15)
    tone[480:500] = 0  # 2.5 ms dropout
    gap = np.zeros(400, dtype=np.float32)
    assert detect_dtmf(np.concatenate([gap, tone, gap])) == "7"


def test_streaming_in_any_chunk_sizes_matches_whole_signal():
    x = _with_noise(dtmf_tones("0123456789", tone_ms=50, gap_ms=50, level_dbm0=-20), 15, 1)
    rng = np.random.default_rng(5)
    detector, digits, start = DtmfDetector(), "", 0
    while start < len(x):
        size = int(rng.integers(1, 400))
        digits += detector.process(x[start : start + size])
        start += size
    assert digits == "0123456789" == detect_dtmf(x)


def test_no_trigger_on_single_tones():
    t = np.arange(RATE) / RATE
    for freq in (697, 770, 852, 941, 1209, 1336, 1477, 1633, 1000, 2000):
        assert detect_dtmf(0.3 * np.sin(2 * np.pi * freq * t)) == "", freq


def _vowel(
    f0_hz: float, formants_hz: tuple[float, ...], seconds: float, rng: np.random.Generator
) -> np.ndarray:
    """Speech-like voiced sound: a glottal pulse train with vibrato shaped by formant resonances."""
    from scipy.signal import lfilter

    n = int(RATE * seconds)
    f0 = f0_hz * (1 + 0.05 * np.sin(2 * np.pi * 5 * np.arange(n) / RATE))
    phase = np.cumsum(f0) / RATE
    pulses = (np.diff(np.floor(phase), prepend=0) > 0).astype(float)
    signal = pulses + 0.02 * rng.standard_normal(n)
    for formant in formants_hz:
        r = np.exp(-np.pi * 80 / RATE)
        theta = 2 * np.pi * formant / RATE
        signal = lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], signal)
    return 0.3 * signal / np.abs(signal).max()


def test_no_trigger_on_speech_like_signals():
    rng = np.random.default_rng(0)
    vowels = [(700, 1220, 2600), (300, 870, 2240), (570, 840, 2410), (440, 1020, 2240), (270, 2290, 3010)]
    # 139.4 * 5 = 697 and 232.3 * 3 = 697: harmonics that land on a DTMF row frequency.
    for f0 in (90, 110, 139.4, 174.2, 220, 232.3, 255):
        speech = np.concatenate([_vowel(f0, v, 0.4, rng) for v in vowels])
        assert detect_dtmf(_g711_round_trip(speech, "ulaw")) == "", f0


def test_no_trigger_on_music_like_chords():
    t = np.arange(RATE * 2) / RATE
    chords = [(261.6, 329.6, 392.0), (220.0, 277.2, 329.6), (349.2, 440.0, 523.3), (697.0, 880.0, 1209.0)]
    for chord in chords:
        notes = sum(sum((0.5**h) * np.sin(2 * np.pi * f * (h + 1) * t) for h in range(4)) for f in chord)
        assert detect_dtmf(0.2 * notes / 3) == "", chord


def test_generator_levels_follow_dbm0():
    tone = dtmf_tone("1", 1000, level_dbm0=0)
    # two sines at 0 dBm0: each of mean power A^2 / 2
    assert np.mean(tone**2) == pytest.approx(dbm0_to_amplitude(0) ** 2, rel=0.01)
    with pytest.raises(ValueError, match="not a DTMF key"):
        dtmf_tone("x")


def test_no_trigger_on_synthesized_speech(tmp_path):
    import shutil
    import subprocess

    from ivr.audio.wav import load_audio

    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing: `make setup` installs it")
    text = "one two three four five six seven eight nine zero, star, pound. I would like to pay my bill."
    for voice in ("en-us", "en-gb+f3", "en-us+m7"):
        path = tmp_path / f"{voice}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
        speech = load_audio(path)
        assert detect_dtmf(_g711_round_trip(speech, "ulaw")) == "", voice
