"""Shared test helpers."""

from __future__ import annotations

import shutil

import numpy as np
import pytest


def require_binaries(*names: str) -> None:
    """Fail, never skip, when a tool that `make setup` installs is missing: a skip would hide a broken set-up."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        pytest.fail(
            f"missing {', '.join(missing)}: `make setup` (scripts/install-system-deps.sh) installs them"
        )


def tone(freq_hz: float, seconds: float = 1.0, rate_hz: int = 8000, amplitude: float = 1.0) -> np.ndarray:
    """A sine at ``freq_hz`` as float32 samples."""
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
