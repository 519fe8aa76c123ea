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
from ivr.model.checkpoint import METADATA_KEY, load_checkpoint, save_checkpoint, tensor_digest
from ivr.model.model import IntentModel, build_model
from ivr.model.phoneme_intent import (
    READERS,
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


def head(seed: int = 0, reader: str = "ngram") -> PhonemeIntentClassifier:
    torch.manual_seed(seed)
    dims = PhonemeIntentDims(
        vocab_size=VOCAB, reader=reader, embed_dim=16, hidden_dim=16, mlp_dim=16, ngram_buckets=512
    )
    return PhonemeIntentClassifier(dims, LABELS).eval()


def fused_model(seed: int = 0, reader: str = "ngram") -> IntentModel:
    torch.manual_seed(seed)
    base = build_model(small_dims(), LABELS, VOCAB)
    return IntentModel(base.encoder, base.intent_head, base.ctc_head, head(seed, reader)).eval()


@pytest.mark.parametrize("reader", READERS)
def test_logits_have_one_column_per_label_and_probabilities_sum_to_one(reader: str):
    ids, lengths = pad_ids([[2, 3, 1, 4], [5], []])
    logits = head(reader=reader)(ids, lengths)
    assert logits.shape == (3, len(LABELS))
    probs = head(reader=reader).probabilities(logits)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))


@pytest.mark.parametrize("reader", READERS)
def test_padding_and_batch_mates_do_not_change_a_decision(reader: str):
    h = head(reader=reader)
    alone = h(*pad_ids([[7, 8, 1, 9, 10]]))
    ids, lengths = pad_ids([[7, 8, 1, 9, 10], [2] * 30])
    padded = torch.cat([ids, torch.zeros(2, 7, dtype=torch.int64)], dim=1)
    torch.testing.assert_close(h(padded, lengths)[:1], alone, atol=1e-5, rtol=1e-5)


def test_the_ngram_reader_recognizes_a_key_word_in_sentences_it_never_read():
    """Held-out wording in miniature: a bag of n-grams finds the telling word in new word orders."""
    rng = np.random.default_rng(0)
    lexicon = [[int(v) for v in rng.integers(2, VOCAB, size=int(rng.integers(2, 6)))] for _ in range(40)]
    key = lexicon[0]

    def sentence(with_key: bool) -> list[int]:
        words = [lexicon[int(i)] for i in rng.integers(1, len(lexicon), size=int(rng.integers(2, 7)))]
        if with_key:
            words.insert(int(rng.integers(len(words) + 1)), key)
        return [p for i, w in enumerate(words) for p in ([1] if i else []) + w]  # 1: word boundary

    def sample(n: int) -> tuple[list[list[int]], list[int]]:
        labels = [int(v) for v in rng.integers(2, size=n)]
        return [sentence(bool(y)) for y in labels], labels

    torch.manual_seed(0)
    dims = PhonemeIntentDims(vocab_size=VOCAB, reader="ngram", embed_dim=16, mlp_dim=16, ngram_buckets=2048)
    h = PhonemeIntentClassifier(dims, ("absent", "present"))
    optimizer = torch.optim.AdamW(h.parameters(), lr=1e-2)
    seqs, labels = sample(200)
    for _ in range(100):
        loss = torch.nn.functional.cross_entropy(h(*pad_ids(seqs)), torch.tensor(labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    test, truth = sample(300)
    unseen = [i for i, s in enumerate(test) if s not in seqs]
    with torch.no_grad():
        predicted = h.eval()(*pad_ids([test[i] for i in unseen])).argmax(-1)
    assert len(unseen) > 250
    assert float((predicted == torch.tensor([truth[i] for i in unseen])).float().mean()) > 0.95


def test_unknown_readers_and_empty_orders_are_rejected():
    with pytest.raises(ValueError, match="reader"):
        PhonemeIntentDims(reader="lstm")
    with pytest.raises(ValueError, match="n-gram"):
        PhonemeIntentDims(ngram_orders=())


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


@pytest.mark.parametrize("reader", READERS)
def test_checkpoint_round_trips_with_the_head(tmp_path: Path, reader: str):
    model = fused_model(reader=reader)
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


def test_a_bigru_head_saved_before_readers_existed_still_loads(tmp_path: Path):
    path = tmp_path / "old.safetensors"
    model = fused_model(reader="bigru")
    save_checkpoint(path, model)
    tensors, meta = _read(path)
    old_names = {k.replace("phoneme_head.reader.", "phoneme_head."): v for k, v in tensors.items()}
    head_meta = dict(meta["phoneme_head"])  # type: ignore[call-overload]
    for field in ("reader", "ngram_orders", "ngram_buckets"):
        del head_meta[field]
    meta["phoneme_head"] = head_meta
    meta["sha256"] = tensor_digest(old_names)
    save_file(old_names, path, metadata={METADATA_KEY: json.dumps(meta)})
    loaded = load_checkpoint(path)
    assert isinstance(loaded.model, IntentModel) and loaded.model.phoneme_head is not None
    assert loaded.model.phoneme_head.dims.reader == "bigru"
    ids, lengths = pad_ids([[7, 8, 1, 9]])
    with torch.no_grad():
        torch.testing.assert_close(loaded.model.phoneme_head(ids, lengths), model.phoneme_head(ids, lengths))  # type: ignore[misc]


def test_the_shipped_model_loads_with_its_text_head_and_a_fitted_fusion_weight():
    # make model ships the fused model unless TEXT_HEAD=0
    shipped = REPO / "models" / "ivr-tiny-8k.safetensors"
    assert _meta(shipped).get("phoneme_head") is not None
    loaded = load_checkpoint(shipped)
    assert isinstance(loaded.model, IntentModel) and loaded.model.phoneme_head is not None
    assert loaded.model.phoneme_head.labels == loaded.model.intent_head.labels
    assert 0 < Classifier.from_checkpoint(shipped).fusion_weight < 1


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
    partial = {k: v for k, v in tensors.items() if k != "phoneme_head.reader.embed.weight"}
    save_file(partial, path, metadata={METADATA_KEY: json.dumps(meta)})
    with pytest.raises(CheckpointError, match=r"missing tensors: phoneme_head\.reader\.embed\.weight"):
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
