"""The phrase bank: coverage, determinism and a phrase split that never leaks."""

from __future__ import annotations

import itertools

from ivr.intents import DEFAULT_INTENTS, OUT_OF_SCOPE
from training.phrases import (
    TEMPLATES,
    distinct_phrasings,
    expand,
    heldout_templates,
    phrases,
    unlabeled_sentences,
)


def test_every_default_intent_and_out_of_scope_has_templates():
    assert set(TEMPLATES) == {*DEFAULT_INTENTS, OUT_OF_SCOPE}


def test_thousands_of_distinct_phrasings_per_intent():
    for label in TEMPLATES:
        assert distinct_phrasings(label) >= 1000, label


def test_expand_fills_every_slot_combination():
    out = expand("i {want} to pay my {bill}")
    assert len(out) == len(set(out)) == 5 * 5
    assert "i want to pay my bill" in out
    assert not any("{" in s for s in out)


def test_sampling_is_deterministic_and_seeded():
    a = phrases("report_lost_card", "train", 50, seed=3)
    assert a == phrases("report_lost_card", "train", 50, seed=3)
    assert a != phrases("report_lost_card", "train", 50, seed=4)
    assert len({p.text for p in a}) > 40  # decorations make near-duplicates rare


def test_heldout_phrase_templates_never_appear_in_training():
    for label in TEMPLATES:
        held = heldout_templates(label)
        assert 1 <= len(held) < len(TEMPLATES[label])
        train = phrases(label, "train", 300)
        test = phrases(label, "heldout_phrase", 100)
        assert not {p.template for p in train} & held
        assert {p.template for p in test} <= held


def test_fillers_and_disfluencies_appear():
    texts = [p.text for p in phrases("report_lost_card", "train", 400)]
    assert any(t.startswith(("um", "uh")) for t in texts)
    assert any(any(a == b for a, b in itertools.pairwise(t.split())) for t in texts)  # a stutter


def test_unlabeled_bank_is_deterministic_and_varied():
    a = list(unlabeled_sentences(500, seed=1))
    assert a == list(unlabeled_sentences(500, seed=1))
    assert len(set(a)) > 300
