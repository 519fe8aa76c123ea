"""The telephone voice band (300-3400 Hz): the band the model hears, whatever the caller's line passes.

A phone line's filters keep roughly 300-3400 Hz, and the training channel (``training.channel``) band-limits
every clip the model learns from with ``band_pass``. Audio that skipped a phone line (a WAV file recorded on
a computer, a browser's audio, a wideband stream resampled to 8 kHz) still carries the voice's pitch below
300 Hz and sibilance above 3400 Hz, which the model never heard: the shipped model lost 16-20 points of
in-scope accuracy on such audio. Band-limiting it first wins them back, but filtering audio that already
crossed a phone line costs 6-8 points (the model learned the training filter's exact skirts), so
``to_telephone_band`` filters only audio whose out-of-band power says it skipped the line
(docs/training.md, "Audio that skipped a phone line"). A stream cannot be gated on a spectrum it has not
heard yet: its transport knows whether it crossed a phone line (G.711 from a PBX did; a browser's Opus did
not) and band-limits the ones that did not with ``StreamingBandPass``.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt
from scipy import signal

TELEPHONE_BAND_HZ = (300.0, 3400.0)
FILTER_ORDER = 6  # a 6th-order Butterworth per edge: about as steep as a phone line's filters
BAND_MARGIN_HZ = 50.0  # power this far beyond a band edge is past a phone line's filter skirt
# Above this share of out-of-band power, audio did not cross a phone line. Measured on test_voice
# (docs/training.md): through the training channel the 99th percentile is 0.029 (packet-loss and clipping
# clicks are broadband), the median 0.0015; the clips as synthesized: 5th percentile 0.021, median 0.080.
PHONE_LINE_MAX_OUT_OF_BAND = 0.02


@functools.cache
def band_pass_sections(
    rate_hz: int, band_hz: tuple[float, float] = TELEPHONE_BAND_HZ, order: int = FILTER_ORDER
) -> npt.NDArray[np.float64]:
    """Second-order sections of the Butterworth band-pass, designed once per (rate, band, order)."""
    low, high = band_hz
    if not 0 < low < high < rate_hz / 2:
        raise ValueError(f"band {band_hz} Hz does not fit below the Nyquist rate of {rate_hz} Hz")
    sos: npt.NDArray[np.float64] = signal.butter(order, band_hz, btype="bandpass", fs=rate_hz, output="sos")
    return sos


def band_pass(
    samples: npt.ArrayLike,
    rate_hz: int,
    band_hz: tuple[float, float] = TELEPHONE_BAND_HZ,
    order: int = FILTER_ORDER,
) -> npt.NDArray[np.float32]:
    """A whole signal (1-D, or (B, T) along the last axis) band-limited to ``band_hz``; causal, so it
    delays low frequencies by a few milliseconds as a phone line does."""
    x = np.asarray(samples, np.float64)
    sos = band_pass_sections(rate_hz, (float(band_hz[0]), float(band_hz[1])), order)
    return signal.sosfilt(sos, x, axis=-1).astype(np.float32)


def out_of_band_fraction(
    samples: npt.ArrayLike, rate_hz: int, band_hz: tuple[float, float] = TELEPHONE_BAND_HZ
) -> float:
    """The share of a signal's power more than ``BAND_MARGIN_HZ`` outside ``band_hz`` (Welch's estimate):
    near zero for audio that crossed a phone line, several percent or more for full-band speech."""
    x = np.asarray(samples, np.float64)
    if len(x) < 2:
        return 0.0
    freqs, power = signal.welch(x, fs=rate_hz, nperseg=min(256, len(x)))
    low, high = band_hz
    outside = (freqs < low - BAND_MARGIN_HZ) | (freqs > high + BAND_MARGIN_HZ)
    total = float(power.sum())
    return float(power[outside].sum()) / total if total > 0 else 0.0


def to_telephone_band(samples: npt.ArrayLike, rate_hz: int) -> npt.NDArray[np.float32]:
    """``samples`` as a phone line would pass them: band-limited when they carry more out-of-band power
    than phone audio does, else unchanged (filtering phone audio twice costs the model accuracy)."""
    if out_of_band_fraction(samples, rate_hz) > PHONE_LINE_MAX_OUT_OF_BAND:
        return band_pass(samples, rate_hz)
    return np.asarray(samples, np.float32)


class StreamingBandPass:
    """``band_pass`` packet by packet for one call. The filter is causal, so carrying its state from
    packet to packet makes the concatenated output ``band_pass`` of the whole call, with no added delay."""

    def __init__(
        self, rate_hz: int, band_hz: tuple[float, float] = TELEPHONE_BAND_HZ, order: int = FILTER_ORDER
    ) -> None:
        self.rate_hz = rate_hz
        self._sos = band_pass_sections(rate_hz, (float(band_hz[0]), float(band_hz[1])), order)
        self._state = np.zeros((self._sos.shape[0], 2))  # each section's two delay-line values

    def process(self, chunk: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """The next ``len(chunk)`` band-limited samples."""
        x = np.asarray(chunk, np.float64).reshape(-1)
        if x.size == 0:  # an empty packet (scipy's sosfilt rejects one)
            return np.zeros(0, np.float32)
        y, self._state = signal.sosfilt(self._sos, x, zi=self._state)
        return np.asarray(y, np.float32)
