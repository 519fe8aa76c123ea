import json

import pytest
import torch
from safetensors.torch import save_file

from ivr.errors import CheckpointError
from ivr.model import HeadDims, Wav2Vec2Encoder, build_model, load_checkpoint, save_checkpoint
from ivr.model.checkpoint import METADATA_KEY, tensor_digest
from tests.model.helpers import full_attention_base_like, random_wave, small_dims

LABELS = ("billing", "agent", "goodbye")


@pytest.fixture
def model():
    torch.manual_seed(0)
    m = build_model(
        small_dims(), LABELS, ctc_vocab_size=7, head=HeadDims(pooling="mean", hidden_dim=24)
    ).eval()
    m.intent_head.temperature.fill_(1.3)
    return m


@pytest.fixture
def saved(tmp_path, model):
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, model, labels=LABELS, extra={"step": 12, "config": {"lr": 0.001}})
    return path


def rewrite(path, tensors=None, meta_change=None):
    """Write a checkpoint with edited tensors or metadata, keeping the checksum consistent with the tensors."""
    loaded = load_checkpoint(path)
    tensors = tensors if tensors is not None else dict(loaded.model.state_dict())
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()[METADATA_KEY])
    meta["sha256"] = tensor_digest(tensors)
    meta.update(meta_change or {})
    save_file(
        {k: v.contiguous() for k, v in tensors.items()}, path, metadata={METADATA_KEY: json.dumps(meta)}
    )


def test_round_trip_restores_model_labels_and_extra(saved, model):
    loaded = load_checkpoint(saved)
    assert loaded.labels == LABELS and loaded.dims == model.dims and loaded.format_version == 1
    assert loaded.extra == {"step": 12, "config": {"lr": 0.001}}
    assert not loaded.model.training
    wave, lengths = random_wave(2, 900), torch.tensor([900, 500])
    with torch.no_grad():
        a, b = model(wave, lengths), loaded.model(wave, lengths)
    assert torch.equal(a.intent_logits, b.intent_logits) and torch.equal(a.ctc_log_probs, b.ctc_log_probs)
    assert loaded.model.intent_head.temperature.item() == pytest.approx(1.3)
    assert loaded.model.intent_head.pooling == "mean"


def test_round_trip_of_a_bare_group_norm_encoder(tmp_path):
    torch.manual_seed(0)
    encoder = Wav2Vec2Encoder(full_attention_base_like()).eval()
    save_checkpoint(tmp_path / "enc.safetensors", encoder)
    loaded = load_checkpoint(tmp_path / "enc.safetensors")
    assert isinstance(loaded.model, Wav2Vec2Encoder) and loaded.labels == ()
    wave, lengths = random_wave(1, 700), torch.tensor([700])
    with torch.no_grad():
        assert torch.equal(encoder(wave, lengths).frames, loaded.model(wave, lengths).frames)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"nothere\.safetensors: no such checkpoint file"):
        load_checkpoint(tmp_path / "nothere.safetensors")


@pytest.mark.parametrize("keep", [0.5, 0.99, 7 / 1e9])
def test_truncated_file(saved, keep):
    data = saved.read_bytes()
    saved.write_bytes(data[: max(1, int(len(data) * keep))])
    with pytest.raises(CheckpointError, match=rf"{saved.name}: not a readable safetensors file"):
        load_checkpoint(saved)


def test_garbage_file(tmp_path):
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(b"\x00\x01not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match=r"garbage\.safetensors: not a readable safetensors file"):
        load_checkpoint(path)


def test_flipped_bytes_in_the_tensor_data(saved):
    data = bytearray(saved.read_bytes())
    data[-100] ^= 0xFF
    saved.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(saved)


def test_plain_safetensors_without_our_metadata(tmp_path):
    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not an ivr checkpoint"):
        load_checkpoint(path)


def test_wrong_format_version(saved):
    rewrite(saved, meta_change={"format_version": 99})
    with pytest.raises(CheckpointError, match="format version 99; this ivr reads version 1"):
        load_checkpoint(saved)


def test_invalid_dims_in_metadata(saved):
    rewrite(saved, meta_change={"dims": {**small_dims().to_dict(), "attention": "sideways"}})
    with pytest.raises(CheckpointError, match=r"invalid metadata.*attention"):
        load_checkpoint(saved)


def test_missing_and_unexpected_tensors_are_all_named(saved, model):
    tensors = dict(model.state_dict())
    del tensors["intent_head.mlp.0.weight"]
    tensors["surprise.weight"] = torch.zeros(3)
    rewrite(saved, tensors=tensors)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(saved)
    message = str(info.value)
    assert "missing tensors: intent_head.mlp.0.weight" in message
    assert "unexpected tensors: surprise.weight" in message


def test_shape_mismatch_names_expected_and_found(saved, model):
    tensors = dict(model.state_dict())
    tensors["encoder.final_proj.weight"] = torch.zeros(5, 32)
    rewrite(saved, tensors=tensors)
    with pytest.raises(
        CheckpointError, match=r"encoder.final_proj.weight: expected shape \(16, 32\), found \(5, 32\)"
    ):
        load_checkpoint(saved)


def test_labels_must_match_the_model(tmp_path, model):
    with pytest.raises(ValueError, match="differ"):
        save_checkpoint(tmp_path / "x.safetensors", model, labels=("a", "b", "c"))
