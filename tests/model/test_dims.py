import pytest

from ivr.intents import DEFAULT_INTENTS
from ivr.model import EncoderDims, HeadDims, Wav2Vec2Encoder, base, build_model, tiny_8k


def count(module):
    return sum(p.numel() for p in module.parameters())


def test_tiny_8k_is_20ms_frames_at_8khz_and_small():
    dims = tiny_8k()
    assert dims.sample_rate_hz == 8000
    assert dims.stride == 160 and dims.frame_ms == 20.0
    assert dims.receptive_field == 200  # 25 ms
    assert dims.streamable
    assert count(build_model(dims, DEFAULT_INTENTS)) <= 5_000_000


def test_base_matches_the_paper():
    dims = base()
    assert dims.stride == 320 and dims.receptive_field == 400 and dims.frame_ms == 20.0
    assert not dims.streamable
    assert 94_000_000 < count(Wav2Vec2Encoder(dims)) < 96_000_000  # "95 M parameters"


@pytest.mark.parametrize("dims", [tiny_8k(), base()])
def test_dims_round_trip_through_a_dict(dims):
    assert EncoderDims.from_dict(dims.to_dict()) == dims


def test_invalid_dims_list_every_problem():
    with pytest.raises(ValueError, match="extractor_mode") as info:
        EncoderDims.from_dict({**tiny_8k().to_dict(), "extractor_mode": "batch", "embed_dim": 250})
    assert "num_heads" in str(info.value)  # both problems in one message


def test_unknown_fields_are_rejected():
    with pytest.raises(ValueError, match="bogus"):
        EncoderDims.from_dict({**tiny_8k().to_dict(), "bogus": 1})
    with pytest.raises(ValueError, match="pooling"):
        HeadDims(pooling="max")
