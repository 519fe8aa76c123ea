import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.audio.pcm import float_to_pcm16, pcm16_to_float
from ivr.audio.resample import StreamingResampler, resample

RATE_PAIRS = [(8000, 16000), (16000, 8000), (8000, 48000), (48000, 8000), (16000, 48000), (48000, 16000)]


def test_pcm16_float_round_trip_is_exact():
    pcm = np.arange(-32768, 32768, dtype=np.int16)
    np.testing.assert_array_equal(float_to_pcm16(pcm16_to_float(pcm)), pcm)


def test_float_to_pcm16_clips_instead_of_wrapping():
    assert float_to_pcm16(np.array([1.5, -1.5, 0.99999])).tolist() == [32767, -32768, 32767]


@pytest.mark.parametrize(("from_hz", "to_hz"), RATE_PAIRS)
def test_resample_keeps_a_tone_in_band(from_hz, to_hz):
    t = np.arange(from_hz) / from_hz
    tone = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    out = resample(tone, from_hz, to_hz)
    assert len(out) == to_hz
    spectrum = np.abs(np.fft.rfft(out[to_hz // 10 : -to_hz // 10]))
    peak_hz = np.argmax(spectrum) * to_hz / (len(out) - 2 * (to_hz // 10))
    assert abs(peak_hz - 1000) < 5
    assert np.sqrt(np.mean(out[to_hz // 10 : -to_hz // 10] ** 2)) == pytest.approx(np.sqrt(0.5), rel=0.01)


def test_downsampling_removes_content_above_the_new_nyquist():
    t = np.arange(48000) / 48000
    out = resample(np.sin(2 * np.pi * 6000 * t), 48000, 8000)  # 6 kHz cannot exist at 8 kHz
    assert np.sqrt(np.mean(out[800:-800] ** 2)) < 0.01


@settings(max_examples=30, deadline=None)
@given(
    pair=st.sampled_from(RATE_PAIRS),
    chunks=st.lists(st.integers(min_value=1, max_value=961), min_size=1, max_size=25),
    seed=st.integers(0, 2**16),
)
def test_streaming_equals_one_shot_for_random_chunkings(pair, chunks, seed):
    from_hz, to_hz = pair
    x = np.random.default_rng(seed).standard_normal(sum(chunks)).astype(np.float32) * 0.3
    stream = StreamingResampler(from_hz, to_hz)
    pieces, start = [], 0
    for size in chunks:
        pieces.append(stream.process(x[start : start + size]))
        start += size
    pieces.append(stream.flush())
    expected = resample(x, from_hz, to_hz)
    got = np.concatenate(pieces)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-4)


@pytest.mark.parametrize(("from_hz", "to_hz"), RATE_PAIRS)
def test_streaming_in_20ms_packets(from_hz, to_hz):
    x = np.random.default_rng(0).standard_normal(from_hz).astype(np.float32)
    stream = StreamingResampler(from_hz, to_hz)
    packet = from_hz // 50
    got = np.concatenate(
        [stream.process(x[i : i + packet]) for i in range(0, len(x), packet)] + [stream.flush()]
    )
    np.testing.assert_allclose(got, resample(x, from_hz, to_hz), atol=1e-4)


def test_streaming_keeps_bounded_history():
    stream = StreamingResampler(48000, 8000)
    for _ in range(500):
        stream.process(np.zeros(960, dtype=np.float32))
    assert len(stream._history) < 2 * 960
