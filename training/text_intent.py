"""Stage 2b: a phoneme-sequence intent head trained on text, fused with the audio head.

Text is free: the phrase bank yields thousands of phrasings per intent where a few hundred are
synthesized. This stage (1) phonemizes phrasings word by word with espeak-ng, (2) measures how the
stage-2 model's CTC decode errs (substitutions, deletions, insertions, aligned by Levenshtein on
train clips through the telephony channel), (3) trains ``PhonemeIntentClassifier`` on the real
decodes of training clips plus unsynthesized phrasings corrupted by that confusion model, (4)
fits a phoneme n-gram on the same text and tunes a CTC beam search with it on dev (``lm_order``; it
ships only if the fused model reads its decodes at least as well as greedy ones), (5) calibrates the
head's temperature, the fusion weight and the out-of-scope threshold on dev decodes, and (6) saves
the stage-2 model plus the head (and the LM). The text is the training templates' phrasings and,
with ``text_bank``, a text-only bank written apart from them (``training/text_bank.py``). Held-out
phrase templates never reach the text (``train_templates``, ``text_bank_pool``); the test splits
are only scored, and a second head trained without the extra phrasings measures what they buy.

    python -m training.text_intent --config training/configs/text_intent.yaml \\
        --model runs/finetune/model.safetensors --out runs/text_intent
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import math
import random
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import Tensor

from ivr.errors import ConfigError
from ivr.intents import OUT_OF_SCOPE
from ivr.model.checkpoint import load_checkpoint, save_checkpoint
from ivr.model.ctc_decode import CTCBeamSearch, greedy_ids
from ivr.model.model import IntentModel
from ivr.model.phoneme_intent import PhonemeIntentClassifier, PhonemeIntentDims, clean_ids, fuse, pad_ids
from ivr.model.phoneme_lm import PhonemeLM, PhonemeLMDims
from ivr.runtime.classify import Classifier
from training import evaluate
from training.alignment import align, error_rate
from training.calibrate import choose_threshold, fit_temperature, rule_thresholds
from training.config import REJECTION_RULES, TrainConfig, load_config, lr_at
from training.data import DEFAULT_CHANNEL, ClipBank, balanced_subset, make_batch, step_rng
from training.finetune import EVAL_STEP, MAX_FALSE_REJECTION, MODEL_FILE
from training.manifest import Utterance, read_manifest
from training.phrases import TEMPLATES, Phrase, Wording, decorate, expand, template_families, templates_of
from training.pronunciation import spoken_voices, word_lexicons
from training.state import setup
from training.synth import PHONEMES, phoneme_ids, phonemize, phonemize_all
from training.text_bank import expand_text, off_topic_pool, text_bank_pool
from training.unheard import template_of

FUSION_GRID = np.round(np.linspace(0.0, 1.0, 21), 2)  # w in steps of 0.05
Seq = list[int]


# -- text: phrasings of the training templates, phonemized word by word -----------------------------
def train_templates(label: str, corpus_seed: int = 0) -> list[str]:
    """Templates of ``label`` the text head may read: the corpus's training templates only."""
    return templates_of(label, "train", seed=corpus_seed)


def text_phrasings(
    label: str,
    count: int,
    *,
    seed: int,
    corpus_seed: int = 0,
    text_bank: bool = False,
    off_topic: bool = False,
) -> list[Phrase]:
    """``count`` decorated phrasings of ``label`` from ``train_templates``; deterministic.

    With ``text_bank`` the text-only bank (``training/text_bank.py``) is drawn from too, in proportion
    to its templates, minus whatever shares wording with held-out or calibration templates
    (``text_bank_pool``). With ``off_topic``, out_of_scope's phrasings also come from the off-topic bank
    (``off_topic_pool``), again in proportion to its templates, template first: a template with many
    slot values is not drawn more often than a fixed sentence.
    """
    rng = random.Random(f"text_intent:{seed}:{label}")
    templates = train_templates(label, corpus_seed)
    pool = [(t, s) for t in templates for s in expand(t)]
    extra = text_bank_pool(label, corpus_seed) if text_bank else []
    extra_templates = len({t for t, _ in extra})
    share = extra_templates / (extra_templates + len(templates))
    off = off_topic_pool(corpus_seed) if off_topic and label == OUT_OF_SCOPE else {}
    off_templates = sorted(off)
    off_share = len(off) / (len(off) + extra_templates + len(templates))

    def draw() -> tuple[str, str]:
        if off and rng.random() < off_share:
            template = rng.choice(off_templates)
            return template, rng.choice(off[template])
        return rng.choice(extra if extra and rng.random() < share else pool)

    return [Phrase(decorate(core, rng), label, t, "train") for t, core in (draw() for _ in range(count))]


def word_lexicon(sentences: Sequence[str], *, workers: int = 1) -> dict[str, str]:
    """Phonemes of every distinct word: one espeak-ng call per word instead of per sentence."""
    return phonemize_all({w for s in sentences for w in s.split()}, workers=workers)


