"""The telephony channel, applied to clean speech on the fly: what a call does to a voice.

Order follows the signal path: the caller's voice (speed-perturbed and formant-shifted in training,
if asked), the caller's room (leading/trailing silence, level, background noise), the phone network
(300-3400 Hz band, or a band drawn per clip from ``LineFilterSpread``; G.711 companding, occasional
clipping) and the RTP leg (lost 20 ms packets, concealed by repeating the last good one, fading).
Every function is pure given its ``np.random.Generator``, so a seed reproduces an augmented clip exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ivr.audio.band import TELEPHONE_BAND_HZ, band_pass
from ivr.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from ivr.audio.pcm import float_to_pcm16, pcm16_to_float
from ivr.audio.resample import resample
from ivr.audio.warp import WARP_GRID, shift_formants, speed_up

Audio = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class LineFilterSpread:
    """How much phone lines' band filters differ, drawn per clip when training sees more than one line.

    Real lines and handsets do not share our 6th-order 300-3400 Hz Butterworth: ITU-T G.712 gives a
    tolerance mask around that band, not one filter, and softphones, wideband codecs transcoded to G.711
    and resampled WAV files pass more. A model trained on one filter learned its skirts (filtering phone audio
    a second time cost 6-8 points, docs/training.md), so the training channel can vary the band edges and
    steepness and sometimes leave the band open.
    """

    low_hz: tuple[float, float] = (200.0, 400.0)  # lower edge (-3 dB), drawn uniformly on the grid
    high_hz: tuple[float, float] = (3000.0, 3800.0)  # upper edge
    orders: tuple[int, ...] = (2, 4, 6, 8)  # Butterworth orders, drawn uniformly: gentle to steep
    open_prob: float = 0.1  # share of clips with no band filter at all (full band up to Nyquist)
    grid_hz: float = 25.0  # edges fall on this grid, so the designed filters stay few and cached


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """Ranges the channel draws from; each call draws one value per knob."""

    sample_rate_hz: int = 8000  # narrowband telephony
    band_hz: tuple[float, float] = TELEPHONE_BAND_HZ  # the POTS voice band (ivr.audio.band)
    line_filters: LineFilterSpread | None = None  # None: every clip through ``band_hz`` (evaluation)
    voice_warp: float = 0.0  # > 0: speed perturbation by a factor within 1 +- this (training; see warp_voice)
    formant_shift: float = 0.0  # > 0: envelope moved by a factor within 1 +- this (shift_formants)
    codecs: tuple[str, ...] = ("ulaw", "ulaw", "alaw", "pcm16")  # drawn uniformly: mostly µ-law
    level_dbfs: tuple[float, float] = (-32.0, -12.0)  # speech RMS level after the caller's gain
    noise_prob: float = 0.8  # share of clips with background noise
    snr_db: tuple[float, float] = (5.0, 30.0)
    noise_kinds: tuple[str, ...] = ("white", "pink", "babble")
    packet_loss: tuple[float, float] = (0.0, 0.05)  # share of 20 ms packets lost, per clip
    packet_loss_prob: float = 0.3  # share of clips that see any loss
    packet_ms: int = 20  # one RTP packet of G.711 = 160 samples at 8 kHz
    clip_prob: float = 0.05  # share of clips driven into clipping
    silence_ms: tuple[int, int] = (0, 500)  # leading and trailing silence, each


def g711_roundtrip(x: Audio, codec: str) -> Audio:
    """Encode and decode through G.711 (``ulaw`` or ``alaw``); ``pcm16`` only quantizes."""
    pcm = float_to_pcm16(x)
    if codec == "ulaw":
        pcm = ulaw_decode(ulaw_encode(pcm))
    elif codec == "alaw":
        pcm = alaw_decode(alaw_encode(pcm))
    elif codec != "pcm16":
        raise ValueError(f"unknown codec {codec!r} (expected ulaw, alaw or pcm16)")
    return pcm16_to_float(pcm)


def rms(x: Audio) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def set_level(x: Audio, level_dbfs: float) -> Audio:
    """Scale ``x`` so its RMS is ``level_dbfs`` (0 dBFS = RMS of 1.0)."""
    return (x * (10 ** (level_dbfs / 20) / rms(x))).astype(np.float32)


def white_noise(n: int, rng: np.random.Generator) -> Audio:
    return rng.standard_normal(n).astype(np.float32)


def pink_noise(n: int, rng: np.random.Generator) -> Audio:
    """1/f noise: white noise shaped in the frequency domain (power falls 3 dB per octave)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0
    return np.fft.irfft(spectrum / np.sqrt(f), n).astype(np.float32)


def babble(n: int, others: Sequence[Audio], rng: np.random.Generator) -> Audio:
    """Two to four other utterances summed, each looped or cut to ``n`` at a random offset."""
    if not others:
        return pink_noise(n, rng)
    out = np.zeros(n, np.float32)
    for _ in range(int(rng.integers(2, 5))):
        other = others[int(rng.integers(len(others)))]
        if len(other) == 0:
            continue
        start = int(rng.integers(len(other)))
        out += np.resize(np.roll(other, -start), n) / (rms(other) + 1e-8)
    return out


