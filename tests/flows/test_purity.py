"""The engine's purity is a design rule (docs/flows.md): check its imports and clock use statically."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ivr.flows

PURE = ["engine.py", "events.py", "schema.py", "expr.py", "calendar.py", "driver.py", "words.py"]
FORBIDDEN = {
    "torch",
    "asyncio",
    "time",
    "random",
    "socket",
    "urllib",
    "http",
    "subprocess",
    "os",
    "requests",
    "threading",
}


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_import_no_io_and_read_no_clock(name: str) -> None:
    source = (Path(ivr.flows.__file__).parent / name).read_text()
    tree = ast.parse(source)
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in ("now", "utcnow", "today")
            and isinstance(node.value, ast.Name)
            and node.value.id in ("datetime", "date")
        ):
            pytest.fail(f"{name}:{node.lineno} reads the clock (.{node.attr})")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("eval", "exec", "open")
        ):
            pytest.fail(f"{name}:{node.lineno} calls {node.func.id}()")
    assert not imported & FORBIDDEN
