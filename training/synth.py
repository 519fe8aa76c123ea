# IPA symbols look like Latin letters on purpose; they are the phoneme inventory.
# ruff: noqa: RUF001, RUF003
"""Speech synthesis for the corpus: espeak-ng and flite through subprocesses, cached on disk.

Every clip is keyed by a hash of (text, voice, rate, pitch), so re-running the recipe re-uses what
exists and an interrupted corpus build continues where it stopped. Phoneme targets for the CTC
head come from ``espeak-ng -q --ipa`` with one fixed reference voice (en-us), mapped onto the
fixed inventory ``PHONEMES``, so the target of a sentence does not depend on who speaks it.

    python -m training.synth --bench 200        # synthesis throughput on this machine
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
import unicodedata
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from ivr.errors import IvrError

# The espeak-ng English voices that work without MBROLA (checked on espeak-ng 1.51).
ESPEAK_VOICES = (
    "en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd",
    "en-029", "en-us-nyc", "Storm",
)  # fmt: skip
# Human-sounding variants (the robot, whisper and croak variants are left out: no caller sounds so).
ESPEAK_VARIANTS = (
    "", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "adam", "Alex", "Alicia", "Andrea", "Andy", "Annie", "aunty", "belinda", "benjamin",
    "caleb", "david", "ed", "edward", "Gene", "john", "Lee", "linda", "max", "Michael",
    "Mike", "paul", "quincy", "rob", "robert", "steph", "travis", "victor", "zac", "anika",
    "grandma", "grandpa", "klatt", "klatt2", "klatt3", "norbert", "shelby",
)  # fmt: skip
# flite's awb_time is left out: it is a limited-domain talking clock with units for times only, and any other
# sentence comes out as half a second of wrong units ("can't find unit type pau_ax").
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")

# Recorded-speech voices outside the recipe, for evaluation only (``training.other_voices``): never drawn for
# training (``all_voices`` leaves them out). Debian non-free packages the recipe does not install.
EVALUATION_ENGINES = {"rhvoice": "RHVoice-test", "pico": "pico2wave"}
EVALUATION_PACKAGES = "rhvoice rhvoice-english libttspico-utils"

# Voices never heard in training: the voice-level held-out split. flite's slt, its one recorded woman, trains
# since 2026-12-02: she lifts unheard recorded women (docs/training.md, "One recorded woman in training").
HELDOUT_VOICES = frozenset({"espeak:en-gb-scotland", "espeak:en-us-nyc", "flite:rms"})

# Fixed CTC inventory: index 0 is the CTC blank, 1 the word boundary, then IPA symbols that
# espeak-ng prints for English. Stress and length marks are dropped; diphthongs and affricates
# are spelled as their parts (aɪ -> a ɪ), which keeps the inventory small and closed.
PHONEMES: tuple[str, ...] = (
    "<blank>", " ",
    "a", "æ", "ɐ", "ɑ", "ɒ", "ʌ", "ɔ", "ə", "ɚ", "ɛ", "ɜ", "e", "ɪ", "i", "ᵻ", "o", "ʊ", "u", "ɹ",
    "p", "b", "t", "d", "k", "ɡ", "f", "v", "θ", "ð", "s", "z", "ʃ", "ʒ", "h", "x", "m", "n", "ŋ",
    "l", "ɬ", "j", "w", "ɾ", "ʔ", "r", "ɫ", "ç", "ʍ", "ɕ",
)  # fmt: skip
_PHONEME_INDEX = {p: i for i, p in enumerate(PHONEMES)}
PHONEME_REFERENCE_VOICE = "en-us"


class SynthError(IvrError):
    """A synthesizer that is missing or failed on a sentence."""


@dataclass(frozen=True, slots=True)
class Voice:
    """One synthetic speaker: an engine, a voice and (espeak only) a variant."""

    engine: str  # "espeak" or "flite"; "rhvoice" or "pico" for evaluation only
    name: str
    variant: str = ""

    @property
    def key(self) -> str:
        """``engine:name``: the unit of the voice-level split (variants share their base voice)."""
        return f"{self.engine}:{self.name}"

    @property
    def heldout(self) -> bool:
        return self.key in HELDOUT_VOICES


@dataclass(frozen=True, slots=True)
class SynthJob:
    """A sentence, who says it and how fast and high."""

    text: str
    voice: Voice
    rate: float = 1.0  # speaking-rate factor: 1.0 is the engine's default
    pitch: float = 1.0  # pitch factor: 1.0 is the engine's default

    def digest(self) -> str:
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:24]


def all_voices() -> list[Voice]:
    """Every voice x variant the recipe draws from."""
    voices = [Voice("espeak", v, var) for v in ESPEAK_VOICES for var in ESPEAK_VARIANTS]
    return voices + [Voice("flite", v) for v in FLITE_VOICES]


def sample_jobs(texts: Iterable[str], voices: list[Voice], *, seed: int | str) -> list[SynthJob]:
    """One job per text with a seeded random voice, rate in [0.8, 1.3] and pitch in [0.7, 1.4].

    Every base voice (``Voice.key``) is equally likely, then one of its variants: drawn from the flat list,
    espeak-ng's 50 variants per voice left flite's voices about 1 % of the clips.
    """
    rng = random.Random(f"{seed}:jobs")
    by_key: dict[str, list[Voice]] = {}
    for voice in voices:
        by_key.setdefault(voice.key, []).append(voice)
    keys = sorted(by_key)
    return [
        SynthJob(
            text,
            rng.choice(by_key[rng.choice(keys)]),
            round(rng.uniform(0.8, 1.3), 2),
            round(rng.uniform(0.7, 1.4), 2),
        )
        for text in texts
    ]


def command(job: SynthJob, out: Path) -> list[str]:
    """The synthesizer command line for ``job`` writing a WAV to ``out``."""
    v = job.voice
    if v.engine == "espeak":
        name = f"{v.name}+{v.variant}" if v.variant else v.name
        # espeak-ng defaults: 175 words/min, pitch 50 of 0..99.
        rate_wpm, pitch = round(175 * job.rate), min(99, round(50 * job.pitch))
        return [
            "espeak-ng",
            "-v",
            name,
            "-s",
            str(rate_wpm),
            "-p",
            str(pitch),
            "-w",
            str(out),
            job.text,
        ]
    if v.engine == "flite":
        # flite stretches duration (the inverse of rate) and sets a target mean F0 (default ~100 Hz).
        return [
            "flite", "-voice", v.name,
            "--setf", f"duration_stretch={1 / job.rate:.3f}",
            "--setf", f"int_f0_target_mean={100 * job.pitch:.0f}",
            "-t", job.text, "-o", str(out),
        ]  # fmt: skip
    # The evaluation-only engines speak at their defaults (job.rate and job.pitch are not used).
    if v.engine == "rhvoice":  # reads the text on stdin (``stdin_text``)
        return ["RHVoice-test", "-p", v.name, "-o", str(out)]
    if v.engine == "pico":
        return ["pico2wave", "-l", v.name, "-w", str(out), job.text]
    raise SynthError(f"unknown synthesis engine {v.engine!r} (expected espeak, flite, rhvoice or pico)")


def stdin_text(job: SynthJob) -> bytes | None:
    """What the synthesizer reads on stdin: RHVoice-test takes its text there."""
    return job.text.encode() if job.voice.engine == "rhvoice" else None


def synthesize(job: SynthJob, cache_dir: Path) -> Path:
    """The WAV for ``job`` under ``cache_dir``, synthesizing it only if it is not cached yet."""
    out = cache_dir / job.digest()[:2] / f"{job.digest()}.wav"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    # Write to a temp name and rename, so an interrupted build never leaves a half-written clip.
    fd, tmp = tempfile.mkstemp(suffix=".wav", dir=out.parent)
    os.close(fd)
    try:
        proc = subprocess.run(
            command(job, Path(tmp)), input=stdin_text(job), capture_output=True, timeout=60, check=False
        )
        if proc.returncode != 0 or Path(tmp).stat().st_size <= 44:
            raise SynthError(f"{job.voice.key} failed on {job.text!r}: {proc.stderr.decode()[-200:]}")
        Path(tmp).replace(out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out


def phonemize(text: str) -> str:
    """IPA for ``text`` from espeak-ng with the reference voice, reduced to ``PHONEMES``."""
    return normalize_ipa(espeak_ipa(text))


def espeak_ipa(text: str, voice: str = PHONEME_REFERENCE_VOICE) -> str:
    """espeak-ng's IPA for ``text`` in ``voice`` (the reference voice unless told), as it prints it."""
    proc = subprocess.run(
        ["espeak-ng", "-q", "--ipa", "-v", voice, text],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise SynthError(f"espeak-ng --ipa -v {voice} failed on {text!r}: {proc.stderr.decode()[-200:]}")
    return proc.stdout.decode()


def normalize_ipa(ipa: str) -> str:
    """Keep only symbols in ``PHONEMES``; runs of whitespace become one word boundary."""
    kept = []
    for ch in unicodedata.normalize("NFD", " ".join(ipa.split())):
        if ch in _PHONEME_INDEX and ch != PHONEMES[0]:
            kept.append(ch)
    return " ".join("".join(kept).split())


def phoneme_ids(phonemes: str) -> list[int]:
    """CTC target ids for a normalized phoneme string (never contains the blank, 0)."""
    return [_PHONEME_INDEX[ch] for ch in phonemes if ch in _PHONEME_INDEX]


def ids_to_phonemes(ids: Iterable[int]) -> str:
    return "".join(PHONEMES[i] for i in ids if 0 < i < len(PHONEMES))


def _work(item: tuple[SynthJob, str]) -> tuple[SynthJob, str]:
    job, cache = item
    return job, str(synthesize(job, Path(cache)))


def synthesize_all(
    jobs: list[SynthJob], cache_dir: Path, *, workers: int | None = None
) -> Iterator[tuple[SynthJob, Path]]:
    """Synthesize ``jobs`` in worker processes, yielding (job, wav path) in completion order."""
    check_engines({job.voice.engine for job in jobs})
    workers = workers or os.cpu_count() or 1
    with ProcessPoolExecutor(workers) as pool:
        for job, path in pool.map(_work, [(j, str(cache_dir)) for j in jobs], chunksize=16):
            yield job, Path(path)


def phonemize_all(
    texts: Iterable[str], *, workers: int | None = None, cache: Path | None = None
) -> dict[str, str]:
    """``{text: phonemes}`` for distinct ``texts``, in parallel.

    One espeak-ng process per text is most of a corpus rebuild's time (about ten minutes for 30,000
    texts on two cores), so ``cache`` keeps espeak-ng's raw IPA per text, stamped with its version and
    voice; the reduction to ``PHONEMES`` runs on every read, so a changed inventory never reads stale.
    """
    unique = sorted(set(texts))
    if not unique:
        return {}
    stamp = {"espeak": espeak_version(), "voice": PHONEME_REFERENCE_VOICE}
    known = read_stamped(cache, stamp, "ipa")
    missing = [t for t in unique if t not in known]
    if missing:
        with ProcessPoolExecutor(workers or os.cpu_count() or 1) as pool:
            known.update(zip(missing, pool.map(espeak_ipa, missing, chunksize=32), strict=True))
        write_stamped(cache, stamp, "ipa", known)
    return {t: normalize_ipa(known[t]) for t in unique}


def read_stamped(cache: Path | None, stamp: dict[str, str], field: str) -> dict[str, str]:
    """The ``field`` table of a JSON cache written under the same ``stamp``; empty when absent or stale."""
    if cache is None or not cache.exists():
        return {}
    stored = json.loads(cache.read_text())
    return dict(stored[field]) if stored.get("stamp") == stamp else {}


def write_stamped(cache: Path | None, stamp: dict[str, str], field: str, table: dict[str, str]) -> None:
    """Write ``table`` under ``stamp`` atomically (a temp file renamed), so an interrupted run leaves no half."""
    if cache is None:
        return
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps({"stamp": stamp, field: table}, ensure_ascii=False))
    partial.replace(cache)


