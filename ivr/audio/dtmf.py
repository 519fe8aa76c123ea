"""In-band DTMF: a Goertzel detector with ITU-T Q.24 style timing, level, twist and SNR rules, and a generator.

The detector slides a 205-sample window (25.6 ms, ~39 Hz resolution at 8 kHz: enough to separate
the DTMF rows, 73-89 Hz apart) in 5 ms hops. A window holds a digit when exactly one row and one
column tone stand out, each above the minimum level, within the allowed twist, and the two tones
carry most of the window's energy (speech and music spread theirs over many frequencies). A digit is
reported once it has held for enough consecutive windows to span about 40 ms, and a new digit (or the
same one again) needs about 40 ms without one in between.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

SAMPLE_RATE_HZ = 8000
ROW_FREQS_HZ = (697.0, 770.0, 852.0, 941.0)
COL_FREQS_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD = ("123A", "456B", "789C", "*0#D")
DIGITS = "".join(KEYPAD)

WINDOW = 205  # samples: the classic DTMF Goertzel length at 8 kHz
HOP = 40  # samples (5 ms) between windows
# 0 dBm0 is a sine 3.17 dB below the G.711 full-scale sine (ITU-T G.711); float peak amplitude:
DBM0_PEAK = 10 ** (-3.17 / 20)


def dbm0_to_amplitude(level_dbm0: float) -> float:
    """Peak amplitude (float, full scale 1.0) of a sine at ``level_dbm0``."""
    return float(DBM0_PEAK * 10 ** (level_dbm0 / 20))


@dataclass(frozen=True, slots=True)
class DtmfRules:
    """Acceptance rules. Defaults follow Q.24's spirit for North-American/European receivers."""

    min_tone_dbm0: float = -36.0  # each tone must be at least this loud
    max_reverse_twist_db: float = 8.0  # low (row) tone stronger than the high (column) tone
    max_normal_twist_db: float = 8.0  # high tone stronger than the low one
    min_peak_ratio_db: float = 8.0  # chosen tone vs the next strongest tone of its group
    min_energy_fraction: float = 0.65  # the two tones' share of the window's energy
    on_windows: int = 4  # consecutive windows to accept a digit: 205 + 3 * 40 = 325 samples, ~40 ms
    off_windows: int = 3  # consecutive windows without it before another digit may start


def _goertzel_matrix(freqs: tuple[float, ...]) -> npt.NDArray[np.complex128]:
    n = np.arange(WINDOW)
    return np.exp(-2j * np.pi * np.outer(freqs, n) / SAMPLE_RATE_HZ)  # (F, WINDOW)


_BASIS = _goertzel_matrix(ROW_FREQS_HZ + COL_FREQS_HZ)


def _window_digits(windows: npt.NDArray[np.float64], rules: DtmfRules) -> list[str | None]:
    """The digit each window holds, or None. ``windows`` is (W, WINDOW)."""
    spectrum = windows @ _BASIS.T  # (W, 8): DFT of each window at the eight DTMF frequencies
    power = 2 * np.abs(spectrum) ** 2 / WINDOW**2  # mean power of a sine at that frequency
    energy = np.mean(windows**2, axis=1)  # (W,)
    rows, cols = power[:, :4], power[:, 4:]
    row_idx, col_idx = rows.argmax(axis=1), cols.argmax(axis=1)
    w = np.arange(len(windows))
    row_p, col_p = rows[w, row_idx], cols[w, col_idx]
    row_next = np.sort(rows, axis=1)[:, -2]
    col_next = np.sort(cols, axis=1)[:, -2]
    min_power = dbm0_to_amplitude(rules.min_tone_dbm0) ** 2 / 2
    tiny = 1e-20
    twist_db = 10 * np.log10((col_p + tiny) / (row_p + tiny))  # > 0: high tone stronger
    ok = (
        (row_p >= min_power)
        & (col_p >= min_power)
        & (twist_db <= rules.max_normal_twist_db)
        & (-twist_db <= rules.max_reverse_twist_db)
        & (row_p >= row_next * 10 ** (rules.min_peak_ratio_db / 10))
        & (col_p >= col_next * 10 ** (rules.min_peak_ratio_db / 10))
        & (row_p + col_p >= rules.min_energy_fraction * energy)
    )
    return [KEYPAD[r][c] if good else None for r, c, good in zip(row_idx, col_idx, ok, strict=True)]


