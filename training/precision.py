"""Which precision a training run uses: float32, or bf16 autocast where it is measurably faster.

A CPU that has bf16 instructions does not always train faster with them. On the 2-core AMD EPYC VM with
AVX-512 BF16 autocast made a stage-2 step 1.55x faster; on a 2-core Intel Xeon VM with the same flags
(no AMX exposed) it made the step 1.18x *slower* (1.35 against 1.14 s; docs/benchmarks.md, "Training step"). So ``"auto"``
times a few forward and backward passes of the encoder both ways and takes bf16 only when it clearly wins;
the margin keeps the choice the same from one run to the next on one kind of machine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ivr.model.encoder import Wav2Vec2Encoder

BF16_MARGIN = 0.85  # bf16 must take at most this share of float32's time: a clear win, not noise
PROBE_CLIPS = 4
PROBE_SECONDS = 2.0
PROBE_REPEATS = 3


@dataclass(frozen=True, slots=True)
class PrecisionChoice:
    """The precision a run trains in, and why (logged at the start of the run)."""

    bf16: bool
    reason: str

    def describe(self) -> str:
        return f"precision: {'bf16 autocast' if self.bf16 else 'float32'} ({self.reason})"


def run_precision(
    precision: str, device: torch.device, encoder: Wav2Vec2Encoder, resumed: dict[str, object]
) -> PrecisionChoice:
    """The precision of a run: under ``"auto"`` a resumed run keeps the one it began with (``resumed`` is the
    extra of its saved state), so it does not change precision half way when the probe reads differently;
    an explicit ``"fp32"`` or ``"bf16"`` is obeyed."""
    if precision == "auto" and isinstance(resumed.get("bf16"), bool):
        return PrecisionChoice(bool(resumed["bf16"]), "resumed: as the run began")
    return choose_precision(precision, device, encoder)


def choose_precision(precision: str, device: torch.device, encoder: Wav2Vec2Encoder) -> PrecisionChoice:
    """``"fp32"``/``"bf16"`` are obeyed; ``"auto"`` takes bf16 on CUDA where supported, and on a CPU only
    where the hardware has bf16 kernels *and* a probe of ``encoder`` runs faster under them.

    In a multi-process run every rank trains as rank 0 measured.
    """
    if precision != "auto":  # TrainConfig has checked it is "bf16" or "fp32"
        return PrecisionChoice(precision == "bf16", f"precision: {precision}")
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
        return PrecisionChoice(supported, f"auto: CUDA bf16 {'supported' if supported else 'unsupported'}")
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return PrecisionChoice(False, "auto: no bf16 kernels on this CPU")
    fp32_s, bf16_s = probe_step_seconds(encoder, bf16=False), probe_step_seconds(encoder, bf16=True)
    bf16 = agree_across_ranks(bf16_s <= BF16_MARGIN * fp32_s)
    return PrecisionChoice(
        bf16, f"auto: probe step {fp32_s * 1e3:.0f} ms float32, {bf16_s * 1e3:.0f} ms bf16 autocast"
    )


def probe_step_seconds(encoder: Wav2Vec2Encoder, *, bf16: bool) -> float:
    """Fastest of a few forward + backward passes of ``encoder`` over random audio, under bf16 autocast or not.

    The training run is left as it was: its RNG state (dropout, masks) is restored and no gradient is kept.
    """
    sample_rate = encoder.dims.sample_rate_hz
    was_training = encoder.training
    times = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        wave = 0.1 * torch.randn(PROBE_CLIPS, int(PROBE_SECONDS * sample_rate))
        lengths = torch.full((PROBE_CLIPS,), wave.shape[1], dtype=torch.int64)
        encoder.train()
        for _ in range(1 + PROBE_REPEATS):  # the first pass warms up kernels and allocations
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                frames = encoder(wave, lengths).frames
            frames.float().square().mean().backward()
            times.append(time.perf_counter() - start)
    encoder.zero_grad(set_to_none=True)
    encoder.train(was_training)
    return min(times[1:])


def agree_across_ranks(choice: bool) -> bool:
    """Rank 0's choice on every rank, so no two processes of one run train in different precisions."""
    if not dist.is_initialized():
        return choice
    flag = torch.tensor([int(choice)])
    dist.broadcast(flag, src=0)
    return bool(flag.item())
