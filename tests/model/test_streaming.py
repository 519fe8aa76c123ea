"""Streaming equivalence: any packetisation through ``infer`` gives the frames of one offline forward."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.audio.band import band_pass
from ivr.model import (
    IntentStream,
    Wav2Vec2Encoder,
    build_model,
    infer,
    init_state,
    split_states,
    stack_states,
    tiny_8k,
)
from ivr.model.ctc_decode import greedy_ids, spell
from ivr.model.model import IntentModel
from ivr.model.phoneme_intent import PhonemeIntentClassifier, PhonemeIntentDims
from ivr.model.phoneme_lm import PhonemeLM, PhonemeLMDims
from ivr.model.streaming import decoded_ids, extend_decode, init_decode
from ivr.runtime.classify import Classifier
from tests.model.helpers import full_attention_base_like, random_wave, small_dims

TOLERANCE = 1e-4  # max abs difference, float32

PACKET_20MS, PACKET_30MS = 160, 240  # samples at 8 kHz
packet_sizes = st.lists(
    st.one_of(st.just(PACKET_20MS), st.just(PACKET_30MS), st.integers(1, 700)), min_size=1, max_size=40
)


def split_by(total, sizes):
    """Cut ``total`` samples into the given packet sizes, cycling them; the last packet takes the rest."""
    cuts, position, i = [], 0, 0
    while position < total:
        size = min(sizes[i % len(sizes)], total - position)
        cuts.append((position, position + size))
        position += size
        i += 1
    return cuts or [(0, 0)]  # a silent call still ends with one (empty, final) packet


def stream(step, waves, lengths, packetisations):
    """Feed each call its own packets, all calls batched per round; returns the per-call outputs."""
    cuts = [split_by(int(n), sizes) for n, sizes in zip(lengths, packetisations, strict=True)]
    rounds = max(len(c) for c in cuts)
    outputs = [[] for _ in cuts]
    for r in range(rounds):
        packets = [waves[b, c[r][0] : c[r][1]] if r < len(c) else waves[b, :0] for b, c in enumerate(cuts)]
        width = max(len(p) for p in packets)
        chunk = torch.stack([torch.nn.functional.pad(p, (0, width - len(p))) for p in packets])
        sizes = torch.tensor([len(p) for p in packets])
        final = torch.tensor([r == len(c) - 1 for c in cuts])
        for b, out in enumerate(step(chunk, sizes, final)):
            outputs[b].append(out)
    return outputs


def streamed_frames(encoder, waves, lengths, packetisations):
    state = [init_state(encoder.dims, len(lengths))]

    def step(chunk, sizes, final):
        frames, frame_lengths, state[0] = infer(encoder, chunk, sizes, state[0], final=final)
        return [frames[b, : frame_lengths[b]] for b in range(len(sizes))]

    return [torch.cat(parts) for parts in stream(step, waves, lengths, packetisations)]


def assert_streaming_matches_offline(encoder, waves, lengths, packetisations):
    with torch.no_grad():
        offline = encoder(waves, lengths)
    streamed = streamed_frames(encoder, waves, lengths, packetisations)
    for b, frames in enumerate(streamed):
        expected = offline.frames[b, : offline.frame_lengths[b]]
        assert frames.shape == expected.shape
        assert (frames - expected).abs().max().item() <= TOLERANCE if len(frames) else True


@pytest.fixture(scope="module")
def small_encoder():
    torch.manual_seed(0)
    return Wav2Vec2Encoder(small_dims()).eval()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lengths=st.lists(st.integers(0, 2500), min_size=1, max_size=3),
    packetisations=st.lists(packet_sizes, min_size=3, max_size=3),
    seed=st.integers(0, 2**16),
)
def test_any_packetisation_of_batched_calls_matches_offline(small_encoder, lengths, packetisations, seed):
    width = max(max(lengths), small_encoder.dims.receptive_field)
    waves = random_wave(len(lengths), width, seed=seed)
    lengths_t = torch.tensor(lengths)
    waves = waves * (torch.arange(width)[None] < lengths_t[:, None])
    assert_streaming_matches_offline(small_encoder, waves, lengths_t, packetisations[: len(lengths)])


def test_tiny_8k_streams_exactly_in_20ms_30ms_and_random_packets():
    torch.manual_seed(0)
    encoder = Wav2Vec2Encoder(tiny_8k()).eval()
    lengths = torch.tensor([8000 * 3 // 2 + 13, 8000 * 2 + 100, 8000])  # 1.5 s, 2.0 s, 1 s
    waves = random_wave(3, int(lengths.max()), seed=1)
    waves = waves * (torch.arange(waves.shape[1])[None] < lengths[:, None])
    random_sizes = torch.randint(1, 900, (60,), generator=torch.Generator().manual_seed(2)).tolist()
    assert_streaming_matches_offline(encoder, waves, lengths, [[PACKET_20MS], [PACKET_30MS], random_sizes])


def test_intent_stream_gives_the_offline_probabilities():
    torch.manual_seed(0)
    model = build_model(small_dims(), ("a", "b", "c")).eval()
    model.intent_head.temperature.fill_(1.7)
    lengths = torch.tensor([1500, 900])
    waves = random_wave(2, 1500, seed=3) * (torch.arange(1500)[None] < lengths[:, None])
    with torch.no_grad():
        offline = model.intent_head.probabilities(model(waves, lengths).intent_logits)
    stream_ = IntentStream(model)
    state = [stream_.init_state(2)]

    def step(chunk, sizes, final):
        probs, state[0] = stream_.step(chunk, sizes, state[0], final=final)
        return list(probs)

    finals = stream(step, waves, lengths, [[PACKET_20MS], [37, 300]])
    torch.testing.assert_close(torch.stack([f[-1] for f in finals]), offline, atol=TOLERANCE, rtol=0)


def test_the_running_decode_is_the_greedy_decode_of_the_whole_utterance():
    """Repeats merge across packet boundaries; blanks and padding frames never enter the decode."""
    gen = torch.Generator().manual_seed(4)
    frames = torch.randint(0, 4, (2, 60), generator=gen)  # few symbols: many repeats and blanks
    log_probs = torch.nn.functional.one_hot(frames, 4).float().log()  # (2, 60, 4)
    cuts = [[0, 7, 8, 8, 31, 60], [0, 1, 1, 20, 21, 60]]  # per call; empty packets included
    state = init_decode(2)
    for k in range(len(cuts[0]) - 1):
        sizes = [cut[k + 1] - cut[k] for cut in cuts]
        chunk = torch.zeros(2, max(sizes) + 3, 4).log()
        chunk[..., 2] = 0.0  # the padding's arg-max is a symbol: it must not be read
        for b, cut in enumerate(cuts):
            chunk[b, : sizes[b]] = log_probs[b, cut[k] : cut[k + 1]]
        state = extend_decode(state, chunk, torch.tensor(sizes))
    for b in range(2):
        expected = greedy_ids(log_probs[b].numpy())
        assert state.ids[b, : state.count[b]].tolist() == expected
        assert len(expected) > 5


@pytest.mark.parametrize("with_lm", [False, True], ids=["greedy", "lm_beam_search"])
def test_intent_stream_with_a_phoneme_head_gives_the_classifier_fusion(with_lm):
    torch.manual_seed(0)
    base = build_model(small_dims(), ("a", "b", "c"), 7)
    text = PhonemeIntentClassifier(
        PhonemeIntentDims(vocab_size=7, embed_dim=8, hidden_dim=8, mlp_dim=8), ("a", "b", "c")
    )
    lm = (
        PhonemeLM.fit([[2, 3, 1, 4], [5, 6, 2], [3, 3, 1, 6, 2]], PhonemeLMDims(vocab_size=7, order=3))
        if with_lm
        else None
    )
    model = IntentModel(base.encoder, base.intent_head, base.ctc_head, text, lm).eval()
    lengths = torch.tensor([1500, 900])
    # Phone-band audio: the classifier would band-limit full-band clips first, the stream reads what it gets.
    phone = torch.from_numpy(band_pass(random_wave(2, 1500, seed=3).numpy(), model.dims.sample_rate_hz))
    waves = phone * (torch.arange(1500)[None] < lengths[:, None])
    classifier = Classifier(model, fusion_weight=0.4, ctc_vocab=VOCAB7)
    offline = [classifier.classify(waves[b, : lengths[b]].numpy()) for b in range(2)]
    stream_ = IntentStream(model, fusion_weight=0.4)
    state = [stream_.init_state(2)]

    def step(chunk, sizes, final):
        probs, state[0] = stream_.step(chunk, sizes, state[0], final=final)
        return list(probs)

    finals = stream(step, waves, lengths, [[PACKET_20MS], [37, 300]])
    for b in range(2):
        assert offline[b].text_scores != offline[b].audio_scores  # the text head is part of the decision
        expected = torch.tensor(list(offline[b].scores.values()))
        torch.testing.assert_close(finals[b][-1], expected, atol=TOLERANCE, rtol=0)
    if with_lm:
        decodes = decoded_ids(state[0].decode, stream_.search)
        assert [spell(d, VOCAB7) for d in decodes] == [r.transcript for r in offline]
        assert min(len(d) for d in decodes) > 0
    else:
        assert state[0].decode.count.min() > 0


VOCAB7 = ["<blank>", " ", "a", "b", "c", "d", "e"]


def test_states_split_and_stack_between_packets(small_encoder):
    dims = small_encoder.dims
    waves = random_wave(2, 1200, seed=5)
    lengths = torch.tensor([1200, 1200])
    with torch.no_grad():
        offline = small_encoder(waves, lengths).frames
    # the first 500 samples of each call as separate batches of 1, then one batch of 2
    first = [
        infer(small_encoder, waves[b : b + 1, :500], torch.tensor([500]), init_state(dims)) for b in range(2)
    ]
    joined = stack_states([s for _, _, s in first])
    frames, frame_lengths, state = infer(
        small_encoder, waves[:, 500:], torch.tensor([700, 700]), joined, final=True
    )
    for b in range(2):
        got = torch.cat([first[b][0][0, : first[b][1][0]], frames[b, : frame_lengths[b]]])
        torch.testing.assert_close(got, offline[b], atol=TOLERANCE, rtol=0)
    parts = split_states(state)
    assert [p.batch_size for p in parts] == [1, 1]
    assert torch.equal(parts[1].frames_done, torch.tensor([offline.shape[1]]))


def test_infer_leaves_its_input_state_untouched(small_encoder):
    dims = small_encoder.dims
    _, _, state = infer(small_encoder, random_wave(1, 300), torch.tensor([300]), init_state(dims))
    chunk = random_wave(1, 400, seed=9)
    a = infer(small_encoder, chunk, torch.tensor([400]), state, final=True)
    b = infer(small_encoder, chunk, torch.tensor([400]), state, final=True)
    assert torch.equal(a[0], b[0]) and a[0].shape[1] > 0


def test_frames_come_out_in_whole_chunks_until_the_call_ends(small_encoder):
    dims = small_encoder.dims
    state = init_state(dims)
    emitted = []
    for _ in range(10):  # one frame's worth of samples per packet
        _, n, state = infer(small_encoder, random_wave(1, dims.stride), torch.tensor([dims.stride]), state)
        emitted.append(int(n[0]))
    total = (10 * dims.stride - dims.receptive_field) // dims.stride + 1  # 9 frames
    whole = total // dims.chunk_frames * dims.chunk_frames  # 8 of them in whole chunks
    assert set(emitted) <= {0, dims.chunk_frames} and sum(emitted) == whole
    _, n, _ = infer(small_encoder, random_wave(1, 0), torch.tensor([0]), state, final=True)
    assert int(n[0]) == total - whole


def test_non_streamable_models_and_bad_packets_are_refused(small_encoder):
    base_like = Wav2Vec2Encoder(full_attention_base_like())
    with pytest.raises(ValueError, match="block_causal"):
        infer(base_like, random_wave(1, 100), torch.tensor([100]), init_state(base_like.dims))
    state = init_state(small_encoder.dims, 2)
    with pytest.raises(ValueError, match="state of 2 calls"):
        infer(small_encoder, random_wave(1, 100), torch.tensor([100]), state)
    with pytest.raises(ValueError, match="lengths"):
        infer(small_encoder, random_wave(2, 100), torch.tensor([100, 101]), state)
