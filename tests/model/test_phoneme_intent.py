"""The phoneme (text) intent head: shapes, padding, fusion, and its place in checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ivr.errors import CheckpointError
from ivr.model.checkpoint import METADATA_KEY, load_checkpoint, save_checkpoint
from ivr.model.model import IntentModel, build_model
from ivr.model.phoneme_intent import (
    PhonemeIntentClassifier,
    PhonemeIntentDims,
    clean_ids,
    fuse,
    pad_ids,
)
from ivr.runtime.classify import Classifier
from tests.model.helpers import small_dims

LABELS = ("check_balance", "out_of_scope", "report_lost_card")
VOCAB = 51
REPO = Path(__file__).resolve().parents[2]


def head(seed: int = 0) -> PhonemeIntentClassifier:
    torch.manual_seed(seed)
    return PhonemeIntentClassifier(
        PhonemeIntentDims(vocab_size=VOCAB, embed_dim=16, hidden_dim=16, mlp_dim=16), LABELS
    ).eval()


def fused_model(seed: int = 0) -> IntentModel:
    torch.manual_seed(seed)
    base = build_model(small_dims(), LABELS, VOCAB)
    return IntentModel(base.encoder, base.intent_head, base.ctc_head, head(seed)).eval()


def test_logits_have_one_column_per_label_and_probabilities_sum_to_one():
    ids, lengths = pad_ids([[2, 3, 1, 4], [5], []])
    logits = head()(ids, lengths)
    assert logits.shape == (3, len(LABELS))
    probs = head().probabilities(logits)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))


def test_padding_and_batch_mates_do_not_change_a_decision():
    h = head()
    alone = h(*pad_ids([[7, 8, 1, 9, 10]]))
    ids, lengths = pad_ids([[7, 8, 1, 9, 10], [2] * 30])
    padded = torch.cat([ids, torch.zeros(2, 7, dtype=torch.int64)], dim=1)
    torch.testing.assert_close(h(padded, lengths)[:1], alone, atol=1e-5, rtol=1e-5)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match=r"ids \(B, U\)"):
        head()(torch.zeros(3, dtype=torch.int64), torch.ones(3, dtype=torch.int64))


def test_clean_ids_spells_a_decode_one_way():
    assert clean_ids([1, 0, 2, 1, 1, 3, 1]) == [2, 1, 3]
    assert clean_ids([1, 1]) == []


def test_fusion_weight_zero_is_the_audio_head_and_one_the_text_head():
    audio = torch.tensor([[0.7, 0.2, 0.1]])
    text = torch.tensor([[0.1, 0.1, 0.8]])
    torch.testing.assert_close(fuse(audio, text, 0.0), audio)
    torch.testing.assert_close(fuse(audio, text, 1.0), text)
    half = fuse(audio, text, 0.5)
    expected = torch.sqrt(audio * text) / torch.sqrt(audio * text).sum()
    torch.testing.assert_close(half, expected)
    with pytest.raises(ValueError, match="fusion weight"):
        fuse(audio, text, 1.5)


def test_a_phoneme_head_needs_a_ctc_head_and_the_same_labels():
    base = build_model(small_dims(), LABELS, None)
    with pytest.raises(ValueError, match="CTC head"):
        IntentModel(base.encoder, base.intent_head, None, head())
    other = PhonemeIntentClassifier(PhonemeIntentDims(), ("a", "b"))
    with_ctc = build_model(small_dims(), LABELS, VOCAB)
    with pytest.raises(ValueError, match="labels"):
        IntentModel(with_ctc.encoder, with_ctc.intent_head, with_ctc.ctc_head, other)


def test_checkpoint_round_trips_with_the_head(tmp_path: Path):
    model = fused_model()
    model.phoneme_head.temperature.fill_(1.7)  # type: ignore[union-attr]
    save_checkpoint(tmp_path / "m.safetensors", model, extra={"fusion_weight": 0.3})
    loaded = load_checkpoint(tmp_path / "m.safetensors")
    assert isinstance(loaded.model, IntentModel) and loaded.model.phoneme_head is not None
    assert loaded.model.phoneme_head.dims == model.phoneme_head.dims  # type: ignore[union-attr]
    assert float(loaded.model.phoneme_head.temperature) == pytest.approx(1.7)
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[name], tensor, msg=name)


def test_checkpoint_round_trips_without_the_head(tmp_path: Path):
    model = build_model(small_dims(), LABELS, VOCAB)
    save_checkpoint(tmp_path / "m.safetensors", model)
    meta = _meta(tmp_path / "m.safetensors")
    assert meta["phoneme_head"] is None
    loaded = load_checkpoint(tmp_path / "m.safetensors")
    assert isinstance(loaded.model, IntentModel) and loaded.model.phoneme_head is None


def test_a_checkpoint_written_before_the_head_existed_still_loads(tmp_path: Path):
    path = tmp_path / "old.safetensors"
    save_checkpoint(path, build_model(small_dims(), LABELS, VOCAB))
    tensors, meta = _read(path)
    del meta["phoneme_head"]  # the metadata of format 1 before stage 2b
    save_file(tensors, path, metadata={METADATA_KEY: json.dumps(meta)})
    loaded = load_checkpoint(path)
    assert isinstance(loaded.model, IntentModel) and loaded.model.phoneme_head is None


def test_the_shipped_model_loads_without_a_text_head():
    shipped = REPO / "models" / "ivr-tiny-8k.safetensors"  # make model ships stage 2 unless TEXT_HEAD=1
    assert _meta(shipped).get("phoneme_head") is None
    loaded = load_checkpoint(shipped)
    assert isinstance(loaded.model, IntentModel) and loaded.model.phoneme_head is None


def test_a_checkpoint_claiming_the_head_without_its_tensors_is_a_checkpoint_error(tmp_path: Path):
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, fused_model())
    tensors, meta = _read(path)
    save_file(
        {k: v for k, v in tensors.items() if not k.startswith("phoneme_head.")},
        path,
        metadata={METADATA_KEY: json.dumps(meta)},
    )
    with pytest.raises(CheckpointError, match="phoneme intent head"):
        load_checkpoint(path)
    partial = {k: v for k, v in tensors.items() if k != "phoneme_head.gru.weight_hh_l0"}
    save_file(partial, path, metadata={METADATA_KEY: json.dumps(meta)})
    with pytest.raises(CheckpointError, match=r"missing tensors: phoneme_head\.gru\.weight_hh_l0"):
        load_checkpoint(path)


def test_the_classifier_fuses_both_heads_with_the_stored_weight(tmp_path: Path):
    path = tmp_path / "m.safetensors"
    save_checkpoint(
        path, fused_model(), extra={"fusion_weight": 0.4, "ctc_vocab": [str(i) for i in range(VOCAB)]}
    )
    classifier = Classifier.from_checkpoint(path)
    assert classifier.fusion_weight == pytest.approx(0.4)
    clip = np.random.default_rng(0).normal(0, 0.1, 4000).astype(np.float32)
    r = classifier.classify(clip)
    assert r.audio_scores is not None and r.text_scores is not None
    audio = torch.tensor([[r.audio_scores[k] for k in LABELS]])
    text = torch.tensor([[r.text_scores[k] for k in LABELS]])
    torch.testing.assert_close(torch.tensor([[r.scores[k] for k in LABELS]]), fuse(audio, text, 0.4))
    plain = Classifier(build_model(small_dims(), LABELS, VOCAB)).classify(clip)
    assert plain.audio_scores is None and plain.text_scores is None


def test_a_fusion_weight_out_of_range_is_a_checkpoint_error(tmp_path: Path):
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, fused_model(), extra={"fusion_weight": 2})
    with pytest.raises(CheckpointError, match="fusion_weight"):
        Classifier.from_checkpoint(path)


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, object]]:
    with safe_open(str(path), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        meta = json.loads((f.metadata() or {})[METADATA_KEY])
    return tensors, meta


def _meta(path: Path) -> dict[str, object]:
    return _read(path)[1]
