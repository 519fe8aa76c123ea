"""Resampling between telephony (8 kHz), wideband (16 kHz) and WebRTC (48 kHz) rates.

``resample`` is scipy's polyphase ``resample_poly``. ``StreamingResampler`` applies the same
filter chunk by chunk, keeping only the input history the filter still needs, so concatenating its
outputs (and its ``flush()``) gives the one-shot result. It cannot see the future, so its output lags
the input by half the filter length (10 input samples for 8 -> 16 kHz, 60 for 48 -> 8 kHz).
"""

from __future__ import annotations

from math import gcd

import numpy as np
import numpy.typing as npt
from scipy.signal import firwin, resample_poly

SUPPORTED_RATES_HZ = (8000, 16000, 48000)


def _ratio(from_hz: int, to_hz: int) -> tuple[int, int]:
    if from_hz <= 0 or to_hz <= 0:
        raise ValueError(f"sample rates must be positive, got {from_hz} -> {to_hz}")
    g = gcd(from_hz, to_hz)
    return to_hz // g, from_hz // g


def resample(samples: npt.ArrayLike, from_hz: int, to_hz: int) -> npt.NDArray[np.float32]:
    """Resample a whole signal (1-D float) from ``from_hz`` to ``to_hz``."""
    x = np.asarray(samples, dtype=np.float64)
    if from_hz == to_hz:
        return x.astype(np.float32)
    up, down = _ratio(from_hz, to_hz)
    return resample_poly(x, up, down).astype(np.float32)


def _design_filter(up: int, down: int) -> tuple[npt.NDArray[np.float64], int]:
    """The filter resample_poly designs, with its leading zero pad, and how many outputs it drops.

    resample_poly centres a Kaiser-windowed sinc of 2 * half_len + 1 taps (half_len = 10 * max(up, down)),
    pads it in front so the centre lands on an output sample, and discards the outputs before it.
    """
    max_rate = max(up, down)
    half_len = 10 * max_rate
    taps = firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0)) * up
    pre_pad = down - half_len % down
    return np.concatenate([np.zeros(pre_pad), taps]), (half_len + pre_pad) // down


class StreamingResampler:
    """Chunked resampler whose concatenated output equals ``resample`` of the whole signal."""

    def __init__(self, from_hz: int, to_hz: int) -> None:
        self.from_hz, self.to_hz = from_hz, to_hz
        self.up, self.down = _ratio(from_hz, to_hz)
        taps, self._skip = _design_filter(self.up, self.down)
        taps_per_phase = -(-len(taps) // self.up)
        padded = np.concatenate([taps, np.zeros(taps_per_phase * self.up - len(taps))])
        # (up, taps_per_phase): row p holds taps[p], taps[p + up], taps[p + 2 * up], ...
        self._phases = padded.reshape(taps_per_phase, self.up).T
        self._history = np.zeros(0)  # the last input samples the filter can still reach
        self._history_start = 0  # absolute index of _history[0]
        self._received = 0  # input samples seen
        # Index, in the full upfirdn output, of the next sample to emit.
        self._next_output = self._skip

    def _outputs(self, stop: int) -> npt.NDArray[np.float32]:
        """Filter outputs [self._next_output, stop) of the full upfirdn, from the kept history."""
        m = np.arange(self._next_output, stop)
        if m.size == 0:
            return np.zeros(0, dtype=np.float32)
        phase = (m * self.down) % self.up
        newest = (m * self.down) // self.up  # newest input sample each output uses
        taps = self._phases.shape[1]
        index = newest[:, None] - np.arange(taps)[None, :] - self._history_start  # (M, taps)
        # Indices outside the history are samples before the start or after the end: zeros.
        padded = np.concatenate([self._history, [0.0]])
        outside = (index < 0) | (index >= len(self._history))
        window = padded[np.where(outside, len(self._history), index)]
        self._next_output = stop
        return np.einsum("mt,mt->m", window, self._phases[phase]).astype(np.float32)

    def process(self, chunk: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Feed a chunk of input samples; returns every output sample that is now fully determined."""
        x = np.asarray(chunk, dtype=np.float64).reshape(-1)
        self._history = np.concatenate([self._history, x])
        self._received += len(x)
        if self._received == 0:
            return np.zeros(0, dtype=np.float32)
        # Outputs whose newest input has arrived.
        ready = (self._received - 1) * self.up // self.down + 1
        out = self._outputs(max(ready, self._next_output))
        self._trim()
        return out

    def flush(self) -> npt.NDArray[np.float32]:
        """End of stream: the remaining outputs, with the signal treated as zero after its end."""
        total = -(-self._received * self.up // self.down)  # ceil(n_in * up / down)
        out = self._outputs(max(self._skip + total, self._next_output))
        self._trim()
        return out

    def _trim(self) -> None:
        """Drop input samples no future output can reach."""
        oldest_needed = (self._next_output * self.down) // self.up - self._phases.shape[1] + 1
        drop = min(max(oldest_needed - self._history_start, 0), len(self._history))
        self._history = self._history[drop:]
        self._history_start += drop
