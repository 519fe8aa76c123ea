"""Stage 2: multi-task fine-tuning, intent cross-entropy plus phoneme CTC, on labeled calls.

Reads top to bottom: config -> data -> model (from the stage-1 encoder, or random) -> optimizer
-> loop -> calibration. The CTC task is what makes the encoder learn phonetics on a CPU budget:
intent labels alone are 18 bits of supervision per clip, the phoneme string is ~40 symbols.
After the loop, a temperature is fitted on the dev split and an out-of-scope threshold chosen
there (most rejection of out-of-scope speech with at most 5 % in-scope false rejection).

    python -m training.finetune --config training/configs/finetune.yaml --init=runs/pretrain/encoder.safetensors
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from ivr.errors import ConfigError
from ivr.intents import OUT_OF_SCOPE
from ivr.model import dims as model_dims
from ivr.model.checkpoint import load_checkpoint, save_checkpoint
from ivr.model.masking import SpanMasking
from ivr.model.model import IntentModel, build_model, head_dims
from training.calibrate import choose_threshold, fit_temperature
from training.channel import ChannelConfig
from training.config import TrainConfig, load_config, lr_at
from training.data import (
    DEFAULT_CHANNEL,
    SPREAD_CHANNEL,
    Batch,
    ClipBank,
    balanced_subset,
    length_bucketed_indices,
    make_batch,
    sample_indices,
    step_rng,
)
from training.manifest import labels_of, read_manifest
from training.precision import run_precision
from training.state import (
    Dist,
    all_mean,
    checkpoint_if_due,
    load_state,
    open_metrics,
    setup,
    teardown,
    unwrap,
)
from training.synth import PHONEMES

MODEL_FILE = "model.safetensors"
EVAL_STEP = 2**31 - 1  # a step no run reaches: evaluation draws its own channel noise
MAX_FALSE_REJECTION = 0.05  # in-scope callers wrongly sent to out_of_scope, at most (dev split)


def train(cfg: TrainConfig) -> Path:
    """Run (or resume) stage 2, calibrate on dev, export; returns the exported checkpoint path."""
    d = setup(cfg.device, cfg.seed, cfg.threads)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    # -- data ------------------------------------------------------------------------------------
    manifest = Path(cfg.manifest)
    every = read_manifest(manifest)
    utts = [u for u in every if u.label is not None]
    cache = manifest.parent / "cache"
    train_bank = ClipBank.load([u for u in utts if u.split in cfg.train_splits], cache)
    train_bank = balanced_subset(train_bank, cfg.labels_per_intent, seed=cfg.seed)
    dev_bank = ClipBank.load([u for u in utts if u.split == cfg.dev_split], cache)
    labels = labels_of(train_bank.utterances)
    if cfg.ctc_only_splits and cfg.ctc_weight > 0:
        # Transcribed but unlabeled clips (e.g. stage 1's sentences): more words for the phoneme
        # task than the intent templates have; they carry label -1 and no intent loss.
        phonetic = [u for u in every if u.split in cfg.ctc_only_splits and u.label is None and u.phonemes]
        train_bank = train_bank + ClipBank.load(phonetic, cache)
    if len(labels) < 2:
        raise ConfigError(
            f"{manifest}: fine-tuning needs at least two labels in {cfg.train_splits}, found {labels}"
        )
    label_index = {label: i for i, label in enumerate(labels)}
    use_ctc = cfg.ctc_weight > 0 and any(u.phonemes for u in train_bank.utterances)

    # -- model: the init encoder (or a random one) under its heads where they fit, else fresh ones -
    model = init_model(cfg, labels, use_ctc).to(d.device)
    if cfg.freeze_feature_encoder:
        model.freeze_feature_encoder()
    optimizer = torch.optim.AdamW(
        model.parameter_groups(cfg.lr, cfg.encoder_lr_scale), lr=cfg.lr, weight_decay=cfg.weight_decay
    )
    for group in optimizer.param_groups:
        group["scale"] = group["lr"] / cfg.lr  # lr_at gives the head lr; the encoder gets its share
    start, resumed = load_state(out, model=model, optimizer=optimizer)
    precision = run_precision(cfg.precision, d.device, model.encoder, resumed)  # before DDP wraps the model
    if d.master:
        print(precision.describe(), flush=True)
    bf16 = precision.bf16
    # The quantizer and contrastive projections sit idle in stage 2, hence find_unused_parameters.
    net: nn.Module = model
    if d.world_size > 1:
        net = nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)

    # -- loop -------------------------------------------------------------------------------------
    log = open_metrics(out, start) if d.master else None
    max_samples = int(cfg.max_seconds * model.dims.sample_rate_hz)
    ctc_weight = cfg.ctc_weight if use_ctc else 0.0
    masking = training_masking(cfg)
    clip_lengths = [len(clip) for clip in train_bank.clips]
    bar = tqdm(
        range(start, cfg.max_steps), initial=start, total=cfg.max_steps, disable=not d.master, desc="finetune"
    )
    for step in bar:
        lr = lr_at(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr * group["scale"]
        rng = step_rng(cfg.seed, step, d.rank)
        if cfg.length_bucketing:
            idx = length_bucketed_indices(
                clip_lengths, cfg.batch_size, seed=cfg.seed, step=step, rank=d.rank, world_size=d.world_size
            )
        else:
            idx = sample_indices(len(train_bank), cfg.batch_size, rng)
        batch = make_batch(
            train_bank,
            idx,
            rng,
            label_index=label_index,
            channel=training_channel(cfg, step),
            max_samples=max_samples,
        )
        model.train()
        with torch.autocast(d.device.type, dtype=torch.bfloat16, enabled=bf16):
            ce, ctc, correct = losses(net, batch, d.device, ctc_weight=ctc_weight, mask=masking)
        loss = ce + ctc_weight * ctc
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if step < cfg.freeze_encoder_steps:  # heads first, so random heads do not wreck the encoder
            for p in model.encoder.parameters():
                p.grad = None
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()

        row = {
            "step": step + 1,
            "loss": all_mean(loss.item(), d),
            "ce": all_mean(ce.item(), d),
            "ctc": all_mean(ctc.item(), d),
            "accuracy": all_mean(correct, d),
            "lr": lr,
            "time": time.time(),
        }
        if d.master and cfg.eval_interval and (step + 1) % cfg.eval_interval == 0 and len(dev_bank):
            row["dev_accuracy"] = dev_accuracy(model, dev_bank, label_index, cfg, d)
        if log is not None:
            log.write(json.dumps(row) + "\n")
            log.flush()
            bar.set_postfix(loss=f"{row['loss']:.3f}", acc=f"{row['accuracy']:.2f}")
        checkpoint_if_due(out, d, cfg, step + 1, model=model, optimizer=optimizer, bf16=bf16)

    # -- calibration on dev, then export ----------------------------------------------------------
    path = out / MODEL_FILE
    if d.master:
        calibration = calibrate(model, dev_bank, label_index, cfg, d)
        save_checkpoint(
            path,
            model,
            labels=labels,
            extra={
                "stage": "finetune",
                "config": cfg.to_dict(),
                "ctc_vocab": list(PHONEMES) if use_ctc else [],
                **calibration,
            },
        )
        (out / "calibration.json").write_text(json.dumps(calibration, indent=2) + "\n")
    teardown()
    return path


def training_channel(cfg: TrainConfig, step: int) -> ChannelConfig | None:
    """What training clips cross at ``step``: the evaluation channel, or one with phone lines whose filters
    differ and voices speed-perturbed and, from step ``formant_shift_from`` on, formant-shifted; ``None``
    without a channel. Dev always crosses the evaluation channel."""
    if not cfg.channel:
        return None
    return replace(
        SPREAD_CHANNEL if cfg.line_filter_spread else DEFAULT_CHANNEL,
        voice_warp=cfg.voice_warp,
        formant_shift=cfg.formant_shift if step >= cfg.formant_shift_from else 0.0,
    )


def training_masking(cfg: TrainConfig) -> SpanMasking | None:
    """The span masking training clips get in stage 2 (wav2vec 2.0 fine-tunes masked too); dev is never masked."""
    if cfg.finetune_mask_prob <= 0:
        return None
    return SpanMasking(cfg.finetune_mask_prob, cfg.finetune_mask_length)


def init_model(cfg: TrainConfig, labels: list[str], use_ctc: bool) -> IntentModel:
    """Heads over the ``cfg.init`` encoder (its dims win), or over a random ``cfg.preset`` one.

    A stage-2 model as ``init`` also lends its heads where they fit: its CTC head (same phoneme
    inventory) and its intent head when the label set is the same (both sorted), so fine-tuning the
    shipped model on a call center's own recordings of the default intents starts from what it knows.
    """
    vocab = len(PHONEMES) if use_ctc else None
    if not cfg.init:
        return build_model(getattr(model_dims, cfg.preset)(), labels, vocab)
    loaded = load_checkpoint(cfg.init)
    source = loaded.model if isinstance(loaded.model, IntentModel) else None
    head = None if source is None else replace(head_dims(source), ctc_vocab_size=vocab)
    model = build_model(loaded.dims, labels, vocab, head=head)
    model.encoder.load_state_dict((loaded.model if source is None else source.encoder).state_dict())
    if source is None:
        return model
    if (
        model.ctc_head is not None
        and source.ctc_head is not None
        and source.ctc_head.proj.out_features == model.ctc_head.proj.out_features
    ):
        model.ctc_head.load_state_dict(source.ctc_head.state_dict())
    if list(source.labels) == labels:
        model.intent_head.load_state_dict(source.intent_head.state_dict())
    return model


def losses(
    net: nn.Module, batch: Batch, device: torch.device, *, ctc_weight: float, mask: SpanMasking | None = None
) -> tuple[Tensor, Tensor, float]:
    """(intent cross-entropy, phoneme CTC or 0, accuracy) of one batch, its features span-masked by ``mask``."""
    out = net(batch.wave.to(device), batch.lengths.to(device), mask=mask)
    labels = batch.labels.to(device)
    labeled = labels >= 0  # -1: a clip that only feeds the CTC task
    if bool(labeled.any()):
        ce = F.cross_entropy(out.intent_logits[labeled], labels[labeled])
        correct = float((out.intent_logits[labeled].argmax(-1) == labels[labeled]).float().mean())
    else:  # keeps the head in the graph, so every DDP rank reduces the same gradients
        ce = out.intent_logits.sum() * 0.0
        correct = float("nan")
    ctc = out.intent_logits.new_zeros(())
    if ctc_weight > 0 and out.ctc_log_probs is not None:
        # Every row goes through ctc_loss, so the autograd graph (and DDP's gradient buckets) is
        # the same on every rank; rows without a target (cropped clips) are then masked out.
        target_lengths = batch.target_lengths.to(device)
        per_row = F.ctc_loss(
            out.ctc_log_probs.transpose(0, 1),  # (F, B, V) as ctc_loss wants
            batch.targets.to(device),
            out.frame_lengths,
            target_lengths,
            blank=0,
            reduction="none",
            zero_infinity=True,  # a clip too short for its phoneme string gives no gradient
        )  # (B,)
        has = (target_lengths > 0).float()
        ctc = (per_row / target_lengths.clamp_min(1) * has).sum() / has.sum().clamp_min(1.0)
    return ce, ctc, correct


@torch.no_grad()
def dev_logits(
    model: IntentModel, bank: ClipBank, label_index: dict[str, int], cfg: TrainConfig, d: Dist
) -> tuple[Tensor, Tensor]:
    """(N, L) logits and (N,) labels of a whole split, through a fixed-seed channel."""
    model.eval()
    logits, labels = [], []
    rng = step_rng(cfg.seed, EVAL_STEP)  # the same channel draws at every evaluation
    for start in range(0, len(bank), cfg.batch_size):
        idx = list(range(start, min(start + cfg.batch_size, len(bank))))
        batch = make_batch(
            bank,
            idx,
            rng,
            label_index=label_index,
            channel=DEFAULT_CHANNEL if cfg.channel else None,
            max_samples=10**9,
        )
        logits.append(
            unwrap(model)(batch.wave.to(d.device), batch.lengths.to(d.device)).intent_logits.float().cpu()
        )
        labels.append(batch.labels)
    return torch.cat(logits), torch.cat(labels)


def dev_accuracy(
    model: IntentModel, bank: ClipBank, label_index: dict[str, int], cfg: TrainConfig, d: Dist
) -> float:
    logits, labels = dev_logits(model, bank, label_index, cfg, d)
    return float((logits.argmax(-1) == labels).float().mean())


def calibrate(
    model: IntentModel, bank: ClipBank, label_index: dict[str, int], cfg: TrainConfig, d: Dist
) -> dict[str, float]:
    """Fit the temperature (stored in the head) and the out-of-scope threshold on dev."""
    if not len(bank):
        return {"temperature": 1.0, "threshold": 0.0}
    logits, labels = dev_logits(model, bank, label_index, cfg, d)
    temperature = fit_temperature(logits, labels)
    model.intent_head.temperature.fill_(temperature)
    probs = F.softmax(logits / temperature, dim=-1).numpy()
    oos = label_index.get(OUT_OF_SCOPE, -1)
    threshold = choose_threshold(probs, labels.numpy(), oos, max_false_rejection=MAX_FALSE_REJECTION)
    return {
        "temperature": float(temperature),
        "threshold": float(threshold),
        "dev_accuracy": float(np.mean(probs.argmax(-1) == labels.numpy())),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Stage 2: multi-task fine-tuning.")
    parser.add_argument("--config", default="training/configs/finetune.yaml")
    args, overrides = parser.parse_known_args(argv)
    print(train(load_config(args.config, overrides)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