def phonemize_words(sentence: str, lexicon: dict[str, str]) -> str:
    """A sentence's phonemes as its words' joined by the word boundary (no cross-word effects)."""
    return " ".join(p for p in (lexicon[w] for w in sentence.split()) if p)


def accented_spelling(
    phrasings: Sequence[Phrase], voices: Sequence[str], seed: int, cache: Path, workers: int
) -> list[str]:
    """Each phrasing's phonemes in the accent of a training voice drawn for it (every voice equally likely),
    for a stage 2 whose CTC targets are what each voice says (``training.pronunciation``)."""
    if not voices:
        raise ConfigError("text_pronunciation: spoken needs training clips of espeak-ng or flite voices")
    lexicons = word_lexicons(
        (w for p in phrasings for w in p.text.split()), voices, workers=workers, cache=cache
    )
    rng = random.Random(seed)
    return [phonemize_words(p.text, lexicons[rng.choice(voices)]) for p in phrasings]


def spelled(phonemes: str) -> Seq:
    """A phoneme string's ids as a greedy decode spells them (``clean_ids``): how every text is compared."""
    return clean_ids(phoneme_ids(phonemes))


# -- the confusion model of the acoustic decoder ---------------------------------------------------
@dataclass(frozen=True, slots=True)
class ConfusionModel:
    """How the acoustic decoder garbles a reference phoneme string, per symbol."""

    substitution: npt.NDArray[np.float64]  # (V, V) P(hyp | ref) for a ref symbol that is not deleted
    deletion: npt.NDArray[np.float64]  # (V,) P(deleted | ref)
    insertion_rate: float  # expected insertions per slot (before each ref symbol, and at the end)
    insertion: npt.NDArray[np.float64]  # (V,) P(symbol | an insertion)

    def scaled(self, factor: float) -> ConfusionModel:
        """The same errors ``factor`` times as often (deletions, insertions, each symbol's misreadings).

        Estimated on training clips, the decoder's errors are rarer than on unheard voices and wording
        (train vs dev phoneme error 0.12 / 0.16 on the shipped model); a text head trained on stronger
        corruption is meant to read those noisier decodes.
        """
        if factor < 0:
            raise ValueError(f"corruption scale must be >= 0, got {factor}")
        vocab = len(self.deletion)
        wrong = self.substitution * (1 - np.eye(vocab)) * factor
        wrong /= np.maximum(wrong.sum(1, keepdims=True), 1.0)  # at most every reading wrong
        substitution = wrong + np.diag(1 - wrong.sum(1))
        return ConfusionModel(
            substitution,
            np.minimum(1.0, self.deletion * factor),
            self.insertion_rate * factor,
            self.insertion,
        )


def estimate_confusion(
    pairs: Sequence[tuple[Sequence[int], Sequence[int]]], vocab_size: int, *, smoothing: float = 1.0
) -> ConfusionModel:
    """Count aligned (ref, hyp) events; ``smoothing`` pseudo-counts pull rare symbols toward being
    read correctly and toward the average deletion rate."""
    sub = np.zeros((vocab_size, vocab_size))
    dele, ins = np.zeros(vocab_size), np.zeros(vocab_size)
    slots = 0
    for ref, hyp in pairs:
        slots += len(ref) + 1
        for r, h in align(ref, hyp):
            if r is None:
                ins[h] += 1
            elif h is None:
                dele[r] += 1
            else:
                sub[r, h] += 1
    seen = sub.sum(1) + dele  # (V,) occurrences of each ref symbol
    mean_deletion = dele.sum() / max(1.0, seen.sum())
    deletion = np.where(
        seen + smoothing > 0,
        (dele + smoothing * mean_deletion) / np.maximum(seen + smoothing, 1e-12),
        mean_deletion,
    )
    kept = sub + smoothing * np.eye(vocab_size)
    rows = kept.sum(1, keepdims=True)
    substitution = np.where(rows > 0, kept / np.maximum(rows, 1e-12), np.eye(vocab_size))
    insertion = ins / ins.sum() if ins.sum() else np.full(vocab_size, 1.0 / vocab_size)
    return ConfusionModel(substitution, deletion, float(ins.sum() / max(1, slots)), insertion)


def corrupt(ids: Sequence[int], model: ConfusionModel, rng: np.random.Generator) -> Seq:
    """One sample of what the decoder might print for reference ``ids`` (cleaned like a decode)."""
    ref = np.asarray(ids, np.int64)
    keep = rng.random(len(ref)) >= model.deletion[ref]
    cdf = np.cumsum(model.substitution[ref], axis=1)  # (n, V)
    hyp = np.minimum((rng.random(len(ref))[:, None] > cdf).sum(1), len(model.insertion) - 1)
    inserts = rng.random(len(ref) + 1) < min(1.0, model.insertion_rate)
    extra = np.minimum(
        np.searchsorted(np.cumsum(model.insertion), rng.random(len(ref) + 1)), len(model.insertion) - 1
    )
    out: Seq = []
    for k in range(len(ref) + 1):
        if inserts[k]:
            out.append(int(extra[k]))
        if k < len(ref) and keep[k]:
            out.append(int(hyp[k]))
    return clean_ids(out)


