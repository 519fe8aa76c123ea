"""The flow condition language: a tokenizer, a Pratt parser and a tree-walking evaluator.

Small on purpose, and never Python ``eval``: literals (``'text'``, ``42``, ``0.5``, ``true``,
``false``, ``null``, ``[a, b]``), variable paths (``account``, ``caller.ani``, ``response.data.due``),
``== != < <= > >=``, ``in``, ``not in``, ``and or not``, ``+ -`` and a short list of functions
(``FUNCTIONS``). Evaluation errors (a missing variable, comparing a string to a number) return
``None``-ish falsy results instead of raising, because a live call must never crash on a condition;
the validator catches what it can before deployment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ivr.errors import FlowError

MAX_EXPRESSION_CHARS = 1000
MAX_DEPTH = 50  # nesting limit: keeps the recursive parser far from Python's stack limit


class ExprError(FlowError):
    """A syntax error in an expression; ``offset`` is the 0-based character where it was noticed."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


# ---------------------------------------------------------------- tokens

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,|\.|\+|-)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # number | string | name | op | keyword | end
    text: str
    offset: int


def tokenize(source: str) -> list[Token]:
    if len(source) > MAX_EXPRESSION_CHARS:
        raise ExprError(f"expression longer than {MAX_EXPRESSION_CHARS} characters", 0)
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        m = _TOKEN_RE.match(source, pos)
        if m is None:
            raise ExprError(f"unexpected character {source[pos]!r}", pos)
        kind = m.lastgroup or "ws"
        text = m.group()
        if kind == "string" and text.count("\n"):
            raise ExprError("strings cannot span lines", pos)
        if kind == "name" and text in _KEYWORDS:
            kind = "keyword"
        if kind != "ws":
            tokens.append(Token(kind, text, pos))
        pos = m.end()
    tokens.append(Token("end", "", len(source)))
    return tokens


# ---------------------------------------------------------------- syntax tree


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any
    offset: int


@dataclass(frozen=True, slots=True)
class Path:
    parts: tuple[str, ...]
    offset: int


@dataclass(frozen=True, slots=True)
class ListExpr:
    items: tuple[Expr, ...]
    offset: int


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # not | -
    operand: Expr
    offset: int


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Expr
    right: Expr
    offset: int


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Expr, ...]
    offset: int


Expr = Literal | Path | ListExpr | Unary | Binary | Call

# Binding powers, loosest first: or < and < not < comparisons/in < + -
_INFIX = {
    "or": 1,
    "and": 2,
    "==": 4,
    "!=": 4,
    "<": 4,
    "<=": 4,
    ">": 4,
    ">=": 4,
    "in": 4,
    "not in": 4,
    "+": 5,
    "-": 5,
}
_NOT_POWER = 3
_NEG_POWER = 6


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return tok

    def expect(self, text: str) -> Token:
        tok = self.next()
        if tok.text != text:
            found = repr(tok.text) if tok.kind != "end" else "end of expression"
            raise ExprError(f"expected {text!r}, found {found}", tok.offset)
        return tok

    def infix_op(self) -> str | None:
        tok = self.peek()
        if tok.text == "not" and self.tokens[self.i + 1].text == "in":
            return "not in"
        if tok.kind in ("op", "keyword") and tok.text in _INFIX:
            return tok.text
        return None

    def expression(self, min_power: int = 0) -> Expr:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError("expression nested too deeply", self.peek().offset)
        left = self.prefix()
        while (op := self.infix_op()) is not None and _INFIX[op] > min_power:
            tok = self.next()
            if op == "not in":
                self.next()
            # Comparisons do not chain (a < b < c is an error, not Python's chained meaning).
            power = _INFIX[op]
            right = self.expression(power)
            left = Binary(op, left, right, tok.offset)
            if power == 4 and self.infix_op() in _INFIX and _INFIX[self.infix_op() or ""] == 4:
                raise ExprError("comparisons cannot be chained; use 'and'", self.peek().offset)
        self.depth -= 1
        return left

    def prefix(self) -> Expr:
        tok = self.next()
        if tok.kind == "number":
            value: Any = float(tok.text) if "." in tok.text else int(tok.text)
            return Literal(value, tok.offset)
        if tok.kind == "string":
            return Literal(_unquote(tok.text), tok.offset)
        if tok.kind == "keyword":
            if tok.text in ("true", "false", "null"):
                return Literal({"true": True, "false": False, "null": None}[tok.text], tok.offset)
            if tok.text == "not":
                return Unary("not", self.expression(_NOT_POWER), tok.offset)
        if tok.text == "-":
            return Unary("-", self.expression(_NEG_POWER), tok.offset)
        if tok.text == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        if tok.text == "[":
            return ListExpr(tuple(self.arguments("]")), tok.offset)
        if tok.kind == "name":
            if self.peek().text == "(":
                self.next()
                return Call(tok.text, tuple(self.arguments(")")), tok.offset)
            parts = [tok.text]
            while self.peek().text == ".":
                self.next()
                part = self.next()
                if part.kind not in ("name", "number"):
                    raise ExprError("expected a name after '.'", part.offset)
                parts.append(part.text)
            return Path(tuple(parts), tok.offset)
        found = repr(tok.text) if tok.kind != "end" else "end of expression"
        raise ExprError(f"expected a value, found {found}", tok.offset)

    def arguments(self, closer: str) -> list[Expr]:
        items: list[Expr] = []
        if self.peek().text == closer:
            self.next()
            return items
        while True:
            items.append(self.expression())
            tok = self.next()
            if tok.text == closer:
                return items
            if tok.text != ",":
                raise ExprError(f"expected ',' or {closer!r}", tok.offset)


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def parse(source: str) -> Expr:
    """Parse ``source`` or raise ``ExprError`` with the offset of the problem."""
    parser = _Parser(tokenize(source))
    if parser.peek().kind == "end":
        raise ExprError("empty expression", 0)
    tree = parser.expression()
    tail = parser.peek()
    if tail.kind != "end":
        raise ExprError(f"unexpected {tail.text!r}", tail.offset)
    return tree


