"""``ivr info``: what this installation will load, and whether it is there."""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

from ivr import __version__
from ivr.config import default_flow_path, default_model_path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("info", help="show the version and the default model and flow")
    parser.set_defaults(func=run)


def _describe(path: Path) -> str:
    if not path.exists():
        return f"{path} (missing)"
    return f"{path} ({path.stat().st_size / 1e6:.1f} MB)"


def run(args: argparse.Namespace) -> int:
    import torch

    print(f"ivr {__version__} on Python {platform.python_version()}, torch {torch.__version__}")
    print(f"model: {_describe(default_model_path())}")
    print(f"flow:  {_describe(default_flow_path())}")
    return 0
