"""The telephony channel: each property checked on synthetic signals."""

from __future__ import annotations

import numpy as np
import pytest

from tests import conftest
from tests.audio.test_warp import voiced
from training.channel import (
    ChannelConfig,
    LineFilterSpread,
    add_noise,
    apply_channel,
    babble,
    clip,
    draw_line_filter,
    drop_packets,
    g711_roundtrip,
    pink_noise,
    rms,
    set_level,
    warp_voice,
    white_noise,
)

SR = 8000


def tone(freq_hz: float, seconds: float = 1.0, sr: int = SR) -> np.ndarray:
    """A tone at a speech-like level (-13 dBFS peak)."""
    return conftest.tone(freq_hz, seconds, sr, amplitude=0.3)


@pytest.mark.parametrize("codec", ["ulaw", "alaw"])
def test_g711_roundtrip_keeps_snr_near_codec_quality(codec):
    x = tone(440.0)
    y = g711_roundtrip(x, codec)
    snr_db = 20 * np.log10(rms(x) / rms(y - x))
    assert 30.0 < snr_db < 45.0  # G.711 gives ~38 dB on a loud tone; never lossless
    assert not np.array_equal(x, y)


def test_g711_rejects_unknown_codec():
    with pytest.raises(ValueError, match="unknown codec"):
        g711_roundtrip(tone(440.0), "opus")


def test_set_level_hits_target_dbfs():
    y = set_level(tone(500.0), -26.0)
    assert 20 * np.log10(rms(y)) == pytest.approx(-26.0, abs=0.01)


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 25.0])
@pytest.mark.parametrize("kind", ["white", "pink", "babble"])
def test_add_noise_snr_within_tolerance(snr_db, kind):
    rng = np.random.default_rng(1)
    x = tone(700.0)
    others = [tone(300.0 + 50 * i) for i in range(4)]
    noise = {"white": white_noise, "pink": pink_noise}.get(kind)
    n = noise(len(x), rng) if noise else babble(len(x), others, rng)
    y = add_noise(x, n, snr_db)
    measured = 20 * np.log10(rms(x) / rms(y - x))
    assert measured == pytest.approx(snr_db, abs=0.1)


def test_pink_noise_falls_with_frequency():
    n = pink_noise(SR * 4, np.random.default_rng(0))
    f, p = np.fft.rfftfreq(len(n), 1 / SR), np.abs(np.fft.rfft(n)) ** 2
    low, high = p[(f > 100) & (f < 200)].mean(), p[(f > 1600) & (f < 3200)].mean()
    assert 8.0 < 10 * np.log10(low / high) < 16.0  # 1/f over 4 octaves: 12 dB


def test_packet_loss_conceals_with_fading_repeats():
    rng = np.random.default_rng(3)
    x = tone(440.0, 2.0)
    y, lost = drop_packets(x, 0.2, rng)
    assert 0.1 < lost.mean() < 0.3
    first = int(np.flatnonzero(lost[1:])[0]) + 1
    assert not lost[first - 1]
    sl = slice(first * 160, (first + 1) * 160)
    np.testing.assert_allclose(y[sl], 0.5 * x[(first - 1) * 160 : first * 160], atol=1e-6)
    good = np.repeat(~lost, 160)[: len(x)]
    np.testing.assert_array_equal(y[good], x[good])


def test_clip_flattens_peaks():
    y = clip(tone(440.0), np.random.default_rng(0))
    assert np.abs(y).max() <= 0.99 + 1e-6
    assert np.mean(np.abs(y) > 0.98) > 0.005


def test_apply_channel_is_seeded_and_outputs_8k_in_band():
    x = tone(1000.0, 1.0, sr=16000) + tone(7000.0, 1.0, sr=16000)
    cfg = ChannelConfig(noise_prob=0.0, packet_loss_prob=0.0, clip_prob=0.0, silence_ms=(0, 0))
    a = apply_channel(x, 16000, np.random.default_rng(5), cfg)
    b = apply_channel(x, 16000, np.random.default_rng(5), cfg)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32
    assert len(a) == SR  # 1 s at 8 kHz
    c = apply_channel(x, 16000, np.random.default_rng(6), ChannelConfig())
    assert not np.array_equal(a[: len(c)], c[: len(a)])


