"""Voice activity detection: WebRTC's VAD, frame by frame, with hangover smoothing.

The WebRTC VAD (a GMM over six sub-band energies, from the WebRTC project, via ``webrtcvad-wheels``) is
the de-facto telephony VAD: it runs on 8 kHz PCM16 in 10/20/30 ms frames, costs microseconds per frame,
and is robust to the G.711 channel. Hand-rolled energy thresholds are not. ``VoiceActivityDetector`` adds
what endpointing needs on top: it accepts chunks of any size and smooths the per-frame decisions so a
segment starts after ``start_ms`` of speech and ends after ``hangover_ms`` of silence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import webrtcvad

from ivr.audio.pcm import float_to_pcm16

SAMPLE_RATE_HZ = 8000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE_HZ * FRAME_MS // 1000  # 160


@dataclass(frozen=True, slots=True)
class VadOptions:
    aggressiveness: int = 2  # 0 (least) .. 3 (most eager to call a frame non-speech)
    start_ms: int = 60  # speech this long, within start_window_ms, opens a segment
    start_window_ms: int = 100
    hangover_ms: int = 400  # silence this long closes it
    # The WebRTC VAD calls its first ~80 ms speech whatever they hold, while its noise model adapts.
    warmup_ms: int = 100


@dataclass(frozen=True, slots=True)
class VadEvent:
    """A segment boundary: ``speech`` is True at its start and False at its end; ``at_ms`` from stream start."""

    speech: bool
    at_ms: int


@dataclass
class VoiceActivityDetector:
    """Streaming VAD over 8 kHz float32 audio that reports speech start and end times."""

    options: VadOptions = field(default_factory=VadOptions)
    _vad: webrtcvad.Vad = field(init=False)
    _pending: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    _recent: list[bool] = field(default_factory=list)  # last start_window_ms of frame decisions
    _silent_frames: int = 0
    _frames: int = 0
    in_speech: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.options.aggressiveness <= 3:
            raise ValueError(f"VAD aggressiveness must be 0..3, got {self.options.aggressiveness}")
        self._vad = webrtcvad.Vad(self.options.aggressiveness)

    def process(self, samples: npt.ArrayLike) -> list[VadEvent]:
        """Feed audio; returns the segment boundaries it completed, in order."""
        self._pending = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32).reshape(-1)])
        whole = len(self._pending) // FRAME_SAMPLES * FRAME_SAMPLES
        frames, self._pending = self._pending[:whole], self._pending[whole:]
        events = []
        for frame in frames.reshape(-1, FRAME_SAMPLES):
            event = self._advance(self._vad.is_speech(float_to_pcm16(frame).tobytes(), SAMPLE_RATE_HZ))
            if event is not None:
                events.append(event)
        return events

    def _advance(self, voiced: bool) -> VadEvent | None:
        self._frames += 1
        voiced = voiced and self._frames * FRAME_MS > self.options.warmup_ms
        window = self.options.start_window_ms // FRAME_MS
        self._recent = [*self._recent[-(window - 1) :], voiced] if window > 1 else [voiced]
        now_ms = self._frames * FRAME_MS
        if not self.in_speech:
            if sum(self._recent) * FRAME_MS >= self.options.start_ms:
                self.in_speech, self._silent_frames = True, 0
                first_voiced = len(self._recent) - self._recent.index(True)
                return VadEvent(True, now_ms - first_voiced * FRAME_MS)
            return None
        self._silent_frames = 0 if voiced else self._silent_frames + 1
        if self._silent_frames * FRAME_MS >= self.options.hangover_ms:
            self.in_speech = False
            self._recent = []
            return VadEvent(False, now_ms - self._silent_frames * FRAME_MS)
        return None


def speech_segments(samples: npt.ArrayLike, options: VadOptions | None = None) -> list[tuple[int, int]]:
    """(start_ms, end_ms) of each speech segment in a whole 8 kHz signal."""
    vad = VoiceActivityDetector(options or VadOptions())
    x = np.asarray(samples, dtype=np.float32)
    events = vad.process(x) + vad.process(np.zeros(SAMPLE_RATE_HZ * 2, np.float32))
    starts = [e.at_ms for e in events if e.speech]
    ends = [e.at_ms for e in events if not e.speech]
    return list(zip(starts, ends, strict=False))
