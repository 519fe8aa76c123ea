import struct
import wave

import numpy as np
import pytest

from ivr.audio.wav import load_audio, read_wav, write_wav
from ivr.errors import AudioError


def _tone(rate_hz: int, seconds: float = 0.5, freq_hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    return (0.5 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def test_reads_stereo_pcm16_written_by_the_stdlib(tmp_path):
    left, right = _tone(44100), _tone(44100, freq_hz=1000)
    pcm = (np.stack([left, right], axis=1) * 32767).astype("<i2")
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(pcm.tobytes())
    audio = read_wav(path)
    assert (audio.sample_rate_hz, audio.channels, audio.encoding) == (44100, 2, "pcm16")
    np.testing.assert_allclose(audio.samples[:, 1], right, atol=1e-4)
    right_8k = load_audio(path, channel=1)
    assert right_8k.dtype == np.float32 and len(right_8k) == 4000
    spectrum = np.abs(np.fft.rfft(right_8k))
    assert abs(np.argmax(spectrum) * 8000 / len(right_8k) - 1000) < 3


@pytest.mark.parametrize("encoding", ["pcm16", "ulaw", "alaw"])
@pytest.mark.parametrize("rate_hz", [8000, 16000, 48000])
def test_round_trip_each_encoding_and_rate(tmp_path, encoding, rate_hz):
    x = _tone(rate_hz)
    path = tmp_path / f"{encoding}.wav"
    write_wav(path, x, rate_hz, encoding)
    audio = read_wav(path)
    assert (audio.sample_rate_hz, audio.encoding, audio.channels) == (rate_hz, encoding, 1)
    # G.711 is ~8 bits: steps of 1-2 % of full scale near the top.
    tolerance = 1e-4 if encoding == "pcm16" else 0.02
    np.testing.assert_allclose(audio.samples[:, 0], x, atol=tolerance)
    assert len(load_audio(path)) == int(8000 * 0.5)


def test_ulaw_header_is_what_players_expect(tmp_path):
    path = tmp_path / "u.wav"
    write_wav(path, _tone(8000), 8000, "ulaw")
    data = path.read_bytes()
    tag, channels, rate, byte_rate, block, bits = struct.unpack_from("<HHIIHH", data, 20)
    assert (tag, channels, rate, byte_rate, block, bits) == (7, 1, 8000, 8000, 1, 8)
    assert b"fact" in data and struct.unpack_from("<I", data, 4)[0] == len(data) - 8


def test_mixes_down_when_no_channel_given(tmp_path):
    stereo = np.stack([_tone(8000), -_tone(8000)], axis=1)
    path = tmp_path / "s.wav"
    write_wav(path, stereo, 8000)
    assert np.abs(load_audio(path)).max() < 1e-3  # opposite channels cancel
    with pytest.raises(AudioError, match="channel 2 requested but the file has 2"):
        load_audio(path, channel=2)


def test_reads_streaming_header_with_unknown_data_size(tmp_path):
    path = tmp_path / "stream.wav"
    write_wav(path, _tone(8000), 8000)
    data = bytearray(path.read_bytes())
    data[40:44] = struct.pack("<I", 0xFFFFFFFF)
    path.write_bytes(bytes(data))
    assert read_wav(path).samples.shape == (4000, 1)


def test_not_a_wav_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("hello, this is not audio")
    with pytest.raises(AudioError, match=r"notes\.wav: not a WAV file"):
        read_wav(path)


def test_truncated_wav_is_a_clear_error(tmp_path):
    path = tmp_path / "cut.wav"
    write_wav(path, _tone(8000), 8000)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(AudioError, match=r"cut\.wav: truncated"):
        read_wav(path)


def test_unsupported_encoding_is_named(tmp_path):
    path = tmp_path / "adpcm.wav"
    write_wav(path, _tone(8000), 8000)
    data = bytearray(path.read_bytes())
    data[20:22] = struct.pack("<H", 0x0011)  # IMA ADPCM
    path.write_bytes(bytes(data))
    with pytest.raises(AudioError, match="format tag 0x0011"):
        read_wav(path)
