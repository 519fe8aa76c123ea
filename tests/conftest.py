"""Shared test helpers."""

from __future__ import annotations

import shutil

import pytest


def require_binaries(*names: str) -> None:
    """Fail, never skip, when a tool that `make setup` installs is missing: a skip would hide a broken set-up."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        pytest.fail(
            f"missing {', '.join(missing)}: `make setup` (scripts/install-system-deps.sh) installs them"
        )
