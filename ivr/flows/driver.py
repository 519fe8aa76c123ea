"""A synchronous stand-in for the call session: feeds the engine caller turns, plays prompts instantly.

The simulator and the conversation test runner both drive calls through this. Prompts "finish" as
soon as they start; silence fires whichever input timer is running; keys are pressed one by one
and the caller then stops pressing (the inter-digit timer fires if one is left).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ivr.flows.engine import CallState, new_call, step
from ivr.flows.events import (
    Action,
    CallStarted,
    DtmfDigit,
    Event,
    Hangup,
    IntentResult,
    PromptFinished,
    SpeechStarted,
    TimerFired,
    WebhookResult,
)
from ivr.flows.schema import Flow

SILENCE_ORDER = ("inter_digit", "speech", "no_input")


class Driver:
    def __init__(self, flow: Flow, call_id: str = "sim") -> None:
        self.flow = flow
        self.state: CallState = new_call(call_id, flow)
        self.log: list[Action] = []  # every action of the call, in order

    def send(self, event: Event) -> list[Action]:
        """Feed one event, then finish every prompt it started; return all actions it caused."""
        out: list[Action] = []
        self.state, actions = step(self.flow, self.state, event)
        out += actions
        for _ in range(1000):
            if self.state.phase != "prompt":
                break
            self.state, actions = step(self.flow, self.state, PromptFinished())
            out += actions
        self.log += out
        return out

    def start(
        self,
        now: datetime,
        ani: str = "",
        dnis: str = "",
        language: str = "",
        extra: Mapping[str, str] | None = None,
    ) -> list[Action]:
        return self.send(CallStarted(now=now, ani=ani, dnis=dnis, language=language, extra=dict(extra or {})))

    def say(self, top_k: Sequence[tuple[str, float]], transcript: str = "") -> list[Action]:
        out = self.send(SpeechStarted())
        return out + self.send(IntentResult(tuple(top_k), transcript))

    def keys(self, digits: str) -> list[Action]:
        out: list[Action] = []
        for d in digits:
            if self.state.ended:
                break
            out += self.send(DtmfDigit(d))
        if any(t.startswith("inter_digit#") for t in self.state.timers):
            out += self.silence()
        return out

    def silence(self) -> list[Action]:
        """The caller says nothing: the running input timer fires."""
        for kind in SILENCE_ORDER:
            if self.running(kind):
                return self.fire(kind)
        return []

    def running(self, kind: str) -> bool:
        return any(name.split("#")[0] == kind for name in self.state.timers)

    def fire(self, kind: str) -> list[Action]:
        """The running timer of ``kind`` (no_input, inter_digit, speech, webhook) fires."""
        for name in sorted(self.state.timers):
            if name.split("#")[0] == kind:
                return self.send(TimerFired(name))
        return []

    def webhook(self, ok: bool, status: int = 200, data: Mapping[str, Any] | None = None) -> list[Action]:
        return self.send(WebhookResult(ok=ok, status=status, data=dict(data or {})))

    def webhook_timeout(self) -> list[Action]:
        return self.fire("webhook")

    def hangup(self) -> list[Action]:
        return self.send(Hangup())

    @property
    def waiting_for_webhook(self) -> bool:
        return self.state.phase == "webhook"
