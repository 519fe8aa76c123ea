"""Read a pickled ``.pt`` checkpoint without executing code from it.

fairseq checkpoints are pickles: unpickling one with plain ``pickle`` runs whatever callables the
file names. We load through torch's ``weights_only`` unpickler, which rebuilds tensors and plain
containers only, and widen its allow-list by exactly the data-only globals fairseq files hold:
``argparse.Namespace`` (the ``args`` of older checkpoints) and numpy scalars/arrays (training
metrics in ``extra_state``). Any other global is refused with a ``CheckpointError`` naming it.
"""

from __future__ import annotations

import argparse
import importlib
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ivr.errors import CheckpointError

# numpy pickles name their reconstructors by module path, which moved from numpy.core to
# numpy._core in numpy 2: allow both spellings, each bound to the installed object.
_MULTIARRAY = importlib.import_module(
    "numpy._core.multiarray" if hasattr(np, "_core") else "numpy.core.multiarray"
)
_NUMPY_GLOBALS: list[tuple[Any, str]] = [
    (np.dtype, "numpy.dtype"),
    (np.ndarray, "numpy.ndarray"),
    *(
        (getattr(_MULTIARRAY, name), f"{prefix}.multiarray.{name}")
        for prefix in ("numpy.core", "numpy._core")
        for name in ("scalar", "_reconstruct")
    ),
]

# a numpy dtype unpickles by building an instance of its class in numpy.dtypes (Float64DType, ...)
_NUMPY_DTYPES = [getattr(np.dtypes, name) for name in np.dtypes.__all__]

ALLOWED_GLOBALS: list[Any] = [argparse.Namespace, *_NUMPY_GLOBALS, *_NUMPY_DTYPES]

# how torch's weights-only unpickler names what it refused: a global it will not import, or a
# class it will not build
_REFUSED_NAME = re.compile(r"GLOBAL ([\w.]+)|but got <class '([\w.]+)'>")


def load_pickled(path: Path) -> Any:
    """The object pickled in a torch ``.pt`` file (zip or legacy format), tensors on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    _refuse_torchscript(path)
    try:
        with torch.serialization.safe_globals(ALLOWED_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{path}: {_describe_refusal(str(exc))}") from None
    except (RuntimeError, EOFError, ValueError, OSError, KeyError) as exc:
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({_first_line(exc)})") from None


def _refuse_torchscript(path: Path) -> None:
    # torch.load hands TorchScript archives to torch.jit.load, which runs their code.
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise CheckpointError(f"{path}: corrupt zip archive ({exc})") from None
    if any(name.endswith("constants.pkl") for name in names):
        raise CheckpointError(f"{path}: a TorchScript archive, not a state-dict checkpoint")


def _describe_refusal(message: str) -> str:
    found = _REFUSED_NAME.search(message)
    if found:
        return (
            f"refused to unpickle the global {found.group(1) or found.group(2)!r}: only tensors, "
            "plain containers, "
            "argparse.Namespace and numpy scalars are allowed in an imported checkpoint"
        )
    detail = message.split("WeightsUnpickler error:")[-1] if "WeightsUnpickler" in message else message
    return f"not a readable torch checkpoint ({_first_line_text(detail)})"


def _first_line(exc: BaseException) -> str:
    return _first_line_text(str(exc)) or type(exc).__name__


def _first_line_text(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[0] if lines else ""
