import io
import json

from ivr.log import configure_logging, get_logger


def test_json_lines_off_a_terminal_carry_the_call_id():
    stream = io.StringIO()
    configure_logging(stream=stream)  # StringIO is not a TTY: JSON
    log = get_logger(call_id="c-42")
    log.info("call.started", ani="+15551234567")
    log.bind(node="main_menu").info("flow.step")
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [r["event"] for r in records] == ["call.started", "flow.step"]
    assert all(r["call_id"] == "c-42" for r in records)
    assert records[1]["node"] == "main_menu" and records[0]["level"] == "info"


def test_level_filters_debug():
    stream = io.StringIO()
    configure_logging(stream=stream, level="info")
    get_logger().debug("hidden")
    assert stream.getvalue() == ""


def test_console_renderer_when_asked():
    stream = io.StringIO()
    configure_logging(json=False, stream=stream)
    get_logger(call_id="c-1").info("hello")
    line = stream.getvalue()
    assert "hello" in line and "call_id" in line and not line.startswith("{")
