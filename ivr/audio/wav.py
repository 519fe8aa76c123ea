"""WAV files: PCM (8/16/24/32-bit), IEEE float, µ-law and A-law, any rate, mono or multi-channel.

Python's ``wave`` module reads only integer PCM, so the RIFF chunks are parsed here. ``load_audio``
is what the model side wants: one channel as float32 at 8 kHz.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ivr.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from ivr.audio.pcm import float_to_pcm16, pcm16_to_float
from ivr.audio.resample import resample
from ivr.errors import AudioError

FORMAT_PCM = 0x0001
FORMAT_FLOAT = 0x0003
FORMAT_ALAW = 0x0006
FORMAT_ULAW = 0x0007
FORMAT_EXTENSIBLE = 0xFFFE
# Data sizes written by recorders that never went back to fix the header: take the rest of the file.
_STREAMING_SIZES = (0, 0xFFFFFFFF)

ENCODINGS = ("pcm16", "ulaw", "alaw")


@dataclass(frozen=True, slots=True)
class WavAudio:
    """Decoded audio: ``samples`` is float32 (frames, channels) in [-1, 1)."""

    samples: npt.NDArray[np.float32]
    sample_rate_hz: int
    encoding: str  # "pcm8", "pcm16", "pcm24", "pcm32", "float32", "float64", "ulaw", "alaw"

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return self.samples.shape[0] / self.sample_rate_hz


@dataclass(frozen=True, slots=True)
class _Format:
    tag: int
    channels: int
    sample_rate_hz: int
    bits: int


def _chunks(data: bytes, path: Path) -> dict[bytes, bytes]:
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RIFX") or data[8:12] != b"WAVE":
        raise AudioError(f"{path}: not a WAV file (no RIFF/WAVE header)")
    if data[:4] == b"RIFX":
        raise AudioError(f"{path}: big-endian RIFX WAV files are not supported")
    chunks: dict[bytes, bytes] = {}
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body_start = pos + 8
        if chunk_id == b"data" and (size in _STREAMING_SIZES or body_start + size > len(data)):
            if size not in _STREAMING_SIZES:
                raise AudioError(
                    f"{path}: truncated: the data chunk declares {size} bytes but {len(data) - body_start} remain"
                )
            size = len(data) - body_start
        elif body_start + size > len(data):
            raise AudioError(f"{path}: truncated inside the {chunk_id!r} chunk")
        chunks.setdefault(chunk_id, data[body_start : body_start + size])
        pos = body_start + size + (size & 1)  # chunks are word-aligned
    for needed in (b"fmt ", b"data"):
        if needed not in chunks:
            raise AudioError(f"{path}: WAV file has no {needed.decode().strip()!r} chunk")
    return chunks


def _parse_format(body: bytes, path: Path) -> _Format:
    if len(body) < 16:
        raise AudioError(f"{path}: fmt chunk is {len(body)} bytes, expected at least 16")
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
    if tag == FORMAT_EXTENSIBLE:
        if len(body) < 26:
            raise AudioError(f"{path}: WAVE_FORMAT_EXTENSIBLE fmt chunk is too short")
        tag = struct.unpack_from("<H", body, 24)[0]  # first two bytes of the sub-format GUID
    if channels < 1 or rate < 1:
        raise AudioError(f"{path}: invalid WAV header ({channels} channels at {rate} Hz)")
    return _Format(tag, channels, rate, bits)


def _scaled(values: npt.NDArray[np.float64], bits: int) -> npt.NDArray[np.float32]:
    """Signed integer sample values of ``bits`` bits -> float32 in [-1, 1)."""
    return (values / float(2 ** (bits - 1))).astype(np.float32)


def _decode(fmt: _Format, payload: bytes, path: Path) -> tuple[npt.NDArray[np.float32], str]:
    width = {FORMAT_ALAW: 1, FORMAT_ULAW: 1}.get(fmt.tag, fmt.bits // 8)
    if width < 1:
        raise AudioError(f"{path}: unsupported sample width of {fmt.bits} bits")
    usable = len(payload) - len(payload) % (width * fmt.channels)
    raw = payload[:usable]
    if fmt.tag == FORMAT_ULAW:
        return pcm16_to_float(ulaw_decode(raw)), "ulaw"
    if fmt.tag == FORMAT_ALAW:
        return pcm16_to_float(alaw_decode(raw)), "alaw"
    if fmt.tag == FORMAT_FLOAT and fmt.bits in (32, 64):
        return np.frombuffer(raw, dtype=f"<f{width}").astype(np.float32), f"float{fmt.bits}"
    if fmt.tag == FORMAT_PCM and fmt.bits == 8:  # 8-bit WAV is unsigned
        return _scaled(np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128, 8), "pcm8"
    if fmt.tag == FORMAT_PCM and fmt.bits in (16, 32):
        return _scaled(np.frombuffer(raw, dtype=f"<i{width}").astype(np.float64), fmt.bits), f"pcm{fmt.bits}"
    if fmt.tag == FORMAT_PCM and fmt.bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        value = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8  # sign-extend from 24 bits
        return _scaled(value.astype(np.float64), 24), "pcm24"
    raise AudioError(f"{path}: unsupported WAV encoding (format tag {fmt.tag:#06x}, {fmt.bits} bits)")


def read_wav(path: str | Path) -> WavAudio:
    """Read a WAV file into float32 (frames, channels). Raises AudioError for anything not audio."""
    path = Path(path)
    data = path.read_bytes()
    chunks = _chunks(data, path)
    fmt = _parse_format(chunks[b"fmt "], path)
    samples, encoding = _decode(fmt, chunks[b"data"], path)
    return WavAudio(samples.reshape(-1, fmt.channels), fmt.sample_rate_hz, encoding)


def load_audio(
    path: str | Path, sample_rate_hz: int = 8000, channel: int | None = None
) -> npt.NDArray[np.float32]:
    """One channel of a WAV file as float32 mono at ``sample_rate_hz``.

    ``channel=None`` mixes all channels down; an index picks one (a stereo call recording often holds
    the caller on one side and the agent on the other).
    """
    audio = read_wav(path)
    if channel is None:
        mono = audio.samples.mean(axis=1)
    elif 0 <= channel < audio.channels:
        mono = audio.samples[:, channel]
    else:
        raise AudioError(f"{path}: channel {channel} requested but the file has {audio.channels}")
    return resample(mono, audio.sample_rate_hz, sample_rate_hz)


def write_wav(path: str | Path, samples: npt.ArrayLike, sample_rate_hz: int, encoding: str = "pcm16") -> None:
    """Write float samples ((frames,) or (frames, channels)) as PCM16, µ-law or A-law."""
    x = np.asarray(samples, dtype=np.float32)
    frames = x.reshape(x.shape[0], -1) if x.ndim > 1 else x.reshape(-1, 1)
    channels = frames.shape[1]
    pcm = float_to_pcm16(frames.reshape(-1))
    if encoding == "pcm16":
        tag, width, payload = FORMAT_PCM, 2, pcm.astype("<i2").tobytes()
    elif encoding == "ulaw":
        tag, width, payload = FORMAT_ULAW, 1, ulaw_encode(pcm).tobytes()
    elif encoding == "alaw":
        tag, width, payload = FORMAT_ALAW, 1, alaw_encode(pcm).tobytes()
    else:
        raise ValueError(f"unknown WAV encoding {encoding!r}; expected one of {', '.join(ENCODINGS)}")
    block = width * channels
    fmt = struct.pack("<HHIIHH", tag, channels, sample_rate_hz, sample_rate_hz * block, block, width * 8)
    chunks = [b"fmt ", struct.pack("<I", len(fmt) + (0 if tag == FORMAT_PCM else 2)), fmt]
    if tag != FORMAT_PCM:  # non-PCM formats carry cbSize and a fact chunk with the frame count
        chunks += [b"\x00\x00", b"fact", struct.pack("<II", 4, frames.shape[0])]
    chunks += [b"data", struct.pack("<I", len(payload)), payload, b"\x00" * (len(payload) & 1)]
    body = b"WAVE" + b"".join(chunks)
    Path(path).write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
