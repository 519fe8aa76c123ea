"""Benchmark whole-utterance classification on CPU, as received and through voice views.

``Classifier`` with views runs the acoustic model once per view (the CTC beam search still once per
clip), and each view's warp is a resampling or an STFT round trip: this says what hearing a call through
views costs per second of audio. Real-time factor = compute seconds / audio seconds.

    python bench/bench_classify.py                                          # the bundled sample, 10 repeats
    python bench/bench_classify.py --wav a.wav b.wav --views speed:0.9,formants:1.1
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from ivr.audio.warp import parse_views
from ivr.audio.wav import load_audio
from ivr.runtime.classify import INPUT_RATE_HZ, VIEW_RULES, Classifier

ROOT = Path(__file__).resolve().parent.parent
RECIPE_VIEWS = (
    "speed:0.9,speed:0.95,speed:1.05,speed:1.1,formants:0.9,formants:0.95,formants:1.05,formants:1.1"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "ivr-tiny-8k.safetensors")
    parser.add_argument(
        "--wav", type=Path, nargs="+", default=[ROOT / "tests" / "data" / "lost_card_8k_ulaw.wav"]
    )
    parser.add_argument("--views", default=RECIPE_VIEWS, help="the views to time against none")
    parser.add_argument("--view-rule", choices=VIEW_RULES, default="min_entropy")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    classifier = Classifier.from_checkpoint(args.model)
    clips = [load_audio(p, sample_rate_hz=INPUT_RATE_HZ) for p in args.wav]
    audio_s = sum(len(c) for c in clips) / INPUT_RATE_HZ * args.repeats
    views = parse_views(args.views)
    print(
        f"# {platform.processor() or platform.machine()}, {args.threads} thread(s), torch {torch.__version__}"
    )
    print(f"{len(clips)} clip(s) x {args.repeats}: {audio_s:.1f} s of audio, one clip per call")
    print("| setting | RTF | ms per second of audio |\n|---|---|---|")
    started = time.perf_counter()
    for _ in range(args.repeats):
        for clip in clips:
            for view in views:
                view.apply(clip)
    seconds = time.perf_counter() - started
    print(f"| the {len(views)} warps alone | {seconds / audio_s:.4f} | {1000 * seconds / audio_s:.1f} |")
    for name, chosen in (("as received", ()), (f"{len(views)} views, {args.view_rule}", views)):
        classifier.views, classifier.view_rule = tuple(chosen), args.view_rule
        classifier.classify(clips[0])  # warm-up: the LM's lookup cache, torch's first-call costs
        started = time.perf_counter()
        for _ in range(args.repeats):
            for clip in clips:
                classifier.classify(clip)
        seconds = time.perf_counter() - started
        print(f"| classify, {name} | {seconds / audio_s:.4f} | {1000 * seconds / audio_s:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
