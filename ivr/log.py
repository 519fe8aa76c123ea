"""Logging, configured once at the edge (the CLI or the server).

Human-readable on a terminal, JSON lines off one (or with ``--log-json``). Code that logs about a call
binds ``call_id`` so every line of that call carries it: ``log = get_logger().bind(call_id=...)``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog


def configure_logging(*, json: bool | None = None, level: str = "info", stream: TextIO | None = None) -> None:
    """Set up structlog; ``json=None`` picks JSON when ``stream`` is not a terminal."""
    stream = stream or sys.stderr
    if json is None:
        json = not stream.isatty()
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if json:
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        processors += [structlog.dev.ConsoleRenderer(colors=stream.isatty())]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


def get_logger(**initial: Any) -> Any:
    """A structlog logger with ``initial`` key/values bound (``call_id=...`` for anything about a call)."""
    return structlog.get_logger().bind(**initial)
