"""Voice warps: the same utterance as a shorter or longer vocal tract would say it.

Training draws them to turn a few synthetic voices into many speakers (``training.channel``); the
classifier can also hear one call through several fixed warps and combine the views (test-time
augmentation, ``ivr.runtime.classify``), which moves a caller outside the trained voices' range
towards it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import signal

Audio = npt.NDArray[np.float32]

WARP_GRID = 40  # speed factors are p / 40: a polyphase resampler with small integer ratios


def speed_up(x: Audio, factor: float) -> Audio:
    """``x`` played ``factor`` times as fast (> 1: shorter, higher), ``factor`` rounded to the 1/40 grid."""
    step = round(factor * WARP_GRID)
    if step == WARP_GRID:
        return np.asarray(x, np.float32)
    return signal.resample_poly(x, WARP_GRID, step).astype(np.float32)


FORMANT_FFT = 256  # 32 ms frames at 8 kHz: a few pitch periods, so harmonics stay resolved
FORMANT_LIFTER = 24  # cepstral coefficients kept as the envelope: quefrency < 3 ms (pitch < 330 Hz)


def shift_formants(x: Audio, factor: float) -> Audio:
    """``x`` with its spectral envelope stretched along frequency by ``factor`` (> 1: formants up, as from
    a shorter vocal tract), its pitch, timing and phase kept.

    Each frame's log spectrum is split into a cepstrally smoothed envelope and the fine structure
    (harmonics) riding on it; only the envelope is resampled. Speed perturbation (``warp_voice``) moves
    pitch and formants together; this moves formants alone, so a few voices cover more of the
    pitch-formant plane.
    """
    if factor == 1.0 or len(x) < FORMANT_FFT:
        return np.asarray(x, np.float32)
    hop = FORMANT_FFT // 4
    _, _, spec = signal.stft(x, nperseg=FORMANT_FFT, noverlap=FORMANT_FFT - hop, boundary="even")
    log_mag = np.log(np.abs(spec) + 1e-7)  # (bins, frames)
    cepstrum = np.fft.irfft(log_mag, axis=0)
    cepstrum[FORMANT_LIFTER : -FORMANT_LIFTER + 1] = 0.0
    envelope = np.fft.rfft(cepstrum, axis=0).real
    bins = np.arange(log_mag.shape[0], dtype=np.float64)
    source = np.clip(bins / factor, 0, bins[-1])  # the envelope at f/factor lands at f
    lo = np.floor(source).astype(int)
    hi = np.minimum(lo + 1, len(bins) - 1)
    frac = (source - lo)[:, None]
    moved = envelope[lo] * (1 - frac) + envelope[hi] * frac
    shifted = spec * np.exp(moved - envelope)
    _, y = signal.istft(shifted, nperseg=FORMANT_FFT, noverlap=FORMANT_FFT - hop, boundary=True)
    y = y[: len(x)]
    return np.pad(y, (0, len(x) - len(y))).astype(np.float32)


WARP_KINDS = ("speed", "formants")


@dataclass(frozen=True, slots=True)
class VoiceView:
    """One fixed warp a classifier can hear a call through: ``speed_up`` or ``shift_formants`` by ``factor``."""

    kind: str
    factor: float

    def __post_init__(self) -> None:
        if self.kind not in WARP_KINDS:
            raise ValueError(f"a voice view warps one of {WARP_KINDS}, got {self.kind!r}")
        if not 0.5 <= self.factor <= 2.0:
            raise ValueError(f"a voice view's factor must be in [0.5, 2], got {self.factor}")

    def __str__(self) -> str:
        return f"{self.kind}:{self.factor:g}"

    def apply(self, x: Audio) -> Audio:
        return speed_up(x, self.factor) if self.kind == "speed" else shift_formants(x, self.factor)

    @classmethod
    def parse(cls, spec: str) -> VoiceView:
        """``"speed:0.9"`` or ``"formants:0.85"`` -> a view; ValueError names what is wrong."""
        kind, sep, text = spec.strip().partition(":")
        try:
            factor = float(text) if sep else None
        except ValueError:
            factor = None
        if factor is None:
            raise ValueError(f"a voice view is KIND:FACTOR with KIND in {WARP_KINDS}, got {spec!r}")
        return cls(kind, factor)


def parse_views(specs: str) -> tuple[VoiceView, ...]:
    """Comma-separated views (``"speed:0.9,formants:0.85"``); ``""`` is none."""
    return tuple(VoiceView.parse(s) for s in specs.split(",") if s.strip())
