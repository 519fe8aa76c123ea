"""``ivr flow simulate``: walk a flow from the terminal (or from piped lines) as a caller would.

Each input line is one caller turn:
  intent:make_payment 0.62    the model heard this (add ", deny 0.3" for a runner-up)
  12#   or  dtmf:12#          keys pressed
  silence                     the caller says nothing (the no-input timer fires)
  timer:no_input              a named timer fires (no_input, inter_digit, speech, webhook)
  webhook ok {"balance": 12}  answer a pending webhook (also: webhook fail 503, webhook timeout)
  path/to/clip.wav            run the audio through the intent model
  hangup | trace | help | quit
  anything else               words, matched to intents by keywords
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from ivr.errors import describe
from ivr.flows.driver import Driver
from ivr.flows.engine import explain
from ivr.flows.events import Action, CallWebhook, EndCall, Play, Transfer, describe_action
from ivr.flows.schema import Flow
from ivr.flows.words import match_words, parse_intents
from ivr.intents import DEFAULT_INTENTS

HELP = __doc__.split("\n\n", 1)[1] if __doc__ else ""
_KEYS = re.compile(r"^(?:dtmf:)?([0-9*#A-D]+)$")

Classify = Callable[[Path], list[tuple[str, float]]]


def model_classifier(model: str | None) -> Classify:
    """A WAV classifier backed by ivr.runtime.classify, loaded on first use (torch is slow to import)."""
    cache: dict[str, Any] = {}

    def classify(path: Path) -> list[tuple[str, float]]:
        if model is None:
            raise RuntimeError("no model given: pass --model PATH to classify WAV files")
        if not Path(model).is_file():
            raise RuntimeError(f"model file {model} not found")
        if "c" not in cache:
            try:
                from ivr.runtime.classify import Classifier  # type: ignore[import-not-found,unused-ignore]
            except ImportError as exc:
                raise RuntimeError(f"the intent model runtime is not available ({exc})") from exc
            cache["c"] = Classifier.from_checkpoint(model)
        result = cache["c"].classify_file(path)
        return [(str(i), float(c)) for i, c in result.top_k]

    return classify


class Simulator:
    def __init__(
        self,
        flow: Flow,
        out: TextIO,
        classify: Classify,
        labels: Sequence[str] = DEFAULT_INTENTS,
        verbose: bool = False,
    ) -> None:
        self.driver = Driver(flow, call_id="simulator")
        self.out = out
        self.classify = classify
        self.labels = labels
        self.verbose = verbose

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def show(self, actions: Iterable[Action]) -> None:
        for a in actions:
            if isinstance(a, Play):
                audio = f"  [{a.audio}]" if a.audio else ""
                self.say(f"IVR: {a.text}{audio}")
            elif isinstance(a, CallWebhook):
                body = f" {json.dumps(a.body)}" if a.body else ""
                self.say(f"  (webhook {a.method} {a.url}{body})")
                self.say('  answer with: webhook ok {"key": "value"} | webhook fail 503 | webhook timeout')
            elif isinstance(a, Transfer | EndCall):
                self.say(f"  ** {describe_action(a)}")
            elif self.verbose:
                self.say(f"  ({describe_action(a)})")

    def start(self, now: datetime, ani: str, dnis: str, language: str) -> None:
        self.show(self.driver.start(now, ani=ani, dnis=dnis, language=language))

    def turn(self, line: str) -> bool:
        """Handle one input line; False when the session is over."""
        line = line.strip()
        d = self.driver
        if not line or line.startswith("#!"):
            return True
        if line in ("quit", "exit"):
            return False
        if line == "help":
            self.say(HELP)
            return True
        if line == "trace":
            self.say("\n".join(explain(d.state)))
            return True
        if d.state.ended:
            self.say("  (the call has ended; type quit)")
            return False
        try:
            self.show(self._act(line))
        except (ValueError, RuntimeError, OSError) as exc:
            self.say(f"  error: {describe(exc)}")
        return not d.state.ended

    def _act(self, line: str) -> list[Action]:
        d = self.driver
        low = line.lower()
        if low.startswith("webhook"):
            return self._webhook(line[len("webhook") :].strip())
        if d.waiting_for_webhook:
            raise ValueError(
                "a webhook is pending: answer it first (webhook ok {...} | webhook fail | webhook timeout)"
            )
        if low == "silence":
            return d.silence()
        if low.startswith("timer:"):
            kind = low[len("timer:") :].strip()
            if not d.running(kind):
                running = ", ".join(sorted(t.split("#")[0] for t in d.state.timers)) or "none"
                raise ValueError(f"no {kind} timer is running (running: {running})")
            return d.fire(kind)
        if low == "hangup":
            return d.hangup()
        if low.startswith("intent:"):
            return d.say(parse_intents(line))
        m = _KEYS.match(line)
        if m:
            return d.keys(m.group(1))
        if low.endswith(".wav"):
            top_k = self.classify(Path(line))
            self.say("  heard " + ", ".join(f"{i} {c:.2f}" for i, c in top_k[:3]))
            return d.say(top_k)
        top_k = match_words(line, self.labels)
        self.say("  heard " + ", ".join(f"{i} {c:.2f}" for i, c in top_k))
        return d.say(top_k, transcript=line)

    def _webhook(self, rest: str) -> list[Action]:
        d = self.driver
        if not d.waiting_for_webhook:
            raise ValueError("no webhook is pending")
        if rest.startswith("timeout"):
            return d.webhook_timeout()
        if rest.startswith("fail"):
            status = rest[4:].strip()
            return d.webhook(False, int(status) if status.isdigit() else 500)
        if rest.startswith("ok"):
            body = rest[2:].strip() or "{}"
            try:
                data = json.loads(body)
            except json.JSONDecodeError as exc:
                raise ValueError(f"webhook ok needs a JSON object: {exc.msg}") from None
            if not isinstance(data, dict):
                raise ValueError("webhook ok needs a JSON object")
            return d.webhook(True, 200, data)
        raise ValueError("say: webhook ok {json} | webhook fail [status] | webhook timeout")


def run(
    sim: Simulator,
    lines: Iterable[str],
    now: datetime,
    ani: str = "",
    dnis: str = "",
    language: str = "",
    prompt: Callable[[], None] | None = None,
) -> int:
    """Drive a whole call; returns 0 once it ends or the input runs out."""
    sim.start(now, ani, dnis, language)
    if prompt:
        prompt()
    for line in lines:
        if prompt is None and line.strip():
            sim.say(f"caller> {line.strip()}")  # piped input: echo it so the transcript reads as a dialogue
        if not sim.turn(line):
            break
        if prompt:
            prompt()
    state = sim.driver.state
    sim.say("")
    sim.say("\n".join(explain(state)))
    return 0
