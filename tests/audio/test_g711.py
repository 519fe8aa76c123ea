"""G.711 against the ITU-T reference as implemented by CPython's audioop (test-only reference)."""

import sys
import warnings

import numpy as np
import pytest

from ivr.audio import g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    if sys.version_info >= (3, 13):
        import audioop_lts as audioop  # type: ignore[import-not-found]
    else:
        import audioop

ALL_PCM16 = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = bytes(range(256))


@pytest.mark.parametrize(
    ("encode", "reference"), [(g711.ulaw_encode, audioop.lin2ulaw), (g711.alaw_encode, audioop.lin2alaw)]
)
def test_encode_matches_reference_for_all_65536_inputs(encode, reference):
    expected = np.frombuffer(reference(ALL_PCM16.tobytes(), 2), dtype=np.uint8)
    np.testing.assert_array_equal(encode(ALL_PCM16), expected)


@pytest.mark.parametrize(
    ("decode", "reference"), [(g711.ulaw_decode, audioop.ulaw2lin), (g711.alaw_decode, audioop.alaw2lin)]
)
def test_decode_matches_reference_for_all_256_codes(decode, reference):
    expected = np.frombuffer(reference(ALL_CODES, 2), dtype=np.int16)
    np.testing.assert_array_equal(decode(ALL_CODES), expected)


@pytest.mark.parametrize(
    ("encode", "decode"), [(g711.ulaw_encode, g711.ulaw_decode), (g711.alaw_encode, g711.alaw_decode)]
)
def test_decode_then_encode_is_identity_on_codes(encode, decode):
    codes = np.arange(256, dtype=np.uint8)
    roundtrip = encode(decode(codes))
    # µ-law has two codes for zero (0x7F and 0xFF); every other code survives the round trip.
    differs = codes[roundtrip != codes]
    assert set(differs.tolist()) <= {0x7F}


def test_known_silence_codes():
    silence = np.zeros(4, dtype=np.int16)
    assert g711.ulaw_encode(silence).tolist() == [0xFF] * 4
    assert g711.alaw_encode(silence).tolist() == [0xD5] * 4


def test_encode_rejects_non_int16():
    with pytest.raises(TypeError, match="int16"):
        g711.ulaw_encode(np.zeros(3, dtype=np.float32))
