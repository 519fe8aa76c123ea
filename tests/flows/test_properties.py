"""Random caller behaviour never crashes the engine and never strands a live call."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
from ivr.flows.validate import load_flow
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
    st.just(Hangup()),
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
            state, _ = step(FLOW, state, event)
            log += actions
        return state, log

    assert replay() == replay()
