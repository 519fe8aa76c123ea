"""Stage 1: self-supervised pre-training of the encoder (wav2vec 2.0 contrastive + diversity loss).

Reads top to bottom: config -> data -> model -> optimizer -> loop. Unlabeled audio goes through
the telephony channel on the fly, so the encoder learns the sound of phone calls, not of clean
synthesis. Run it alone or under torchrun (one process per core or GPU):

    python -m training.pretrain --config training/configs/pretrain.yaml --max_steps=2000
    torchrun --nproc_per_node 2 -m training.pretrain --config training/configs/pretrain.yaml
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm import tqdm

from ivr.errors import ConfigError
from ivr.model import dims as model_dims
from ivr.model.checkpoint import save_checkpoint
from ivr.model.encoder import Wav2Vec2Encoder
from ivr.model.pretrain import gumbel_temperature, pretraining_loss
from training.config import TrainConfig, load_config, lr_at
from training.data import DEFAULT_CHANNEL, ClipBank, make_batch, sample_indices, step_rng
from training.manifest import read_manifest
from training.precision import run_precision
from training.state import all_mean, checkpoint_if_due, load_state, open_metrics, setup, teardown

ENCODER_FILE = "encoder.safetensors"  # the stage-1 result that stage 2 starts from
# The paper anneals the Gumbel temperature 2 -> 0.5 by 0.999995 per update, which reaches its floor
# after ln(0.25) / ln(0.999995) = 277k updates of a 400k-update run. Our runs are ~1,000x shorter,
# so the schedule is stretched: step s counts as s * ANNEAL_UPDATES / max_steps updates.
ANNEAL_UPDATES = 300_000


class Objective(nn.Module):
    """The pre-training loss as a module, so DistributedDataParallel can wrap it."""

    def __init__(self, encoder: Wav2Vec2Encoder, attention: str | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.attention = attention

    def forward(self, wave: Tensor, lengths: Tensor, num_updates: int) -> tuple[Tensor, ...]:
        losses = pretraining_loss(
            self.encoder, wave, lengths, num_updates=num_updates, attention=self.attention
        )
        return losses.total, losses.contrastive, losses.diversity, losses.accuracy


def train(cfg: TrainConfig) -> Path:
    """Run (or resume) stage 1 and export the encoder; returns the exported checkpoint path."""
    d = setup(cfg.device, cfg.seed, cfg.threads)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    # -- data: every clip of the chosen splits, labels ignored -------------------------------
    manifest = Path(cfg.manifest)
    utts = [u for u in read_manifest(manifest) if u.split in cfg.train_splits]
    bank = ClipBank.load(utts, cache_dir=manifest.parent / "cache")
    if not len(bank):
        raise ConfigError(f"{manifest}: no utterances in splits {', '.join(cfg.train_splits)}")

    # -- model and optimizer --------------------------------------------------------------------
    dims = stage1_dims(cfg)
    encoder = Wav2Vec2Encoder(dims).to(d.device)
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start, resumed = load_state(out, model=encoder, optimizer=optimizer)  # 0 on a fresh run
    precision = run_precision(cfg.precision, d.device, encoder, resumed)  # before DDP wraps the model
    if d.master:
        print(precision.describe(), flush=True)
    bf16 = precision.bf16
    objective: nn.Module = Objective(encoder, cfg.pretrain_attention or None)
    if d.world_size > 1:
        objective = nn.parallel.DistributedDataParallel(objective, find_unused_parameters=True)

    # -- loop -----------------------------------------------------------------------------------
    log = open_metrics(out, start) if d.master else None
    max_samples = int(cfg.max_seconds * dims.sample_rate_hz)
    bar = tqdm(
        range(start, cfg.max_steps), initial=start, total=cfg.max_steps, disable=not d.master, desc="pretrain"
    )
    for step in bar:
        lr = lr_at(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        rng = step_rng(cfg.seed, step, d.rank)
        idx = sample_indices(len(bank), cfg.batch_size, rng)
        batch = make_batch(
            bank,
            idx,
            rng,
            label_index={},
            channel=DEFAULT_CHANNEL if cfg.channel else None,
            max_samples=max_samples,
        )
        encoder.train()
        num_updates = step * ANNEAL_UPDATES // max(1, cfg.max_steps)
        with torch.autocast(d.device.type, dtype=torch.bfloat16, enabled=bf16):
            total, contrastive, diversity, accuracy = objective(
                batch.wave.to(d.device), batch.lengths.to(d.device), num_updates
            )
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        # Gradient clipping matters here: the Gumbel quantizer gives rare, huge gradients early on.
        torch.nn.utils.clip_grad_norm_(encoder.parameters(), cfg.grad_clip)
        optimizer.step()

        row = {
            "step": step + 1,
            "loss": all_mean(total.item(), d),
            "contrastive": all_mean(contrastive.item(), d),
            "diversity": all_mean(diversity.item(), d),
            "accuracy": all_mean(accuracy.item(), d),
            "gumbel_temperature": gumbel_temperature(num_updates),
            "lr": lr,
            "time": time.time(),
        }
        if log is not None:
            log.write(json.dumps(row) + "\n")
            log.flush()
            bar.set_postfix(loss=f"{row['loss']:.3f}", acc=f"{row['accuracy']:.2f}")
        checkpoint_if_due(out, d, cfg, step + 1, model=encoder, optimizer=optimizer, bf16=bf16)

    path = out / ENCODER_FILE
    if d.master:
        export_encoder(encoder, path, cfg)
    teardown()
    return path


def stage1_dims(cfg: TrainConfig) -> model_dims.EncoderDims:
    """The preset's dims with the config's span masking and codebook size where it sets them (both are
    stage 1's alone: stage 2 and inference use neither the masks nor the quantizer)."""
    dims: model_dims.EncoderDims = getattr(model_dims, cfg.preset)()
    if cfg.mask_prob >= 0:
        dims = dataclasses.replace(dims, mask_prob=cfg.mask_prob)
    if cfg.mask_length > 0:
        dims = dataclasses.replace(dims, mask_length=cfg.mask_length)
    if cfg.codebook_size > 0:
        dims = dataclasses.replace(dims, codebook_size=cfg.codebook_size)
    return dims


def export_encoder(encoder: Wav2Vec2Encoder, path: Path, cfg: TrainConfig) -> None:
    """Save the bare encoder as a standard checkpoint (no labels yet: stage 2 adds the heads)."""
    save_checkpoint(path, encoder, extra={"stage": "pretrain", "config": cfg.to_dict()})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Stage 1: self-supervised pre-training.")
    parser.add_argument("--config", default="training/configs/pretrain.yaml")
    args, overrides = parser.parse_known_args(argv)
    print(train(load_config(args.config, overrides)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
