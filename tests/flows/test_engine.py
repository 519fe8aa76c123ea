"""The engine, node type by node type and handler by handler, with no audio and no clocks."""

from __future__ import annotations

from ivr.flows.driver import Driver
from ivr.flows.engine import new_call, step
from ivr.flows.events import (
    CallStarted,
    CallWebhook,
    CancelTimer,
    DtmfDigit,
    EndCall,
    IntentResult,
    Play,
    PromptFinished,
    StartRecognition,
    StartTimer,
    TimerFired,
    Transfer,
    WebhookResult,
)

from .conftest import OPEN
from .helpers import flow

MENU = """\
flow: t
version: "1"
start: menu
variables: {n: 0}
global_intents: {goodbye: bye, repeat: "@repeat"}
global_keys: {"0": agent}
nodes:
  menu:
    type: menu
    prompt: "Main menu"
    routes:
      - {intent: check_balance, dtmf: "1", goto: bye}
      - {intent: make_payment, dtmf: "2", goto: agent, confidence: 0.8}
      - {intent: store_hours, dtmf: "12", goto: bye}
    confirm: {below: 0.7, margin: 0.1}
    no_match: {max: 2, prompts: ["No match one"], then: agent}
    no_input: {max: 3, prompts: ["Silence one", "Silence two"]}
  agent:
    type: transfer
    to: "queue:agents"
    data: [n]
  bye:
    type: hangup
    prompt: "Bye"
    reason: done
"""


def plays(actions: list) -> list[str]:
    return [a.text for a in actions if isinstance(a, Play)]


def started(text: str) -> Driver:
    d = Driver(flow(text))
    d.start(OPEN, ani="+1555")
    return d


def test_menu_routes_on_intent_above_threshold() -> None:
    d = started(MENU)
    out = d.say([("check_balance", 0.9), ("make_payment", 0.05)])
    assert plays(out) == ["Bye"] and isinstance(out[-1], EndCall)
    assert d.state.outcome == "hangup:done"
    assert "menu:route1" in {e.exit for e in d.state.trace}


def test_per_route_threshold_turns_a_hit_into_a_no_match() -> None:
    d = started(MENU)
    out = d.say([("make_payment", 0.75)])  # route threshold 0.8
    assert plays(out) == ["No match one", "Main menu"]
    assert any("below threshold 0.80" in e.what for e in d.state.trace)


def test_low_confidence_asks_for_confirmation_and_yes_routes() -> None:
    d = started(MENU)
    out = d.say([("check_balance", 0.6)])
    assert plays(out) == [
        "I think you want check balance. Is that right? Say yes or press 1. Otherwise, say no or press 2."
    ]
    assert d.state.phase == "confirm"
    out = d.say([("affirm", 0.9)])
    assert d.state.outcome == "hangup:done"


def test_close_runner_up_asks_for_confirmation_and_key_2_returns_to_menu() -> None:
    d = started(MENU)
    d.say([("check_balance", 0.8), ("store_hours", 0.75)])
    assert d.state.phase == "confirm"
    out = d.keys("2")
    assert plays(out) == ["Main menu"] and d.state.node == "menu" and d.state.phase == "listen"


def test_dtmf_prefix_waits_for_the_inter_digit_timer() -> None:
    d = started(MENU)
    out = d.send(DtmfDigit("1"))  # "1" and "12" both exist: wait for more keys
    assert any(isinstance(a, StartTimer) and a.name.startswith("inter_digit") for a in out)
    out = d.send(DtmfDigit("2"))
    assert d.state.outcome == "hangup:done"


def test_single_digit_fires_after_inter_digit_timeout() -> None:
    d = started(MENU)
    d.send(DtmfDigit("1"))
    d.silence()
    assert d.state.outcome == "hangup:done"


def test_escalating_no_input_then_the_default_final_action() -> None:
    d = started(MENU)
    assert plays(d.silence()) == ["Silence one", "Main menu"]
    assert plays(d.silence()) == ["Silence two", "Main menu"]
    out = d.silence()  # third: max reached, no 'then' -> the call ends
    assert isinstance(out[-1], EndCall) and d.state.outcome == "hangup:no_input"


def test_no_match_limit_goes_to_then() -> None:
    d = started(MENU)
    d.say([("out_of_scope", 0.9)])
    out = d.say([("out_of_scope", 0.9)])
    assert isinstance(out[-1], Transfer) and out[-1].target == "queue:agents"


def test_global_intents_and_keys() -> None:
    d = started(MENU)
    assert plays(d.say([("repeat", 0.9)])) == ["Main menu"]
    d.keys("0")
    assert d.state.outcome == "transfer:queue:agents"
    d = started(MENU)
    d.say([("goodbye", 0.9)])
    assert d.state.outcome == "hangup:done"
    assert "*:global:goodbye" in {e.exit for e in d.state.trace}


def test_node_can_switch_off_a_global_intent() -> None:
    text = MENU.replace(
        "    confirm: {below: 0.7", "    global_intents: {goodbye: null}\n    confirm: {below: 0.7"
    )
    d = started(text)
    out = d.say([("goodbye", 0.95)])
    assert plays(out) == ["No match one", "Main menu"]


def test_barge_in_and_timers_are_actions() -> None:
    f = flow(MENU)
    state, actions = step(f, new_call("c1", f), CallStarted(now=OPEN))
    assert actions == [StartRecognition(), Play("Main menu", None, "en", True)]
    state, actions = step(f, state, DtmfDigit("2"))  # barge-in during the prompt
    assert state.outcome == "transfer:queue:agents"
    assert actions[-1] == Transfer(
        "queue:agents", {"n": 0, "ani": "", "language": "en", "flow": state.flow_version}
    )


