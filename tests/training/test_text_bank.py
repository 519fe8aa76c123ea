"""The text-only phrase bank: coverage per label, slots, expansion and clean, unambiguous sentences."""

from __future__ import annotations

import itertools
import re
from collections import Counter

import pytest

from ivr.intents import DEFAULT_INTENTS, OUT_OF_SCOPE
from training.text_bank import TEXT_SLOTS, TEXT_TEMPLATES, expand_text, text_sentences

LABELS = (*DEFAULT_INTENTS, OUT_OF_SCOPE)
SLOT = re.compile(r"\{(\w+)\}")
ALL_TEMPLATES = [t for templates in TEXT_TEMPLATES.values() for t in templates]


def test_every_label_has_enough_templates_and_nothing_else():
    assert set(TEXT_TEMPLATES) == set(LABELS)
    for label in LABELS:
        least = 340 if label == OUT_OF_SCOPE else 115
        assert len(TEXT_TEMPLATES[label]) >= least, label


def test_slots_referenced_exist_and_every_slot_is_used():
    used = {name for t in ALL_TEMPLATES for name in SLOT.findall(t)}
    assert used <= set(TEXT_SLOTS), used - set(TEXT_SLOTS)
    assert set(TEXT_SLOTS) <= used, set(TEXT_SLOTS) - used
    for name, values in TEXT_SLOTS.items():
        assert re.fullmatch(r"[a-z]+", name), name
        assert 3 <= len(values) <= 8, name
        assert len(set(values)) == len(values), name
    for t in ALL_TEMPLATES:
        assert len(set(SLOT.findall(t))) <= 2, t


def test_expansion_is_the_cartesian_product_of_the_slots():
    assert expand_text("no slots here") == ["no slots here"]
    one = expand_text("what time do you close {day}")
    assert one == [f"what time do you close {d}" for d in TEXT_SLOTS["day"]]
    two = next(t for t in ALL_TEMPLATES if len(set(SLOT.findall(t))) == 2)
    a, b = dict.fromkeys(SLOT.findall(two))
    got = expand_text(two)
    assert len(got) == len(TEXT_SLOTS[a]) * len(TEXT_SLOTS[b])
    want = {
        two.replace("{" + a + "}", x).replace("{" + b + "}", y)
        for x, y in itertools.product(TEXT_SLOTS[a], TEXT_SLOTS[b])
    }
    assert set(got) == want


def test_unknown_slot_is_an_error():
    with pytest.raises(KeyError):
        expand_text("call the {nonexistent}")


@pytest.mark.parametrize("label", LABELS)
def test_sentences_are_lowercase_words_and_apostrophes(label: str):
    sentences = text_sentences(label)
    assert len(sentences) == len(set(sentences))
    assert sentences[0] == expand_text(TEXT_TEMPLATES[label][0])[0]
    for s in sentences:
        assert re.fullmatch(r"[a-z']+( [a-z']+)*", s), s


def test_no_sentence_belongs_to_two_labels():
    owners: dict[str, set[str]] = {}
    for label in LABELS:
        for s in text_sentences(label):
            owners.setdefault(s, set()).add(label)
    shared = {s: labels for s, labels in owners.items() if len(labels) > 1}
    assert not shared


def test_no_template_appears_twice():
    twice = [t for t, n in Counter(ALL_TEMPLATES).items() if n > 1]
    assert not twice
