"""Replay each golden event log in cases/ and compare every action, in order."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import yaml

from ivr.flows.engine import new_call, step
from ivr.flows.events import describe_action
from ivr.flows.validate import load_flow

from .golden import parse_event

CASES = sorted(
    p for p in (Path(__file__).parent / "cases").glob("*.yaml") if not p.name.endswith(".flow.yaml")
)
NOW = datetime.fromisoformat("2026-03-03T10:00:00-05:00")


def test_there_are_cases() -> None:
    assert len(CASES) >= 3


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_golden_case(path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    flow = load_flow(path.parent / case["flow"])
    state = new_call("golden", flow)
    for i, item in enumerate(case["steps"]):
        state, actions = step(flow, state, parse_event(item["event"], NOW))
        assert [describe_action(a) for a in actions] == item["actions"], f"step {i}: {item['event']}"
    assert state.outcome == case["outcome"]