# -- decoding clips with the stage-2 model ----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Decodes:
    """Greedy CTC decodes of clips through the channel, with what the audio head said about them."""

    hyps: list[Seq]
    refs: list[Seq]  # reference phoneme ids (empty where the manifest has none)
    labels: list[int]
    audio_logits: list[list[float]]  # (N, L) uncalibrated intent logits
    log_probs: list[npt.NDArray[np.float32]] = field(default_factory=list)  # (F, V) per clip, if kept
    clips: list[int] = field(default_factory=list)  # each decode's index in the bank it came from


def acoustic_key(model: IntentModel) -> str:
    """A digest of the weights a decode reads (encoder, CTC head, audio intent head), for the decode
    caches: rerunning stage 2b on a fused checkpoint of the same stage 2 reuses them, while a new
    stage 2 never does."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if name.split(".")[0] in ("encoder", "ctc_head", "intent_head"):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


@torch.no_grad()
def decode(
    model: IntentModel,
    bank: ClipBank,
    label_index: dict[str, int],
    rng: np.random.Generator,
    batch: int,
    *,
    keep_log_probs: bool = False,
) -> Decodes:
    """Decode every clip of ``bank`` once through the channel (length-sorted batches: less padding).

    ``keep_log_probs``: keep each clip's CTC log-probabilities too, for tuning the LM beam search.
    """
    model.eval()
    order = sorted(range(len(bank)), key=lambda i: len(bank.clips[i]))
    out = Decodes([], [], [], [])
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        b = make_batch(bank, idx, rng, label_index=label_index, channel=DEFAULT_CHANNEL, max_samples=10**9)
        res = model(b.wave, b.lengths)
        assert res.ctc_log_probs is not None
        ctc = res.ctc_log_probs.numpy()
        for row, i in enumerate(idx):
            frames = ctc[row, : int(res.frame_lengths[row])]
            out.hyps.append(clean_ids(greedy_ids(frames)))
            if keep_log_probs:  # rounded as the cache stores them: a cached run decodes what a fresh one does
                out.log_probs.append(frames.astype(np.float16).astype(np.float32))
            out.refs.append(spelled(bank.utterances[i].phonemes))
            out.labels.append(label_index[str(bank.utterances[i].label)])
            out.clips.append(i)
        out.audio_logits.extend(res.intent_logits.float().tolist())
    return out


def cached_decodes(
    path: Path, key: str, make: Callable[[], Decodes], *, log_probs_needed: bool = False
) -> Decodes:
    """Decoding is the slow part of the stage: keep it beside the output, keyed by model and settings.

    Log-probabilities, when kept, go to a ``.npz`` beside the JSON (float16: a tenth of the size); a
    cache without them serves only a run that does not need them.
    """
    arrays = path.with_suffix(".npz")
    if path.exists():
        stored = json.loads(path.read_text())
        complete = set(stored["decodes"]) >= set(Decodes.__slots__) - {"log_probs"}  # older caches lack some
        if stored.get("key") == key and complete and (stored.get("log_probs") or not log_probs_needed):
            log_probs = []
            if stored.get("log_probs"):
                with np.load(arrays) as z:
                    frames = z["frames"].astype(np.float32)
                    ends = np.cumsum(z["lengths"])
                    log_probs = [frames[end - n : end] for end, n in zip(ends, z["lengths"], strict=True)]
            return Decodes(**stored["decodes"], log_probs=log_probs)
    decodes = make()
    fields = asdict(dataclasses.replace(decodes, log_probs=[]))  # the arrays go to the .npz, not the JSON
    del fields["log_probs"]
    if decodes.log_probs:
        lengths = np.array([len(lp) for lp in decodes.log_probs], np.int64)
        np.savez(arrays, frames=np.concatenate(decodes.log_probs).astype(np.float16), lengths=lengths)
    path.write_text(json.dumps({"key": key, "decodes": fields, "log_probs": bool(decodes.log_probs)}))
    return decodes


# -- the text head ----------------------------------------------------------------------------------
def train_head(
    cfg: TrainConfig,
    labels: Sequence[str],
    decoded: Decodes,
    text: Sequence[tuple[Seq, int]],
    confusion: ConfusionModel,
    dev: Decodes,
    log: list[dict[str, object]],
    name: str,
) -> PhonemeIntentClassifier:
    """Cross-entropy on real decodes mixed with corrupted text (real decodes: ``decode_fraction`` of each batch)."""
    torch.manual_seed(cfg.seed)
    head = PhonemeIntentClassifier(
        PhonemeIntentDims(vocab_size=len(PHONEMES), reader=cfg.text_reader), labels
    )
    optimizer = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n_real = cfg.batch_size if not text else max(1, round(cfg.batch_size * cfg.decode_fraction))
    for step in range(cfg.max_steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg)
        rng = step_rng(cfg.seed, step)
        real = rng.integers(len(decoded.hyps), size=n_real)
        seqs = [decoded.hyps[i] for i in real]
        targets = [decoded.labels[i] for i in real]
        for i in rng.integers(len(text), size=cfg.batch_size - n_real) if text else []:
            seqs.append(corrupt(text[i][0], confusion, rng))  # a fresh corruption every time it is drawn
            targets.append(text[i][1])
        head.train()
        ids, lengths = pad_ids(seqs)
        logits = head(ids, lengths)
        loss = F.cross_entropy(logits, torch.tensor(targets))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(head.parameters(), cfg.grad_clip)
        optimizer.step()
        row: dict[str, object] = {"step": step + 1, "head": name, "loss": loss.item(), "lr": lr_at(step, cfg)}
        if cfg.eval_interval and (step + 1) % cfg.eval_interval == 0:
            row["dev_accuracy"] = accuracy(head_logits(head, dev.hyps), dev.labels)
        log.append(row)
    return head.eval()


@torch.no_grad()
def head_logits(head: PhonemeIntentClassifier, seqs: Sequence[Sequence[int]], batch: int = 256) -> Tensor:
    head.eval()
    parts = [head(*pad_ids(seqs[s : s + batch])) for s in range(0, len(seqs), batch)]
    return torch.cat(parts) if parts else torch.zeros(0, len(head.labels))


def accuracy(logits_or_probs: Tensor, labels: Sequence[int]) -> float:
    return float((logits_or_probs.argmax(-1) == torch.tensor(labels)).float().mean())


def choose_fusion_weight(
    audio: Tensor, text: Tensor, labels: Sequence[int]
) -> tuple[float, dict[float, float]]:
    """The w of FUSION_GRID with the best dev accuracy (ties: the smaller w), and every w's accuracy."""
    scores = {float(w): accuracy(fuse(audio, text, float(w)), labels) for w in FUSION_GRID}
    best = max(scores, key=lambda w: (scores[w], -w))
    return best, scores


