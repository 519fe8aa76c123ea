import numpy as np
import pytest

from ivr.audio.band import (
    TELEPHONE_BAND_HZ,
    StreamingBandPass,
    band_pass,
    out_of_band_fraction,
    to_telephone_band,
)
from tests.conftest import tone


def gain_db(freq_hz: float, rate_hz: int = 8000, order: int = 6) -> float:
    x = tone(freq_hz, rate_hz=rate_hz)
    y = band_pass(x, rate_hz, TELEPHONE_BAND_HZ, order)
    settled = slice(rate_hz // 2, None)  # past the filter's start-up
    return float(20 * np.log10(np.std(y[settled]) / np.std(x[settled])))


@pytest.mark.parametrize("rate_hz", [8000, 16000])
def test_the_voice_band_passes_and_the_pitch_and_sibilance_regions_do_not(rate_hz):
    for freq in (500.0, 1000.0, 2500.0):
        assert abs(gain_db(freq, rate_hz)) < 0.5
    for freq in TELEPHONE_BAND_HZ:
        assert -4.0 < gain_db(freq, rate_hz) < -2.0  # a Butterworth edge: -3 dB
    assert gain_db(100.0, rate_hz) < -40  # a low voice's pitch
    assert gain_db(3900.0, rate_hz) < -10


def test_a_higher_order_has_steeper_skirts_and_the_same_edges():
    assert gain_db(150.0, order=2) > -15 > gain_db(150.0, order=4) > gain_db(150.0, order=8)
    for order in (2, 8):
        assert -4.0 < gain_db(TELEPHONE_BAND_HZ[0], order=order) < -2.0


def test_phone_audio_passes_untouched_and_full_band_speech_is_band_limited():
    rng = np.random.default_rng(0)
    voice = sum(tone(f) * a for f, a in ((120.0, 1.0), (700.0, 0.4), (1500.0, 0.2)))
    voice = (voice + 0.01 * rng.standard_normal(len(voice))).astype(np.float32)  # a 120 Hz pitch
    assert out_of_band_fraction(voice, 8000) > 0.5
    np.testing.assert_array_equal(to_telephone_band(voice, 8000), band_pass(voice, 8000))
    phone = band_pass(voice, 8000)
    assert out_of_band_fraction(phone, 8000) < 0.01
    np.testing.assert_array_equal(to_telephone_band(phone, 8000), phone)
    assert out_of_band_fraction(np.zeros(800), 8000) == 0.0
    assert out_of_band_fraction(np.zeros(1), 8000) == 0.0


def test_a_band_that_does_not_fit_is_named():
    with pytest.raises(ValueError, match="Nyquist"):
        band_pass(np.zeros(100), 8000, (300.0, 4500.0))


def test_a_call_band_limited_packet_by_packet_is_the_whole_call_band_limited():
    rng = np.random.default_rng(1)
    call = rng.standard_normal(8000).astype(np.float32)
    stream = StreamingBandPass(8000)
    cuts = np.sort(rng.choice(np.arange(1, len(call)), size=40, replace=False))
    packets = [stream.process(p) for p in np.split(call, cuts)] + [stream.process(np.zeros(0))]
    assert [len(p) for p in packets] == [len(p) for p in np.split(call, cuts)] + [0]
    np.testing.assert_array_equal(np.concatenate(packets), band_pass(call, 8000))


def test_two_streams_keep_their_own_state():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 1600)).astype(np.float32)
    sa, sb = StreamingBandPass(8000), StreamingBandPass(8000)
    out_a = [sa.process(a[:800]), sb.process(b[:800]), sa.process(a[800:]), sb.process(b[800:])][0::2]
    np.testing.assert_array_equal(np.concatenate(out_a), band_pass(a, 8000))
