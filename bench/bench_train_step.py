"""Benchmark one stage-2 training step of the shipped architecture on CPU, and where its time goes.

A step as ``training.finetune`` runs it: intent cross-entropy + phoneme CTC over a batch of clips, backward,
gradient clipping, AdamW. Random weights and random audio (speed does not depend on them). Prints the
median step time per thread count and, with ``--profile``, torch's per-operator table of one step, so a
change to the model's code can be judged by what it saves per step, not by a whole training run.

    python bench/bench_train_step.py                    # batch 12 x 3.25 s, threads 1 and 2
    python bench/bench_train_step.py --threads 2 --profile
    python bench/bench_train_step.py --threads 2 --compile   # torch.compile the feature encoder
    python bench/bench_train_step.py --threads 2 --precision bf16   # under bf16 autocast, as stage 2 with AVX-512 BF16
    python bench/bench_train_step.py --threads 2 --precision bf16 --lengths varied   # a new width every step
    python bench/bench_train_step.py --threads 2 --precision bf16 --lengths grid     # ... on stage 2's padding grid

Length-bucketed batches give nearly every step a batch width of its own, and a new width costs the step the
creation of new oneDNN primitives; ``--lengths fixed`` (the default) never pays that, ``varied`` pays it every
step, ``grid`` rounds each width up to ``training.data.PAD_MULTIPLE`` as ``make_batch`` does.
"""

from __future__ import annotations

import argparse
import functools
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from ivr.config import default_model_path
from ivr.model import tiny_8k
from ivr.model.checkpoint import load_checkpoint
from ivr.model.model import IntentModel, build_model

# The repository root: training/ is not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from training.data import PAD_MULTIPLE, padded_width

TARGET_PER_SECOND = 12  # phonemes per second of speech, about what the corpus's sentences carry


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_interop_threads(1)
    print(
        f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"batch {args.batch} x {args.seconds:g} s ({args.lengths}), {args.precision}, "
        f"{args.repeats} timed steps after {args.warmup} warm-up"
    )
    print("| threads | seconds per step (median) | min | max |")
    print("|---|---|---|---|")
    for threads in args.threads:
        torch.set_num_threads(threads)
        step = make_step(
            args.batch, args.seconds, compile_features=args.compile, bf16=args.precision == "bf16"
        )
        for i in range(args.warmup):
            start = time.perf_counter()
            step()
            if args.compile:
                print(f"# warm-up step {i + 1}: {time.perf_counter() - start:.1f} s", flush=True)
        if args.compile:
            # Stage 2's batches are length-bucketed: every new clip length is a new shape to compile.
            for clip_seconds in (args.seconds + 0.5, args.seconds - 0.5, args.seconds + 1.0):
                start = time.perf_counter()
                step(clip_seconds)
                print(
                    f"# a step at a new length, {clip_seconds:g} s: {time.perf_counter() - start:.1f} s",
                    flush=True,
                )
        if args.lengths == "grid":
            # The grid's few widths are made once, as a run makes them in its first steps.
            for clip_seconds in grid_lengths(args.seconds):
                step(clip_seconds)
        draw = random.Random(0)
        times = []
        for _ in range(args.repeats):
            clip_seconds = step_length(args.lengths, args.seconds, draw)
            start = time.perf_counter()
            step(clip_seconds)
            times.append(time.perf_counter() - start)
        print(
            f"| {threads} | {statistics.median(times):.3f} | {min(times):.3f} | {max(times):.3f} |",
            flush=True,
        )
        if args.profile:
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                step()
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.profile_rows))
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=12, help="clips per step (stage 2's batch_size)")
    parser.add_argument("--seconds", type=float, default=3.25, help="clip length: a length-bucketed batch")
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--lengths",
        choices=("fixed", "varied", "grid"),
        default="fixed",
        help="batch width per step: always --seconds; a new one within +-0.5 s; that one on the padding grid",
    )
    parser.add_argument("--profile", action="store_true", help="print the per-operator table of one step")
    parser.add_argument("--profile-rows", type=int, default=20)
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile the convolutional feature encoder"
    )
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="bf16: the forward under bf16 autocast, as stage 2 runs where the CPU has AVX-512 BF16",
    )
    return parser.parse_args(argv)


SPREAD_SECONDS = 0.5  # varied widths lie within --seconds +- this


def step_length(kind: str, seconds: float, draw: random.Random) -> float:
    """The clip length of one timed step: ``seconds``, or a width no step had before, or that width rounded up
    to the padding grid."""
    if kind == "fixed":
        return seconds
    samples = int(draw.uniform(seconds - SPREAD_SECONDS, seconds + SPREAD_SECONDS) * 8000)
    if kind == "grid":
        samples = padded_width(samples)
    return samples / 8000


def grid_lengths(seconds: float) -> list[float]:
    """Every width of the padding grid that a "grid" step can have."""
    low = int((seconds - SPREAD_SECONDS) * 8000) // PAD_MULTIPLE * PAD_MULTIPLE
    high = int((seconds + SPREAD_SECONDS) * 8000) + PAD_MULTIPLE
    return [n / 8000 for n in range(low + PAD_MULTIPLE, high, PAD_MULTIPLE)]


def shipped_head_sizes() -> tuple[int, int]:
    """The shipped model's label count and CTC vocabulary (blank included): the heads a real step trains."""
    shipped = load_checkpoint(default_model_path())
    return len(shipped.labels), len(shipped.extra["ctc_vocab"])


def make_step(
    batch: int, seconds: float, *, compile_features: bool = False, bf16: bool = False
) -> Callable[..., None]:
    """One training step of a fresh ``tiny_8k`` intent model on random audio, as a callable (a clip length
    other than ``seconds`` may be passed)."""
    torch.manual_seed(0)
    dims = tiny_8k()
    labels, phonemes = shipped_head_sizes()
    model: IntentModel = build_model(dims, [f"intent{i}" for i in range(labels)], phonemes).train()
    if compile_features:
        features = model.encoder.feature_encoder
        model.encoder.feature_encoder = torch.compile(features)  # type: ignore[assignment]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    @functools.cache
    def inputs(clip_seconds: float) -> tuple[torch.Tensor, ...]:
        """One random batch per clip length, made once: the timed step is the model's work alone."""
        samples = int(clip_seconds * dims.sample_rate_hz)
        target_len = max(1, int(clip_seconds * TARGET_PER_SECOND))
        return (
            0.1 * torch.randn(batch, samples),
            torch.full((batch,), samples, dtype=torch.int64),
            torch.randint(labels, (batch,)),
            torch.randint(1, phonemes, (batch, target_len)),
            torch.full((batch,), target_len, dtype=torch.int64),
        )

    def step(clip_seconds: float = seconds) -> None:
        wave, lengths, labels, targets, target_lengths = inputs(clip_seconds)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):  # losses inside, as stage 2
            out = model(wave, lengths)
            assert out.ctc_log_probs is not None
            log_probs = out.ctc_log_probs.transpose(0, 1)
            ctc = F.ctc_loss(log_probs, targets, out.frame_lengths, target_lengths)
            loss = F.cross_entropy(out.intent_logits, labels) + 2.0 * ctc
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    return step


if __name__ == "__main__":
    raise SystemExit(main())
