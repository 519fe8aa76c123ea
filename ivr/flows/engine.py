"""The flow engine: a pure, deterministic state machine, ``step(flow, state, event) -> (state, actions)``.

No I/O, no clocks, no model: timers go out as ``StartTimer`` and come back as ``TimerFired``, the
model's output comes in as ``IntentResult``, HTTP goes out as ``CallWebhook`` and comes back as
``WebhookResult``. So any call can be replayed from its event log, and tests need no audio.

A call moves through phases:
  new -> prompt (playing a queue of prompts) -> listen (gathering speech/keys) | confirm (yes/no on
  a low-confidence choice) | webhook (waiting for an HTTP answer) -> ... -> ended.
Events a phase does not expect are ignored (and traced), so a late timer or a stray key is harmless.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePath
from typing import Any

from ivr.flows import expr
from ivr.flows.events import (
    Action,
    CallStarted,
    CallWebhook,
    CancelTimer,
    DtmfDigit,
    EndCall,
    Event,
    Hangup,
    IntentResult,
    Play,
    PromptFinished,
    SpeechStarted,
    StartRecognition,
    StartTimer,
    StopRecognition,
    TimerFired,
    Transfer,
    WebhookResult,
)
from ivr.flows.schema import (
    REPEAT,
    BranchNode,
    CallNode,
    CollectNode,
    Cond,
    ConfirmNode,
    Flow,
    GotoNode,
    Handler,
    HangupNode,
    Listening,
    MenuNode,
    Node,
    PlayNode,
    Prompt,
    ReturnNode,
    Route,
    SetNode,
    Target,
    TransferNode,
    WebhookNode,
)
from ivr.log import get_logger

MAX_HOPS = 100  # non-waiting nodes (set, branch, goto...) entered within one event: a loop fuse
DEFAULT_CONFIRM = (
    "I think you want {choice}. Is that right? Say yes or press 1. Otherwise, say no or press 2."
)
AFFIRM, DENY = "affirm", "deny"


@dataclass(frozen=True, slots=True)
class TraceEntry:
    step: int
    node: str
    what: str
    exit: str | None = None  # the exit taken, "node:key" ("*:global:goodbye" for flow-wide ones)


@dataclass(frozen=True, slots=True)
class CallState:
    """Everything the engine knows about one call. Replace, never mutate."""

    call_id: str
    flow_version: str  # the flow this call started on; a hot reload does not change it
    phase: str = "new"  # new | prompt | listen | confirm | webhook | ended
    node: str | None = None
    queue: tuple[Play, ...] = ()  # prompts still to play; queue[0] is playing
    then: str = ""  # what follows the prompts: listen | confirm | next | transfer | hangup
    language: str = ""
    variables: Mapping[str, Any] = field(default_factory=dict)
    caller: Mapping[str, str] = field(default_factory=dict)
    last: Mapping[str, Any] = field(default_factory=dict)  # last.intent, last.confidence, last.digits
    now: datetime | None = None
    digits: str = ""
    swallow: str = ""  # a terminator key typed after max_digits already ended the entry: drop it once
    counters: Mapping[str, int] = field(default_factory=dict)
    stack: tuple[str, ...] = ()  # the call nodes of the sub-flows in progress, innermost last
    timers: frozenset[str] = frozenset()
    seq: int = 0
    recognizing: bool = False
    candidate: tuple[str, str, str, float] | None = None  # (exit key, target id, label, confidence)
    webhook_id: str = ""
    webhook_attempt: int = 0
    steps: int = 0
    trace: tuple[TraceEntry, ...] = ()
    outcome: str = ""  # transfer:TARGET | hangup:REASON | caller-hangup

    @property
    def ended(self) -> bool:
        return self.phase == "ended"


def new_call(call_id: str, flow: Flow) -> CallState:
    return CallState(call_id=call_id, flow_version=flow.version_tag)


class _Step:
    """One step in progress: the state so far (``s``) and the actions it has emitted."""

    def __init__(self, flow: Flow, state: CallState) -> None:
        self.flow = flow
        self.s = state
        self.actions: list[Action] = []

    # -- small effects

    def set(self, **changes: Any) -> None:
        self.s = dataclasses.replace(self.s, **changes)

    def trace(self, what: str, exit: str | None = None) -> None:
        entry = TraceEntry(self.s.steps, self.s.node or "-", what, exit)
        self.set(trace=(*self.s.trace, entry))

    def start_timer(self, kind: str, ms: int) -> None:
        name = f"{kind}#{self.s.seq + 1}"
        self.set(seq=self.s.seq + 1, timers=self.s.timers | {name})
        self.actions.append(StartTimer(name, ms))

    def cancel_timers(self, *kinds: str) -> None:
        for name in sorted(self.s.timers):
            if not kinds or name.split("#")[0] in kinds:
                self.actions.append(CancelTimer(name))
                self.set(timers=self.s.timers - {name})

    def recognition(self, on: bool) -> None:
        if on != self.s.recognizing:
            self.actions.append(StartRecognition() if on else StopRecognition())
            self.set(recognizing=on)

    def scope(self, extra: Mapping[str, Any] | None = None) -> expr.Scope:
        variables = {
            **self.s.variables,
            "caller": dict(self.s.caller),
            "last": dict(self.s.last),
            "language": self.s.language,
            **(extra or {}),
        }
        return expr.Scope(variables, self.s.now, self.flow.calendars)

    def test(self, cond: Cond | None, extra: Mapping[str, Any] | None = None) -> bool:
        if cond is None:
            return True
        return cond.tree is not None and expr.truthy(expr.evaluate(cond.tree, self.scope(extra)))

    def render(self, template: str, extra: Mapping[str, Any] | None = None) -> str:
        return expr.render(template, self.scope(extra).variables)

    def play(self, prompt: Prompt, extra: Mapping[str, Any] | None = None) -> Play:
        text, audio = prompt.pick(self.s.language, self.flow.default_language)
        if audio is not None:
            audio = str(PurePath(self.flow.file).parent / audio)  # files are relative to the flow file
        return Play(self.render(text, extra), audio, self.s.language, prompt.barge_in)

    def end(self, outcome: str, action: Action | None, exit: str | None = None) -> None:
        self.cancel_timers()
        self.recognition(False)
        if action is not None:
            self.actions.append(action)
        self.set(phase="ended", queue=(), outcome=outcome)
        self.trace(f"end: {outcome}", exit)

    # -- moving between nodes

    def goto(self, target: Target | str | None, exit: str, why: str) -> None:
        """Leave the current node through ``exit`` and run nodes until one waits for something."""
        target_id = target.id if isinstance(target, Target) else target
        self.cancel_timers()
        self.recognition(False)
        self.set(digits="", candidate=None, queue=())
        self.trace(f"{why} -> {target_id}", exit)
        for _ in range(MAX_HOPS):
            if target_id is None or target_id not in self.flow.nodes:
                self.end("hangup:broken-flow", EndCall(f"no node {target_id!r}"))
                return
            node = self.flow.nodes[target_id]
            here = self.flow.nodes.get(self.s.node or "")
            if here is not None and here.scope and not node.scope and not isinstance(here, ReturnNode):
                self.set(stack=())  # left a sub-flow without returning: forget its return point
            self.set(node=node.id)
            target_id = self.enter(node)
            if target_id is None:
                return
        self.end("hangup:loop", EndCall("flow looped without waiting for the caller"))

    def enter(self, node: Node) -> str | None:
        """Start ``node``; return the next node id for nodes that do not wait, else None."""
        match node:
            case PlayNode():
                if node.prompt is None:
                    return self.exit_to(node.next, "next")
                self.prompt_then([self.play(node.prompt)], "next")
            case MenuNode() | CollectNode() | ConfirmNode():
                self.set(
                    counters={k: v for k, v in self.s.counters.items() if not k.startswith(f"{node.id}:")}
                )
                _listen_with(self, node.listen, [], reprompt=True)
            case SetNode():
                self.assign(node)
                return self.exit_to(node.next, "next")
            case BranchNode():
                for case in node.cases:
                    if self.test(case.when):
                        self.trace(f"condition {case.when.source if case.when else ''} is true")
                        return self.exit_to(case.target, case.key)
                return self.exit_to(node.default, "default")
            case WebhookNode():
                self.set(webhook_attempt=0)
                self.call_webhook(node)
                if node.prompt is not None:
                    self.actions.append(self.play(node.prompt))
            case TransferNode():
                plays = [self.play(node.prompt)] if node.prompt else []
                if not plays:
                    self.transfer(node)
                else:
                    self.prompt_then(plays, "transfer")
            case HangupNode():
                if node.prompt is None:
                    self.end(f"hangup:{node.reason}", EndCall(node.reason), f"{node.id}:hangup")
                else:
                    self.prompt_then([self.play(node.prompt)], "hangup")
            case GotoNode():
                return self.exit_to(node.target, "target")
            case CallNode():
                if node.next is None or node.next.id is None or node.start is None:
                    self.end("hangup:broken-flow", EndCall(f"bad call node {node.id}"))
                    return None
                self.set(stack=(*self.s.stack, node.id))
                self.trace(f"call sub-flow {node.flow}", f"{node.id}:call")
                return node.start
            case ReturnNode():
                caller = self.flow.nodes.get(self.s.stack[-1]) if self.s.stack else None
                if not isinstance(caller, CallNode) or caller.next is None or caller.next.id is None:
                    self.end("hangup:broken-flow", EndCall("return outside a sub-flow"))
                    return None
                self.set(stack=self.s.stack[:-1])
                self.trace(f"return to {caller.next.id}", f"{caller.id}:next")
                return caller.next.id
        return None

    def exit_to(self, target: Target | None, key: str) -> str | None:
        if target is None or target.id is None:
            self.end("hangup:broken-flow", EndCall(f"missing target in {self.s.node}"))
            return None
        self.trace(f"-> {target.id}", f"{self.s.node}:{key}")
        return target.id

    def prompt_then(self, plays: list[Play], then: str) -> None:
        self.set(phase="prompt", queue=tuple(plays), then=then)
        self.actions.append(plays[0])

    def start_listening(self, listen: Listening, phase: str = "listen") -> None:
        self.set(phase=phase, queue=())
        self.recognition(True)
        self.cancel_timers("no_input", "speech", "inter_digit")
        self.start_timer("no_input", listen.gather.no_input_ms)

    def assign(self, node: SetNode) -> None:
        for a in node.values:
            value = expr.evaluate(a.value.tree, self.scope()) if a.value.tree is not None else None
            self.set(variables={**self.s.variables, a.var: value})
            self.trace(f"set {a.var} = {value!r}")
        if node.language is not None and node.language.tree is not None:
            lang = expr.evaluate(node.language.tree, self.scope())
            if isinstance(lang, str) and lang in self.flow.languages:
                self.set(language=lang)
                self.trace(f"language = {lang}")

    # -- final actions

    def transfer(self, node: TransferNode) -> None:
        target = self.render(node.to)
        if not target.startswith(("queue:", "sip:", "tel:")):
            target = f"tel:{target}"
        names = node.data if node.data is not None else tuple(self.s.variables)
        data = {k: self.s.variables.get(k) for k in names}
        data |= {
            "ani": self.s.caller.get("ani", ""),
            "language": self.s.language,
            "flow": self.s.flow_version,
        }
        self.end(f"transfer:{target}", Transfer(target, data), f"{node.id}:transfer")

    def call_webhook(self, node: WebhookNode) -> None:
        attempt = self.s.webhook_attempt + 1
        request_id = f"{node.id}#{self.s.seq + 1}"
        self.set(phase="webhook", webhook_id=request_id, webhook_attempt=attempt, queue=())
        body = _render_body(node.body, self) if node.body is not None else None
        headers = {k: self.render(v) for k, v in node.headers.items()}
        url = self.render(node.url)
        self.actions.append(CallWebhook(request_id, node.method, url, body, headers, node.timeout_ms))
        self.trace(f"webhook {node.method} {url} (attempt {attempt} of {node.retries + 1})")
        self.start_timer("webhook", node.timeout_ms)


def _render_body(body: Any, st: _Step) -> Any:
    if isinstance(body, str):
        return st.render(body)
    if isinstance(body, list):
        return [_render_body(b, st) for b in body]
    if isinstance(body, dict):
        return {k: _render_body(v, st) for k, v in body.items()}
    return body


# ---------------------------------------------------------------- the step function


def step(flow: Flow, state: CallState, event: Event) -> tuple[CallState, list[Action]]:
    """Advance one call by one event. Pure: same inputs, same outputs."""
    st = _Step(flow, state)
    if state.ended:
        return state, []
    st.set(steps=state.steps + 1)
    if isinstance(event, Hangup):
        if state.phase != "new":
            st.end("caller-hangup", None)
    elif isinstance(event, CallStarted):
        if state.phase == "new":
            _start(st, event)
    elif state.phase == "new":
        pass
    elif st.s.steps > flow.settings.max_steps:
        st.end("hangup:step-limit", EndCall(f"more than {flow.settings.max_steps} events"))
    else:
        _dispatch(st, event)
    _log(st, event, state.ended)
    return st.s, st.actions


def _log(st: _Step, event: Event, was_ended: bool) -> None:
    log = get_logger(call_id=st.s.call_id)
    log.debug(
        "flow.step", kind=type(event).__name__, node=st.s.node, phase=st.s.phase, actions=len(st.actions)
    )
    if st.s.ended and not was_ended:  # one canonical line per call, explaining its routing
        log.info("flow.trace", flow=st.s.flow_version, outcome=st.s.outcome, trace=explain(st.s))


def _start(st: _Step, event: CallStarted) -> None:
    flow = st.flow
    language = event.language if event.language in flow.languages else flow.default_language
    st.set(
        language=language,
        variables=dict(flow.variables),
        caller={"ani": event.ani, "dnis": event.dnis, "language": language, **event.extra},
        now=event.now,
    )
    st.trace(
        f"call started on {st.s.flow_version} (ani={event.ani or '-'}, dnis={event.dnis or '-'}, language={language})"
    )
    st.goto(flow.start, "*:start", "start")


def _dispatch(st: _Step, event: Event) -> None:
    node = st.flow.nodes.get(st.s.node or "")
    phase = st.s.phase
    if isinstance(event, PromptFinished):
        if phase == "prompt":
            _prompt_finished(st, node)
        return
    if isinstance(event, TimerFired):
        if event.name not in st.s.timers:
            st.trace(f"ignored stale timer {event.name}")
            return
        st.set(timers=st.s.timers - {event.name})
        _timer(st, node, event.name.split("#")[0])
        return
    if isinstance(event, WebhookResult):
        if phase == "webhook" and isinstance(node, WebhookNode):
            if event.request_id and event.request_id != st.s.webhook_id:
                st.trace(f"ignored stale webhook result {event.request_id}")
                return
            _webhook_result(st, node, event)
        return
    listening = node.listen if isinstance(node, MenuNode | CollectNode | ConfirmNode) else None
    if listening is None:
        return
    if isinstance(event, DtmfDigit) and st.s.swallow:
        swallow = st.s.swallow
        st.set(swallow="")
        if event.digit == swallow:
            st.trace(f"dropped terminator {swallow} typed after a full entry")
            return
    confirming = phase == "confirm" or (phase == "prompt" and st.s.then == "confirm")
    if isinstance(event, SpeechStarted | IntentResult) and not (listening.gather.speech or confirming):
        return  # this node listens for keys only
    if isinstance(event, DtmfDigit) and not listening.gather.dtmf:
        return
    if phase == "prompt":
        if not (st.s.queue and st.s.queue[0].barge_in):
            return  # the prompt cannot be interrupted; the caller's input is ignored
        st.trace("barge-in")
        # The caller's input is already here: no no-input timer, the input itself decides what's next.
        st.set(phase="confirm" if confirming else "listen", queue=())
        st.recognition(True)
        phase = st.s.phase
    if phase not in ("listen", "confirm"):
        return
    assert node is not None
    if isinstance(event, SpeechStarted):
        st.cancel_timers("no_input")
        if not any(t.startswith("speech#") for t in st.s.timers):
            st.start_timer("speech", listening.gather.speech_ms)
    elif isinstance(event, IntentResult):
        st.set(swallow="")
        st.cancel_timers("no_input", "speech", "inter_digit")
        _heard(st, node, listening, event)
    elif isinstance(event, DtmfDigit):
        _digit(st, node, listening, event.digit)


def _prompt_finished(st: _Step, node: Node | None) -> None:
    rest = st.s.queue[1:]
    if rest:
        st.set(queue=rest)
        st.actions.append(rest[0])
        return
    then = st.s.then
    st.set(queue=())
    if isinstance(node, PlayNode):
        st.goto(node.next, f"{node.id}:next", "prompt done")
    elif isinstance(node, TransferNode):
        st.transfer(node)
    elif isinstance(node, HangupNode):
        st.end(f"hangup:{node.reason}", EndCall(node.reason), f"{node.id}:hangup")
    elif isinstance(node, MenuNode | CollectNode | ConfirmNode):
        st.start_listening(node.listen, "confirm" if then == "confirm" else "listen")
    else:
        st.end("hangup:broken-flow", EndCall("prompt finished in a node that cannot continue"))


def _timer(st: _Step, node: Node | None, kind: str) -> None:
    if isinstance(node, WebhookNode) and kind == "webhook":
        _webhook_result(st, node, WebhookResult(ok=False, status=0, data={"error": "timeout"}))
        return
    if not isinstance(node, MenuNode | CollectNode | ConfirmNode):
        return
    if kind == "inter_digit":
        _digits_done(st, node, node.listen)
    elif kind == "no_input":
        st.trace("no input")
        _handle(st, node, node.listen.no_input, "no_input")
    elif kind == "speech":
        st.trace("speech without a result")
        _handle(st, node, node.listen.no_match, "no_match")


# ---------------------------------------------------------------- what the caller said


def _heard(st: _Step, node: Node, listen: Listening, event: IntentResult) -> None:
    ranked = sorted(event.top_k, key=lambda p: -p[1])
    if not ranked:
        st.trace("heard nothing usable")
        _handle(st, node, listen.no_match, "no_match")
        return
    intent, conf = ranked[0]
    second = ranked[1] if len(ranked) > 1 else None
    st.set(last={"intent": intent, "confidence": conf, "digits": "", "transcript": event.transcript})
    heard = f"heard {intent} {conf:.2f}" + (f" (next {second[0]} {second[1]:.2f})" if second else "")
    st.trace(heard)
    if st.s.phase == "confirm":
        if intent in (AFFIRM, DENY) and conf >= st.flow.settings.confidence:
            _confirm_answer(st, node, intent == AFFIRM)
        elif not _global_intent(st, node, listen, intent, conf):
            _handle(st, node, listen.no_match, "no_match")
        return
    if isinstance(node, MenuNode):
        if _menu_intent(st, node, intent, conf, second):
            return
    elif isinstance(node, ConfirmNode) and intent in (AFFIRM, DENY) and conf >= st.flow.settings.confidence:
        yes = intent == AFFIRM
        st.goto(node.yes if yes else node.no, f"{node.id}:{'yes' if yes else 'no'}", f"caller said {intent}")
        return
    if _global_intent(st, node, listen, intent, conf):
        return
    _handle(st, node, listen.no_match, "no_match")


def _menu_intent(
    st: _Step, node: MenuNode, intent: str, conf: float, second: tuple[str, float] | None
) -> bool:
    for route in node.routes:
        if route.intent != intent or not st.test(route.when):
            continue
        threshold = route.confidence if route.confidence is not None else st.flow.settings.confidence
        if conf < threshold:
            st.trace(f"{intent} {conf:.2f} below threshold {threshold:.2f} of {route.key}")
            _handle(st, node, node.listen.no_match, "no_match")
            return True
        close = second is not None and conf - second[1] < node.confirm.margin
        ask = route.confirm if route.confirm is not None else (conf < node.confirm.below or close)
        if ask:
            why = (
                f"within {node.confirm.margin:.2f} of {second[0]}"
                if close and second
                else f"below {node.confirm.below:.2f}"
            )
            st.trace(f"confirm {intent} {conf:.2f} ({why})")
            _ask_confirm(st, node, route, conf)
        else:
            st.goto(route.target, f"{node.id}:{route.key}", f"{intent} {conf:.2f} >= {threshold:.2f}")
        return True
    return False


def _ask_confirm(st: _Step, node: MenuNode, route: Route, conf: float) -> None:
    assert route.target.id is not None
    st.cancel_timers()
    st.set(candidate=(route.key, route.target.id, route.label, conf))
    prompt = node.confirm.prompt or Prompt({"*": DEFAULT_CONFIRM}, {}, True, node.pos)
    play = st.play(prompt, {"choice": route.label})
    if play.barge_in:
        st.recognition(True)
    st.prompt_then([play], "confirm")


def _confirm_answer(st: _Step, node: Node, yes: bool) -> None:
    candidate = st.s.candidate
    if candidate is None or not isinstance(node, MenuNode):
        return
    key, target_id, label, conf = candidate
    if yes:
        st.goto(target_id, f"{node.id}:{key}", f"caller confirmed {label} ({conf:.2f})")
    else:
        st.trace(f"caller rejected {label}")
        st.set(candidate=None)
        st.cancel_timers()
        _listen_with(st, node.listen, [], reprompt=True)


def _global_intent(st: _Step, node: Node, listen: Listening, intent: str, conf: float) -> bool:
    target = listen.global_intents.get(intent)
    if target is None or conf < st.flow.settings.confidence:
        return False
    flow_wide = st.flow.global_intents.get(intent) == target
    exit_key = f"{'*' if flow_wide else node.id}:global:{intent}"
    return _global(st, node, listen, target, exit_key, f"global intent {intent} {conf:.2f}")


def _global(st: _Step, node: Node, listen: Listening, target: Target, exit_key: str, why: str) -> bool:
    if target.id == REPEAT:
        st.trace(f"{why}: repeat", exit_key)
        st.cancel_timers()
        st.set(candidate=None)
        _listen_with(st, listen, [], reprompt=True)
        return True
    st.goto(target, exit_key, why)
    return True


# ---------------------------------------------------------------- what the caller pressed


def _digit(st: _Step, node: Node, listen: Listening, digit: str) -> None:
    st.cancel_timers("no_input", "inter_digit", "speech")
    g = listen.gather
    if st.s.phase == "confirm" or isinstance(node, ConfirmNode):
        st.set(digits=digit)
        _digits_done(st, node, listen)
        return
    if g.terminator is not None and digit == g.terminator:
        _digits_done(st, node, listen)
        return
    digits = st.s.digits + digit
    st.set(digits=digits)
    if len(digits) >= g.max_digits or (isinstance(node, MenuNode) and _unambiguous(node, listen, digits)):
        _digits_done(st, node, listen)
        if g.terminator is not None and len(digits) >= g.max_digits:
            st.set(swallow=g.terminator)
    else:
        st.start_timer("inter_digit", g.inter_digit_ms)


def _unambiguous(node: MenuNode, listen: Listening, digits: str) -> bool:
    keys = [r.dtmf for r in node.routes if r.dtmf] + [k for k, v in listen.global_keys.items() if v]
    return digits in keys and not any(k != digits and k.startswith(digits) for k in keys)


def _digits_done(st: _Step, node: Node, listen: Listening) -> None:
    digits = st.s.digits
    st.cancel_timers("no_input", "inter_digit", "speech")
    st.set(last={"intent": "", "confidence": 1.0, "digits": digits})
    st.trace(f"pressed {digits or '(nothing)'}")
    if not digits:
        _handle(st, node, listen.no_input, "no_input")
        return
    if st.s.phase == "confirm":
        if digits in ("1", "2"):
            _confirm_answer(st, node, digits == "1")
        elif not _global_key(st, node, listen, digits):
            _handle(st, node, listen.no_match, "no_match")
        return
    if isinstance(node, MenuNode):
        for route in node.routes:
            if route.dtmf == digits and st.test(route.when):
                st.goto(route.target, f"{node.id}:{route.key}", f"keys {digits}")
                return
    elif isinstance(node, ConfirmNode) and digits in ("1", "2"):
        yes = digits == "1"
        st.goto(node.yes if yes else node.no, f"{node.id}:{'yes' if yes else 'no'}", f"keys {digits}")
        return
    elif isinstance(node, CollectNode):
        ok_length = listen.gather.min_digits <= len(digits) <= listen.gather.max_digits
        if ok_length and st.test(node.valid, {node.into: digits}):
            st.set(variables={**st.s.variables, node.into: digits})
            st.goto(node.next, f"{node.id}:next", f"collected {len(digits)} digits into {node.into}")
            return
        if not _global_key(st, node, listen, digits):
            st.trace(
                f"{len(digits)} digits rejected (need {listen.gather.min_digits}-{listen.gather.max_digits}"
                + (f", {node.valid.source}" if node.valid else "")
                + ")"
            )
            _handle(st, node, listen.no_match, "no_match")
        return
    if not _global_key(st, node, listen, digits):
        _handle(st, node, listen.no_match, "no_match")


def _global_key(st: _Step, node: Node, listen: Listening, digits: str) -> bool:
    target = listen.global_keys.get(digits)
    if target is None:
        return False
    flow_wide = st.flow.global_keys.get(digits) == target
    return _global(
        st, node, listen, target, f"{'*' if flow_wide else node.id}:key:{digits}", f"global key {digits}"
    )


# ---------------------------------------------------------------- counted handlers


def _handle(st: _Step, node: Node, handler: Handler, kind: str) -> None:
    """The n-th no-input/no-match of this node visit: escalate, or give up at ``max``."""
    key = f"{node.id}:{kind}"
    count = st.s.counters.get(key, 0) + 1
    st.set(counters={**st.s.counters, key: count}, candidate=None)
    if count >= handler.max:
        st.trace(f"{kind} {count} of {handler.max}: giving up")
        if handler.then is None:
            st.end(f"hangup:{kind}", EndCall(f"too many {kind.replace('_', '-')} events"), key)
        else:
            st.goto(handler.then, key, f"{kind} limit {handler.max}")
        return
    st.trace(f"{kind} {count} of {handler.max}")
    before = [st.play(handler.prompts[min(count, len(handler.prompts)) - 1])] if handler.prompts else []
    assert isinstance(node, MenuNode | CollectNode | ConfirmNode)
    st.cancel_timers()
    _listen_with(st, node.listen, before, reprompt=handler.reprompt or not before)


def _listen_with(st: _Step, listen: Listening, before: list[Play], reprompt: bool) -> None:
    plays = list(before)
    if reprompt and listen.prompt is not None:
        plays.append(st.play(listen.prompt))
    st.set(digits="")
    if not plays:
        st.start_listening(listen)
        return
    if plays[0].barge_in:
        st.recognition(True)
    st.prompt_then(plays, "listen")


# ---------------------------------------------------------------- webhooks


def _webhook_result(st: _Step, node: WebhookNode, event: WebhookResult) -> None:
    st.cancel_timers("webhook")
    st.trace(f"webhook {'ok' if event.ok else 'failed'} status {event.status}")
    if event.ok:
        extra = {"response": dict(event.data), "status": event.status}
        values = dict(st.s.variables)
        for a in node.result:
            values[a.var] = expr.evaluate(a.value.tree, st.scope(extra)) if a.value.tree is not None else None
        st.set(variables=values)
        st.goto(node.next, f"{node.id}:next", f"webhook answered {event.status}")
    elif st.s.webhook_attempt <= node.retries:
        st.call_webhook(node)
    else:
        st.goto(node.on_failure, f"{node.id}:on_failure", f"webhook failed {st.s.webhook_attempt} time(s)")


# ---------------------------------------------------------------- explaining a call


def explain(state: CallState) -> list[str]:
    """The routing story of a call, one line per decision, for logs and ``ivr flow simulate``."""
    lines = [f"flow {state.flow_version} · call {state.call_id} · outcome {state.outcome or 'in progress'}"]
    for e in state.trace:
        lines.append(f"  [{e.step:>3}] {e.node}: {e.what}")
    return lines


def visited(state: CallState) -> list[str]:
    seen: list[str] = []
    for e in state.trace:
        if e.node != "-" and (not seen or seen[-1] != e.node):
            seen.append(e.node)
    return seen


def exits_taken(state: CallState) -> set[str]:
    return {e.exit for e in state.trace if e.exit}


def pending(state: CallState) -> bool:
    """True when the call waits on something that will come: a prompt, a timer, or it ended."""
    return state.ended or state.phase == "new" or bool(state.queue) or bool(state.timers)
