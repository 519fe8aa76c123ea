"""``ivr classify``: the intent of each WAV file, from the shipped model or another checkpoint."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ivr.config import default_model_path
from ivr.errors import CheckpointError, ConfigError

if TYPE_CHECKING:  # torch loads only when a command needs the model, so `ivr --help` stays fast
    from ivr.audio.warp import VoiceView
    from ivr.runtime.classify import ClassifyResult

VIEW_RULE_CHOICES = ("mean", "min_entropy")  # ivr.runtime.classify.VIEW_RULES, without loading torch


def add_view_flags(parser: argparse.ArgumentParser, what: str) -> None:
    """``--views`` and ``--view-rule``: unset, the checkpoint's own (read them with ``views_from_flag``)."""
    parser.add_argument(
        "--views",
        default=None,
        help=f"voice warps heard besides {what} as received, e.g. speed:0.9,formants:0.85 "
        "(default: the model's own; '' for none)",
    )
    parser.add_argument(
        "--view-rule",
        choices=VIEW_RULE_CHOICES,
        default=None,
        help="how views combine (default: the model's)",
    )


def views_from_flag(spec: str | None) -> tuple[VoiceView, ...] | None:
    """The views ``--views`` asks for, ``None`` when unset; a bad spec is a ConfigError."""
    from ivr.audio.warp import parse_views

    try:
        return None if spec is None else parse_views(spec)
    except ValueError as e:
        raise ConfigError(f"--views: {e}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("classify", help="classify the intent of WAV files (any format and rate)")
    parser.add_argument("files", nargs="+", metavar="FILE.wav")
    parser.add_argument(
        "--model", type=Path, default=None, help=f"checkpoint (default {default_model_path()})"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--top-k", type=int, default=3, help="labels listed per file (default 3)")
    add_view_flags(parser, "each file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ivr.runtime.classify import Classifier

    path = args.model or default_model_path()
    if not Path(path).exists():
        hint = " (build it with `make model`, or pass --model PATH)" if args.model is None else ""
        raise CheckpointError(f"{path}: model checkpoint not found{hint}")
    classifier = Classifier.from_checkpoint(path, top_k=args.top_k)
    views = views_from_flag(args.views)
    if views is not None:
        classifier.views = views
    if args.view_rule is not None:
        classifier.view_rule = args.view_rule
    for file in args.files:
        result = classifier.classify_file(file)
        print(format_json(file, result) if args.json else format_text(file, result), flush=True)
    return 0


def format_json(path: str, r: ClassifyResult) -> str:
    row: dict[str, object] = {
        "path": path,
        "intent": r.intent,
        "confidence": round(r.confidence, 4),
        "scores": _rounded(r.scores),
        "top_k": [[k, round(v, 4)] for k, v in r.top_k],
        "transcript": r.transcript,
    }
    # A model with a phoneme head fuses two heads: each one's own view, for logs and debugging.
    if r.audio_scores is not None:
        row["audio_scores"] = _rounded(r.audio_scores)
    if r.text_scores is not None:
        row["text_scores"] = _rounded(r.text_scores)
    return json.dumps(row, ensure_ascii=False)


def _rounded(scores: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in scores.items()}


def format_text(path: str, r: ClassifyResult) -> str:
    ranked = ", ".join(f"{k} {v:.2f}" for k, v in r.top_k)
    line = f"{path}: {r.intent} ({r.confidence:.2f})  [{ranked}]"
    return f"{line}  /{r.transcript}/" if r.transcript else line
