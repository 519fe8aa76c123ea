from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from ivr.flows import expr
from ivr.flows.calendar import build_calendar


def ev(source: str, **variables: object) -> object:
    return expr.evaluate(expr.parse(source), expr.Scope(variables))


@pytest.mark.parametrize(
    ("source", "want"),
    [
        ("1 < 2 and not false", True),
        ("'a' in ['a', 'b']", True),
        ("'c' not in ['a', 'b']", True),
        ("x == 3", True),  # DTMF text compares as a number
        ("x + 1", 4.0),
        ("a.b.c", 7),
        ("missing.path == null", True),
        ("len(s) == 4 and is_digits(s)", True),
        ("startswith(s, '12')", True),
        ("luhn('79927398713')", True),
        ("luhn('79927398710')", False),
        ("(1 < 2) or (2 < 1) and false", True),  # and binds tighter than or
        ("-x < 0", True),
        ("'a' < 1", False),  # mismatched types compare false instead of raising
    ],
)
def test_evaluate(source: str, want: object) -> None:
    assert ev(source, x="3", a={"b": {"c": 7}}, s="1234") == want


@pytest.mark.parametrize(
    ("source", "offset", "message"),
    [
        ("a ==", 4, "expected a value"),
        ("a < b < c", 6, "cannot be chained"),
        ("(a", 2, "expected ')'"),
        ("a $ b", 2, "unexpected character"),
        ("__import__('os')", -1, ""),  # parses (a call) but check() rejects the unknown function
    ],
)
def test_errors_carry_offsets(source: str, offset: int, message: str) -> None:
    if offset < 0:
        problems = expr.check(expr.parse(source))
        assert problems and "unknown function '__import__'" in problems[0][0]
        return
    with pytest.raises(expr.ExprError) as info:
        expr.parse(source)
    assert info.value.offset == offset
    assert message in str(info.value)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(expr.ExprError, match="nested too deeply"):
        expr.parse("(" * 200 + "1" + ")" * 200)


def test_attribute_access_cannot_reach_python_objects() -> None:
    # Paths only index mappings and sequences: no attributes, no dunder access.
    assert ev("s.__class__", s="text") is None


def test_render_and_placeholders() -> None:
    assert expr.render("Hi {name}, {{literal}} {n}", {"name": "Ann", "n": 2.0}) == "Hi Ann, {literal} 2"
    assert expr.template_paths("a {x.y} {{z}}") == [("x.y", 2)]


def test_business_hours_and_holidays() -> None:
    cal = build_calendar(
        "America/New_York", {"mon-fri": ["08:00-20:00"], "sat": ["09:00-13:00"]}, ["2026-12-25"]
    )
    ny = ZoneInfo("America/New_York")
    scope = lambda when: expr.Scope({}, when, {"support": cal})  # noqa: E731
    is_open = expr.parse("open('support')")
    assert expr.evaluate(is_open, scope(datetime(2026, 3, 3, 10, tzinfo=ny)))
    assert not expr.evaluate(is_open, scope(datetime(2026, 3, 3, 20, 0, tzinfo=ny)))  # end is exclusive
    assert not expr.evaluate(is_open, scope(datetime(2026, 3, 8, 10, tzinfo=ny)))  # Sunday
    assert not expr.evaluate(is_open, scope(datetime(2026, 12, 25, 10, tzinfo=ny)))  # holiday
    # 14:30 UTC is 09:30 in New York: the zone conversion matters.
    assert expr.evaluate(is_open, scope(datetime(2026, 3, 7, 14, 30, tzinfo=ZoneInfo("UTC"))))
    assert expr.evaluate(expr.parse("holiday('support')"), scope(datetime(2026, 12, 25, 3, tzinfo=ny)))


def test_text_equality_is_exact_but_mixed_types_compare_as_numbers() -> None:
    assert ev("pin == '0012'", pin="0012") is True
    assert ev("pin == '12'", pin="0012") is False
    assert ev("pin == 12", pin="0012") is True
