"""How a stage-1 encoder's quantizer labels speech: the targets its contrastive task has to predict.

Speech changes more slowly than the 20 ms frame rate, so a quantizer whose codes follow the sounds gives
neighbouring frames of one phoneme the same code pair, and a masked frame's target can be guessed from its
context. A quantizer that hashes every frame to a code pair of its own sets a task no context can solve.
This prints, over clips through the telephony channel (arg-max codes, as in evaluation):

- adjacent: the share of neighbouring frames with the same code pair;
- same pair: for a frame, the mean share of the clip's other frames that carry its code pair;
- distinct: distinct code pairs per frame of a clip (1.0: every frame its own pair).

    python -m training.code_usage runs/pretrain/encoder.safetensors --manifest data/corpus/manifest.jsonl
    python -m training.code_usage random      # a fresh tiny_8k encoder (seed 1337)
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ivr.model.checkpoint import load_checkpoint
from ivr.model.dims import tiny_8k
from ivr.model.encoder import Wav2Vec2Encoder
from training.config import TrainConfig
from training.data import DEFAULT_CHANNEL, ClipBank, make_batch
from training.manifest import read_manifest


@dataclass(frozen=True, slots=True)
class CodeUsage:
    adjacent: float  # share of neighbouring frames with the same code pair
    same_pair: float  # mean share of a clip's other frames carrying a frame's code pair
    distinct: float  # distinct code pairs per frame


def usage(codes: Sequence[Tensor]) -> CodeUsage:
    """One (F,) int tensor of code-pair ids per clip (F >= 2) -> the three statistics, clip means."""
    adjacent, same_pair, distinct = [], [], []
    for pairs in codes:
        n = len(pairs)
        equal = (pairs[:, None] == pairs[None, :]).float()  # (F, F), diagonal included
        adjacent.append(float((pairs[1:] == pairs[:-1]).float().mean()))
        same_pair.append(float(((equal.sum(1) - 1) / (n - 1)).mean()))
        distinct.append(len(set(pairs.tolist())) / n)
    return CodeUsage(*(float(np.mean(v)) for v in (adjacent, same_pair, distinct)))


@torch.no_grad()
def code_pairs(encoder: Wav2Vec2Encoder, wave: Tensor, lengths: Tensor) -> list[Tensor]:
    """(B, T) audio -> per clip, (F,) ids of the arg-max entry of every codebook, combined into one id."""
    out = encoder.eval()(wave, lengths)
    G, V = encoder.dims.num_codebooks, encoder.dims.codebook_size
    logits = encoder.quantizer.weight_proj(out.features).reshape(*out.features.shape[:2], G, V)
    entries = logits.argmax(-1)  # (B, F, G)
    ids = (entries * V ** torch.arange(G - 1, -1, -1)).sum(-1)  # (B, F)
    return [ids[b, : int(n)] for b, n in enumerate(out.frame_lengths) if n >= 2]


def load_encoder(source: str) -> Wav2Vec2Encoder:
    """A checkpoint's encoder, or "random": a fresh tiny_8k one (seed 1337), what stage 1 starts from."""
    if source == "random":
        torch.manual_seed(TrainConfig().seed)
        return Wav2Vec2Encoder(tiny_8k())
    loaded = load_checkpoint(source)
    return loaded.model if isinstance(loaded.model, Wav2Vec2Encoder) else loaded.model.encoder


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "encoder", help='a stage-1 checkpoint (runs/pretrain/encoder.safetensors) or "random"'
    )
    parser.add_argument("--manifest", default="data/corpus/manifest.jsonl")
    parser.add_argument("--split", default="unlabeled")
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    encoder = load_encoder(args.encoder)
    manifest = Path(args.manifest)
    utts = [u for u in read_manifest(manifest) if u.split == args.split][: args.clips]
    if not utts:
        parser.error(f"{manifest}: no clips in split {args.split!r}")
    bank = ClipBank.load(utts, cache_dir=manifest.parent / "cache")
    batch = make_batch(
        bank,
        list(range(len(bank))),
        np.random.default_rng(args.seed),
        label_index={},
        channel=DEFAULT_CHANNEL,
    )
    stats = usage(code_pairs(encoder, batch.wave, batch.lengths))
    print(
        f"{args.encoder}: {len(bank)} {args.split} clips; adjacent frames with the same code pair "
        f"{stats.adjacent:.3f}, other frames sharing a frame's pair {stats.same_pair:.3f}, "
        f"distinct pairs per frame {stats.distinct:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