# -- the stage --------------------------------------------------------------------------------------
def train(cfg: TrainConfig, model_path: Path) -> Path:
    """Run stage 2b on the stage-2 checkpoint ``model_path``; returns the exported checkpoint path."""
    setup("cpu", cfg.seed, cfg.threads)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    loaded = load_checkpoint(model_path)
    model = loaded.model
    if not isinstance(model, IntentModel) or model.ctc_head is None:
        raise ConfigError(f"{model_path}: stage 2b needs a stage-2 model with a CTC head")
    labels = list(model.labels)
    label_index = {label: i for i, label in enumerate(labels)}
    report: dict[str, Any] = {"model": str(model_path), "config": cfg.to_dict()}

    # -- text: phrasings of the training templates, phonemized word by word ----------------------
    text_labels = [label for label in labels if label in TEMPLATES]
    if not text_labels:
        raise ConfigError(
            f"{model_path}: stage 2b learns from the phrase bank (training/phrases.py), and none of the "
            f"labels {labels} has one; use the stage-2 model as it is"
        )
    per_label = {label: cfg.text_per_label for label in text_labels}
    if cfg.oos_text_per_label is not None and OUT_OF_SCOPE in per_label:
        per_label[OUT_OF_SCOPE] = cfg.oos_text_per_label
    phrasings = [
        p
        for label in text_labels
        for p in text_phrasings(
            label,
            per_label[label],
            seed=cfg.seed,
            text_bank=cfg.text_bank,
            off_topic=cfg.off_topic_bank,
        )
    ]
    check = [p.text for p in text_phrasings(text_labels[0], 1, seed=cfg.seed)] + [
        p.text for label in text_labels for p in text_phrasings(label, 3, seed=cfg.seed + 1)
    ]
    spoken = cfg.text_pronunciation == "spoken"  # then the en-us lexicon serves the check alone
    lexicon = word_lexicon(
        check + ([] if spoken else [p.text for p in phrasings]), workers=max(1, cfg.threads)
    )
    report["phonemization"] = word_vs_sentence(check[:50], lexicon)
    manifest = Path(cfg.manifest)
    utts = [u for u in read_manifest(manifest) if u.label in label_index]
    if spoken:
        voices = spoken_voices(u for u in utts if u.split in cfg.train_splits)
        spelling = accented_spelling(
            phrasings, voices, cfg.seed, out / "spoken-words.json", max(1, cfg.threads)
        )
        report["phonemization"]["voices"] = voices
    else:
        spelling = [phonemize_words(p.text, lexicon) for p in phrasings]
    text = [
        (spelled(phonemes), label_index[p.label]) for p, phonemes in zip(phrasings, spelling, strict=True)
    ]

    # -- the acoustic model's errors, measured on train decodes; its phoneme error rate on dev ----
    cache = manifest.parent / "cache"
    train_bank = balanced_subset(
        ClipBank.load([u for u in utts if u.split in cfg.train_splits], cache),
        cfg.labels_per_intent,
        seed=cfg.seed,
    )
    dev_bank = ClipBank.load([u for u in utts if u.split == cfg.dev_split], cache)
    key = acoustic_key(model)
    jackknife = bool(cfg.lm_order and cfg.lm_folds)  # the training clips are beam-searched too: keep them
    decoded = cached_decodes(
        out / "decodes-train.json",
        f"{key}:{cfg.seed}:{cfg.decode_draws}:{cfg.labels_per_intent}:{len(train_bank)}",
        lambda: concat(
            [
                decode(
                    model,
                    train_bank,
                    label_index,
                    step_rng(cfg.seed, draw, 1),
                    cfg.batch_size,
                    keep_log_probs=jackknife,
                )
                for draw in range(cfg.decode_draws)
            ]
        ),
        log_probs_needed=jackknife,
    )
    keep = bool(cfg.lm_order)  # the LM's settings are tuned on dev: keep its log-probabilities
    dev = cached_decodes(
        out / "decodes-dev.json",
        f"{key}:{cfg.seed}:{len(dev_bank)}",
        lambda: decode(
            model, dev_bank, label_index, step_rng(cfg.seed, EVAL_STEP), cfg.batch_size, keep_log_probs=keep
        ),
        log_probs_needed=keep,
    )
    report["acoustic"] = {
        "train_decodes": len(decoded.hyps),
        "train_per": decode_error_rate(decoded.refs, decoded.hyps),
        "dev_per": decode_error_rate(dev.refs, dev.hyps),
    }
    print(
        f"decoded {len(decoded.hyps)} train and {len(dev.hyps)} dev clips; dev PER {report['acoustic']['dev_per']}"
    )

    # -- the decoder: greedy, or a beam search with a phoneme LM of the text ----------------------
    lm: PhonemeLM | None = None
    dev_hyps, report["decoder"] = dev.hyps, {"chosen": "greedy"}
    if cfg.lm_order:
        lm, dev_hyps, report["decoder"] = tune_lm(cfg, [ids for ids, _ in text], dev)
    if lm is not None and cfg.lm_folds:
        started_jackknife = time.time()
        folds = jackknife_folds([train_bank.utterances[i] for i in decoded.clips], phrasings, cfg.lm_folds)
        hyps = jackknife_decodes(lm, [ids for ids, _ in text], folds, decoded.log_probs)
        decoded = dataclasses.replace(decoded, hyps=hyps, log_probs=[])
        report["decoder"]["jackknife"] = {
            "folds": cfg.lm_folds,
            "train_per": decode_error_rate(decoded.refs, hyps),
            "clips_without_a_template": folds.unmatched_clips,
            "text_per_fold": [sum(f not in out for out in folds.text_excluded) for f in range(cfg.lm_folds)],
            "seconds": round(time.time() - started_jackknife, 1),
        }
        print(f"jackknife decodes of the training clips: {report['decoder']['jackknife']}")

    # -- clips the acoustic model never trained on (the text bank's): decodes that err as unheard ones
    if cfg.decode_splits:
        unheard_utts = [u for u in utts if u.split in cfg.decode_splits]
        if not unheard_utts:
            raise ConfigError(
                f"{manifest}: no clips in decode_splits {list(cfg.decode_splits)} "
                "(build the corpus with --text-bank-per-label N for the text_bank split)"
            )
        unheard_bank = ClipBank.load(unheard_utts, cache)
        unheard = cached_decodes(
            out / "decodes-unheard.json",
            f"{key}:{cfg.seed}:{','.join(cfg.decode_splits)}:{len(unheard_bank)}",
            lambda: decode(model, unheard_bank, label_index, step_rng(cfg.seed, 0, 2), cfg.batch_size),
        )
        report["acoustic"]["unheard_decodes"] = len(unheard.hyps)
        report["acoustic"]["unheard_per"] = decode_error_rate(unheard.refs, unheard.hyps)
        decoded = concat([dataclasses.replace(decoded, log_probs=[]), unheard])
        print(
            f"decoded {len(unheard.hyps)} clips of {cfg.decode_splits}: PER {report['acoustic']['unheard_per']}"
        )

    # -- how the training decodes err: the confusion model that corrupts the text -----------------
    confusion = estimate_confusion(
        [(r, h) for r, h in zip(decoded.refs, decoded.hyps, strict=True) if r], len(PHONEMES)
    )
    report["confusion"] = {
        "decodes": "jackknife" if jackknife and lm is not None else "greedy",
        "deletion_rate": float(np.average(confusion.deletion[2:])),
        "insertion_rate": confusion.insertion_rate,
        "worst_kept": worst_symbols(confusion),
    }

    # -- the text head with the unsynthesized phrasings, and without them (the measurement) -------
    log: list[dict[str, object]] = []
    confusion = confusion.scaled(cfg.corruption_scale)
    dev_read = dataclasses.replace(dev, hyps=dev_hyps, log_probs=[])  # what the head will read on dev
    head = train_head(cfg, labels, decoded, text, confusion, dev_read, log, "with_text")
    ablation = train_head(cfg, labels, decoded, [], confusion, dev_read, log, "decodes_only")
    (out / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in log))

    dev_labels = torch.tensor(dev.labels)
    audio_dev = model.intent_head.probabilities(torch.tensor(dev.audio_logits))
    if lm is not None:  # the LM ships only if the fused model reads its decodes at least as well
        fused = {"greedy": fused_accuracy(head, dev.hyps, dev.labels, audio_dev)}
        fused["lm"] = fused_accuracy(head, dev_hyps, dev.labels, audio_dev)
        report["decoder"]["dev_fused"] = fused
        if fused["lm"] < fused["greedy"]:
            lm, dev_hyps, report["decoder"]["chosen"] = None, dev.hyps, "greedy"

    # -- calibration on dev: temperature, fusion weight, threshold --------------------------------
    text_logits = head_logits(head, dev_hyps)
    head.temperature.fill_(fit_temperature(text_logits, dev_labels))
    ablation.temperature.fill_(fit_temperature(head_logits(ablation, dev_hyps), dev_labels))
    text_dev = head.probabilities(text_logits)
    weight, by_weight = choose_fusion_weight(audio_dev, text_dev, dev.labels)
    fused_dev = fuse(audio_dev, text_dev, weight)
    oos = label_index.get(OUT_OF_SCOPE, -1)
    heard = np.array(
        [t is not None for t in training_template_of([dev_bank.utterances[i] for i in dev.clips])]
    )  # dev clips of trained wording (the rest are the calibration templates': unheard wording)
    thresholds = {
        f"{rule}:{name}": choose_threshold(
            fused_dev.numpy(),
            dev_labels.numpy(),
            oos,
            max_false_rejection=MAX_FALSE_REJECTION,
            groups=groups,
            rule=rule,
        )
        for rule in REJECTION_RULES
        for name, groups in (("pooled", None), ("by_wording", heard))
    }
    chosen = thresholds[f"{cfg.rejection}:{'by_wording' if cfg.cap_unheard_wording else 'pooled'}"]
    threshold, oos_threshold = rule_thresholds(cfg.rejection, chosen)
    report["calibration"] = {
        "text_temperature": float(head.temperature),
        "fusion_weight": weight,
        "rejection": cfg.rejection,
        "threshold": threshold,
        "oos_threshold": oos_threshold,
        "thresholds": thresholds,
        "dev_clips_of_trained_wording": int(heard.sum()),
        "dev_accuracy_by_weight": by_weight,
    }
    report["dev"] = {
        "audio": accuracy(audio_dev, dev.labels),
        "text": accuracy(text_dev, dev.labels),
        "text_decodes_only": accuracy(head_logits(ablation, dev_hyps), dev.labels),
        "fused": accuracy(fused_dev, dev.labels),
    }

    # -- export: the stage-2 model plus the head ---------------------------------------------------
    path = out / MODEL_FILE
    fused_model = IntentModel(model.encoder, model.intent_head, model.ctc_head, head, lm)
    extra = {
        **loaded.extra,
        "stage": "text_intent",
        "text_intent_config": cfg.to_dict(),
        "fusion_weight": weight,
        "threshold": threshold,
        "oos_threshold": oos_threshold,
        "text_temperature": float(head.temperature),
        "dev_accuracy": report["dev"]["fused"],
    }
    save_checkpoint(path, fused_model, labels=labels, extra=extra)
    splits = [s for s in cfg.eval_splits if any(u.split == s for u in utts)]
    report["test"] = {s: score_split(path, ablation, manifest, s, labels) for s in splits}
    report["seconds"] = round(time.time() - started)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(summary(report))
    return path


