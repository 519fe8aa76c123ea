"""One test per issue code, each asserting the exact file:line:column of the problem."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from ivr.errors import FlowError
from ivr.flows.issues import CODES
from ivr.flows.validate import labels_from_model, validate_file

from .conftest import DEFAULT_FLOW
from .helpers import pos_of, report

BASE = """\
flow: t
version: "1"
start: menu
nodes:
  menu:
    type: menu
    prompt: "Pick one"
    routes:
      - {intent: check_balance, dtmf: "1", goto: bye}
  bye:
    type: hangup
    prompt: "Bye"
"""


def edit(old: str, new: str, text: str = BASE) -> str:
    assert old in text
    return text.replace(old, new, 1)


ROUTE = '      - {intent: check_balance, dtmf: "1", goto: bye}\n'
BYE = "  bye:\n"

# code -> (flow text, needle whose first character is the expected position, which occurrence, column shift)
CASES: dict[str, tuple[str, str, int, int]] = {
    "duplicate-key": (BASE + "  bye:\n    type: hangup\n", "bye:", 1, 0),
    "unknown-key": (
        edit('    prompt: "Pick one"\n', '    promt: "Pick one"\n    prompt: x\n'),
        "promt",
        0,
        0,
    ),
    "wrong-type": ("settings: {confidence: high}\n" + BASE, "high", 0, 0),
    "missing-field": (BASE + "  agent:\n    type: transfer\n", "type: transfer", 0, 0),
    "bad-value": ("settings: {confidence: 1.5}\n" + BASE, "1.5", 0, 0),
    "bad-expression": (
        edit(ROUTE, ROUTE + '      - {intent: deny, when: "a ==", goto: bye}\n'),
        "a ==",
        0,
        4,
    ),
    "unknown-timezone": (
        'calendars:\n  c: {timezone: "Mars/Olympus", hours: {mon: "08:00-17:00"}}\n' + BASE,
        '"Mars',
        0,
        0,
    ),
    "bad-hours": ('calendars:\n  c: {timezone: UTC, hours: {mon: "17:00-08:00"}}\n' + BASE, '"17:00', 0, 0),
    "unknown-target": (edit("goto: bye}", "goto: byee}"), "byee", 0, 0),
    "unknown-subflow": (
        edit("goto: bye}", "goto: sub}") + "  sub: {type: call, flow: nope, next: bye}\n",
        "nope",
        0,
        0,
    ),
    "unknown-calendar": (
        edit(ROUTE, ROUTE + "      - {intent: deny, when: \"open('nope')\", goto: bye}\n"),
        "open(",
        0,
        0,
    ),
    "unknown-variable": (
        edit(ROUTE, ROUTE + '      - {intent: deny, when: "caller.ani == 1 and foo", goto: bye}\n'),
        "foo",
        0,
        0,
    ),
    "unreachable-node": (BASE + "  orphan:\n    type: hangup\n", "orphan:", 0, 0),
    "dead-end": (edit("goto: bye}", "goto: back}") + "  back:\n    type: return\n", "back:", 0, 0),
    "endless-loop": (
        edit("goto: bye}", "goto: a}") + "  a: {type: goto, target: b}\n  b: {type: goto, target: a}\n",
        "a: {type",
        0,
        0,
    ),
    "unknown-intent": (edit("intent: check_balance", "intent: fly_to_the_moon"), "fly_to", 0, 0),
    "impossible-digits": (edit('dtmf: "1"', 'dtmf: "1x"'), '"1x"', 0, 0),
    "duplicate-dtmf": (edit(ROUTE, ROUTE + '      - {intent: deny, dtmf: "1", goto: bye}\n'), '"1"', 2, 0),
    "duplicate-intent": (
        edit(ROUTE, ROUTE + "      - {intent: check_balance, goto: bye}\n"),
        "check_balance",
        1,
        0,
    ),
    "missing-audio": (
        edit('    prompt: "Bye"\n', "    prompt: {audio: prompts/nothere.wav}\n"),
        "prompts/",
        0,
        0,
    ),
    "missing-translation": (
        "languages: [en, es]\n" + edit('    prompt: "Bye"\n', "    prompt:\n      say: {en: Bye}\n"),
        "{en: Bye}",
        0,
        0,
    ),
}


def test_base_flow_is_clean() -> None:
    r = report(BASE)
    assert r.ok and r.issues == ()


def test_every_code_has_a_case() -> None:
    assert set(CODES) - set(CASES) == {"yaml-syntax"}


@pytest.mark.parametrize("code", sorted(CASES))
def test_issue_position(code: str) -> None:
    text, needle, nth, shift = CASES[code]
    r = report(text)
    found = [i for i in r.issues if i.code == code]
    assert found, f"no {code} in {[str(i) for i in r.issues]}"
    line, column = pos_of(text, needle, nth)
    assert (found[0].pos.file, found[0].pos.line, found[0].pos.column) == ("t.yaml", line, column + shift)
    assert str(found[0]).startswith(f"t.yaml:{line}:{column + shift}: {code}")


def test_yaml_syntax_error_position() -> None:
    r = report("flow: t\nnodes:\n  a: [1, 2\n  b: 3\n")
    assert [(i.code, i.pos.line, i.pos.column) for i in r.issues] == [("yaml-syntax", 4, 4)]
    assert r.flow is None and not r.ok


def test_alias_bomb_and_size_limits() -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    r = report("\n".join(lines) + "\n")
    assert [i.code for i in r.issues] == ["yaml-syntax"]
    assert "alias" in r.issues[0].message or "nodes" in r.issues[0].message
    big = "flow: t\n" + "# padding\n" * 120_000
    assert [i.code for i in report(big).issues] == ["yaml-syntax"]


def test_yaml_12_booleans_and_no_python_tags() -> None:
    r = report(edit('    prompt: "Bye"\n', "    prompt: no\n"))
    assert r.ok  # 'no' stays text, it is not false
    assert r.flow is not None
    r = report("flow: !!python/object:os.system ls\nstart: a\nnodes: {}\n")
    assert any(i.code == "yaml-syntax" for i in r.issues)


def test_all_problems_reported_at_once() -> None:
    text = edit("goto: bye}", "goto: byee}", edit("intent: check_balance", "intent: nope"))
    text = "settings: {confidence: 2}\n" + text + "  orphan: {type: hangup}\n"
    codes = sorted(i.code for i in report(text).issues)
    # 'bye' is unreachable too once the route to it points elsewhere.
    assert codes == ["bad-value", "unknown-intent", "unknown-target", "unreachable-node", "unreachable-node"]


def test_labels_decide_which_intents_are_known() -> None:
    assert report(BASE, labels=("check_balance",)).ok
    r = report(BASE, labels=("pay",))
    assert [i.code for i in r.issues] == ["unknown-intent"]
    assert "the model knows: pay" in r.issues[0].hint


def _safetensors(path: Path, metadata: dict[str, str]) -> None:
    header = json.dumps({"__metadata__": metadata}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header)


def test_labels_from_model_header(tmp_path: Path) -> None:
    model = tmp_path / "m.safetensors"
    _safetensors(model, {"labels": json.dumps(["a", "b"])})
    assert labels_from_model(model) == ("a", "b")
    _safetensors(model, {"labels": "x, y"})
    assert labels_from_model(model) == ("x", "y")
    _safetensors(model, {"ivr": json.dumps({"format_version": 1, "labels": ["check_balance", "deny"]})})
    assert labels_from_model(model) == ("check_balance", "deny")
    _safetensors(model, {})
    with pytest.raises(FlowError, match="no 'labels'"):
        labels_from_model(model)
    (tmp_path / "bad.safetensors").write_bytes(b"\xff" * 20)
    with pytest.raises(FlowError, match="not a safetensors"):
        labels_from_model(tmp_path / "bad.safetensors")


def test_default_flow_is_valid() -> None:
    r = validate_file(DEFAULT_FLOW)
    assert r.ok and not r.issues, [str(i) for i in r.issues]


def _ivr(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from ivr.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_validate_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    text = edit("goto: bye}", "goto: byee}") + "  orphan: {type: hangup}\n"
    bad.write_text(text)
    code, out, err = _ivr(capsys, "flow", "validate", str(bad), str(DEFAULT_FLOW))
    assert code == 1 and "FAILED: 2 file(s), 3 error(s)" in err
    lines = [line for line in out.splitlines() if not line.startswith("    hint")]
    (l1, c1), (l2, c2), (l3, c3) = pos_of(text, "byee"), pos_of(text, "bye:"), pos_of(text, "orphan")
    assert lines == [
        f"{bad}:{l1}:{c1}: unknown-target: no node named 'byee'",
        f"{bad}:{l2}:{c2}: unreachable-node: nothing leads to node 'bye'",
        f"{bad}:{l3}:{c3}: unreachable-node: nothing leads to node 'orphan'",
    ]
    assert "hint: did you mean 'bye'?" in out
    model = tmp_path / "m.safetensors"
    _safetensors(model, {"labels": json.dumps(["check_balance"])})
    good = tmp_path / "good.yaml"
    good.write_text(BASE)
    assert _ivr(capsys, "flow", "validate", str(good), "--model", str(model))[0] == 0
    assert _ivr(capsys, "flow", "validate", str(good), "--labels", "deny")[0] == 1
    code, _, err = _ivr(capsys, "flow", "validate", str(tmp_path / "missing.yaml"))
    assert code == 1 and err.strip().endswith("missing.yaml: no such file")


def test_silent_caller_loop_is_an_endless_loop() -> None:
    text = BASE.replace(
        '    prompt: "Pick one"\n',
        '    prompt: "Pick one"\n    no_input: {max: 2, then: other}\n',
    ) + (
        "  other:\n    type: menu\n    prompt: Other\n    no_input: {max: 2, then: menu}\n"
        '    routes:\n      - {dtmf: "1", goto: bye}\n'
    )
    loops = [i for i in report(text).issues if i.code == "endless-loop"]
    assert len(loops) == 1 and "a silent caller loops forever through menu -> other" in loops[0].message
    assert (loops[0].pos.line, loops[0].pos.column) == pos_of(text, "other}")
    counted = text.replace("then: menu}", "then: count}") + "  count: {type: set, set: {n: 1}, next: menu}\n"
    assert not [i for i in report("variables: {n: 0}\n" + counted).issues if i.code == "endless-loop"]
