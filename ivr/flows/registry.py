"""Serving flows while they change: a hot reload that fails validation keeps the old version.

Each call records the version it started on (``CallState.flow_version``), and the registry keeps
every version a call may still need, so a call in progress finishes on the flow it began with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ivr.errors import FlowError
from ivr.flows.engine import CallState, new_call, step
from ivr.flows.events import Action, Event
from ivr.flows.schema import Flow
from ivr.flows.validate import load_flow
from ivr.intents import DEFAULT_INTENTS
from ivr.log import get_logger


@dataclass(frozen=True, slots=True)
class ReloadResult:
    ok: bool
    version: str  # the version serving new calls after the reload
    errors: str = ""


class FlowRegistry:
    def __init__(self, labels: Sequence[str] = DEFAULT_INTENTS) -> None:
        self.labels = tuple(labels)
        self._current: dict[str, Flow] = {}  # flow name -> version for new calls
        self._versions: dict[str, Flow] = {}  # version tag -> flow, for calls in progress
        self._log = get_logger()

    def load(self, path: str | Path) -> Flow:
        """Load and validate ``path``; raises FlowError (the server refuses to start on it)."""
        flow = load_flow(path, self.labels)
        self._current[flow.name] = flow
        self._versions[flow.version_tag] = flow
        return flow

    def reload(self, path: str | Path) -> ReloadResult:
        """Swap in a new version for new calls, or keep the old one if the new one is invalid."""
        try:
            flow = self.load(path)
        except (FlowError, OSError) as exc:
            serving = next((f.version_tag for f in self._current.values() if f.file == str(path)), "")
            self._log.warning("flow.reload_rejected", file=str(path), serving=serving, errors=str(exc))
            return ReloadResult(False, serving, str(exc))
        self._log.info("flow.reloaded", file=str(path), version=flow.version_tag)
        return ReloadResult(True, flow.version_tag)

    def current(self, name: str) -> Flow:
        try:
            return self._current[name]
        except KeyError:
            raise FlowError(f"no flow named {name!r} is loaded") from None

    def start_call(self, name: str, call_id: str) -> CallState:
        return new_call(call_id, self.current(name))

    def flow_for(self, state: CallState) -> Flow:
        try:
            return self._versions[state.flow_version]
        except KeyError:
            raise FlowError(f"flow version {state.flow_version!r} is not loaded") from None

    def step(self, state: CallState, event: Event) -> tuple[CallState, list[Action]]:
        """Advance a call on the version it started with."""
        return step(self.flow_for(state), state, event)

    def forget_unused(self, live: Sequence[CallState]) -> int:
        """Drop versions no live call and no current flow uses; returns how many were dropped."""
        keep = {s.flow_version for s in live} | {f.version_tag for f in self._current.values()}
        stale = [v for v in self._versions if v not in keep]
        for v in stale:
            del self._versions[v]
        return len(stale)