def add_noise(x: Audio, noise: Audio, snr_db: float) -> Audio:
    """``x`` plus ``noise`` scaled so that RMS(x) / RMS(noise) is ``snr_db``."""
    gain = rms(x) / (rms(noise) * 10 ** (snr_db / 20))
    return (x + gain * noise).astype(np.float32)


def drop_packets(
    x: Audio, loss: float, rng: np.random.Generator, *, packet_len: int = 160
) -> tuple[Audio, npt.NDArray[np.bool_]]:
    """Lose each packet with probability ``loss``; conceal by repeating the last packet, fading.

    The repeat halves in level with each consecutive loss (simple G.711 Appendix I-like PLC
    without the pitch search). Returns the concealed audio and the per-packet loss mask.
    """
    n_packets = -(-len(x) // packet_len)
    lost = rng.random(n_packets) < loss
    y = x.copy()
    last = np.zeros(packet_len, np.float32)
    run = 0
    for i in range(n_packets):
        sl = slice(i * packet_len, min((i + 1) * packet_len, len(x)))
        if lost[i]:
            run += 1
            y[sl] = (last * 0.5**run)[: sl.stop - sl.start]
        else:
            run = 0
            last = np.resize(x[sl], packet_len)
    return y, lost


def clip(x: Audio, rng: np.random.Generator) -> Audio:
    """Drive the loudest 1-5 % of samples into the rails, as a hot microphone does."""
    threshold = float(np.quantile(np.abs(x), 1 - rng.uniform(0.01, 0.05))) + 1e-8
    return (np.clip(x, -threshold, threshold) * (0.99 / threshold)).astype(np.float32)


def warp_voice(x: Audio, max_deviation: float, rng: np.random.Generator) -> Audio:
    """Speed perturbation: ``x`` resampled by a factor drawn from 1 +- ``max_deviation`` and played at
    its own rate, so pitch and formants move together as between a shorter and a longer vocal tract.
    Few synthetic voices become many speakers this way (Ko et al., 2015, for speech recognition).
    """
    steps = round(max_deviation * WARP_GRID)
    return speed_up(x, (WARP_GRID + int(rng.integers(-steps, steps + 1))) / WARP_GRID)


def draw_line_filter(
    spread: LineFilterSpread, rng: np.random.Generator
) -> tuple[tuple[float, float], int] | None:
    """One phone line's band-pass, ``((low_hz, high_hz), order)``, or ``None`` for a line that passes it all."""
    if rng.random() < spread.open_prob:
        return None
    low, high = (
        round(rng.uniform(*edges) / spread.grid_hz) * spread.grid_hz
        for edges in (spread.low_hz, spread.high_hz)
    )
    return (low, high), spread.orders[int(rng.integers(len(spread.orders)))]


def pad_silence(x: Audio, lead: int, trail: int) -> Audio:
    return np.concatenate([np.zeros(lead, np.float32), x, np.zeros(trail, np.float32)])


def apply_channel(
    x: Audio,
    rate_hz: int,
    rng: np.random.Generator,
    config: ChannelConfig = ChannelConfig(),
    others: Sequence[Audio] = (),
) -> Audio:
    """Clean speech at ``rate_hz`` -> what the IVR hears at ``config.sample_rate_hz``.

    Args:
        x: (T,) float32 clean speech.
        others: clean utterances at the output rate to mix as babble noise.
    """
    sr = config.sample_rate_hz
    if config.voice_warp > 0:
        x = warp_voice(x, config.voice_warp, rng)
    y = resample(x, rate_hz, sr) if rate_hz != sr else np.asarray(x, np.float32)
    if config.formant_shift > 0:
        y = shift_formants(y, 1 + rng.uniform(-config.formant_shift, config.formant_shift))
    lo, hi = config.silence_ms
    y = pad_silence(y, *(int(rng.integers(lo, hi + 1)) * sr // 1000 for _ in range(2)))
    y = set_level(y, rng.uniform(*config.level_dbfs))
    if rng.random() < config.noise_prob:
        kind = config.noise_kinds[int(rng.integers(len(config.noise_kinds)))]
        noise = {
            "white": lambda: white_noise(len(y), rng),
            "pink": lambda: pink_noise(len(y), rng),
            "babble": lambda: babble(len(y), others, rng),
        }[kind]()
        y = add_noise(y, noise, rng.uniform(*config.snr_db))
    if config.line_filters is None:
        y = band_pass(y, sr, config.band_hz)
    elif (line := draw_line_filter(config.line_filters, rng)) is not None:
        y = band_pass(y, sr, *line)
    if rng.random() < config.clip_prob:
        y = clip(y, rng)
    y = g711_roundtrip(y, config.codecs[int(rng.integers(len(config.codecs)))])
    if rng.random() < config.packet_loss_prob:
        y, _ = drop_packets(
            y, rng.uniform(*config.packet_loss), rng, packet_len=config.packet_ms * sr // 1000
        )
    return y
