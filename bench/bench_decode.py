"""Benchmark CTC decoding on CPU: greedy vs the phoneme-LM beam search, per second of audio.

The beam search runs in Python, frame by frame; this says what it costs beside the encoder. Each
clip is run through the model once (the CTC log-probabilities are the input of both decoders), then
each decoder is timed over all clips. Real-time factor = compute seconds / audio seconds.

    python bench/bench_decode.py                                   # the bundled sample, 20 repeats
    python bench/bench_decode.py --wav a.wav b.wav --repeats 5     # your clips
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from ivr.audio.wav import load_audio
from ivr.model.checkpoint import load_checkpoint
from ivr.model.ctc_decode import CTCBeamSearch, decoder_for
from ivr.model.model import IntentModel

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "ivr-tiny-8k.safetensors")
    parser.add_argument(
        "--wav", type=Path, nargs="+", default=[ROOT / "tests" / "data" / "lost_card_8k_ulaw.wav"]
    )
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = load_checkpoint(args.model).model
    if not isinstance(model, IntentModel) or model.ctc_head is None:
        raise SystemExit(f"{args.model}: needs an intent model with a CTC head")
    rate = model.dims.sample_rate_hz
    clips = [load_audio(p, sample_rate_hz=rate) for p in args.wav]
    audio_s = sum(len(c) for c in clips) / rate * args.repeats
    started = time.perf_counter()
    log_probs = []
    with torch.no_grad():
        for _ in range(args.repeats):
            for clip in clips:
                out = model(torch.from_numpy(np.asarray(clip, np.float32))[None], torch.tensor([len(clip)]))
                assert out.ctc_log_probs is not None
                log_probs.append(out.ctc_log_probs[0, : int(out.frame_lengths[0])].float().numpy())
    encoder_s = time.perf_counter() - started
    print(
        f"# {platform.processor() or platform.machine()}, {args.threads} thread(s), torch {torch.__version__}"
    )
    print(
        f"{len(clips)} clip(s) x {args.repeats}: {audio_s:.1f} s of audio, {sum(map(len, log_probs))} frames"
    )
    print(
        f"| step | RTF | ms per second of audio |\n|---|---|---|\n| model forward | {encoder_s / audio_s:.4f} | {1000 * encoder_s / audio_s:.1f} |"
    )
    decoders = {"greedy": decoder_for(None)}
    if model.phoneme_lm is not None:
        lm = model.phoneme_lm
        decoders[f"beam {lm.dims.beam}, {lm.dims.order}-gram LM"] = CTCBeamSearch.of(lm).decode
        decoders[f"beam {lm.dims.beam}, no LM"] = CTCBeamSearch(
            None, 0.0, lm.dims.length_bonus, lm.dims.beam
        ).decode
    for name, decode in decoders.items():
        started = time.perf_counter()
        for lp in log_probs:
            decode(lp)
        seconds = time.perf_counter() - started
        print(f"| {name} | {seconds / audio_s:.4f} | {1000 * seconds / audio_s:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
