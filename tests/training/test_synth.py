# IPA test strings look like Latin letters on purpose.
# ruff: noqa: RUF001
"""Synthesis: commands, caching, the voice split and the fixed phoneme inventory."""

from __future__ import annotations

import json
import wave
from collections import Counter
from pathlib import Path

import pytest

from ivr.audio.wav import read_wav
from tests.conftest import require_binaries
from training import synth
from training.synth import (
    FLITE_VOICES,
    HELDOUT_VOICES,
    PHONEMES,
    SynthError,
    SynthJob,
    Voice,
    all_voices,
    command,
    ids_to_phonemes,
    normalize_ipa,
    phoneme_ids,
    phonemize,
    sample_jobs,
    synthesize,
)


@pytest.fixture
def needs_espeak() -> None:
    require_binaries("espeak-ng")


@pytest.fixture
def needs_flite() -> None:
    require_binaries("flite")


def test_voice_split_holds_out_whole_voices_of_both_engines():
    voices = all_voices()
    keys = {v.key for v in voices}
    assert keys >= HELDOUT_VOICES
    assert {k.split(":")[0] for k in HELDOUT_VOICES} == {"espeak", "flite"}
    assert len(keys - HELDOUT_VOICES) >= 9
    assert all(v.heldout == (v.key in HELDOUT_VOICES) for v in voices)


def test_every_base_voice_is_about_equally_likely_whatever_its_variants():
    voices = [v for v in all_voices() if not v.heldout]
    keys = {v.key for v in voices}
    jobs = sample_jobs([f"sentence {i}" for i in range(3000)], voices, seed=0)
    counts = Counter(job.voice.key for job in jobs)
    assert set(counts) == keys
    expected = len(jobs) / len(keys)
    assert all(0.8 * expected < n < 1.2 * expected for n in counts.values())
    assert len({job.voice for job in jobs if job.voice.key == "espeak:en-us"}) > 40  # variants still vary


@pytest.mark.usefixtures("needs_flite")
@pytest.mark.parametrize("name", FLITE_VOICES)
def test_every_flite_voice_speaks_any_sentence(name: str, tmp_path: Path):
    job = SynthJob("i would like to check the balance on my account", Voice("flite", name))
    with wave.open(str(synthesize(job, tmp_path))) as w:
        assert w.getnframes() / w.getframerate() > 1.5  # awb_time, a talking clock, gave 0.49 s


def test_commands_carry_rate_and_pitch(tmp_path):
    e = command(SynthJob("hi", Voice("espeak", "en-us", "f3"), rate=1.2, pitch=0.8), tmp_path / "a.wav")
    assert e[:3] == ["espeak-ng", "-v", "en-us+f3"] and "210" in e and "40" in e
    f = command(SynthJob("hi", Voice("flite", "slt"), rate=2.0, pitch=1.5), tmp_path / "b.wav")
    assert "duration_stretch=0.500" in f and "int_f0_target_mean=150" in f
    with pytest.raises(SynthError, match="unknown synthesis engine"):
        command(SynthJob("hi", Voice("festival", "x")), tmp_path / "c.wav")


def test_job_digest_depends_on_every_field():
    base = SynthJob("hello", Voice("espeak", "en-us"), 1.0, 1.0)
    others = [
        SynthJob("hello!", base.voice),
        SynthJob("hello", Voice("espeak", "en-gb")),
        SynthJob("hello", base.voice, rate=1.1),
        SynthJob("hello", base.voice, pitch=1.1),
    ]
    assert len({base.digest(), *(o.digest() for o in others)}) == 5


def test_normalize_ipa_keeps_only_the_inventory():
    assert normalize_ipa("ˈhɛloʊ  wˈɜːld\n") == "hɛloʊ wɜld"
    ids = phoneme_ids("hɛloʊ wɜld")
    assert 0 not in ids and PHONEMES.index(" ") in ids
    assert ids_to_phonemes(ids) == "hɛloʊ wɜld"


@pytest.mark.usefixtures("needs_espeak")
def test_phonemize_is_voice_independent_ipa():
    out = phonemize("I lost my card")
    assert out == "aɪ lɔst maɪ kɑɹd"
    assert set(out) <= set(PHONEMES)


@pytest.mark.usefixtures("needs_espeak", "needs_flite")
@pytest.mark.parametrize(
    ("voice", "rate_hz"), [(Voice("espeak", "en-gb", "m3"), 22050), (Voice("flite", "kal"), 8000)]
)
def test_synthesize_writes_and_caches(tmp_path, voice, rate_hz):
    job = SynthJob("check my balance please", voice)
    path = synthesize(job, tmp_path)
    audio = read_wav(path)
    assert audio.sample_rate_hz == rate_hz and audio.duration_s > 0.5
    stamp = path.stat().st_mtime_ns
    assert synthesize(job, tmp_path) == path
    assert path.stat().st_mtime_ns == stamp  # cached: not synthesized again
    assert list(Path(tmp_path).rglob("*.tmp")) == []


@pytest.mark.usefixtures("needs_espeak")
def test_phonemize_all_reads_its_cache_and_ignores_a_stale_one(tmp_path, monkeypatch):
    cache = tmp_path / "ipa.json"
    first = synth.phonemize_all(["I lost my card", "check my balance"], workers=1, cache=cache)
    assert first["I lost my card"] == "aɪ lɔst maɪ kɑɹd"

    def no_espeak(*args, **kwargs):
        raise AssertionError("a cached text was phonemized again")

    with monkeypatch.context() as m:
        m.setattr(synth, "ProcessPoolExecutor", no_espeak)
        assert synth.phonemize_all(["check my balance"], workers=1, cache=cache) == {
            "check my balance": first["check my balance"]
        }
    stored = json.loads(cache.read_text())
    stored["stamp"]["espeak"] = "eSpeak NG text-to-speech: 0.0"  # another release
    stored["ipa"]["I lost my card"] = "wˈɜːld"
    cache.write_text(json.dumps(stored))
    assert (
        synth.phonemize_all(["I lost my card"], workers=1, cache=cache)["I lost my card"]
        == "aɪ lɔst maɪ kɑɹd"
    )
