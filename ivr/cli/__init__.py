"""The ``ivr`` command line: a thin shell over the library.

Each subcommand lives in its own module exposing ``register(subparsers)``; the module sets
``func`` on its parser with ``set_defaults(func=...)``, a callable taking the parsed namespace and
returning an exit status. Errors the user can fix (``IvrError``, ``OSError``) print one line on
stderr and exit non-zero; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence

from ivr import __version__
from ivr.errors import IvrError, describe
from ivr.log import configure_logging

# Subcommand modules, in the order --help lists them.
COMMAND_MODULES = (
    "ivr.cli.info",
    "ivr.cli.audio",
    "ivr.cli.train",
    "ivr.cli.classify",
    "ivr.cli.flow",
)


class _Parser(argparse.ArgumentParser):
    """argparse exits with status 2 and a usage line on bad arguments; keep that, but make it one error line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ivr", description="Telephony IVR intent-routing engine.")
    parser.add_argument("--version", action="version", version=f"ivr {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--log-json", action="store_true", help="log JSON lines even on a terminal")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(json=True if args.log_json else None, level="debug" if args.debug else "info")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (IvrError, OSError) as exc:
        if args.debug:
            traceback.print_exc()
        print(f"ivr: error: {describe(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
