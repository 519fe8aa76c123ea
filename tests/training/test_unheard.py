"""Clips unheard by another phrase bank: recovering templates from text, and the overlap rule."""

from __future__ import annotations

import sys
from pathlib import Path

from training import phrases as bank
from training.phrases import TEMPLATES, expand, phrases, templates_of
from training.unheard import load_bank, possible_cores, template_of, training_sentences, unheard_templates


def test_the_template_of_a_decorated_sentence_is_recovered_and_never_guessed():
    held = {label: set(templates_of(label, "heldout_phrase")) for label in TEMPLATES}
    found = wrong = total = 0
    for label in TEMPLATES:
        for p in phrases(label, "heldout_phrase", 40, seed=5):
            total += 1
            assert set(expand(p.template)) & possible_cores(p.text), p.text
            t = template_of(p.text, label, held)
            found += t == p.template
            wrong += t is not None and t != p.template
    assert wrong == 0
    assert found >= 0.95 * total  # the rest: one-word templates a lead-in can imitate ("yeah yes")


def test_this_banks_own_training_leaves_every_heldout_template_unheard():
    held = {t for label in TEMPLATES for t in templates_of(label, "heldout_phrase")}
    assert unheard_templates(training_sentences(bank)) == held


def test_a_template_said_inside_or_around_the_other_banks_sentences_is_heard():
    template = next(
        t
        for label in TEMPLATES
        for t in templates_of(label, "heldout_phrase")
        if len(expand(t)[0].split()) >= 3
    )
    sentence = expand(template)[0]
    assert template in unheard_templates(["completely unrelated words"])
    assert template not in unheard_templates([sentence])
    assert template not in unheard_templates([f"well {sentence} now"])  # said inside the other's sentence
    assert template not in unheard_templates([" ".join(sentence.split()[:2])])  # the other's sentence inside


def test_an_older_bank_with_the_heldout_only_api_loads_from_a_file(tmp_path: Path):
    old = tmp_path / "old_phrases.py"
    old.write_text(
        "from dataclasses import dataclass\n"
        "TEMPLATES = {'affirm': ('yes', 'sure thing', 'okay then')}\n"
        "@dataclass(frozen=True, slots=True)\n"
        "class Phrase:\n"
        "    text: str\n"
        "def expand(t):\n"
        "    return [t]\n"
        "def heldout_templates(label, *, seed=0):\n"
        "    return {'okay then'}\n"
    )
    try:
        module = load_bank(old)
        assert sorted(training_sentences(module)) == ["sure thing", "yes"]
    finally:
        sys.modules.pop("other_phrases", None)
