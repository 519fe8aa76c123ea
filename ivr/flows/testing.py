"""YAML test conversations for a flow: caller turns in, expected prompts, actions and ending out.

    tests:
      - name: balance by speech
        caller: {ani: "+15551234567", language: en, time: "2026-03-03T10:00:00-05:00"}
        turns:
          - expect: {prompts: ["Thanks for calling"]}        # what the call opens with
          - say: check_balance 0.91                           # or keys / silence / webhook / hangup / words
            expect: {prompts: ["account number"], node: verify/ask_account}
        end: {outcome: "hangup:caller-done", visited: [main_menu], variables: {account: "12345678"}}

The runner also measures coverage: which nodes and which exits (routes, handlers, globals) the
conversations exercised, so an untested branch of the menu shows up in CI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ivr.errors import FlowError
from ivr.flows.driver import Driver
from ivr.flows.engine import CallState, exits_taken, visited
from ivr.flows.events import Action, CallWebhook, Play, Transfer, describe_action
from ivr.flows.graph import ANY, edges
from ivr.flows.loader import YMap, YSeq, load_file, plain
from ivr.flows.schema import Flow
from ivr.flows.words import match_words, parse_intents

TURN_KINDS = ("say", "words", "keys", "silence", "webhook", "webhook_timeout", "hangup")
DEFAULT_TIME = "2026-03-03T10:00:00-05:00"  # a Tuesday morning in New York: open hours


@dataclass(frozen=True, slots=True)
class TestResult:
    name: str
    where: str  # file:line of the test
    failures: tuple[str, ...]
    transcript: tuple[str, ...]
    state: CallState  # the call's final state: outcome, trace, variables

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass(frozen=True, slots=True)
class Coverage:
    nodes: tuple[str, ...]
    nodes_hit: frozenset[str]
    edges: tuple[str, ...]
    edges_hit: frozenset[str]

    def summary(self) -> str:
        n = len(self.nodes_hit & set(self.nodes))
        e = len(self.edges_hit & set(self.edges))
        return (
            f"node coverage {n}/{len(self.nodes)} ({100 * n / max(1, len(self.nodes)):.0f}%), "
            f"route coverage {e}/{len(self.edges)} ({100 * e / max(1, len(self.edges)):.0f}%)"
        )

    def missed(self) -> tuple[list[str], list[str]]:
        return [n for n in self.nodes if n not in self.nodes_hit], [
            e for e in self.edges if e not in self.edges_hit
        ]


def load_tests(path: str | Path) -> list[tuple[str, dict[str, Any]]]:
    """The test cases of one file as (file:line, case)."""
    tree = load_file(path)
    if not isinstance(tree, YMap) or not isinstance(tree.items.get("tests"), YSeq):
        raise FlowError(f"{path}: a test file needs a 'tests:' list")
    tests = tree.items["tests"]
    assert isinstance(tests, YSeq)
    out = []
    for item in tests.items:
        case = plain(item)
        if not isinstance(case, dict):
            raise FlowError(f"{item.pos}: each test must be a mapping")
        out.append((str(item.pos), case))
    return out


def run_case(flow: Flow, case: Mapping[str, Any], where: str = "") -> TestResult:
    name = str(case.get("name", "unnamed"))
    failures: list[str] = []
    caller = case.get("caller") or {}
    try:
        now = datetime.fromisoformat(str(caller.get("time", DEFAULT_TIME)))
    except ValueError:
        raise FlowError(
            f"{where}: bad caller.time {caller.get('time')!r} (use ISO 8601 with an offset)"
        ) from None
    if now.tzinfo is None:
        raise FlowError(f"{where}: caller.time needs a UTC offset, e.g. 2026-03-03T10:00:00-05:00")
    d = Driver(flow, call_id=f"test:{name}")
    transcript: list[str] = []
    actions = d.start(
        now,
        ani=str(caller.get("ani", "")),
        dnis=str(caller.get("dnis", "")),
        language=str(caller.get("language", "")),
    )
    transcript += [f"  {describe_action(a)}" for a in actions]
    for i, turn in enumerate(case.get("turns") or [], start=1):
        if not isinstance(turn, dict):
            raise FlowError(f"{where}: turn {i} must be a mapping")
        unknown = set(turn) - {*TURN_KINDS, "expect"}
        if unknown:
            raise FlowError(f"{where}: turn {i}: unknown key(s) {', '.join(sorted(unknown))}")
        kinds = [k for k in TURN_KINDS if k in turn]
        if len(kinds) > 1:
            raise FlowError(f"{where}: turn {i} has more than one caller action: {', '.join(kinds)}")
        if kinds:
            if d.state.ended:
                failures.append(f"turn {i}: the call already ended ({d.state.outcome})")
                break
            transcript.append(f"> {kinds[0]}: {turn[kinds[0]]}")
            actions = _act(d, kinds[0], turn[kinds[0]], where, i)
            transcript += [f"  {describe_action(a)}" for a in actions]
        failures += _expect(d, actions, turn.get("expect") or {}, f"turn {i}")
    failures += _expect_end(d, case.get("end") or {})
    return TestResult(name, where, tuple(failures), tuple(transcript), d.state)


def _act(d: Driver, kind: str, value: Any, where: str, i: int) -> list[Action]:
    if kind == "say":
        try:
            return d.say(parse_intents(str(value)))
        except ValueError as exc:
            raise FlowError(f"{where}: turn {i}: {exc}") from None
    if kind == "words":
        return d.say(match_words(str(value)), transcript=str(value))
    if kind == "keys":
        return d.keys(str(value))
    if kind == "silence":
        return d.silence()
    if kind == "hangup":
        return d.hangup()
    if kind == "webhook_timeout":
        return d.webhook_timeout()
    spec = value if isinstance(value, dict) else {}
    status = int(spec.get("status", 200 if spec.get("ok", True) else 500))
    ok = bool(spec.get("ok", 200 <= status < 300))
    return d.webhook(ok, status, spec.get("data") or {})


def _expect(d: Driver, actions: Sequence[Action], spec: Mapping[str, Any], label: str) -> list[str]:
    failures: list[str] = []
    played = [a.text for a in actions if isinstance(a, Play)]
    pos = 0
    for want in spec.get("prompts") or []:
        found = next((j for j in range(pos, len(played)) if str(want).lower() in played[j].lower()), None)
        if found is None:
            failures.append(f"{label}: expected a prompt containing {want!r}; played {played}")
        else:
            pos = found + 1
    for unwanted in spec.get("not_prompts") or []:
        if any(str(unwanted).lower() in p.lower() for p in played):
            failures.append(f"{label}: a prompt contained {unwanted!r}, which it should not")
    kinds = [_kind(a) for a in actions]
    for want in spec.get("actions") or []:
        if want not in kinds:
            failures.append(f"{label}: expected a {want!r} action; got {kinds}")
    if "node" in spec and d.state.node != spec["node"]:
        failures.append(f"{label}: expected to be at node {spec['node']!r}, at {d.state.node!r}")
    if "language" in spec and d.state.language != spec["language"]:
        failures.append(f"{label}: expected language {spec['language']!r}, got {d.state.language!r}")
    hooks = [a for a in actions if isinstance(a, CallWebhook)]
    if "webhook_url" in spec and not any(h.url == spec["webhook_url"] for h in hooks):
        failures.append(
            f"{label}: expected a webhook to {spec['webhook_url']!r}; got {[h.url for h in hooks]}"
        )
    if "webhook_body" in spec and not any(dict(h.body or {}) == spec["webhook_body"] for h in hooks):
        failures.append(
            f"{label}: expected a webhook body {spec['webhook_body']!r}; got {[h.body for h in hooks]}"
        )
    return failures


def _expect_end(d: Driver, spec: Mapping[str, Any]) -> list[str]:
    failures: list[str] = []
    s = d.state
    if "outcome" in spec and s.outcome != spec["outcome"]:
        failures.append(
            f"end: expected outcome {spec['outcome']!r}, got {s.outcome or 'still in progress'!r}"
        )
    if "node" in spec and s.node != spec["node"]:
        failures.append(f"end: expected final node {spec['node']!r}, got {s.node!r}")
    seen = visited(s)
    for node in spec.get("visited") or []:
        if node not in seen:
            failures.append(f"end: expected the call to visit {node!r}; visited {seen}")
    for node in spec.get("not_visited") or []:
        if node in seen:
            failures.append(f"end: the call visited {node!r}, which it should not")
    for key, want in (spec.get("variables") or {}).items():
        if s.variables.get(key) != want:
            failures.append(f"end: expected variable {key} = {want!r}, got {s.variables.get(key)!r}")
    transfers = [a for a in d.log if isinstance(a, Transfer)]
    for key, want in (spec.get("transfer_data") or {}).items():
        got = transfers[-1].data.get(key) if transfers else None
        if got != want:
            failures.append(f"end: expected transfer data {key} = {want!r}, got {got!r}")
    return failures


def _kind(action: Action) -> str:
    name = type(action).__name__
    return {"CallWebhook": "webhook", "EndCall": "hangup", "Transfer": "transfer", "Play": "play"}.get(
        name, "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    )


def coverage(flow: Flow, states: Sequence[CallState]) -> Coverage:
    nodes_hit: set[str] = set()
    edges_hit: set[str] = set()
    for s in states:
        nodes_hit |= set(visited(s))
        edges_hit |= exits_taken(s)
    all_edges = tuple(e.id for e in edges(flow) if e.src != ANY or e.key != "start")
    return Coverage(tuple(flow.nodes), frozenset(nodes_hit), all_edges, frozenset(edges_hit))


def expand_files(paths: Sequence[str | Path]) -> list[Path]:
    """Files as given, folders expanded to their *.yaml files."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        out += sorted([*path.glob("*.yaml"), *path.glob("*.yml")]) if path.is_dir() else [path]
    return out


def run_files(flow: Flow, paths: Sequence[str | Path]) -> tuple[list[TestResult], Coverage]:
    results = [
        run_case(flow, case, where) for file in expand_files(paths) for where, case in load_tests(file)
    ]
    return results, coverage(flow, [r.state for r in results])
