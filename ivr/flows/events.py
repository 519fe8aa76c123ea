"""What goes into the flow engine (events) and what comes out (actions).

The engine never touches audio, sockets or clocks: a call session turns transport activity into
these events and carries out the actions. Timers are actions too (``StartTimer``) and come back
as events (``TimerFired``), so a whole call can be replayed from its event log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# ---------------------------------------------------------------- events (session -> engine)


@dataclass(frozen=True, slots=True)
class CallStarted:
    """A new call. ``now`` must be timezone-aware: business-hours checks convert it."""

    now: datetime
    ani: str = ""  # the caller's number
    dnis: str = ""  # the number dialled
    language: str = ""  # "" picks the flow's default language
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PromptFinished:
    """The last ``Play`` finished (or was cut by barge-in)."""


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The endpointer heard the caller start speaking."""


@dataclass(frozen=True, slots=True)
class IntentResult:
    """What the model heard: ``top_k`` as (intent, confidence), best first."""

    top_k: tuple[tuple[str, float], ...]
    transcript: str = ""


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    digit: str  # one of 0-9 * # A-D


@dataclass(frozen=True, slots=True)
class TimerFired:
    name: str  # the name given in the matching StartTimer


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """The answer to a ``CallWebhook``; ``ok=False`` covers timeouts, network errors and HTTP errors."""

    ok: bool
    status: int = 0
    data: Mapping[str, Any] = field(default_factory=dict)
    request_id: str = ""  # "" matches any pending request


@dataclass(frozen=True, slots=True)
class Hangup:
    """The caller hung up."""


Event = (
    CallStarted
    | PromptFinished
    | SpeechStarted
    | IntentResult
    | DtmfDigit
    | TimerFired
    | WebhookResult
    | Hangup
)

# ---------------------------------------------------------------- actions (engine -> session)


@dataclass(frozen=True, slots=True)
class Play:
    """Say ``text`` (text-to-speech) or play ``audio`` (a file) in ``language``; answer with PromptFinished."""

    text: str
    audio: str | None
    language: str
    barge_in: bool


@dataclass(frozen=True, slots=True)
class StartRecognition:
    """Listen for speech intents and DTMF until ``StopRecognition``."""


@dataclass(frozen=True, slots=True)
class StopRecognition:
    pass


@dataclass(frozen=True, slots=True)
class StartTimer:
    name: str
    ms: int


@dataclass(frozen=True, slots=True)
class CancelTimer:
    name: str


@dataclass(frozen=True, slots=True)
class CallWebhook:
    """One HTTP request; the session answers with ``WebhookResult(request_id=...)``."""

    request_id: str
    method: str
    url: str
    body: Mapping[str, Any] | None
    headers: Mapping[str, str]
    timeout_ms: int


@dataclass(frozen=True, slots=True)
class Transfer:
    """Hand the call over: ``target`` is ``queue:NAME``, a ``sip:`` URI or a ``tel:`` number."""

    target: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class EndCall:
    """Hang up on the caller."""

    reason: str


Action = (
    Play | StartRecognition | StopRecognition | StartTimer | CancelTimer | CallWebhook | Transfer | EndCall
)


def describe_action(action: Action) -> str:
    """One line per action, for the simulator, the test runner and logs."""
    match action:
        case Play(text=text, audio=audio, language=lang, barge_in=barge_in):
            extra = f" [audio {audio}]" if audio else ""
            return f'play({lang}{", barge-in" if barge_in else ""}): "{text}"{extra}'
        case StartRecognition():
            return "start recognition"
        case StopRecognition():
            return "stop recognition"
        case StartTimer(name=name, ms=ms):
            return f"start timer {name} {ms} ms"
        case CancelTimer(name=name):
            return f"cancel timer {name}"
        case CallWebhook(method=method, url=url, body=body, timeout_ms=timeout_ms):
            return f"webhook {method} {url} body={dict(body) if body else None} timeout={timeout_ms} ms"
        case Transfer(target=target, data=data):
            return f"transfer to {target} with {dict(data)}"
        case EndCall(reason=reason):
            return f"hang up ({reason})"
    return repr(action)
