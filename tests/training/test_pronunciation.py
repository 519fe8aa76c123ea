# IPA test strings look like Latin letters on purpose.
# ruff: noqa: RUF001
"""Spoken phonemes: each voice's own accent and lexicon, on the CTC inventory."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.conftest import require_binaries
from training import pronunciation
from training.manifest import Utterance, read_manifest, write_manifest
from training.phrases import Phrase
from training.pronunciation import (
    arpabet_to_inventory,
    spoken_manifest,
    spoken_phonemes_all,
    spoken_voices,
)
from training.synth import PHONEMES, SynthError, phonemize
from training.text_intent import accented_spelling


@pytest.fixture
def needs_engines() -> None:
    require_binaries("espeak-ng", "t2p")


def test_every_cmu_phone_lands_on_the_inventory_and_stress_picks_the_vowel():
    for phone, symbols in pronunciation.ARPABET.items():
        assert all(s in PHONEMES for s in symbols), phone
    assert arpabet_to_inventory(["pau", "hh", "ah0", "l", "ow1", "pau"]) == "həloʊ"
    assert arpabet_to_inventory(["w", "er1", "k"]) == "wɜk"
    assert arpabet_to_inventory(["b", "eh1", "t", "er0"]) == "bɛtɚ"
    with pytest.raises(SynthError, match="'q'"):
        arpabet_to_inventory(["q"])


@pytest.mark.usefixtures("needs_engines")
def test_each_voice_is_transcribed_in_its_own_accent(tmp_path: Path):
    text = "good morning my card was stolen"
    spoken = spoken_phonemes_all(
        [("espeak:en-us", text), ("espeak:en-gb", text), ("flite:kal", text), ("rhvoice:alan", text)],
        workers=1,
        cache=tmp_path / "spoken.json",
    )
    assert spoken["espeak:en-us", text] == phonemize(text)  # the reference voice says the reference
    assert "mɔɹnɪŋ" in phonemize(text) and "mɔnɪŋ" in spoken["espeak:en-gb", text]  # non-rhotic
    assert spoken["flite:kal", text].split() == ["ɡʊd", "mɔɹnɪŋ", "maɪ", "kɑɹd", "wɑz", "stoʊlən"]
    assert ("rhvoice:alan", text) not in spoken  # no phoneme output: the reference stays


@pytest.mark.usefixtures("needs_engines")
def test_the_cache_answers_without_running_an_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cache = tmp_path / "spoken.json"
    pairs = [("espeak:en-gb", "check my balance"), ("flite:awb", "check my balance")]
    first = spoken_phonemes_all(pairs, workers=1, cache=cache)
    assert set(json.loads(cache.read_text())["phonemes"]) == {
        "en-gb|check my balance",
        *(f"flite|{w}" for w in ("check", "my", "balance")),
    }

    def no_engine(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached sentence was transcribed again")

    monkeypatch.setattr(pronunciation, "ProcessPoolExecutor", no_engine)
    assert spoken_phonemes_all(pairs, workers=1, cache=cache) == first


@pytest.mark.usefixtures("needs_engines")
def test_a_spoken_manifest_changes_phonemes_only(tmp_path: Path):
    rows = [
        Utterance(
            tmp_path / "a.wav",
            "check_balance",
            "train",
            "check my balance",
            phonemize("check my balance"),
            "espeak:en-gb-x-gbcwmd",
        ),
        Utterance(tmp_path / "b.wav", None, "test_other", "check my balance", "tʃɛk", "pico:en-US"),
    ]
    write_manifest(tmp_path / "m.jsonl", rows)
    out = spoken_manifest(read_manifest(tmp_path / "m.jsonl", check_audio=False), workers=1)
    assert out[0].phonemes != rows[0].phonemes and out[0].phonemes.replace(" ", "")
    assert (out[0].audio, out[0].label, out[0].text, out[0].voice) == (
        rows[0].audio,
        rows[0].label,
        rows[0].text,
        rows[0].voice,
    )
    assert out[1] == read_manifest(tmp_path / "m.jsonl", check_audio=False)[1]
    assert spoken_voices(out) == ["espeak:en-gb-x-gbcwmd"]


@pytest.mark.usefixtures("needs_engines")
def test_stage_2b_spells_each_phrasing_in_a_training_voice_drawn_for_it(tmp_path: Path):
    phrasings = [Phrase("i want to order something", "order_status", "t", "train")] * 40
    voices = ["espeak:en-gb", "espeak:en-us"]
    spelling = accented_spelling(phrasings, voices, 0, tmp_path / "words.json", 1)
    lexicon = pronunciation.word_lexicons(
        phrasings[0].text.split(), voices, workers=1, cache=tmp_path / "words.json"
    )
    forms = {v: " ".join(lexicon[v][w] for w in phrasings[0].text.split()) for v in voices}
    assert forms["espeak:en-gb"] != forms["espeak:en-us"]
    assert set(spelling) == set(forms.values())  # both accents drawn, nothing else
    assert spelling == accented_spelling(phrasings, voices, 0, tmp_path / "words.json", 1)  # seeded
    rng = random.Random(0)
    assert spelling == [forms[rng.choice(voices)] for _ in phrasings]
