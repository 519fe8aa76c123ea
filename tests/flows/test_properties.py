"""Random caller behaviour never crashes the engine and never strands a live call."""

from __future__ import annotations

from datetime import datetime, timedelta

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.flows.driver import Driver
from ivr.flows.engine import new_call, pending, step
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
from ivr.flows.validate import load_flow, validate_text
from ivr.intents import DEFAULT_INTENTS

from .conftest import DEFAULT_FLOW, OPEN

FLOW = load_flow(DEFAULT_FLOW)

intents = st.sampled_from([*DEFAULT_INTENTS, "out_of_scope", "not_a_label"])
confidence = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
events = st.one_of(
    st.just(PromptFinished()),
    st.just(SpeechStarted()),
    st.builds(lambda k: IntentResult(tuple(k)), st.lists(st.tuples(intents, confidence), max_size=3)),
    st.builds(DtmfDigit, st.sampled_from(list("0123456789*#"))),
    st.builds(WebhookResult, st.booleans(), st.integers(0, 599), st.just({"verified": True, "balance": 3})),
    st.integers(0, 40).map(lambda i: Hangup() if i == 0 else PromptFinished()),  # hang-ups are rare
    st.just(CallStarted(now=OPEN)),
    st.sampled_from(["no_input", "inter_digit", "speech", "webhook"]).map(lambda k: TimerFired(f"{k}#?")),
)


def run(seq: list[Event], fire_real_timers: list[bool]) -> None:
    state = new_call("prop", FLOW)
    state, _ = step(FLOW, state, CallStarted(now=OPEN))
    for event, real in zip(seq, fire_real_timers, strict=True):
        if isinstance(event, TimerFired) and real and state.timers:
            event = TimerFired(sorted(state.timers)[0])  # a timer that is really running
        state, _ = step(FLOW, state, event)
        assert pending(state), f"live call waits on nothing after {event}: {state.phase} at {state.node}"
        if state.ended:
            assert not state.timers and not state.recognizing
    if not state.ended:
        state, _ = step(FLOW, state, Hangup())
        assert state.ended and state.outcome == "caller-hangup" and not state.timers


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(events, st.booleans()), max_size=60))
def test_random_events_never_crash_or_strand_a_call(pairs: list[tuple[Event, bool]]) -> None:
    run([p[0] for p in pairs], [p[1] for p in pairs])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(events, st.booleans()), max_size=40))
def test_replaying_an_event_log_gives_the_same_call(pairs: list[tuple[Event, bool]]) -> None:
    def replay() -> tuple[object, list[object]]:
        state = new_call("r", FLOW)
        log: list[object] = []
        for event, _ in [(CallStarted(now=OPEN), True), *pairs]:
            state, actions = step(FLOW, state, event)
            log += actions
        return state, log

    assert replay() == replay()


turns = st.one_of(
    st.tuples(st.just("keys"), st.text(alphabet="0123456789*#", min_size=1, max_size=9)),
    st.tuples(st.just("keys"), st.sampled_from(["12345678#", "1234", "1", "2", "0"])),  # well-formed entries
    st.tuples(st.just("say"), st.lists(st.tuples(intents, confidence), min_size=1, max_size=2)),
    st.tuples(st.just("silence"), st.none()),
    st.tuples(
        st.just("webhook"), st.fixed_dictionaries({"verified": st.booleans(), "balance": st.integers(0, 99)})
    ),
    st.tuples(st.just("fail"), st.none()),
)
start_times = st.integers(0, 7 * 24 * 60 - 1).map(lambda m: OPEN + timedelta(minutes=m))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start_times, st.lists(turns, min_size=5, max_size=40))
def test_plausible_callers_reach_deep_nodes_safely(now: datetime, script: list[tuple[str, object]]) -> None:
    """Whole caller turns (prompts finish at once) reach the sub-flow and webhooks, not just the menu."""
    d = Driver(FLOW, call_id="caller")
    d.start(now, ani="+15551234567")
    for kind, value in script:
        if d.state.ended:
            break
        if kind == "keys":
            d.keys(str(value))
        elif kind == "say":
            d.say(value)  # type: ignore[arg-type]
        elif kind == "silence":
            d.silence()
        elif kind == "webhook":
            d.webhook(True, 200, value)  # type: ignore[arg-type]
        else:
            d.webhook(False, 503)
        assert pending(d.state), f"stranded at {d.state.node} ({d.state.phase})"
        assert d.state.phase in ("listen", "confirm", "webhook", "ended")
    assert len(d.state.trace) < 2000


