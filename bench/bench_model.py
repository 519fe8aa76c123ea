"""Benchmark the wav2vec 2.0 encoder on CPU: size, FLOPs, offline and streaming real-time factor.

For ``tiny-8k`` and ``base``: parameters, FLOPs per second of audio (torch's FlopCounterMode),
offline real-time factor (one forward over a clip) and streaming real-time factor (20 ms packets
through ``ivr.model.streaming.infer``) on 1 and 2 threads, and for the shapes transformers can express
(base, and tiny-8k with full attention) the same weights run through transformers' ``Wav2Vec2Model``,
printed as time ratios. Real-time factor = compute seconds / audio seconds (lower is faster).

The stock base model cannot stream exactly (group norm and waveform normalisation over the whole
utterance, bidirectional attention), so its streaming row uses the same sizes in the streamable
variant: layer-norm extractor, block-causal attention, no waveform normalisation.

    python bench/bench_model.py                       # the full run written into docs/benchmarks.md
    python bench/bench_model.py --quick               # a smoke run of about a minute
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ivr.model import EncoderDims, Wav2Vec2Encoder, base, infer, init_state, tiny_8k
from ivr.model.importers.huggingface import key_table

PRESETS: dict[str, Callable[[], EncoderDims]] = {"tiny-8k": tiny_8k, "base": base}
PACKET_MS = 20  # one RTP packet of telephony audio (the default --packet-ms)


@dataclass(frozen=True, slots=True)
class Timing:
    threads: int
    offline_rtf: float
    stream_rtf: float
    stream_batch_rtf: float  # per call, with args.stream_batch calls stacked in one state
    hf_ratio: float | None  # our offline time / transformers' offline time, same weights


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    print(
        f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads available, "
        f"torch {torch.__version__}, python {platform.python_version()}"
    )
    for name in args.models:
        bench_preset(name, args)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", choices=sorted(PRESETS), default=["tiny-8k", "base"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--seconds", type=float, default=10.0, help="offline clip length (s)")
    parser.add_argument("--stream-seconds", type=float, default=10.0, help="audio streamed per run (s)")
    parser.add_argument("--stream-batch", type=int, default=32, help="calls stacked in one streaming state")
    parser.add_argument("--batch-seconds", type=float, default=4.0, help="audio per call, batched stream (s)")
    parser.add_argument(
        "--packet-ms", type=int, default=PACKET_MS, help="audio per infer call when streaming (ms)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure (median kept)")
    parser.add_argument("--no-transformers", action="store_true", help="skip the transformers comparison")
    parser.add_argument("--quick", action="store_true", help="2 s clips, 1 repeat, 1 thread")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.stream_seconds, args.batch_seconds = 2.0, 2.0, 1.0
        args.repeats, args.threads = 1, [1]
    return args


def bench_preset(name: str, args: argparse.Namespace) -> None:
    dims = PRESETS[name]()
    encoder = Wav2Vec2Encoder(dims).eval()
    stream_encoder = streaming_twin(encoder)
    total, inference = parameter_counts(encoder)
    offline_flops = flops_per_second(lambda w, n: encoder(w, n), dims, args.seconds)
    stream_flops = flops_per_second(
        lambda w, n: stream(stream_encoder, w, n), dims, min(args.stream_seconds, 2.0)
    )
    full = full_attention_twin(encoder)
    hf = None if args.no_transformers else transformers_twin(full)
    print(
        f"\n## {name}: {dims.num_layers} layers x {dims.embed_dim}, {dims.sample_rate_hz} Hz, "
        f"{dims.frame_ms:g} ms frames, attention={dims.attention}"
    )
    print(f"parameters: {inference / 1e6:.2f} M at inference, {total / 1e6:.2f} M with the pretraining parts")
    print(
        f"GFLOPs per second of audio: offline {offline_flops / 1e9:.2f}, streaming {stream_flops / 1e9:.2f}"
    )
    if stream_encoder is not encoder:
        print(
            "streaming row: same sizes, layer-norm extractor, block-causal attention (base cannot stream exactly)"
        )
    if hf is not None:
        print(
            f"transformers twin: attention={hf_attention_name(hf)}, max |ours - transformers| = "
            f"{parity(full, hf):.2e}" + ("" if full is encoder else " (ours with full attention)")
        )
    print(
        f"| threads | offline RTF | streaming RTF, 1 call, {args.packet_ms} ms packets | streaming RTF per call, "
        f"{args.stream_batch} calls batched | ours / transformers (offline time) |"
    )
    print("|---|---|---|---|---|")
    for threads in args.threads:
        t = time_preset(encoder, stream_encoder, full, hf, threads, args)
        ratio = "n/a" if t.hf_ratio is None else f"{t.hf_ratio:.2f}"
        print(
            f"| {t.threads} | {t.offline_rtf:.4f} | {t.stream_rtf:.4f} | {t.stream_batch_rtf:.4f} | {ratio} |"
        )
        sys.stdout.flush()


def time_preset(
    encoder: Wav2Vec2Encoder,
    stream_encoder: Wav2Vec2Encoder,
    full: Wav2Vec2Encoder,
    hf: nn.Module | None,
    threads: int,
    args: argparse.Namespace,
) -> Timing:
    """Real-time factors at ``threads``; the transformers ratio compares like with like (full attention)."""
    torch.set_num_threads(threads)
    dims = encoder.dims
    wave, lengths = clip(dims, args.seconds)
    offline = median_seconds(lambda: encoder(wave, lengths), args.repeats)
    swave, slengths = clip(dims, args.stream_seconds)
    streaming = median_seconds(lambda: stream(stream_encoder, swave, slengths, args.packet_ms), args.repeats)
    bwave, blengths = clip(dims, args.batch_seconds, batch=args.stream_batch)
    batched = median_seconds(lambda: stream(stream_encoder, bwave, blengths, args.packet_ms), args.repeats)
    ratio = None
    if hf is not None:
        ours = offline if full is encoder else median_seconds(lambda: full(wave, lengths), args.repeats)
        ratio = ours / median_seconds(lambda: hf(wave), args.repeats)
    per_call = batched / args.stream_batch / args.batch_seconds
    return Timing(threads, offline / args.seconds, streaming / args.stream_seconds, per_call, ratio)


def clip(dims: EncoderDims, seconds: float, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    samples = int(seconds * dims.sample_rate_hz)
    return 0.1 * torch.randn(batch, samples), torch.full((batch,), samples)


def stream(
    encoder: Wav2Vec2Encoder, wave: torch.Tensor, lengths: torch.Tensor, packet_ms: int = PACKET_MS
) -> None:
    """B calls fed packet by packet in one stacked state, then flushed, as the runtime does."""
    packet = encoder.dims.sample_rate_hz * packet_ms // 1000
    batch = wave.shape[0]
    state = init_state(encoder.dims, batch)
    total = int(lengths.max())
    for start in range(0, total, packet):
        piece = wave[:, start : start + packet]
        _, _, state = infer(encoder, piece, torch.full((batch,), piece.shape[1]), state)
    infer(encoder, wave[:, :0], torch.zeros(batch, dtype=torch.long), state, final=True)


def streaming_twin(encoder: Wav2Vec2Encoder) -> Wav2Vec2Encoder:
    """The encoder itself when it streams, else the same sizes in the streamable variant."""
    if encoder.dims.streamable:
        return encoder
    dims = dataclasses.replace(
        encoder.dims, extractor_mode="layer_norm", attention="block_causal", normalize_waveform=False
    )
    return Wav2Vec2Encoder(dims).eval()


def parameter_counts(encoder: Wav2Vec2Encoder) -> tuple[int, int]:
    """(all parameters, those the intent path uses: no quantizer, projections or mask embedding)."""
    pretraining = ("quantizer.", "project_q.", "final_proj.", "mask_embedding")
    total = sum(p.numel() for p in encoder.parameters())
    used = sum(p.numel() for n, p in encoder.named_parameters() if not n.startswith(pretraining))
    return total, used


def flops_per_second(
    run: Callable[[torch.Tensor, torch.Tensor], object], dims: EncoderDims, seconds: float
) -> float:
    wave, lengths = clip(dims, seconds)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:  # inference_mode trips weight-norm parametrizations here
        run(wave, lengths)
    return counter.get_total_flops() / seconds


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    with torch.inference_mode():
        run()  # warm-up: allocator, kernels, lazy inits
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def transformers_twin(encoder: Wav2Vec2Encoder) -> nn.Module | None:
    """transformers' Wav2Vec2Model with a full-attention encoder's weights (None if unavailable)."""
    try:
        import transformers
    except ImportError:
        return None
    d = encoder.dims
    if d.attention != "full":
        return None
    config = transformers.Wav2Vec2Config(
        hidden_size=d.embed_dim,
        num_hidden_layers=d.num_layers,
        num_attention_heads=d.num_heads,
        intermediate_size=d.ffn_dim,
        conv_dim=[c for c, _, _ in d.conv_layers],
        conv_kernel=[k for _, k, _ in d.conv_layers],
        conv_stride=[s for _, _, s in d.conv_layers],
        conv_bias=d.conv_bias,
        feat_extract_norm="group" if d.extractor_mode == "group_norm" else "layer",
        do_stable_layer_norm=d.layer_norm_first,
        num_conv_pos_embeddings=d.pos_conv_kernel,
        num_conv_pos_embedding_groups=d.pos_conv_groups,
        mask_time_prob=0.0,
    )
    hf = transformers.Wav2Vec2Model(config).eval()
    ours = encoder.state_dict()
    state = {}
    for theirs, name in key_table(d).items():
        if name.startswith(("quantizer.", "project_q.", "final_proj.", "mask_embedding")):
            continue
        theirs = theirs.replace("conv.weight_g", "conv.parametrizations.weight.original0")
        theirs = theirs.replace("conv.weight_v", "conv.parametrizations.weight.original1")
        state[theirs] = ours[name]
    hf.load_state_dict(state, strict=True)
    return hf


def full_attention_twin(encoder: Wav2Vec2Encoder) -> Wav2Vec2Encoder:
    """The same weights with full attention (what transformers can express)."""
    if encoder.dims.attention == "full":
        return encoder
    full = Wav2Vec2Encoder(dataclasses.replace(encoder.dims, attention="full")).eval()
    full.load_state_dict(encoder.state_dict())
    return full


def hf_attention_name(hf: nn.Module) -> str:
    return str(getattr(hf.config, "_attn_implementation", "default"))


def parity(full: Wav2Vec2Encoder, hf: nn.Module) -> float:
    """Largest difference between our full-attention output and transformers' on the same weights."""
    dims = full.dims
    wave, lengths = clip(dims, 1.0)
    if dims.normalize_waveform:
        wave = (wave - wave.mean()) / torch.sqrt(wave.var(unbiased=False) + 1e-7)
    with torch.inference_mode():
        return float((full(wave, lengths).frames - hf(wave).last_hidden_state).abs().max())


if __name__ == "__main__":
    sys.exit(main())