def espeak_version() -> str:
    """The installed espeak-ng's version line: its phonemes change between releases."""
    try:
        proc = subprocess.run(["espeak-ng", "--version"], capture_output=True, timeout=60, check=False)
    except FileNotFoundError:
        raise SynthError(
            "espeak-ng is not installed: apt-get install -y --no-install-recommends espeak-ng"
        ) from None
    if proc.returncode != 0:
        raise SynthError(f"espeak-ng --version failed: {proc.stderr.decode()[-200:]}")
    return proc.stdout.decode().strip()


def check_engines(engines: Iterable[str]) -> None:
    """Fail early, with the fix, when a synthesizer is not installed."""
    binary = {"espeak": "espeak-ng", "flite": "flite", **EVALUATION_ENGINES}
    for engine in engines:
        if shutil.which(binary[engine]) is None:
            fix = (
                f"the evaluation-only voices need Debian's non-free packages {EVALUATION_PACKAGES} "
                '(docs/training.md, "Other recorded voices")'
                if engine in EVALUATION_ENGINES
                else f"apt-get install -y --no-install-recommends {binary[engine]}"
            )
            raise SynthError(f"{binary[engine]} is not installed: {fix}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Measure synthesis throughput.")
    parser.add_argument("--bench", type=int, default=200, help="sentences to synthesize")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    from training.phrases import unlabeled_sentences

    jobs = sample_jobs(unlabeled_sentences(args.bench, seed=1), all_voices(), seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        n = sum(1 for _ in synthesize_all(jobs, Path(tmp), workers=args.workers))
        elapsed = time.perf_counter() - start
    print(f"{n} clips in {elapsed:.1f} s: {n / elapsed:.1f} clips/s")


if __name__ == "__main__":
    main()
