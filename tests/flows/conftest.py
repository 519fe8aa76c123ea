from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import structlog

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FLOW = ROOT / "flows" / "customer_service.yaml"
OPEN = datetime(2026, 3, 3, 10, 0, tzinfo=ZoneInfo("America/New_York"))  # a Tuesday morning


@pytest.fixture(autouse=True)
def quiet_logs() -> Iterator[None]:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    yield
    structlog.reset_defaults()