def tune_lm(
    cfg: TrainConfig, text: Sequence[Seq], dev: Decodes
) -> tuple[PhonemeLM, list[Seq], dict[str, Any]]:
    """A phoneme n-gram of ``text`` (the text head's phrasings: training wording only), its dev decodes
    and a report: every (weight, length bonus) of the config is tried in the CTC beam search on dev.

    The settings are chosen for what the LM does, the lowest dev phoneme error (intent accuracy moves
    by a clip or two between settings: noise on 1,440 clips); without reference phonemes on dev, the
    first setting.
    """
    started = time.time()
    lm = PhonemeLM.fit(text, PhonemeLMDims(vocab_size=len(PHONEMES), order=cfg.lm_order, beam=cfg.lm_beam))
    report: dict[str, Any] = {"greedy": {"dev_per": decode_error_rate(dev.refs, dev.hyps)}}
    report["lm"] = {"order": cfg.lm_order, "entries": list(lm.dims.entries), "seconds": 0.0}
    best: tuple[float, str, list[Seq], PhonemeLMDims] | None = None
    for weight in cfg.lm_weights:
        for bonus in cfg.lm_length_bonuses:
            hyps = [CTCBeamSearch(lm, weight, bonus, cfg.lm_beam).decode(lp) for lp in dev.log_probs]
            name = f"weight={weight} bonus={bonus}"
            per = decode_error_rate(dev.refs, hyps)
            report[name] = {"dev_per": per}
            print(f"LM decoding {name}: dev PER {per}")
            if best is None or (per if per is not None else math.inf) < best[0]:
                best = (
                    per if per is not None else math.inf,
                    name,
                    hyps,
                    dataclasses.replace(lm.dims, weight=weight, length_bonus=bonus),
                )
    assert best is not None  # the config requires a weight and a bonus
    lm.dims = best[3]
    report["lm"]["seconds"] = round(time.time() - started, 1)
    report["chosen"] = best[1]
    return lm, best[2], report