def test_apply_channel_adds_leading_and_trailing_silence():
    x = tone(1000.0)
    cfg = ChannelConfig(noise_prob=0.0, packet_loss_prob=0.0, clip_prob=0.0, silence_ms=(300, 300))
    y = apply_channel(x, SR, np.random.default_rng(0), cfg)
    assert len(y) == len(x) + 2 * 300 * SR // 1000
    assert rms(y[:2000]) < 0.01 * rms(y[3000:-3000])


def test_line_filters_are_drawn_on_the_grid_within_their_ranges():
    spread = LineFilterSpread()
    rng = np.random.default_rng(0)
    draws = [draw_line_filter(spread, rng) for _ in range(2000)]
    lines = [d for d in draws if d is not None]
    assert 0.07 < 1 - len(lines) / len(draws) < 0.13  # open lines: open_prob = 0.1
    lows, highs = np.array([band for band, _ in lines]).T
    assert spread.low_hz[0] <= lows.min() and lows.max() <= spread.low_hz[1]
    assert spread.high_hz[0] <= highs.min() and highs.max() <= spread.high_hz[1]
    assert np.all(lows % spread.grid_hz == 0) and np.all(highs % spread.grid_hz == 0)
    assert len(np.unique(lows)) == 9 and {order for _, order in lines} == set(spread.orders)


def low_pitch_share(y: np.ndarray) -> float:
    """Power at 120 Hz relative to 1 kHz, from a two-tone input."""
    spectrum = np.abs(np.fft.rfft(y[SR // 2 :])) ** 2
    freqs = np.fft.rfftfreq(len(y) - SR // 2, 1 / SR)
    return float(spectrum[np.argmin(np.abs(freqs - 120))] / spectrum[np.argmin(np.abs(freqs - 1000))])


def test_spread_lines_pass_a_low_pitch_to_varying_degrees_and_the_default_line_never_does():
    x = tone(120.0) + tone(1000.0)
    quiet = dict(noise_prob=0.0, packet_loss_prob=0.0, clip_prob=0.0, silence_ms=(0, 0), codecs=("pcm16",))
    default = [apply_channel(x, SR, np.random.default_rng(s), ChannelConfig(**quiet)) for s in range(20)]
    spread = ChannelConfig(**quiet, line_filters=LineFilterSpread())
    varied = [apply_channel(x, SR, np.random.default_rng(s), spread) for s in range(20)]
    assert max(low_pitch_share(y) for y in default) < 1e-4  # 6th order at 300 Hz: > 45 dB down at 120 Hz
    shares = [low_pitch_share(y) for y in varied]
    assert max(shares) > 0.5  # an open line, or a gentle one with a low edge
    assert min(shares) < 1e-3  # a steep one
    np.testing.assert_array_equal(varied[3], apply_channel(x, SR, np.random.default_rng(3), spread))


def dominant_hz(y: np.ndarray, sr: int = SR) -> float:
    spectrum = np.abs(np.fft.rfft(y))
    return float(np.fft.rfftfreq(len(y), 1 / sr)[np.argmax(spectrum)])


def test_voice_warp_moves_pitch_and_duration_together_within_its_range():
    x = tone(500.0)
    warped = [warp_voice(x, 0.1, np.random.default_rng(s)) for s in range(30)]
    factors = {round(len(x) / len(y), 3) for y in warped}
    assert len(factors) >= 5 and min(factors) >= 0.899 and max(factors) <= 1.101
    for y in warped:
        factor = len(x) / len(y)
        assert dominant_hz(y) == pytest.approx(500.0 * factor, abs=2.0)  # faster is higher
    np.testing.assert_array_equal(warp_voice(x, 0.0, np.random.default_rng(0)), x)


def test_formant_shift_is_off_by_default_and_seeded_when_on():
    x = voiced(125.0, 1000.0)
    plain = apply_channel(x, SR, np.random.default_rng(4))
    assert np.array_equal(
        plain, apply_channel(x, SR, np.random.default_rng(4), ChannelConfig(formant_shift=0.0))
    )
    shifted = ChannelConfig(formant_shift=0.15)
    a, b = (apply_channel(x, SR, np.random.default_rng(4), shifted) for _ in range(2))
    assert np.array_equal(a, b) and not np.array_equal(a, plain)
