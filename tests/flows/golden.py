"""Golden event logs: each case in tests/flows/cases/*.yaml pairs events with the exact actions expected.

Event syntax: start | prompt_finished | speech | intent:NAME@CONF[,NAME@CONF] | dtmf:D | timer:NAME |
webhook:ok:STATUS:{json} | webhook:fail:STATUS | hangup. Actions are compared as describe_action() lines.
"""

from __future__ import annotations

import json
from datetime import datetime

from ivr.flows.events import (
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
from ivr.flows.words import parse_intents


def parse_event(text: str, now: datetime) -> Event:
    kind, _, rest = text.partition(":")
    if kind == "start":
        return CallStarted(now=now, ani="+15551234567", dnis="+18005550100")
    if kind == "prompt_finished":
        return PromptFinished()
    if kind == "speech":
        return SpeechStarted()
    if kind == "intent":
        return IntentResult(tuple(parse_intents(rest)))
    if kind == "dtmf":
        return DtmfDigit(rest)
    if kind == "timer":
        return TimerFired(rest)
    if kind == "hangup":
        return Hangup()
    if kind == "webhook":
        ok, _, tail = rest.partition(":")
        status, _, body = tail.partition(":")
        return WebhookResult(ok == "ok", int(status), json.loads(body) if body else {})
    raise ValueError(f"unknown event {text!r}")