@dataclass
class DtmfDetector:
    """Streaming DTMF detector: feed 8 kHz float32 chunks of any size, get the digits that completed."""

    rules: DtmfRules = field(default_factory=DtmfRules)
    _pending: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    _candidate: str | None = None
    _run: int = 0  # consecutive windows holding _candidate
    _silence: int = 0  # consecutive windows without a digit since the last report
    _active: str | None = None  # the digit reported and still sounding

    def process(self, samples: npt.ArrayLike) -> str:
        """Feed samples; returns the digits whose tones were accepted in this chunk ("" if none)."""
        self._pending = np.concatenate([self._pending, np.asarray(samples, dtype=np.float64).reshape(-1)])
        count = (len(self._pending) - WINDOW) // HOP + 1
        if count <= 0:
            return ""
        starts = np.arange(count) * HOP
        windows = self._pending[starts[:, None] + np.arange(WINDOW)[None, :]]
        self._pending = self._pending[count * HOP :]
        return "".join(d for d in map(self._advance, _window_digits(windows, self.rules)) if d)

    def _advance(self, digit: str | None) -> str | None:
        if digit is None:
            self._silence += 1
            self._candidate, self._run = None, 0
            if self._silence >= self.rules.off_windows:
                self._active = None
            return None
        if digit != self._candidate:
            self._candidate, self._run = digit, 0
        self._run += 1
        if digit == self._active:
            self._silence = 0  # a short dropout inside one key press: still the same press
            return None
        if self._run >= self.rules.on_windows and (
            self._active is None or self._silence >= self.rules.off_windows
        ):
            self._active, self._silence = digit, 0
            return digit
        return None


def detect_dtmf(samples: npt.ArrayLike, rules: DtmfRules | None = None) -> str:
    """The DTMF digit sequence in a whole 8 kHz signal."""
    detector = DtmfDetector(rules or DtmfRules())
    return detector.process(samples) + detector.process(np.zeros(WINDOW + HOP * detector.rules.off_windows))


def dtmf_tone(
    digit: str, duration_ms: float = 80, level_dbm0: float = -10.0, twist_db: float = 0.0
) -> npt.NDArray[np.float32]:
    """One key press: the row and column sines, each at ``level_dbm0`` (the column raised by ``twist_db``)."""
    digit = digit.upper()
    if len(digit) != 1 or digit not in DIGITS:
        raise ValueError(f"not a DTMF key: {digit!r}; expected one of {DIGITS}")
    index = DIGITS.index(digit)
    row, col = ROW_FREQS_HZ[index // 4], COL_FREQS_HZ[index % 4]
    t = np.arange(round(duration_ms * SAMPLE_RATE_HZ / 1000)) / SAMPLE_RATE_HZ
    low = dbm0_to_amplitude(level_dbm0) * np.sin(2 * np.pi * row * t)
    high = dbm0_to_amplitude(level_dbm0 + twist_db) * np.sin(2 * np.pi * col * t)
    return (low + high).astype(np.float32)


def dtmf_tones(
    digits: str, tone_ms: float = 80, gap_ms: float = 80, level_dbm0: float = -10.0
) -> npt.NDArray[np.float32]:
    """Key presses separated by silence, with ``gap_ms`` of silence before the first and after the last."""
    gap = np.zeros(round(gap_ms * SAMPLE_RATE_HZ / 1000), dtype=np.float32)
    parts = [gap]
    for d in digits:
        parts += [dtmf_tone(d, tone_ms, level_dbm0), gap]
    return np.concatenate(parts)
