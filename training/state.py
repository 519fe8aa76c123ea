"""What both training stages share: device and process-group set-up, resumable training state.

A run is resumable from ``out_dir/state.pt``: model and optimizer state, the step and the torch
RNG states. Batches are a pure function of (seed, step, rank) (``training.data.step_rng``), so
nothing else is needed to continue exactly where an interrupted run stopped. The file holds only
tensors and plain containers and is loaded with ``weights_only=True``: loading never runs code.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
import torch.distributed as dist

from training.config import TrainConfig

STATE_FILE = "state.pt"


@dataclass(frozen=True, slots=True)
class Dist:
    """This process's place in a (possibly single-process) run."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def master(self) -> bool:
        return self.rank == 0


def setup(device: str = "auto", seed: int = 0, threads: int = 0) -> Dist:
    """Join the process group when launched by torchrun (gloo on CPU, NCCL on CUDA); seed everything."""
    if threads > 0:
        torch.set_num_threads(threads)
    torch.set_flush_denormal(True)  # denormal floats run ~100x slower on x86 and change nothing here
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    cuda = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    random.seed(seed + rank)
    np.random.seed((seed + rank) % 2**32)
    torch.manual_seed(seed + rank)
    return Dist(rank, world, dev)


def teardown() -> None:
    """Leave the process group together: a rank that destroys it while rank 0 still calibrates and
    saves can abort in gloo's teardown ("terminate called without an active exception")."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def all_mean(value: float, d: Dist) -> float:
    """The mean of ``value`` over processes (for logging one number per step)."""
    if d.world_size == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=d.device)
    dist.all_reduce(t)
    return float(t.item()) / d.world_size


def save_state(
    out_dir: Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    step: int,
    extra: dict[str, Any],
) -> Path:
    """Write the resumable state atomically (a crash mid-write keeps the previous one)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "extra": extra,
        },
        tmp,
    )
    tmp.replace(path)
    return path


def checkpoint_if_due(
    out_dir: Path,
    d: Dist,
    cfg: TrainConfig,
    step: int,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    bf16: bool,
) -> None:
    """On rank 0, every ``cfg.checkpoint_interval`` steps and after the last one, write the resumable state
    (``step`` steps done) with the run's config and precision."""
    if d.master and (step % cfg.checkpoint_interval == 0 or step == cfg.max_steps):
        extra = {"config": cfg.to_dict(), "bf16": bf16}
        save_state(out_dir, model=model, optimizer=optimizer, step=step, extra=extra)


def load_state(
    out_dir: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[int, dict[str, Any]]:
    """Restore what ``save_state`` wrote; returns (next step, extra). (0, {}) when there is none."""
    path = out_dir / STATE_FILE
    if not path.exists():
        return 0, {}
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["step"]), dict(state["extra"])


def open_metrics(out_dir: Path, start: int) -> TextIO:
    """``metrics.jsonl`` for appending, without the lines of steps after ``start``.

    A run killed between two checkpoints logged steps that its resumption repeats; dropping them
    keeps one line per step.
    """
    path = out_dir / "metrics.jsonl"
    if path.exists():
        kept = [
            line for line in path.read_text().splitlines(keepends=True) if json.loads(line)["step"] <= start
        ]
        path.write_text("".join(kept))
    return path.open("a")


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DistributedDataParallel wrapper (or the module itself)."""
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model