# ---------------------------------------------------------------- evaluation


@dataclass(frozen=True, slots=True)
class Scope:
    """Everything an expression can see. ``open``/``holiday`` need ``calendars`` and ``now``."""

    variables: Mapping[str, Any]
    now: datetime | None = None
    calendars: Mapping[str, Any] | None = None  # name -> ivr.flows.calendar.Calendar


def _fn_open(scope: Scope, name: Any) -> bool:
    cal = (scope.calendars or {}).get(str(name))
    return bool(cal is not None and scope.now is not None and cal.is_open(scope.now))


def _fn_holiday(scope: Scope, name: Any) -> bool:
    cal = (scope.calendars or {}).get(str(name))
    return bool(cal is not None and scope.now is not None and cal.is_holiday(scope.now))


def _fn_len(scope: Scope, value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple | dict) else 0


def _fn_str(scope: Scope, value: Any) -> str:
    return "" if value is None else str(value)


def _fn_number(scope: Scope, value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _fn_lower(scope: Scope, value: Any) -> str:
    return str(value).lower() if value is not None else ""


def _fn_startswith(scope: Scope, value: Any, prefix: Any) -> bool:
    return isinstance(value, str) and isinstance(prefix, str) and value.startswith(prefix)


def _fn_is_digits(scope: Scope, value: Any) -> bool:
    return isinstance(value, str) and value.isdigit()


def _fn_luhn(scope: Scope, value: Any) -> bool:
    """Card and account numbers often carry a Luhn check digit: catch a mistyped key early."""
    if not isinstance(value, str) or not value.isdigit() or len(value) < 2:
        return False
    total = 0
    for i, ch in enumerate(reversed(value)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _fn_hour(scope: Scope, tz: Any = None) -> int:
    return _local(scope, tz).hour if scope.now else -1


def _fn_weekday(scope: Scope, tz: Any = None) -> str:
    return _local(scope, tz).strftime("%a").lower() if scope.now else ""


def _local(scope: Scope, tz: Any) -> datetime:
    from ivr.flows.calendar import zone

    assert scope.now is not None
    return scope.now.astimezone(zone(str(tz))) if tz else scope.now


# name -> (function, min args, max args). Each takes the scope first.
FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {
    "open": (_fn_open, 1, 1),
    "holiday": (_fn_holiday, 1, 1),
    "len": (_fn_len, 1, 1),
    "str": (_fn_str, 1, 1),
    "number": (_fn_number, 1, 1),
    "lower": (_fn_lower, 1, 1),
    "startswith": (_fn_startswith, 2, 2),
    "is_digits": (_fn_is_digits, 1, 1),
    "luhn": (_fn_luhn, 1, 1),
    "hour": (_fn_hour, 0, 1),
    "weekday": (_fn_weekday, 0, 1),
}


def lookup(variables: Mapping[str, Any], parts: tuple[str, ...]) -> Any:
    value: Any = variables
    for part in parts:
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def evaluate(tree: Expr, scope: Scope) -> Any:
    """Evaluate a parsed expression; type mismatches give ``None``/``False``, never an exception."""
    match tree:
        case Literal(value=value):
            return value
        case Path(parts=parts):
            return lookup(scope.variables, parts)
        case ListExpr(items=items):
            return [evaluate(item, scope) for item in items]
        case Unary(op="not", operand=operand):
            return not truthy(evaluate(operand, scope))
        case Unary(op="-", operand=operand):
            value = _loose(evaluate(operand, scope))
            return -value if _is_number(value) else None
        case Binary(op="and", left=left, right=right):
            return truthy(evaluate(left, scope)) and truthy(evaluate(right, scope))
        case Binary(op="or", left=left, right=right):
            return truthy(evaluate(left, scope)) or truthy(evaluate(right, scope))
        case Binary(op=op, left=left, right=right):
            return _binary(op, evaluate(left, scope), evaluate(right, scope))
        case Call(name=name, args=args):
            fn, _, _ = FUNCTIONS[name]
            return fn(scope, *(evaluate(a, scope) for a in args))
    raise AssertionError(f"unknown node {tree!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _binary(op: str, a: Any, b: Any) -> Any:
    if op in ("==", "!="):
        # Text against text compares exactly (PIN '0012' is not '12'); mixed types compare as numbers.
        same = a == b if isinstance(a, str) and isinstance(b, str) else _loose(a) == _loose(b)
        return same if op == "==" else not same
    if op in ("in", "not in"):
        if isinstance(b, str):
            found = isinstance(a, str) and a in b
        elif isinstance(b, list | tuple | Mapping):
            found = _loose(a) in [_loose(x) for x in b]
        else:
            found = False
        return found if op == "in" else not found
    if op in ("+", "-"):
        x, y = _loose(a), _loose(b)
        if _is_number(x) and _is_number(y):
            return x + y if op == "+" else x - y
        if op == "+" and isinstance(a, str) and isinstance(b, str):
            return a + b
        return None
    # Ordering: numbers with numbers (digit strings count as numbers), strings with strings.
    x, y = _loose(a), _loose(b)
    if not ((_is_number(x) and _is_number(y)) or (isinstance(x, str) and isinstance(y, str))):
        return False
    return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]


def _loose(value: Any) -> Any:
    """DTMF input is text: let ``digits == 3`` and ``balance > 10`` work on '3' and '10.5'."""
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+\.\d+", value):
        return float(value)
    return value


def truthy(value: Any) -> bool:
    return bool(value)


# ---------------------------------------------------------------- static checks


def nodes(tree: Expr) -> Iterator[Expr]:
    """Every node of an expression tree, parents before children."""
    yield tree
    match tree:
        case Call(args=children) | ListExpr(items=children):
            for child in children:
                yield from nodes(child)
        case Unary(operand=operand):
            yield from nodes(operand)
        case Binary(left=left, right=right):
            yield from nodes(left)
            yield from nodes(right)


def check(tree: Expr) -> list[tuple[str, int]]:
    """Problems found without running: unknown functions, wrong argument counts. (message, offset)."""
    problems: list[tuple[str, int]] = []
    for call in calls(tree):
        if call.name not in FUNCTIONS:
            known = ", ".join(sorted(FUNCTIONS))
            problems.append((f"unknown function {call.name!r} (known: {known})", call.offset))
            continue
        _, lo, hi = FUNCTIONS[call.name]
        if not lo <= len(call.args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            problems.append((f"{call.name}() takes {want} argument(s), got {len(call.args)}", call.offset))
    return problems


def paths(tree: Expr) -> list[Path]:
    """Every variable path the expression reads (for unknown-variable checks)."""
    return [node for node in nodes(tree) if isinstance(node, Path)]


def calls(tree: Expr) -> list[Call]:
    """Every function call in the expression."""
    return [node for node in nodes(tree) if isinstance(node, Call)]


# ---------------------------------------------------------------- prompt templates

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


def template_paths(text: str) -> list[tuple[str, int]]:
    """The ``{path}`` placeholders of a prompt template, with offsets; ``{{``/``}}`` are literal braces."""
    return [(m.group(1), m.start()) for m in _PLACEHOLDER.finditer(text) if m.group(1) is not None]


def render(text: str, variables: Mapping[str, Any]) -> str:
    """Fill ``{path}`` placeholders; a missing value renders as empty text."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) in ("{{", "}}"):
            return m.group(0)[0]
        value = lookup(variables, tuple(m.group(1).strip().split(".")))
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    return _PLACEHOLDER.sub(sub, text)
