# IPA symbols look like Latin letters on purpose; they are the phoneme inventory.
# ruff: noqa: RUF001
"""What each synthetic voice actually says, as phonemes of the CTC inventory.

The corpus transcribes every sentence once, in espeak-ng's en-us (``training.synth.phonemize``), whoever
speaks it. But six of the seven espeak-ng training voices have other accents, and flite reads with its own
lexicon (CMU's): against what each voice says, the en-us target differs in 7.6-22.5 % of the phonemes for
those six (en-gb 8.8 %, en-gb-x-gbcwmd 22.5 %) and in 4.5 % for flite's voices (``python -m
training.pronunciation --compare 60``). ``spoken_phonemes_all`` transcribes a sentence as its voice speaks it:
espeak-ng's own IPA for that voice (a variant changes the voice, not the phonemes), flite's phones from its
lexicon (``t2p``, word by word so word boundaries survive) mapped onto the same inventory. Engines with no
phoneme output keep the reference. Trained on such targets, stage 2 read them worse than it reads en-us, and
fused accuracy stayed within seed noise (docs/training.md, Data, "What each voice says"), so the recipe keeps
en-us targets; this module stays for the measurement and for ``TRANSCRIPTION=spoken``.

    python -m training.pronunciation --manifest data/corpus/manifest.jsonl --out data/corpus/manifest-spoken.jsonl
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from training.alignment import error_rate
from training.manifest import Utterance, read_manifest, write_manifest
from training.synth import (
    SynthError,
    espeak_ipa,
    espeak_version,
    normalize_ipa,
    phoneme_ids,
    phonemize,
    read_stamped,
    write_stamped,
)

# CMU (ARPAbet) phones as the inventory spells espeak-ng's en-us: stressed "er" is espeak-ng's ɜ, the
# unstressed one ɚ; stressed "ah" is ʌ, the unstressed one (ah0, ax) ə.
ARPABET = {
    "aa": "ɑ", "ae": "æ", "ah": "ʌ", "ah0": "ə", "ao": "ɔ", "aw": "aʊ", "ax": "ə", "axr": "ɚ", "ay": "aɪ",
    "eh": "ɛ", "er": "ɚ", "er1": "ɜ", "er2": "ɜ", "ey": "eɪ", "ih": "ɪ", "iy": "i", "ow": "oʊ", "oy": "ɔɪ",
    "uh": "ʊ", "uw": "u", "b": "b", "ch": "tʃ", "d": "d", "dh": "ð", "f": "f", "g": "ɡ", "hh": "h",
    "jh": "dʒ", "k": "k", "l": "l", "m": "m", "n": "n", "ng": "ŋ", "p": "p", "r": "ɹ", "s": "s", "sh": "ʃ",
    "t": "t", "th": "θ", "v": "v", "w": "w", "y": "j", "z": "z", "zh": "ʒ", "pau": "",
}  # fmt: skip

# The engines whose own phonemes we can read; the evaluation-only ones (RHVoice, Pico) keep the reference.
SPOKEN_ENGINES = ("espeak", "flite")


def arpabet_to_inventory(phones: Iterable[str]) -> str:
    """CMU phones (with stress digits) -> inventory symbols; an unknown phone is a clear error."""
    out = []
    for phone in phones:
        symbol = ARPABET.get(phone, ARPABET.get(phone.rstrip("012")))
        if symbol is None:
            raise SynthError(f"flite phone {phone!r} has no inventory symbol")
        out.append(symbol)
    return "".join(out)


def flite_word(word: str) -> str:
    """One word as flite's lexicon (and letter-to-sound rules) say it: CMU phones as ``t2p`` prints them."""
    proc = subprocess.run(["t2p", word], capture_output=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise SynthError(f"t2p failed on {word!r}: {proc.stderr.decode()[-200:]}")
    return proc.stdout.decode()


def _espeak_item(item: tuple[str, str]) -> str:
    voice, text = item
    return espeak_ipa(text, voice)


def spoken_phonemes_all(
    pairs: Iterable[tuple[str, str]], *, workers: int | None = None, cache: Path | None = None
) -> dict[tuple[str, str], str]:
    """``{(voice key, text): phonemes as that voice says them}``; keys of other engines are left out.

    ``cache`` keeps what the engines print (espeak-ng's sentences, flite's words), stamped with espeak-ng's
    version; the reduction to the inventory runs on every read, as ``training.synth.phonemize_all``'s does.
    """
    wanted = sorted({(v, t) for v, t in pairs if v.split(":", 1)[0] in SPOKEN_ENGINES})
    stamp = {"espeak": espeak_version(), "stored": "engine output"}
    known = read_stamped(cache, stamp, "phonemes")
    sentences = {(v.split(":", 1)[1], t) for v, t in wanted if v.startswith("espeak:")}
    espeak_missing = sorted((name, t) for name, t in sentences if f"{name}|{t}" not in known)
    words = {w for v, t in wanted if v.startswith("flite:") for w in t.split()}
    flite_missing = sorted(w for w in words if f"flite|{w}" not in known)
    if espeak_missing or flite_missing:
        _transcribe(espeak_missing, flite_missing, known, workers)
        write_stamped(cache, stamp, "phonemes", known)
    out = {}
    for voice, text in wanted:
        engine, name = voice.split(":", 1)
        if engine == "espeak":
            out[voice, text] = normalize_ipa(known[f"{name}|{text}"])
        else:
            words_said = (arpabet_to_inventory(known[f"flite|{w}"].split()) for w in text.split())
            out[voice, text] = " ".join(p for p in words_said if p)
    return out


def _transcribe(
    sentences: list[tuple[str, str]], words: list[str], known: dict[str, str], workers: int | None
) -> None:
    """Run the engines on what the cache lacks: espeak-ng per (voice, sentence), flite's lexicon per word."""
    with ProcessPoolExecutor(workers or os.cpu_count() or 1) as pool:
        for (voice, text), ipa in zip(
            sentences, pool.map(_espeak_item, sentences, chunksize=32), strict=True
        ):
            known[f"{voice}|{text}"] = ipa
        for word, phones in zip(words, pool.map(flite_word, words, chunksize=32), strict=True):
            known[f"flite|{word}"] = phones


def spoken_manifest(
    utterances: list[Utterance], *, workers: int | None = None, cache: Path | None = None
) -> list[Utterance]:
    """The same utterances with ``phonemes`` as their voice says them (unchanged where that is unknown)."""
    spoken = spoken_phonemes_all(
        ((u.voice, u.text) for u in utterances if u.text), workers=workers, cache=cache
    )
    return [replace(u, phonemes=spoken.get((u.voice, u.text), u.phonemes)) for u in utterances]


def spoken_voices(utterances: Iterable[Utterance]) -> list[str]:
    """The voice keys among ``utterances`` whose own phonemes we can read, sorted."""
    return sorted({u.voice for u in utterances if u.voice.split(":", 1)[0] in SPOKEN_ENGINES})


def word_lexicons(
    words: Iterable[str], voices: Sequence[str], *, workers: int | None = None, cache: Path | None = None
) -> dict[str, dict[str, str]]:
    """``{voice: {word: phonemes}}``: every word as each voice says it alone (stage 2b's accented text)."""
    distinct = sorted(set(words))
    spoken = spoken_phonemes_all(((v, w) for v in voices for w in distinct), workers=workers, cache=cache)
    return {v: {w: spoken[v, w] for w in distinct} for v in voices}


def compare(utterances: list[Utterance], n: int, *, workers: int | None = None) -> dict[str, float]:
    """Per voice: phoneme error of the en-us reference against what the voice says, on ``n`` train texts."""
    rng = random.Random(0)
    by_voice: dict[str, list[Utterance]] = {}
    for u in utterances:
        if u.split == "train" and u.text and u.voice.split(":", 1)[0] in SPOKEN_ENGINES:
            by_voice.setdefault(u.voice, []).append(u)
    out = {}
    for voice, utts in sorted(by_voice.items()):
        sample = rng.sample(utts, min(n, len(utts)))
        spoken = spoken_phonemes_all(((voice, u.text) for u in sample), workers=workers)
        refs = [phoneme_ids(spoken[voice, u.text]) for u in sample]
        out[voice] = error_rate(refs, [phoneme_ids(phonemize(u.text)) for u in sample])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="Transcribe a synthetic corpus as each voice speaks it.")
    parser.add_argument("--manifest", type=Path, default=Path("data/corpus/manifest.jsonl"))
    parser.add_argument(
        "--out", type=Path, help="the manifest with spoken phonemes (same folder as --manifest)"
    )
    parser.add_argument(
        "--compare",
        type=int,
        default=0,
        metavar="N",
        help="print each voice's distance to the reference on N train texts",
    )
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    utterances = read_manifest(args.manifest, check_audio=False)
    if args.compare:
        for voice, per in compare(utterances, args.compare, workers=args.workers).items():
            print(f"{voice:28s} reference vs spoken phoneme error {per:.3f}")
    if args.out:
        cache = args.manifest.parent / "spoken.json"
        print(write_manifest(args.out, spoken_manifest(utterances, workers=args.workers, cache=cache)))


if __name__ == "__main__":
    main()
