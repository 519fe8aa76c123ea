import pytest
import torch

from ivr.model import Wav2Vec2Encoder, attention_mask
from tests.model.helpers import full_attention_base_like, random_wave, small_dims

VARIANTS = {
    "layer_norm_block_causal": small_dims(),
    "layer_norm_full": small_dims(attention="full"),
    "group_norm_post_ln_full": full_attention_base_like(),
}


def encoder(dims, seed=0):
    torch.manual_seed(seed)
    return Wav2Vec2Encoder(dims).eval()


def test_shapes_and_frame_lengths_match_the_conv_stack():
    dims = small_dims()
    enc = encoder(dims)
    lengths = torch.tensor([1000, 999, 60, 59])
    out = enc(random_wave(4, 1000), lengths)
    expected = torch.tensor(
        [(n - dims.receptive_field) // dims.stride + 1 if n >= 60 else 0 for n in lengths.tolist()]
    )
    assert out.frames.shape == (4, 24, dims.embed_dim)
    assert out.features.shape == (4, 24, dims.conv_dim)
    assert torch.equal(out.frame_lengths, expected)
    assert len(out.hidden_states) == dims.num_layers + 1
    assert out.mask is None
    assert (out.frames[1, expected[1] :] == 0).all()  # padding frames are zeroed


@pytest.mark.parametrize("dims", VARIANTS.values(), ids=VARIANTS.keys())
def test_padded_utterance_gives_the_frames_it_gives_alone(dims):
    enc = encoder(dims)
    wave = random_wave(3, 1400, seed=1)
    lengths = torch.tensor([1400, 870, 333])
    with torch.no_grad():
        batch = enc(wave, lengths)
        for b, n in enumerate(lengths.tolist()):
            alone = enc(wave[b : b + 1, :n], lengths[b : b + 1])
            frames = int(alone.frame_lengths[0])
            assert frames == int(batch.frame_lengths[b])
            torch.testing.assert_close(batch.frames[b, :frames], alone.frames[0], atol=1e-5, rtol=0)
            # garbage beyond the utterance must not leak in either
            noisy = wave[b : b + 1].clone()
            noisy[:, n:] = 100.0
            torch.testing.assert_close(
                enc(noisy, lengths[b : b + 1]).frames[0, :frames], alone.frames[0], atol=1e-5, rtol=0
            )


def test_block_causal_frames_do_not_depend_on_later_chunks():
    dims = small_dims()
    enc = encoder(dims)
    wave = random_wave(1, 2000)
    changed = wave.clone()
    frames_kept = 2 * dims.chunk_frames  # the first two chunks
    changed[:, (frames_kept + 1) * dims.stride :] += 1.0  # later samples (past the receptive field)
    lengths = torch.tensor([2000])
    with torch.no_grad():
        a, b = enc(wave, lengths).frames, enc(changed, lengths).frames
    torch.testing.assert_close(a[:, :frames_kept], b[:, :frames_kept], atol=1e-6, rtol=0)
    assert (a[:, frames_kept + 2 :] - b[:, frames_kept + 2 :]).abs().max() > 1e-3


def test_full_attention_override_sees_later_chunks_and_keeps_the_causal_positional_conv():
    dims = small_dims()
    enc = encoder(dims)
    wave = random_wave(1, 2000)
    changed = wave.clone()
    frames_kept = 2 * dims.chunk_frames
    changed[:, (frames_kept + 1) * dims.stride :] += 1.0
    lengths = torch.tensor([2000])
    with torch.no_grad():
        a = enc(wave, lengths, attention="full").frames
        b = enc(changed, lengths, attention="full").frames
        as_full_dims = Wav2Vec2Encoder(small_dims(attention="full")).eval()
        as_full_dims.load_state_dict(enc.state_dict())
        centred = as_full_dims(wave, lengths).frames
        streaming = enc(wave, lengths).frames
    assert (a[:, :frames_kept] - b[:, :frames_kept]).abs().max() > 1e-3  # the future is seen
    assert (a - centred).abs().max() > 1e-3  # not the full-attention architecture: its conv is centred
    assert (a - streaming).abs().max() > 1e-3


def test_block_causal_mask_pattern():
    valid = torch.tensor([[True] * 7 + [False]])
    mask = attention_mask(valid, "block_causal", chunk_frames=2, left_chunks=1)[0]
    # query 5 (chunk 2) sees chunks 1 and 2 = frames 2..5
    assert mask[5].tolist() == [False, False, True, True, True, True, False, False]
    assert mask[7].tolist() == [False] * 4 + [True] * 4  # padding row: valid 4..6 and itself
    full = attention_mask(valid, "full", 2, 1)[0]
    assert full[0].tolist() == [True] * 7 + [False]


def test_masking_replaces_frames_with_the_mask_embedding():
    dims = small_dims(feature_dropout=0.0)
    enc = encoder(dims)
    torch.manual_seed(3)
    out = enc(random_wave(2, 1200), torch.tensor([1200, 800]), mask=enc.pretraining_masking())
    assert out.mask is not None and out.mask.shape == (2, 29)
    assert not out.mask[1, out.frame_lengths[1] :].any()
    assert out.mask[0].any() and out.mask[1].any()


@pytest.mark.parametrize(
    ("wave", "lengths", "message"),
    [
        (torch.zeros(2, 1000, dtype=torch.int16), torch.tensor([1, 1]), "float"),
        (torch.zeros(1000), torch.tensor([1000]), "float"),
        (torch.zeros(2, 1000), torch.tensor([1000]), "lengths"),
        (torch.zeros(2, 1000), torch.tensor([1000, 1001]), "lengths"),
        (torch.zeros(1, 30), torch.tensor([30]), "at least 60"),
    ],
)
def test_bad_input_names_expected_and_found(wave, lengths, message):
    with pytest.raises(ValueError, match=message):
        encoder(small_dims())(wave, lengths)


@pytest.mark.parametrize("dims", VARIANTS.values(), ids=VARIANTS.keys())
def test_hidden_states_are_layer_input_then_each_layer_output(dims):
    enc = encoder(dims)
    with torch.no_grad():
        out = enc(random_wave(1, 900), torch.tensor([900]))
        last = out.hidden_states[-1]
        if dims.layer_norm_first:
            last = enc.context.layer_norm(last)
    assert len(out.hidden_states) == dims.num_layers + 1
    torch.testing.assert_close(last, out.frames)


def test_feature_penalty_ignores_padding():
    enc = encoder(small_dims())
    wave, other = random_wave(1, 900), random_wave(1, 1400, seed=3)
    padded = torch.cat([wave, torch.full((1, 500), 3.0)], dim=1)
    with torch.no_grad():
        alone = enc(wave, torch.tensor([900]))
        second = enc(other, torch.tensor([1400]))
        batch = enc(torch.cat([padded, other]), torch.tensor([900, 1400]))
    n1, n2 = int(alone.frame_lengths[0]), int(second.frame_lengths[0])
    expected = (n1 * alone.feature_penalty + n2 * second.feature_penalty) / (
        n1 + n2
    )  # mean over valid frames
    torch.testing.assert_close(batch.feature_penalty, expected)