def fused_accuracy(
    head: PhonemeIntentClassifier, hyps: list[Seq], labels: Sequence[int], audio: Tensor
) -> float:
    """Dev accuracy of the fused model reading ``hyps``, as it would ship: the head's temperature and the
    fusion weight refitted on them."""
    logits = head_logits(head, hyps)
    probs = F.softmax(logits / fit_temperature(logits, torch.tensor(labels)), dim=-1)
    weight, scores = choose_fusion_weight(audio, probs, labels)
    return scores[weight]


# -- the jackknife: training clips decoded as unheard wording is --------------------------------------
def fold_of(key: str, folds: int) -> int:
    """A stable fold for a template family (or a clip's own text); the same in every run and process."""
    return zlib.crc32(key.encode("utf-8")) % folds


def training_template_of(utterances: Sequence[Utterance], corpus_seed: int = 0) -> list[str | None]:
    """The training template each clip's text was decorated from (``training.unheard.template_of``); None
    where no single one fits: unheard wording, a handful of ambiguous clips, a call center's own."""
    candidates = {label: set(train_templates(label, corpus_seed)) for label in TEMPLATES}
    return [template_of(u.text, str(u.label), candidates) for u in utterances]


@functools.cache
def _family_of() -> dict[str, str]:
    """Template -> its family's name (``training.phrases.template_families``: the unit of the phrase split)."""
    return {
        t: f"{label}:{group[0]}" for label in TEMPLATES for group in template_families(label) for t in group
    }


