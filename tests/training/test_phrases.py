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


def _heldout_only_cores(label: str) -> set[str]:
    """Sentences only held-out templates produce (none of the training expansions contains them)."""
    held = heldout_templates(label)
    train = [c for t in TEMPLATES[label] if t not in held for c in expand(t)]
    cores = {c for t in held for c in expand(t) if len(c.split()) >= 3}
    return {c for c in cores if not any(c in other for other in train)}


def test_every_split_of_a_corpus_shares_one_heldout_set():
    from training.corpus import CorpusSpec, plan

    spec = CorpusSpec(
        unlabeled=600, train_per_label=30, dev_per_label=30, test_voice_per_label=30, test_phrase_per_label=30
    )
    texts: dict[str, set[str]] = {}
    for split, _, job in plan(spec):
        texts.setdefault(split, set()).add(job.text)
    held_cores = set().union(*(_heldout_only_cores(label) for label in TEMPLATES))
    assert held_cores
    for split in ("unlabeled", "train", "dev", "test_voice"):
        leaked = {t for t in texts[split] for c in held_cores if c in t}
        assert not leaked, (split, sorted(leaked)[:3])
    assert not texts["test_phrase"] & (texts["train"] | texts["dev"] | texts["unlabeled"])
    assert sum(any(c in t for c in held_cores) for t in texts["test_phrase"]) > len(texts["test_phrase"]) // 4
