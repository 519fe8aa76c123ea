"""Where the engine finds its defaults: the shipped model and the default flow.

``IVR_MODEL`` and ``IVR_FLOW`` override them; otherwise they are looked up beside the package, in
the source checkout that ``make`` installs in editable mode.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_NAME = "ivr-tiny-8k.safetensors"
DEFAULT_FLOW_NAME = "customer_service.yaml"


def default_model_path() -> Path:
    """The checkpoint used when no ``--model`` is given."""
    return Path(os.environ.get("IVR_MODEL") or PROJECT_ROOT / "models" / DEFAULT_MODEL_NAME)


def default_flow_path() -> Path:
    """The flow used when no ``--flow`` is given."""
    return Path(os.environ.get("IVR_FLOW") or PROJECT_ROOT / "flows" / DEFAULT_FLOW_NAME)
