"""Build small flows from YAML text for engine and validator tests."""

from __future__ import annotations

import textwrap

from ivr.flows.schema import Flow
from ivr.flows.validate import Report, validate_text

HEADER = """\
flow: t
version: "1"
start: menu
"""


def report(text: str, labels: tuple[str, ...] | None = None, file: str = "t.yaml") -> Report:
    from ivr.intents import DEFAULT_INTENTS

    return validate_text(textwrap.dedent(text), file, labels or DEFAULT_INTENTS)


def flow(text: str) -> Flow:
    r = report(text)
    assert r.flow is not None and r.ok, "\n".join(str(i) for i in r.issues)
    return r.flow


def pos_of(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """1-based (line, column) of the nth occurrence of ``needle`` in dedented ``text``."""
    text = textwrap.dedent(text)
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    return line, column
