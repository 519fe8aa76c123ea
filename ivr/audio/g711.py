"""G.711 µ-law and A-law, bit-exact with the ITU-T G.711 reference tables.

Encoding goes through a 65,536-entry lookup table indexed by the PCM16 value; decoding through a
256-entry table. Both tables are built once, at import, by the segment arithmetic of the standard:
µ-law works on 14-bit magnitudes with a bias of 33 (132 on the 16-bit scale) and clips at 8,159;
A-law works on 13-bit values and has no bias. The 16-bit input is truncated to those widths first,
as the reference implementation does.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_ULAW_BIAS = 0x84  # 132 on the 16-bit scale, 33 on the 14-bit one
_ULAW_CLIP = 8159  # largest 14-bit magnitude before the bias pushes past the top segment
_SEG_SHIFT = 4
_QUANT_MASK = 0x0F
_SIGN_BIT = 0x80

_ULAW_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])

_ALL_PCM16 = np.arange(-32768, 32768, dtype=np.int64)
_ALL_CODES = np.arange(256, dtype=np.int64)


def _ulaw_encode_values(pcm16: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
    value = pcm16 >> 2  # 14-bit
    negative = value < 0
    magnitude = np.minimum(np.where(negative, -value, value), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    segment = np.searchsorted(_ULAW_SEG_END, magnitude)  # first segment whose end >= magnitude
    mantissa = (magnitude >> (np.minimum(segment, 7) + 1)) & _QUANT_MASK
    code = np.where(segment >= 8, 0x7F, (segment << _SEG_SHIFT) | mantissa)
    mask = np.where(negative, 0x7F, 0xFF)
    return (code ^ mask).astype(np.uint8)


def _ulaw_decode_values(codes: npt.NDArray[np.int64]) -> npt.NDArray[np.int16]:
    inverted = ~codes & 0xFF
    magnitude = (((inverted & _QUANT_MASK) << 3) + _ULAW_BIAS) << ((inverted >> _SEG_SHIFT) & 0x07)
    return np.where(inverted & _SIGN_BIT, _ULAW_BIAS - magnitude, magnitude - _ULAW_BIAS).astype(np.int16)


def _alaw_encode_values(pcm16: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
    value = pcm16 >> 3  # 13-bit
    negative = value < 0
    magnitude = np.where(negative, -value - 1, value)
    mask = np.where(negative, 0x55, 0xD5)
    segment = np.searchsorted(_ALAW_SEG_END, magnitude)
    shift = np.where(segment < 2, 1, np.minimum(segment, 7))
    code = np.where(
        segment >= 8, 0x7F, (np.minimum(segment, 7) << _SEG_SHIFT) | ((magnitude >> shift) & _QUANT_MASK)
    )
    return (code ^ mask).astype(np.uint8)


def _alaw_decode_values(codes: npt.NDArray[np.int64]) -> npt.NDArray[np.int16]:
    flipped = codes ^ 0x55
    segment = (flipped >> _SEG_SHIFT) & 0x07
    base = (flipped & _QUANT_MASK) << 4
    magnitude = np.where(segment == 0, base + 8, (base + 0x108) << np.maximum(segment - 1, 0))
    return np.where(flipped & _SIGN_BIT, magnitude, -magnitude).astype(np.int16)


_ULAW_ENCODE = _ulaw_encode_values(_ALL_PCM16)
_ULAW_DECODE = _ulaw_decode_values(_ALL_CODES)
_ALAW_ENCODE = _alaw_encode_values(_ALL_PCM16)
_ALAW_DECODE = _alaw_decode_values(_ALL_CODES)


def _as_pcm16_index(pcm16: npt.ArrayLike) -> npt.NDArray[np.int64]:
    pcm = np.asarray(pcm16)
    if pcm.dtype != np.int16:
        raise TypeError(f"G.711 encoding takes int16 PCM, got {pcm.dtype}")
    return pcm.astype(np.int64) + 32768


def _as_codes(codes: bytes | npt.ArrayLike) -> npt.NDArray[np.uint8]:
    if isinstance(codes, bytes | bytearray | memoryview):
        return np.frombuffer(codes, dtype=np.uint8)
    return np.asarray(codes, dtype=np.uint8)


def ulaw_encode(pcm16: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """int16 PCM -> µ-law codes (one byte per sample)."""
    return _ULAW_ENCODE[_as_pcm16_index(pcm16)]


def ulaw_decode(codes: bytes | npt.ArrayLike) -> npt.NDArray[np.int16]:
    """µ-law codes (bytes or uint8 array) -> int16 PCM."""
    return _ULAW_DECODE[_as_codes(codes)]


def alaw_encode(pcm16: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """int16 PCM -> A-law codes (one byte per sample, even bits inverted as on the wire)."""
    return _ALAW_ENCODE[_as_pcm16_index(pcm16)]


def alaw_decode(codes: bytes | npt.ArrayLike) -> npt.NDArray[np.int16]:
    """A-law codes (bytes or uint8 array) -> int16 PCM."""
    return _ALAW_DECODE[_as_codes(codes)]
