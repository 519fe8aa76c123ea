import pytest
import torch

from ivr.model import HeadDims, IntentHead, SpanMasking, build_model
from tests.model.helpers import random_wave, small_dims

LABELS = ("yes", "no", "agent")


def test_forward_shapes_with_and_without_ctc():
    torch.manual_seed(0)
    model = build_model(small_dims(), LABELS, ctc_vocab_size=12).eval()
    out = model(random_wave(2, 1200), torch.tensor([1200, 700]))
    assert out.intent_logits.shape == (2, 3)
    assert out.ctc_log_probs is not None and out.ctc_log_probs.shape == (2, 29, 12)
    torch.testing.assert_close(out.ctc_log_probs.exp().sum(-1), torch.ones(2, 29))
    assert build_model(small_dims(), LABELS)(random_wave(1, 500), torch.tensor([500])).ctc_log_probs is None


@pytest.mark.parametrize("pooling", ["mean", "attention"])
def test_pooling_ignores_padding_frames(pooling):
    torch.manual_seed(0)
    head = IntentHead(8, LABELS, HeadDims(pooling=pooling)).eval()
    frames = torch.randn(1, 6, 8)
    padded = torch.cat([frames, 1e3 * torch.randn(1, 4, 8)], dim=1)
    torch.testing.assert_close(head(frames, torch.tensor([6])), head(padded, torch.tensor([6])))
    if pooling == "mean":
        torch.testing.assert_close(head(frames, torch.tensor([6])), head.mlp(frames.mean(1)))


def test_pool_accumulated_in_pieces_equals_pooling_at_once():
    torch.manual_seed(0)
    head = IntentHead(8, LABELS).eval()
    frames = torch.randn(2, 11, 8)
    lengths = torch.tensor([11, 7])
    pool = head.init_pool(2, 8)
    for start, stop in [(0, 3), (3, 4), (4, 4), (4, 11)]:
        piece = frames[:, start:stop]
        pool = head.accumulate(pool, piece, (lengths - start).clamp(0, stop - start))
    torch.testing.assert_close(head.logits_from(pool), head(frames, lengths))
    assert pool.frames.tolist() == [11, 7]


def test_temperature_calibrates_probabilities():
    head = IntentHead(8, LABELS)
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    sharp = head.probabilities(logits)
    head.temperature.fill_(4.0)
    soft = head.probabilities(logits)
    torch.testing.assert_close(soft, torch.softmax(logits / 4.0, -1))
    assert soft.max() < sharp.max()


def test_labels_must_be_distinct():
    with pytest.raises(ValueError, match="distinct"):
        IntentHead(8, ("a", "a"))


def test_freeze_feature_encoder_and_lower_encoder_learning_rate():
    model = build_model(small_dims(), LABELS)
    model.freeze_feature_encoder()
    frozen = {id(p) for p in model.encoder.feature_encoder.parameters()}
    assert all(not p.requires_grad for p in model.encoder.feature_encoder.parameters())
    heads, encoder = model.parameter_groups(lr=1e-3, encoder_lr_scale=0.1)
    assert heads["lr"] == 1e-3 and encoder["lr"] == pytest.approx(1e-4)
    ids = [id(p) for group in (heads, encoder) for p in group["params"]]
    assert len(ids) == len(set(ids)) and not frozen & set(ids)
    assert len(ids) == sum(1 for p in model.parameters() if p.requires_grad)
    before = [p.clone() for p in model.encoder.feature_encoder.parameters()]
    optimizer = torch.optim.SGD(model.parameter_groups(lr=0.1), lr=0.1)
    model(random_wave(2, 800), torch.tensor([800, 600])).intent_logits.sum().backward()
    optimizer.step()
    assert all(
        torch.equal(a, b) for a, b in zip(before, model.encoder.feature_encoder.parameters(), strict=True)
    )


def test_intent_loss_falls_on_a_batch_it_overfits():
    torch.manual_seed(0)
    model = build_model(small_dims(), LABELS, head=HeadDims(hidden_dim=32)).train()
    wave, lengths = random_wave(6, 1600, seed=4), torch.tensor([1600, 1500, 1400, 1300, 1200, 1100])
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(model(wave, lengths).intent_logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 < losses[0], losses
    model.eval()
    assert torch.equal(model(wave, lengths).intent_logits.argmax(-1), labels)


def test_fine_tuning_can_mask_features():
    torch.manual_seed(0)
    model = build_model(small_dims(), LABELS).eval()
    wave, lengths = random_wave(2, 1600), torch.tensor([1600, 1200])
    plain = model(wave, lengths).intent_logits
    assert torch.equal(plain, model(wave, lengths).intent_logits)
    assert not torch.allclose(plain, model(wave, lengths, mask=SpanMasking(0.3, 4)).intent_logits)