@dataclass(frozen=True, slots=True)
class Folds:
    """Which jackknife fold decodes each clip, and which folds' LMs may not read each text phrasing."""

    clips: list[int]
    text_excluded: list[frozenset[int]]
    unmatched_clips: int  # clips of no single training template: their fold comes from their own text


def jackknife_folds(
    clip_utterances: Sequence[Utterance], phrasings: Sequence[Phrase], folds: int, corpus_seed: int = 0
) -> Folds:
    """Folds over template families; a fold's LM reads none of its families' phrasings, nor any phrasing of
    the text-only bank that shares their wording (the family rule: a sentence of two words or more said
    inside another), as a held-out phrase's wording is unread by the shipped LM.
    """
    family = _family_of()
    found = training_template_of(clip_utterances, corpus_seed)
    clip_folds = [
        fold_of(family.get(t, t) if t else u.text, folds) for t, u in zip(found, clip_utterances, strict=True)
    ]
    fold_wording = [
        Wording.of(
            sentence
            for label in TEMPLATES
            for t in train_templates(label, corpus_seed)
            if fold_of(family.get(t, t), folds) == f
            for sentence in expand(t)
        )
        for f in range(folds)
    ]

    @functools.cache
    def excluded(template: str) -> frozenset[int]:
        if template in family:
            return frozenset({fold_of(family[template], folds)})
        sentences = expand_text(template)
        return frozenset(f for f, w in enumerate(fold_wording) if any(w.overlaps(x) for x in sentences))

    return Folds(clip_folds, [excluded(p.template) for p in phrasings], sum(t is None for t in found))


def jackknife_decodes(
    lm: PhonemeLM,
    text: Sequence[Seq],
    folds: Folds,
    log_probs: Sequence[npt.NDArray[np.floating]],
) -> list[Seq]:
    """Each clip beam-searched with ``lm``'s settings and an n-gram refitted on the text its fold may read.

    The full LM read every training template, and cleans a training clip's decode far more than a
    caller's unheard wording (PER 0.058 against 0.134 on held-out wording). Refitted per fold of template
    families, no clip's LM has read its wording, as on a held-out phrase. Measured, the decodes stay
    nearly as clean (0.066): the gap is the acoustic model's, which trained on these clips
    (docs/training.md), so ``lm_folds`` is off by default.
    """
    hyps: list[Seq] = [[] for _ in folds.clips]
    for fold in sorted(set(folds.clips)):
        kept = [ids for ids, out in zip(text, folds.text_excluded, strict=True) if fold not in out]
        search = CTCBeamSearch.of(PhonemeLM.fit(kept, lm.dims))
        for i in (i for i, f in enumerate(folds.clips) if f == fold):
            hyps[i] = search.decode(log_probs[i])
    return hyps


