"""The phoneme n-gram: a proper distribution, Kneser-Ney by hand, and a checkpoint that round-trips."""

import math

import pytest
import torch

from ivr.errors import CheckpointError
from ivr.model import build_model
from ivr.model.checkpoint import load_checkpoint, save_checkpoint
from ivr.model.model import IntentModel
from ivr.model.phoneme_lm import PhonemeLM, PhonemeLMDims
from tests.model.helpers import small_dims

SENTENCES = [[2, 3, 1, 4], [2, 3, 1, 5, 6], [4, 2, 3], [6, 1, 2, 3, 1, 4]]


def every_symbol(lm):
    return [*range(1, lm.dims.vocab_size), lm.dims.eos]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_every_history_gets_a_distribution_that_sums_to_one(order):
    lm = PhonemeLM.fit(SENTENCES, PhonemeLMDims(vocab_size=7, order=order))
    histories = [lm.start(), lm.advance(lm.start(), 2), lm.advance(lm.advance(lm.start(), 3), 1)]
    histories.append(lm.advance(lm.advance(lm.start(), 6), 6))  # a history the text never had
    for history in histories:
        total = sum(math.exp(lm.log_prob(history, s)) for s in every_symbol(lm))
        assert total == pytest.approx(1.0, abs=1e-6)


def test_bigram_matches_interpolated_kneser_ney_by_hand():
    lm = PhonemeLM.fit([[2, 3], [2, 4], [3, 4]], PhonemeLMDims(vocab_size=5, order=2), discount=0.5)
    bos, eos = lm.dims.bos, lm.dims.eos
    # Unigrams are continuation counts: 2 follows bos; 3 follows 2 and bos; 4 follows 2 and 3; eos 3 and 4.
    cont = {1: 0, 2: 1, 3: 2, 4: 2, eos: 2}
    total, types = 7, 4
    uniform = 0.5 * types / total / 5  # the discounted mass spread over the 5 predictable symbols
    unigram = {s: max(c - 0.5, 0) / total + uniform for s, c in cont.items()}
    # P(3 | 2): raw counts after 2 are {3: 1, 4: 1}
    expected = (1 - 0.5) / 2 + 0.5 * 2 / 2 * unigram[3]
    assert math.exp(lm.log_prob((2,), 3)) == pytest.approx(expected, rel=1e-6)
    # P(1 | 2): never seen after 2, backs off with gamma(2) = 0.5 * 2 / 2
    assert math.exp(lm.log_prob((2,), 1)) == pytest.approx(0.5 * unigram[1], rel=1e-6)
    # a history never seen as a context backs off with weight 1
    assert math.exp(lm.log_prob((1,), 4)) == pytest.approx(unigram[4], rel=1e-6)
    assert lm.start() == (bos,)


def test_the_text_it_saw_is_likelier_than_a_shuffle():
    lm = PhonemeLM.fit(SENTENCES * 5, PhonemeLMDims(vocab_size=7, order=3))
    assert lm.sentence_log_prob([2, 3, 1, 4]) > lm.sentence_log_prob([4, 1, 3, 2]) + 3


def test_fit_rejects_blanks_and_empty_text():
    with pytest.raises(ValueError, match="no blank"):
        PhonemeLM.fit([[0, 2]], PhonemeLMDims(vocab_size=7))
    with pytest.raises(ValueError, match="at least one"):
        PhonemeLM.fit([[]], PhonemeLMDims(vocab_size=7))


def test_checkpoint_round_trip_keeps_the_lm_and_its_settings(tmp_path):
    torch.manual_seed(0)
    base = build_model(small_dims(), ("a", "b"), 7)
    lm = PhonemeLM.fit(SENTENCES, PhonemeLMDims(vocab_size=7, order=3, weight=0.7, length_bonus=1.5))
    model = IntentModel(base.encoder, base.intent_head, base.ctc_head, None, lm)
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, model)
    loaded = load_checkpoint(path).model
    assert isinstance(loaded, IntentModel) and loaded.phoneme_lm is not None
    assert loaded.phoneme_lm.dims == lm.dims
    history = lm.advance(lm.start(), 2)
    for s in every_symbol(lm):
        assert loaded.phoneme_lm.log_prob(history, s) == pytest.approx(lm.log_prob(history, s), abs=1e-6)


def test_checkpoint_missing_lm_tensors_names_them(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    base = build_model(small_dims(), ("a", "b"), 7)
    lm = PhonemeLM.fit(SENTENCES, PhonemeLMDims(vocab_size=7, order=2))
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, IntentModel(base.encoder, base.intent_head, base.ctc_head, None, lm))
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    tensors = {k: v for k, v in load_file(path).items() if not k.startswith("phoneme_lm.backoff")}
    save_file(tensors, path, metadata=metadata)
    with pytest.raises(CheckpointError, match=r"missing tensors: phoneme_lm\.backoff2"):
        load_checkpoint(path)


def test_dims_reject_unknown_fields_and_bad_values():
    with pytest.raises(ValueError, match="unknown PhonemeLMDims fields: beem"):
        PhonemeLMDims.from_dict({"vocab_size": 7, "beem": 3})
    with pytest.raises(ValueError, match="invalid PhonemeLMDims"):
        PhonemeLMDims(vocab_size=7, beam=0)