def test_stale_timer_is_ignored() -> None:
    f = flow(MENU)
    state, _ = step(f, new_call("c", f), CallStarted(now=OPEN))
    state, actions = step(f, state, PromptFinished())
    timer = next(a for a in actions if isinstance(a, StartTimer))
    state, actions = step(f, state, IntentResult((("out_of_scope", 0.9),)))
    assert CancelTimer(timer.name) in actions
    before = state
    state, actions = step(f, state, TimerFired(timer.name))
    assert actions == [] and state.phase == before.phase and state.counters == before.counters


COLLECT = """\
flow: t
version: "1"
start: ask
nodes:
  ask:
    type: collect
    prompt: "Enter your PIN"
    into: pin
    valid: "pin != '0000'"
    gather: {min_digits: 4, max_digits: 6, terminator: "#"}
    no_match: {max: 2, prompts: ["Bad PIN"], then: bye}
    next: check
  check:
    type: confirm
    prompt: "You entered {pin}. Right?"
    yes: lookup
    no: ask
  lookup:
    type: webhook
    method: POST
    url: "https://x.example/{pin}"
    body: {pin: "{pin}", who: "{caller.ani}"}
    retries: 1
    timeout_ms: 1000
    result: {name: response.name, code: status}
    next: hello
    on_failure: bye
  hello:
    type: play
    prompt: "Hello {name} ({code})"
    next: bye
  bye:
    type: hangup
"""


def test_collect_terminator_confirm_and_webhook_mapping() -> None:
    d = started(COLLECT)
    assert plays(d.keys("12345#")) == ["You entered 12345. Right?"]
    out = d.say([("affirm", 0.9)])
    hook = next(a for a in out if isinstance(a, CallWebhook))
    assert (hook.method, hook.url, dict(hook.body or {})) == (
        "POST",
        "https://x.example/12345",
        {"pin": "12345", "who": "+1555"},
    )
    out = d.send(WebhookResult(ok=True, status=201, data={"name": "Ann"}, request_id=hook.request_id))
    assert plays(out) == ["Hello Ann (201)"]
    assert d.state.variables["name"] == "Ann" and d.state.outcome == "hangup:done"


def test_collect_rejects_short_and_invalid_entries() -> None:
    d = started(COLLECT)
    assert plays(d.keys("12#")) == ["Bad PIN", "Enter your PIN"]  # too short
    d.keys("0000#")  # fails 'valid': second no-match -> then
    assert d.state.outcome == "hangup:done"


def test_webhook_retries_then_falls_back() -> None:
    d = started(COLLECT)
    d.keys("1234#")
    d.keys("1")
    out = d.webhook(False, 503)
    assert any(isinstance(a, CallWebhook) for a in out)  # one retry
    stale = d.send(WebhookResult(ok=True, data={"name": "x"}, request_id="old#1"))
    assert stale == [] and d.state.phase == "webhook"
    d.webhook_timeout()
    assert d.state.outcome == "hangup:done"
    assert any("on_failure" in (e.exit or "") for e in d.state.trace)


SUB = """\
flow: t
version: "1"
languages: [en, es]
start: go
variables: {x: 0, tries: 0}
nodes:
  go: {type: call, flow: inner, next: after}
  after:
    type: branch
    cases:
      - {when: "x == 2 and language == 'es'", goto: es_done}
    default: done
  es_done: {type: hangup, reason: es}
  done: {type: hangup, reason: other}
subflows:
  inner:
    start: s
    nodes:
      s:
        type: set
        set: {x: "x + 2"}
        language: "'es'"
        next: loop
      loop:
        type: set
        set: {tries: "tries + 1"}
        next: check
      check:
        type: branch
        cases:
          - {when: "tries < 3", goto: loop}
        default: back
      back: {type: return}
"""


def test_subflow_call_return_set_branch_and_language() -> None:
    d = started(SUB)
    assert d.state.outcome == "hangup:es"
    assert d.state.variables["tries"] == 3 and d.state.stack == ()


def test_calls_keep_their_flow_version_and_the_trace_explains() -> None:
    d = started(MENU)
    d.say([("check_balance", 0.9)])
    tag = d.state.flow_version
    assert tag.startswith("t@1#")
    lines = [e.what for e in d.state.trace]
    assert any("heard check_balance 0.90" in w for w in lines)
    assert any(">= 0.50" in w for w in lines)


def test_determinism() -> None:
    a, b = started(MENU), started(MENU)
    for d in (a, b):
        d.say([("check_balance", 0.6)])
        d.keys("1")
    assert a.state == b.state and a.log == b.log


def test_each_step_logs_with_call_id_and_the_end_logs_one_trace() -> None:
    import logging

    import structlog
    from structlog.testing import capture_logs

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    f = flow(MENU)
    with capture_logs() as logs:
        state, _ = step(f, new_call("call-42", f), CallStarted(now=OPEN))
        state, _ = step(f, state, IntentResult((("check_balance", 0.93),)))
        state, _ = step(f, state, PromptFinished())  # "Bye" played: the call ends
        step(f, state, DtmfDigit("1"))  # after the end: ignored, nothing logged
    assert {entry["call_id"] for entry in logs} == {"call-42"}
    assert [e["event"] for e in logs].count("flow.step") == 3
    traces = [e for e in logs if e["event"] == "flow.trace"]
    assert len(traces) == 1 and traces[0]["outcome"] == "hangup:done"
    assert traces[0]["flow"] == state.flow_version
    assert any("heard check_balance 0.93" in line for line in traces[0]["trace"])
