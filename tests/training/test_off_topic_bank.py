"""The independent off-topic bank stays well-formed and clear of in-scope wording."""

from __future__ import annotations

import re
from collections import Counter

from ivr.intents import DEFAULT_INTENTS
from training.off_topic_bank import OFF_TOPIC_SLOTS, OFF_TOPIC_TEMPLATES
from training.phrases import TEMPLATES, expand
from training.text_bank import expand_text, text_sentences

SLOT_RE = re.compile(r"\{(\w+)\}")

SENTENCE_RE = re.compile(r"[a-z']+( [a-z']+)*")

RESERVED_SLOT_NAMES = frozenset(
    [
        "account",
        "amount",
        "bill",
        "card",
        "charge",
        "day",
        "detail",
        "device",
        "food",
        "menu",
        "month",
        "parcel",
        "person",
        "product",
        "relative",
        "secret",
        "service",
        "store",
        "topic",
    ]
)

IN_SCOPE_WORDS = frozenset(
    [
        "balance",
        "bill",
        "bills",
        "payment",
        "password",
        "pin",
        "account",
        "agent",
        "representative",
        "operator",
        "menu",
        "refund",
        "invoice",
        "statement",
        "modem",
        "router",
        "internet",
        "wifi",
        "cancel",
        "upgrade",
    ]
)


def off_topic_sentences() -> list[str]:
    return list(dict.fromkeys(s for t in OFF_TOPIC_TEMPLATES for s in expand_text(t, OFF_TOPIC_SLOTS)))


def _slots_of(template: str) -> set[str]:
    return set(SLOT_RE.findall(template))


def test_enough_templates() -> None:
    assert len(OFF_TOPIC_TEMPLATES) >= 220


def test_every_slot_used_and_every_used_slot_defined() -> None:
    used = set().union(*(_slots_of(t) for t in OFF_TOPIC_TEMPLATES))
    assert used == set(OFF_TOPIC_SLOTS)


def test_slot_names_avoid_reserved_names() -> None:
    for name in OFF_TOPIC_SLOTS:
        assert re.fullmatch(r"[a-z]+", name), name
        assert name not in RESERVED_SLOT_NAMES, name


def test_slot_values_are_distinct_and_sized() -> None:
    for name, values in OFF_TOPIC_SLOTS.items():
        assert 5 <= len(values) <= 14, name
        assert len(set(values)) == len(values), name


def test_at_most_two_slots_per_template() -> None:
    for template in OFF_TOPIC_TEMPLATES:
        assert len(_slots_of(template)) <= 2, template


def test_every_sentence_is_lowercase_words() -> None:
    for sentence in off_topic_sentences():
        assert SENTENCE_RE.fullmatch(sentence), sentence


def test_no_duplicate_template() -> None:
    duplicates = [t for t, n in Counter(OFF_TOPIC_TEMPLATES).items() if n > 1]
    assert not duplicates


def test_no_sentence_from_two_templates() -> None:
    owners: dict[str, str] = {}
    for template in OFF_TOPIC_TEMPLATES:
        for sentence in set(expand_text(template, OFF_TOPIC_SLOTS)):
            assert sentence not in owners, (sentence, owners.get(sentence), template)
            owners[sentence] = template


def test_sentence_count_in_range() -> None:
    assert 2_500 <= len(off_topic_sentences()) <= 6_000


def test_no_in_scope_keywords() -> None:
    for sentence in off_topic_sentences():
        hits = IN_SCOPE_WORDS.intersection(sentence.split())
        assert not hits, (sentence, hits)


def test_no_sentence_is_also_an_in_scope_sentence() -> None:
    in_scope = {s for label in DEFAULT_INTENTS for s in text_sentences(label)}
    in_scope |= {s for label in DEFAULT_INTENTS for t in TEMPLATES[label] for s in expand(t)}
    assert not in_scope.intersection(off_topic_sentences())
