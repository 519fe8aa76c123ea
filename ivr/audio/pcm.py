"""Linear PCM16 <-> float32 in [-1, 1): the model and the DSP work in float32, the wire in int16."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

PCM16_SCALE = 32768.0  # full scale of int16; float 1.0 would be one step past +32767


def pcm16_to_float(pcm16: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """int16 samples -> float32 in [-1, 1)."""
    pcm = np.asarray(pcm16)
    if pcm.dtype != np.int16:
        raise TypeError(f"expected int16 PCM, got {pcm.dtype}")
    return (pcm.astype(np.float32) / np.float32(PCM16_SCALE)).astype(np.float32)


def float_to_pcm16(samples: npt.ArrayLike) -> npt.NDArray[np.int16]:
    """float samples -> int16, rounded to nearest and clipped to the int16 range (no wrap-around)."""
    x = np.asarray(samples, dtype=np.float64) * PCM16_SCALE
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def pcm16_bytes_to_float(data: bytes) -> npt.NDArray[np.float32]:
    """Little-endian PCM16 bytes (as in WAV and RTP L16 after byte-swap) -> float32."""
    if len(data) % 2:
        raise ValueError(f"PCM16 data must have an even number of bytes, got {len(data)}")
    return pcm16_to_float(np.frombuffer(data, dtype="<i2").astype(np.int16))
