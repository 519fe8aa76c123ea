"""The phrase bank: coverage, determinism and a phrase split that never leaks."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from ivr.intents import DEFAULT_INTENTS, OUT_OF_SCOPE
from training.phrases import (
    TEMPLATE_SPLITS,
    TEMPLATES,
    calibration_templates,
    distinct_phrasings,
    expand,
    heldout_templates,
    phrases,
    template_families,
    templates_of,
    unlabeled_sentences,
    word_spans,
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


def test_templates_fall_in_exactly_one_split_and_every_split_has_some():
    for label in TEMPLATES:
        parts = [templates_of(label, split) for split in TEMPLATE_SPLITS]
        assert all(parts), label
        assert sorted(t for part in parts for t in part) == sorted(TEMPLATES[label])
        assert set(parts[1]) == calibration_templates(label)
        assert set(parts[2]) == heldout_templates(label)
    with pytest.raises(ValueError, match="unknown template split"):
        phrases("affirm", "test", 3)


def test_no_unheard_sentence_is_said_inside_a_training_sentence():
    """Over every label: a held-out or calibration sentence of two words or more never occurs, word
    for word, inside a training sentence, so the phrase split is unheard wording, not a training
    sentence with words cut off.
    """
    spans = set()
    for label in TEMPLATES:
        for t in templates_of(label, "train"):
            for s in expand(t):
                spans |= word_spans(s, shortest=2)
    leaks = [
        (label, s)
        for label in TEMPLATES
        for split in ("heldout_phrase", "calibration_phrase")
        for t in templates_of(label, split)
        for s in expand(t)
        if tuple(s.split()) in spans
    ]
    assert not leaks, leaks[:5]


def test_families_keep_nested_wording_together():
    families = template_families("speak_to_agent")
    family = next(f for f in families if "talk to a {agent}" in f)
    assert "let me talk to a {agent}" in family
    assert sum(map(len, families)) == len(TEMPLATES["speak_to_agent"])


def _heldout_only_cores(label: str) -> set[str]:
    """Sentences only held-out templates produce (none of the training expansions contains them)."""
    train = [c for t in templates_of(label, "train") for c in expand(t)]
    cores = {c for t in heldout_templates(label) for c in expand(t) if len(c.split()) >= 3}
    return {c for c in cores if not any(c in other for other in train)}


def _calibration_only_cores(label: str) -> set[str]:
    train = [c for t in templates_of(label, "train") for c in expand(t)]
    cores = {c for t in calibration_templates(label) for c in expand(t) if len(c.split()) >= 3}
    return {c for c in cores if not any(c in other for other in train)}


def test_every_split_of_a_corpus_shares_one_heldout_set():
    from training.corpus import CorpusSpec, plan

    spec = CorpusSpec(
        unlabeled=600,
        train_per_label=30,
        dev_per_label=30,
        test_voice_per_label=30,
        test_phrase_per_label=30,
        test_both_per_label=30,
    )
    texts: dict[str, set[str]] = {}
    voices: dict[str, set[str]] = {}
    for split, _, job in plan(spec):
        texts.setdefault(split, set()).add(job.text)
        voices.setdefault(split, set()).add(job.voice.key)
    held_cores = set().union(*(_heldout_only_cores(label) for label in TEMPLATES))
    assert held_cores
    for split in ("unlabeled", "train", "dev", "test_voice"):
        leaked = {t for t in texts[split] for c in held_cores if c in t}
        assert not leaked, (split, sorted(leaked)[:3])
    for split in ("test_phrase", "test_both"):
        assert not texts[split] & (texts["train"] | texts["dev"] | texts["unlabeled"])
        assert sum(any(c in t for c in held_cores) for t in texts[split]) > len(texts[split]) // 4
    assert voices["test_both"] <= voices["test_voice"] and not voices["test_both"] & voices["train"]
    calibration_cores = set().union(*(_calibration_only_cores(label) for label in TEMPLATES))
    # Calibration wording must not reach what trains (nor test_voice, which is training wording). A
    # held-out test sentence may contain one once decorated ("when are you closed" + "right now" holds
    # the calibration sentence "are you closed right now"): nothing trains on either, so no leak.
    for split in ("unlabeled", "train", "test_voice"):
        leaked = {t for t in texts[split] for c in calibration_cores if c in t}
        assert not leaked, (split, sorted(leaked)[:3])
    assert any(c in t for t in texts["dev"] for c in calibration_cores)


def test_the_held_out_voices_are_a_corpus_choice_and_an_unknown_one_is_refused():
    from training.corpus import CorpusSpec, plan

    few = dict.fromkeys(("dev_per_label", "test_phrase_per_label", "dev_phrase_per_label"), 2)
    spec = CorpusSpec(
        unlabeled=40, train_per_label=40, test_voice_per_label=20, test_both_per_label=20, **few
    )
    assert {"flite:kal", "espeak:en-us"} <= {
        job.voice.key for split, _, job in plan(spec) if split == "train"
    }
    heldout = frozenset({"flite:kal", "espeak:en-us"})
    voices: dict[str, set[str]] = {}
    for split, _, job in plan(dataclasses.replace(spec, heldout_voices=heldout)):
        voices.setdefault(split, set()).add(job.voice.key)
    assert voices["test_voice"] == voices["test_both"] == heldout
    assert not voices["train"] & heldout
    assert {"flite:slt", "flite:rms", "espeak:en-us-nyc"} <= voices["train"]
    assert not (voices["unlabeled"] | voices["dev"] | voices["test_phrase"]) & heldout
    with pytest.raises(ValueError, match="flite:nobody"):
        list(plan(dataclasses.replace(spec, heldout_voices=frozenset({"flite:nobody"}))))


def test_the_text_bank_split_adds_bank_sentences_in_training_voices_and_leaves_the_others_alone():
    from training.corpus import CorpusSpec, plan
    from training.text_bank import TEXT_BANK_SPLIT, TEXT_TEMPLATES, text_bank_pool
    from training.unheard import possible_cores

    spec = CorpusSpec(
        unlabeled=20,
        train_per_label=5,
        dev_per_label=2,
        test_voice_per_label=2,
        test_phrase_per_label=2,
        dev_phrase_per_label=2,
        test_both_per_label=2,
    )
    without = list(plan(spec))
    with_bank = list(plan(dataclasses.replace(spec, text_bank_per_label=20)))
    assert with_bank[: len(without)] == without  # appended: every other split is drawn as before
    bank = [(label, job) for split, label, job in with_bank[len(without) :] if split == TEXT_BANK_SPLIT]
    assert len(bank) == len(with_bank) - len(without) == 20 * len(TEXT_TEMPLATES)
    assert not any(job.voice.heldout for _, job in bank)
    for label, job in bank[:: len(bank) // 40]:
        assert label is not None
        sentences = {sentence for _, sentence in text_bank_pool(label)}
        assert possible_cores(job.text) & sentences, (label, job.text)
