"""TrainConfig: one frozen options object per run, from YAML plus ``--key=value`` overrides.

The checkpoint carries the config it was trained with, so a run can be resumed or audited from
its output folder alone.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ivr.errors import ConfigError

TEXT_READERS = ("ngram", "bigru")  # ivr.model.phoneme_intent.READERS, without importing torch
ATTENTION_KINDS = ("full", "block_causal")  # ivr.model.dims.ATTENTION_KINDS, without importing torch
REJECTION_RULES = ("max_probability", "oos_probability")  # training.calibrate's out-of-scope rules
# How stage 2b spells its text: en-us for every sentence, or each in a training voice's own accent
# (training.pronunciation), to match a corpus transcribed as its voices speak.
TEXT_PRONUNCIATIONS = ("reference", "spoken")


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Options of ``training.pretrain`` (stage 1) and ``training.finetune`` (stage 2)."""

    # I/O
    manifest: str = "data/corpus/manifest.jsonl"  # JSONL or CSV (training.manifest)
    out_dir: str = "runs/finetune"  # checkpoints, logs and the exported model go here
    init: str = ""  # stage 2: our stage-1 checkpoint, or "" to start from random weights
    preset: str = "tiny_8k"  # ivr.model.dims preset for a model built from scratch
    # data
    train_splits: tuple[str, ...] = ("train",)
    ctc_only_splits: tuple[str, ...] = ()  # stage 2: splits whose transcripts feed the CTC task alone
    dev_split: str = "dev"  # temperature and the out-of-scope threshold are fitted here
    labels_per_intent: int | None = None  # cap labeled clips per intent (label efficiency); None = all
    max_seconds: float = 6.0  # longer clips are randomly cropped
    channel: bool = True  # apply the telephony channel on the fly
    line_filter_spread: bool = False  # stage 2: training clips cross band filters that differ (dev does not)
    voice_warp: float = 0.0  # stage 2: speed perturbation of training clips by 1 +- this (0: off; dev: off)
    formant_shift: float = 0.0  # stage 2: training clips' spectral envelope moved by 1 +- this, pitch kept
    formant_shift_from: int = 0  # stage 2: the step formant shifting starts (a curriculum: phonemes first)
    length_bucketing: bool = False  # stage 2: batches of clips of similar length (less padding)
    mask_prob: float = -1.0  # stage 1: dims.mask_prob (span starts x span length); < 0: the preset's
    mask_length: int = 0  # stage 1: frames per masked span (dims.mask_length); 0: the preset's
    codebook_size: int = 0  # stage 1: entries per quantizer codebook (dims.codebook_size); 0: the preset's
    pretrain_attention: str = ""  # stage 1: "full" lets the context see the whole crop; "": the preset's
    # optimization
    seed: int = 1337
    device: str = "auto"  # "auto" picks CUDA when present, else CPU
    batch_size: int = 16  # per process
    max_steps: int = 1000
    lr: float = 5e-4
    min_lr: float = 5e-5
    warmup_steps: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    precision: str = "auto"  # "auto": bf16 autocast where it measures faster (training.precision), else fp32
    # stage 2
    ctc_weight: float = 0.5  # weight of the phoneme CTC loss beside intent cross-entropy; 0 = off
    freeze_feature_encoder: bool = True  # the conv stack keeps its stage-1 (or random) weights
    encoder_lr_scale: float = 1.0  # the encoder's lr relative to the heads' (stage 2)
    freeze_encoder_steps: int = 0  # train only the heads for this many steps first
    finetune_mask_prob: float = 0.0  # span-mask training clips' features as the paper fine-tunes; 0 = off
    finetune_mask_length: int = 10  # frames per masked span in stage 2 (20 ms frames: 200 ms)
    # stage 2b: the phoneme (text) intent head
    text_per_label: int = 2000  # unsynthesized phrasings per label for the text head; 0 = decodes only
    text_bank: bool = False  # also phrasings of the text-only bank (training/text_bank.py)
    off_topic_bank: bool = False  # out_of_scope phrasings of training/off_topic_bank.py too
    oos_text_per_label: int | None = None  # out_of_scope's unsynthesized phrasings; None = text_per_label
    text_reader: str = "bigru"  # the text head's reader: "bigru" or "ngram" (bag of phoneme n-grams)
    text_pronunciation: str = "reference"  # one of TEXT_PRONUNCIATIONS
    decode_draws: int = 2  # channel draws per training clip decoded by the stage-2 model
    decode_fraction: float = 0.5  # share of each text-head batch taken from real decodes
    corruption_scale: float = 1.0  # how much more often the corrupted text errs than the training decodes did
    eval_splits: tuple[str, ...] = ("test_voice", "test_phrase")  # scored after calibration, if present
    lm_order: int = 0  # n of the phoneme n-gram for the CTC beam search; 0 = greedy decoding
    lm_weights: tuple[float, ...] = (0.3, 0.5, 0.8)  # LM weights tried on dev (the best one ships)
    lm_length_bonuses: tuple[float, ...] = (1.0, 2.0, 3.0)  # per-symbol bonuses tried on dev with each weight
    lm_beam: int = 8  # prefixes the beam search keeps per frame
    lm_folds: int = 0  # >= 2: training clips decoded by jackknife LMs over k template folds; 0: greedy
    cap_unheard_wording: bool = False  # stage 2b: the false-rejection cap on dev's unheard wording too
    rejection: str = "max_probability"  # stage 2b's out-of-scope rule, one of REJECTION_RULES
    decode_splits: tuple[str, ...] = ()  # stage 2b: clips no stage trained on, decoded as more real decodes
    # bookkeeping
    log_interval: int = 10
    eval_interval: int = 200  # dev accuracy (stage 2) every this many steps
    checkpoint_interval: int = 100  # the resumable training state is written this often
    threads: int = 0  # torch CPU threads; 0 = torch's default

    def __post_init__(self) -> None:
        problems = []
        if self.batch_size < 1 or self.max_steps < 0:
            problems.append("batch_size must be >= 1 and max_steps >= 0")
        if not 0 <= self.min_lr <= self.lr:
            problems.append(f"min_lr ({self.min_lr}) must be within [0, lr={self.lr}]")
        if self.precision not in ("auto", "bf16", "fp32"):
            problems.append(f"precision must be auto, bf16 or fp32, got {self.precision!r}")
        if self.ctc_weight < 0:
            problems.append(f"ctc_weight must be >= 0, got {self.ctc_weight}")
        if self.text_per_label < 0 or self.decode_draws < 1 or not 0 < self.decode_fraction <= 1:
            problems.append("text_per_label must be >= 0, decode_draws >= 1, decode_fraction in (0, 1]")
        if self.oos_text_per_label is not None and self.oos_text_per_label < 0:
            problems.append(f"oos_text_per_label must be >= 0 or null, got {self.oos_text_per_label}")
        if not (0 <= self.voice_warp < 0.5 and 0 <= self.formant_shift < 0.5):
            problems.append("voice_warp and formant_shift must be within [0, 0.5)")
        if self.codebook_size < 0:
            problems.append(f"codebook_size must be >= 0 (0: the preset's), got {self.codebook_size}")
        if self.mask_prob > 1.0 or self.mask_length < 0:
            problems.append(
                f"mask_prob must be <= 1 and mask_length >= 0, got {self.mask_prob}, {self.mask_length}"
            )
        if not 0.0 <= self.finetune_mask_prob <= 1.0 or self.finetune_mask_length < 1:
            problems.append(
                "finetune_mask_prob must be in [0, 1] and finetune_mask_length >= 1, got "
                f"{self.finetune_mask_prob}, {self.finetune_mask_length}"
            )
        if self.pretrain_attention not in ("", *ATTENTION_KINDS):
            problems.append(
                f"pretrain_attention must be empty or one of {ATTENTION_KINDS}, got {self.pretrain_attention!r}"
            )
        if self.formant_shift_from < 0:
            problems.append(f"formant_shift_from must be >= 0, got {self.formant_shift_from}")
        if self.corruption_scale < 0:
            problems.append(f"corruption_scale must be >= 0, got {self.corruption_scale}")
        if self.text_reader not in TEXT_READERS:
            problems.append(f"text_reader must be one of {TEXT_READERS}, got {self.text_reader!r}")
        if self.lm_order < 0 or self.lm_beam < 1 or min(self.lm_weights, default=0) < 0:
            problems.append("lm_order must be >= 0, lm_beam >= 1 and lm_weights >= 0")
        if self.lm_order and not (self.lm_weights and self.lm_length_bonuses):
            problems.append(
                "an LM (lm_order > 0) needs at least one lm_weight and one lm_length_bonus to try"
            )
        if self.lm_folds < 0 or self.lm_folds == 1 or (self.lm_folds and not self.lm_order):
            problems.append(f"lm_folds must be 0, or >= 2 with an LM (lm_order > 0), got {self.lm_folds}")
        if self.text_pronunciation not in TEXT_PRONUNCIATIONS:
            problems.append(
                f"text_pronunciation must be one of {TEXT_PRONUNCIATIONS}, got {self.text_pronunciation!r}"
            )
        if self.rejection not in REJECTION_RULES:
            problems.append(f"rejection must be one of {REJECTION_RULES}, got {self.rejection!r}")
        if self.labels_per_intent is not None and self.labels_per_intent < 1:
            problems.append(f"labels_per_intent must be >= 1 or null, got {self.labels_per_intent}")
        if problems:
            raise ConfigError("invalid training config: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``min_lr`` at ``max_steps``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.max_steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    return cfg.min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


def load_config(path: str | Path | None, overrides: Sequence[str] = ()) -> TrainConfig:
    """Defaults, then the YAML file at ``path`` (if any), then ``--key=value`` overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read training config: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: a training config is a mapping of option: value")
        values.update({str(k): (v, str(path)) for k, v in loaded.items()})
    for item in overrides:
        key, sep, raw = item.removeprefix("--").partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} must look like --key=value")
        values[key.replace("-", "_")] = (yaml.safe_load(raw), "command line")
    return _build(values)


def _build(values: dict[str, tuple[Any, str]]) -> TrainConfig:
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    problems, kwargs = [], {}
    for key, (value, where) in values.items():
        if key not in fields:
            problems.append(f"{where}: unknown option {key!r}")
            continue
        default = fields[key].default
        if isinstance(default, tuple):
            if isinstance(value, str):  # --train-splits unlabeled,train
                value = value.split(",")
            items = tuple(value) if isinstance(value, list | tuple) else (value,)
            if default and all(isinstance(d, float) for d in default):
                numbers = tuple(_number(v) for v in items)
                if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers):
                    problems.append(f"{where}: {key} must be a list of numbers, got {value!r}")
                value = tuple(float(v) for v in numbers if isinstance(v, int | float))
            else:
                value = tuple(str(v).strip() for v in items)
        elif isinstance(default, bool) and not isinstance(value, bool):
            problems.append(f"{where}: {key} must be true or false, got {value!r}")
        elif isinstance(default, int | float) and not isinstance(default, bool):
            value = _number(value)
            if not isinstance(value, int | float) or isinstance(value, bool):
                problems.append(f"{where}: {key} must be a number, got {value!r}")
            elif isinstance(default, float):
                value = float(value)
            elif value != int(value):
                problems.append(f"{where}: {key} must be a whole number, got {value!r}")
            else:
                value = int(value)
        elif default is None and value is not None:  # the optional counts: a whole number or null
            value = _number(value)
            if not isinstance(value, int | float) or isinstance(value, bool) or value != int(value):
                problems.append(f"{where}: {key} must be a whole number or null, got {value!r}")
            else:
                value = int(value)
        elif isinstance(default, str) and not isinstance(value, str):
            value = "" if value is None else str(value)  # --init= means "no init", not "None"
        kwargs[key] = value
    if problems:
        raise ConfigError("; ".join(problems))
    return TrainConfig(**kwargs)


def _number(value: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` (no dot) as a string; accept it as the number it means."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value
