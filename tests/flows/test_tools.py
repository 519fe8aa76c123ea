"""The flow tools end to end: the simulator with piped stdin, the test runner, graphs, hot reload."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ivr.flows.events import CallStarted, IntentResult
from ivr.flows.graph import edges, render, to_mermaid
from ivr.flows.registry import FlowRegistry
from ivr.flows.testing import run_files
from ivr.flows.validate import load_flow
from ivr.flows.words import match_words, parse_intents
from tests.conftest import require_binaries

from .conftest import DEFAULT_FLOW, OPEN, ROOT
from .test_validate import BASE


def _ivr(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ivr", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_simulate_with_piped_stdin() -> None:
    turns = "\n".join(
        [
            "intent:check_balance 0.9",
            "12345678#",
            "yes",
            "1234",
            'webhook ok {"verified": true}',
            'webhook ok {"balance": 12, "due_date": "May 1"}',
            "clips/missing.wav",
            "no thanks",
        ]
    )
    done = _ivr(
        "flow", "simulate", str(DEFAULT_FLOW), "--time", "2026-03-03T10:00:00-05:00", stdin=turns + "\n"
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "IVR: Thanks for calling Example Telecom" in out
    assert "IVR: Your balance is 12 dollars, due on May 1." in out
    # The WAV turn fails cleanly (the shipped model is used by default; the file is missing) and the call goes on.
    assert "error: clips/missing.wav: No such file or directory" in out
    assert "** hang up (caller-done)" in out
    assert "outcome hangup:caller-done" in out
    assert "Traceback" not in out + done.stderr


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from ivr.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_simulate_rejects_an_invalid_flow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.replace("goto: bye}", "goto: nowhere}"))
    code, _, err = _main(capsys, "flow", "simulate", str(bad))
    assert code == 1 and "unknown-target: no node named 'nowhere'" in err and "Traceback" not in err


def test_default_flow_conversations_pass_with_coverage() -> None:
    flow = load_flow(DEFAULT_FLOW)
    results, cov = run_files(flow, [ROOT / "flows" / "tests"])
    assert len(results) >= 30
    assert [r.name for r in results if not r.passed] == []
    assert cov.nodes_hit >= set(flow.nodes)  # every node visited
    # Every route, handler exit and global of the default flow has a conversation: keep it that way.
    assert cov.missed() == ([], [])


def test_default_flow_uses_every_default_intent() -> None:
    from ivr.intents import DEFAULT_INTENTS

    flow = load_flow(DEFAULT_FLOW)
    used = set(flow.global_intents) | {"affirm", "deny"}
    used |= {r.intent for n in flow.nodes.values() for r in getattr(n, "routes", ()) if r.intent}
    assert set(DEFAULT_INTENTS) <= used
    keys = {r.dtmf for r in flow.nodes["main_menu"].routes if r.dtmf} | set(flow.global_keys)  # type: ignore[union-attr]
    assert set("0123456789") <= keys


def test_cli_test_runner_fails_on_a_wrong_expectation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _main(capsys, "flow", "test", str(DEFAULT_FLOW), str(ROOT / "flows" / "tests"))
    assert code == 0 and "node coverage" in out and " 0 failed" in out
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        "tests:\n  - name: wrong\n    turns:\n      - keys: '4'\n    end: {outcome: 'transfer:queue:sales'}\n"
    )
    code, out, _ = _main(capsys, "flow", "test", str(DEFAULT_FLOW), str(wrong))
    assert code == 1
    assert "expected outcome 'transfer:queue:sales', got 'transfer:queue:tech_support'" in out


def test_mermaid_graph_lists_every_node_and_labelled_edge(tmp_path: Path) -> None:
    flow = load_flow(DEFAULT_FLOW)
    text = to_mermaid(flow)
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    for node_id in flow.nodes:
        gid = "n_" + node_id.replace("/", "_")
        assert any(
            line.strip().startswith(gid + "[")
            or line.strip().startswith(gid + "{")
            or line.strip().startswith(gid + "(")
            for line in lines
        ), node_id
    assert 'n_main_menu -->|"check_balance / key 1"| n_balance_verify' in text
    drawn = [line for line in lines if "-->" in line or "-.->" in line]
    # Every edge is drawn except the endings of transfer/hangup nodes, which their captions show.
    assert len(drawn) == len(
        [e for e in edges(flow) if e.key not in ("transfer", "hangup") and (e.dst or e.terminal)]
    )
    assert 'n_agent_transfer(["agent_transfer<br/>transfer queue:agents"])' in text
    assert text.count("subgraph") == text.count("\n  end")
    out = render(flow, tmp_path / "flow.mmd")
    assert out.read_text() == text


def test_svg_graph_via_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_binaries("dot")
    out = tmp_path / "flow.svg"
    code, _, err = _main(capsys, "flow", "graph", str(DEFAULT_FLOW), "-o", str(out))
    assert code == 0, err
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg")
    texts = {t.text for t in root.iter() if t.tag.endswith("text")}
    assert {"main_menu", "billing_menu", "ask_account"} <= texts
    assert '"make_payment" / key 2' in texts
    code, _, err = _main(capsys, "flow", "graph", str(DEFAULT_FLOW), "-o", str(tmp_path / "x.gif"))
    assert code == 1 and "unknown picture format '.gif'" in err


def test_words_and_intent_parsing() -> None:
    assert match_words("I lost my card")[0][0] == "report_lost_card"
    assert match_words("can I talk to a human")[0][0] == "speak_to_agent"
    assert match_words("blue elephants") == [("out_of_scope", 0.9)]
    assert parse_intents("intent:make_payment 0.62, deny 0.3") == [("make_payment", 0.62), ("deny", 0.3)]
    with pytest.raises(ValueError, match="between 0 and 1"):
        parse_intents("make_payment 7")


def test_hot_reload_keeps_old_version_for_calls_in_progress(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(BASE)
    reg = FlowRegistry()
    v1 = reg.load(path)
    call = reg.start_call("t", "old-call")
    call, _ = reg.step(call, CallStarted(now=OPEN))

    path.write_text(BASE.replace("goto: bye}", "goto: missing}"))  # invalid: rejected, v1 keeps serving
    result = reg.reload(path)
    assert not result.ok and result.version == v1.version_tag and "unknown-target" in result.errors
    assert reg.current("t") is v1

    path.write_text(BASE.replace('prompt: "Bye"', 'prompt: "Goodbye from v2"'))
    assert reg.reload(path).ok
    v2 = reg.current("t")
    assert v2.version_tag != v1.version_tag

    call, actions = reg.step(call, IntentResult((("check_balance", 0.9),)))  # the old call ends on v1
    assert [getattr(a, "text", None) for a in actions if type(a).__name__ == "Play"] == ["Bye"]
    new = reg.start_call("t", "new-call")
    new, _ = reg.step(new, CallStarted(now=OPEN))
    new, actions = reg.step(new, IntentResult((("check_balance", 0.9),)))
    assert [getattr(a, "text", None) for a in actions if type(a).__name__ == "Play"] == ["Goodbye from v2"]
    assert reg.forget_unused([new]) == 1


def test_graph_draws_handlers_that_end_the_call() -> None:
    from ivr.flows.graph import to_dot

    from .helpers import flow
    from .test_engine import MENU

    f = flow(MENU)
    assert 'n_menu -.->|"no input x3"| n___end__' in to_mermaid(f)
    dot = to_dot(f)
    assert 'n___end__ [label="call ends", shape=point];' in dot
    assert 'n_menu -> n___end__ [label="no input x3", style=dashed];' in dot
    assert 'n_bye [label="bye\\n(hangup: done)"' in dot