# Random small flows: whatever the validator accepts must run safely on random events too.
_names = st.sampled_from(["a", "b", "c", "d"])
_prompt = st.one_of(
    st.just("hi {x}"), st.fixed_dictionaries({"say": st.just("p"), "barge_in": st.booleans()})
)
_handler = st.fixed_dictionaries(
    {"max": st.integers(1, 3)},
    optional={"then": _names, "prompts": st.lists(st.just("h"), max_size=2), "reprompt": st.booleans()},
)
_gather = st.fixed_dictionaries(
    {},
    optional={
        "speech": st.booleans(),
        "dtmf": st.booleans(),
        "max_digits": st.integers(1, 4),
        "terminator": st.just("#"),
    },
)
_route = st.fixed_dictionaries(
    {"goto": _names},
    optional={
        "intent": st.sampled_from(["check_balance", "deny", "affirm", "goodbye"]),
        "dtmf": st.sampled_from(["1", "2", "12"]),
        "when": st.sampled_from(["x == 1", "true", "false"]),
        "confidence": st.floats(0, 1),
        "confirm": st.booleans(),
    },
)
_listen = {"no_input": _handler, "no_match": _handler, "gather": _gather}
_node = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("menu"), "prompt": _prompt, "routes": st.lists(_route, min_size=1, max_size=3)},
        optional=_listen,
    ),
    st.fixed_dictionaries(
        {"type": st.just("collect"), "prompt": _prompt, "into": st.just("x"), "next": _names},
        optional=_listen,
    ),
    st.fixed_dictionaries(
        {"type": st.just("confirm"), "prompt": _prompt, "yes": _names, "no": _names}, optional=_listen
    ),
    st.fixed_dictionaries({"type": st.just("play"), "prompt": _prompt, "next": _names}),
    st.fixed_dictionaries({"type": st.just("set"), "set": st.just({"x": "x + 1"}), "next": _names}),
    st.fixed_dictionaries(
        {
            "type": st.just("branch"),
            "cases": st.lists(
                st.fixed_dictionaries({"when": st.sampled_from(["x > 2", "x == 1"]), "goto": _names}),
                min_size=1,
                max_size=2,
            ),
            "default": _names,
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("webhook"),
            "url": st.just("https://x.example/{x}"),
            "next": _names,
            "on_failure": _names,
        },
        optional={"retries": st.integers(0, 2), "prompt": _prompt, "result": st.just({"x": "response.x"})},
    ),
    st.fixed_dictionaries(
        {"type": st.just("transfer"), "to": st.just("queue:a")}, optional={"prompt": _prompt}
    ),
    st.fixed_dictionaries({"type": st.just("hangup")}, optional={"prompt": _prompt}),
    st.fixed_dictionaries({"type": st.just("goto"), "target": _names}),
)
_flows = st.fixed_dictionaries(
    {
        "flow": st.just("f"),
        "start": st.just("a"),
        "variables": st.just({"x": 0}),
        "global_intents": st.just({"goodbye": "d", "repeat": "@repeat"}),
        "nodes": st.fixed_dictionaries({n: _node for n in ["a", "b", "c", "d"]}),
    }
)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(_flows, st.lists(st.tuples(events, st.booleans()), max_size=40))
def test_any_valid_flow_survives_random_events(
    doc: dict[str, object], pairs: list[tuple[Event, bool]]
) -> None:
    report = validate_text(yaml.safe_dump(doc), "random.yaml")
    if not report.ok or report.flow is None:
        return  # rejected flows never reach a call
    flow = report.flow
    state, _ = step(flow, new_call("random", flow), CallStarted(now=OPEN))
    assert pending(state)
    for event, real in pairs:
        if isinstance(event, TimerFired) and real and state.timers:
            event = TimerFired(sorted(state.timers)[0])
        state, _ = step(flow, state, event)
        assert pending(state), f"stranded at {state.node} ({state.phase}) after {event}"