def decode_error_rate(refs: Sequence[Seq], hyps: Sequence[Seq]) -> float | None:
    """Phoneme error rate of ``hyps`` over the clips that have a reference; None when none has."""
    pairs = [(r, h) for r, h in zip(refs, hyps, strict=True) if r]
    return error_rate(*zip(*pairs, strict=True)) if pairs else None


def concat(parts: Sequence[Decodes]) -> Decodes:
    """Several decoding passes as one."""
    return Decodes(
        [s for p in parts for s in p.hyps],
        [s for p in parts for s in p.refs],
        [y for p in parts for y in p.labels],
        [row for p in parts for row in p.audio_logits],
        [lp for p in parts for lp in p.log_probs],
        [i for p in parts for i in p.clips],
    )


def word_vs_sentence(sentences: Sequence[str], lexicon: dict[str, str]) -> dict[str, float]:
    """How far word-by-word phonemization is from espeak-ng on the whole sentence."""
    whole = [phoneme_ids(phonemize(s)) for s in sentences]
    words = [phoneme_ids(phonemize_words(s, lexicon)) for s in sentences]
    differ = sum(a != b for a, b in zip(whole, words, strict=True))
    return {
        "sentences": len(sentences),
        "mismatch_rate": differ / max(1, len(sentences)),
        "phoneme_error_rate": error_rate(whole, words),
    }


def worst_symbols(model: ConfusionModel, k: int = 5) -> dict[str, float]:
    """The symbols the decoder keeps least often (neither deleted nor substituted)."""
    kept = (1 - model.deletion) * np.diag(model.substitution)
    order = [int(i) for i in np.argsort(kept) if i > 1][:k]
    return {PHONEMES[i]: round(float(kept[i]), 3) for i in order}


def score_split(
    path: Path, ablation: PhonemeIntentClassifier, manifest: Path, split: str, labels: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Audio head, text head, fused and the decodes-only text head on one split, as evaluate scores it."""
    classifier = Classifier.from_checkpoint(path)
    utts = [u for u in read_manifest(manifest) if u.split == split and u.label in labels]
    results = evaluate.classify_results(
        classifier, ClipBank.load(utts, manifest.parent / "cache"), channel=DEFAULT_CHANNEL
    )
    truth = np.array([labels.index(str(u.label)) for u in utts], np.int64)
    seqs = [spelled(r.transcript) for r in results]
    probs = {
        "audio": evaluate.score_matrix([r.audio_scores or r.scores for r in results], labels),
        "text": evaluate.score_matrix([r.text_scores or r.scores for r in results], labels),
        "text_decodes_only": ablation.probabilities(head_logits(ablation, seqs)).numpy(),
        "fused": evaluate.score_matrix([r.scores for r in results], labels),
    }
    out = {}
    for name, p in probs.items():
        m = evaluate.score(p, truth, labels, 0.0)
        out[name] = {
            "accuracy": float(np.mean(p.argmax(-1) == truth)),
            "inscope_accuracy": m.inscope_accuracy,
        }
    fused = evaluate.score(probs["fused"], truth, labels, classifier.threshold, classifier.oos_threshold)
    out["fused_with_threshold"] = {
        "inscope_accuracy": fused.inscope_accuracy,
        "oos_rejection": fused.oos_rejection,
        "false_rejection": fused.false_rejection,
    }
    return out


def summary(report: dict[str, Any]) -> str:
    lines = [
        f"phonemization word-by-word vs whole sentence: {report['phonemization']}",
        f"acoustic model: {report['acoustic']}",
        f"calibration: fusion_weight={report['calibration']['fusion_weight']} "
        f"threshold={report['calibration']['threshold']:.3f} "
        f"oos_threshold={report['calibration']['oos_threshold']:.3f}",
        "| split | audio | text | text (decodes only) | fused | fused in-scope (threshold) |",
        "|---|---|---|---|---|---|",
    ]
    dev = report["dev"]
    lines.append(
        f"| dev | {dev['audio']:.3f} | {dev['text']:.3f} | {dev['text_decodes_only']:.3f} | {dev['fused']:.3f} | |"
    )
    for split, r in report["test"].items():
        lines.append(
            f"| {split} | {r['audio']['accuracy']:.3f} | {r['text']['accuracy']:.3f} "
            f"| {r['text_decodes_only']['accuracy']:.3f} | {r['fused']['accuracy']:.3f} "
            f"| {r['fused_with_threshold']['inscope_accuracy']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Stage 2b: the phoneme (text) intent head, fused.")
    parser.add_argument("--config", default="training/configs/text_intent.yaml")
    parser.add_argument("--model", type=Path, default=Path("runs/finetune/model.safetensors"))
    parser.add_argument("--out", default=None, help="output folder (default: the config's out_dir)")
    args, overrides = parser.parse_known_args(argv)
    if args.out:
        overrides = [*overrides, f"--out_dir={args.out}"]
    print(train(load_config(args.config, overrides), args.model))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
