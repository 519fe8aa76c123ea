import pytest
import torch

from ivr.model.encoder import Wav2Vec2Encoder
from tests.model.helpers import random_wave, small_dims
from training.code_usage import code_pairs, usage


def test_usage_tells_codes_that_follow_sounds_from_codes_that_hash_frames():
    steady = usage([torch.tensor([3, 3, 3, 3, 7, 7, 7, 7])])
    assert steady.adjacent == pytest.approx(6 / 7)
    assert steady.same_pair == pytest.approx(3 / 7)
    assert steady.distinct == pytest.approx(2 / 8)
    hashed = usage([torch.arange(8)])
    assert (hashed.adjacent, hashed.same_pair, hashed.distinct) == (0.0, 0.0, 1.0)


def test_code_pairs_combine_every_codebook_per_valid_frame():
    torch.manual_seed(0)
    encoder = Wav2Vec2Encoder(small_dims())
    lengths = torch.tensor([1000, 600])
    pairs = code_pairs(encoder, random_wave(2, 1000), lengths)
    frames = encoder.frame_lengths(lengths)
    assert [len(p) for p in pairs] == frames.tolist()
    d = encoder.dims
    assert all(int(p.min()) >= 0 and int(p.max()) < d.codebook_size**d.num_codebooks for p in pairs)
