"""From the positioned YAML tree to a ``Flow``, recording an ``Issue`` for every shape problem.

``build(tree)`` never stops at the first mistake: unknown keys, wrong types, missing fields, bad
expressions and bad calendars are each recorded and the builder goes on with a best guess, so
``ivr flow validate`` lists every problem in one run. Targets are resolved in a second pass, once
every node id (``name`` or ``subflow/name``) is known.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from ivr.errors import FlowError
from ivr.flows import expr
from ivr.flows.calendar import Calendar, build_calendar, parse_date, parse_days, parse_range, zone
from ivr.flows.issues import Issue
from ivr.flows.loader import Pos, YMap, YNode, YScalar, YSeq, plain
from ivr.flows.schema import (
    DTMF_KEYS,
    NAME_RE,
    REPEAT,
    Assign,
    BranchNode,
    CallNode,
    CollectNode,
    Cond,
    Confirm,
    ConfirmNode,
    Flow,
    Gather,
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
    Settings,
    Target,
    TransferNode,
    WebhookNode,
)


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.issues: list[Issue] = []
        self.languages: tuple[str, ...] = ("en",)
        self.settings = Settings(0.5, 0.6, 0.1, 5000, 3000, 15000, 500)
        self.node_ids: set[str] = set()
        self.subflow_names: set[str] = set()

    def issue(self, code: str, message: str, pos: Pos, hint: str = "", severity: str = "error") -> None:
        self.issues.append(Issue(code, message, pos, hint, severity))

    # -- shape helpers: each records an issue and returns a fallback instead of raising

    def mapping(
        self,
        node: YNode | None,
        where: str,
        allowed: set[str],
        required: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> YMap | None:
        if node is None:
            return None
        if not isinstance(node, YMap):
            self.issue("wrong-type", f"{where} must be a mapping, found {_kind(node)}", node.pos)
            return None
        for key, pos in node.duplicates:
            self.issue("duplicate-key", f"key {key!r} repeated in {where}", pos, "keep one of them")
        for key, pos in node.keys.items():
            if key not in allowed:
                close = _closest(key, allowed)
                hint = f"did you mean {close!r}?" if close else f"allowed: {', '.join(sorted(allowed))}"
                self.issue("unknown-key", f"unknown key {key!r} in {where}", pos, hint)
        for key in sorted(required - node.items.keys()):
            self.issue("missing-field", f"{where} needs {key!r}", node.pos)
        return node

    def scalar(self, node: YNode | None, where: str, types: tuple[type, ...], name: str) -> Any:
        if node is None:
            return None
        ok = isinstance(node, YScalar) and isinstance(node.value, types)
        if isinstance(node, YScalar) and bool not in types and isinstance(node.value, bool):
            ok = False  # bool is an int subclass: true is not a number here
        if not ok:
            self.issue("wrong-type", f"{where} must be {name}, found {_kind(node)}", node.pos)
            return None
        assert isinstance(node, YScalar)
        return node.value

    def text(self, node: YNode | None, where: str) -> str | None:
        value = self.scalar(node, where, (str, int, float), "text")
        return None if value is None else str(value)

    def integer(self, node: YNode | None, where: str, lo: int, hi: int, default: int) -> int:
        value = self.scalar(node, where, (int,), "a whole number")
        if value is None:
            return default
        if not lo <= value <= hi:
            assert node is not None
            self.issue("bad-value", f"{where} must be between {lo} and {hi}, found {value}", node.pos)
            return default
        return int(value)

    def number(self, node: YNode | None, where: str, lo: float, hi: float, default: float) -> float:
        value = self.scalar(node, where, (int, float), "a number")
        if value is None:
            return default
        if not lo <= value <= hi:
            assert node is not None
            self.issue("bad-value", f"{where} must be between {lo} and {hi}, found {value}", node.pos)
            return default
        return float(value)

    def boolean(self, node: YNode | None, where: str, default: bool) -> bool:
        value = self.scalar(node, where, (bool,), "true or false")
        return default if value is None else bool(value)

    def cond(self, node: YNode | None, where: str) -> Cond | None:
        if node is None:
            return None
        if (isinstance(node, YScalar) and isinstance(node.value, bool | int | float)) or (
            isinstance(node, YScalar) and node.value is None
        ):
            return Cond(_literal_source(node.value), expr.Literal(node.value, 0), node.pos)
        source = self.text(node, where)
        if source is None:
            return None
        try:
            tree = expr.parse(source)
        except expr.ExprError as exc:
            self.issue("bad-expression", f"{where}: {exc}", _shift(node, exc.offset), _expr_hint())
            return Cond(source, None, _shift(node, 0))
        for message, offset in expr.check(tree):
            self.issue("bad-expression", f"{where}: {message}", _shift(node, offset), _expr_hint())
        return Cond(source, tree, _shift(node, 0))

    def template(self, node: YNode | None, where: str) -> str | None:
        text = self.text(node, where)
        if text is not None:
            assert node is not None
            for path, offset in expr.template_paths(text):
                if not re.fullmatch(r"\s*[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*\s*", path):
                    self.issue(
                        "bad-expression",
                        f"{where}: bad placeholder {{{path}}}",
                        _shift(node, offset),
                        "placeholders are variable paths like {account} or {caller.ani}; write {{ for a brace",
                    )
        return text

    def target(self, node: YNode | None, where: str, scope: str) -> Target | None:
        name = self.text(node, where)
        if name is None or node is None:
            return None
        return Target(name, None, node.pos)  # resolved in a second pass, once all ids are known

    # -- language parts

    def prompt(self, node: YNode | None, where: str) -> Prompt | None:
        if node is None:
            return None
        if isinstance(node, YScalar):
            text = self.template(node, where)
            return Prompt({"*": text or ""}, {}, True, node.pos)
        m = self.mapping(node, where, {"say", "audio", "barge_in"})
        if m is None:
            return None
        if "say" not in m.items and "audio" not in m.items:
            self.issue("missing-field", f"{where} needs 'say' or 'audio'", m.pos)
        audio = m.items.get("audio")
        audio_pos: dict[str, Pos] = {}
        if isinstance(audio, YMap):
            audio_pos = {lang: value.pos for lang, value in audio.items.items()}
        elif audio is not None:
            audio_pos = {"*": audio.pos}
        return Prompt(
            self.per_language(m.items.get("say"), f"{where}.say", template=True),
            self.per_language(audio, f"{where}.audio", template=False),
            self.boolean(m.items.get("barge_in"), f"{where}.barge_in", True),
            m.pos,
            audio_pos,
        )

    def per_language(self, node: YNode | None, where: str, template: bool) -> dict[str, str]:
        if node is None:
            return {}
        if isinstance(node, YMap):
            out: dict[str, str] = {}
            for lang, value in node.items.items():
                if lang not in self.languages:
                    self.issue(
                        "bad-value",
                        f"{where}: language {lang!r} is not in the flow's languages",
                        node.keys[lang],
                        f"declare it in 'languages' ({', '.join(self.languages)})",
                    )
                text = self.template(value, f"{where}.{lang}") if template else self.text(value, where)
                out[lang] = text or ""
            for lang in self.languages:
                if lang not in out:
                    self.issue(
                        "missing-translation",
                        f"{where} has no {lang!r} variant",
                        node.pos,
                        "callers in that language hear the default language instead",
                        severity="warning",
                    )
            return out
        text = self.template(node, where) if template else self.text(node, where)
        return {"*": text or ""}

    def handler(self, node: YNode | None, where: str, scope: str, fallback: Handler) -> Handler:
        if node is None:
            return fallback
        m = self.mapping(node, where, {"max", "prompts", "then", "reprompt"})
        if m is None:
            return fallback
        prompts_node = m.items.get("prompts")
        prompts: list[Prompt] = []
        if isinstance(prompts_node, YSeq):
            for i, item in enumerate(prompts_node.items):
                p = self.prompt(item, f"{where}.prompts[{i}]")
                if p:
                    prompts.append(p)
        elif prompts_node is not None:
            p = self.prompt(prompts_node, f"{where}.prompts")
            prompts = [p] if p else []
        then = self.target(m.items["then"], f"{where}.then", scope) if "then" in m.items else fallback.then
        return Handler(
            max=self.integer(m.items.get("max"), f"{where}.max", 1, 20, fallback.max),
            prompts=tuple(prompts) if prompts_node is not None else fallback.prompts,
            then=then,
            reprompt=self.boolean(m.items.get("reprompt"), f"{where}.reprompt", fallback.reprompt),
            pos=m.pos,
        )

    def gather(self, node: YNode | None, where: str, speech: bool, max_digits: int) -> Gather:
        s = self.settings
        m = self.mapping(
            node,
            where,
            {
                "speech",
                "dtmf",
                "no_input_ms",
                "inter_digit_ms",
                "speech_ms",
                "min_digits",
                "max_digits",
                "terminator",
            },
        )
        items = m.items if m else {}
        terminator = self.text(items.get("terminator"), f"{where}.terminator")
        if terminator is not None and terminator not in DTMF_KEYS:
            self.issue("bad-value", f"{where}.terminator must be one key (0-9 * #)", items["terminator"].pos)
            terminator = None
        gather = Gather(
            speech=self.boolean(items.get("speech"), f"{where}.speech", speech),
            dtmf=self.boolean(items.get("dtmf"), f"{where}.dtmf", True),
            no_input_ms=self.integer(
                items.get("no_input_ms"), f"{where}.no_input_ms", 500, 120_000, s.no_input_ms
            ),
            inter_digit_ms=self.integer(
                items.get("inter_digit_ms"), f"{where}.inter_digit_ms", 200, 60_000, s.inter_digit_ms
            ),
            speech_ms=self.integer(items.get("speech_ms"), f"{where}.speech_ms", 1000, 120_000, s.speech_ms),
            min_digits=self.integer(items.get("min_digits"), f"{where}.min_digits", 1, 64, 1),
            max_digits=self.integer(items.get("max_digits"), f"{where}.max_digits", 1, 64, max_digits),
            terminator=terminator,
        )
        if gather.min_digits > gather.max_digits and m is not None:
            self.issue("bad-value", f"{where}: min_digits is more than max_digits", m.pos)
        return gather


def build(tree: YNode, file: str, source: str = "") -> tuple[Flow | None, list[Issue]]:
    """The flow described by ``tree`` and every schema issue found; None when nothing usable remains."""
    b = _Builder(file)
    top = b.mapping(
        tree,
        "the flow",
        {
            "flow",
            "version",
            "description",
            "languages",
            "start",
            "settings",
            "variables",
            "calendars",
            "global_intents",
            "global_keys",
            "nodes",
            "subflows",
        },
        {"flow", "start", "nodes"},
    )
    if top is None:
        return None, b.issues
    items = top.items
    name = b.text(items.get("flow"), "flow") or "flow"
    version = b.text(items.get("version"), "version") or "0"
    langs_node = items.get("languages")
    if isinstance(langs_node, YSeq) and langs_node.items:
        langs = [b.text(n, "languages[]") for n in langs_node.items]
        b.languages = tuple(lang for lang in langs if lang) or ("en",)
    elif langs_node is not None:
        b.issue("wrong-type", "languages must be a non-empty list like [en, es]", langs_node.pos)
    b.settings = _settings(b, items.get("settings"))
    calendars = _calendars(b, items.get("calendars"))
    variables = _variables(b, items.get("variables"))

    # Node ids first, so targets can be resolved.
    raw_nodes: list[tuple[str, str, YNode, Pos]] = []  # (scope, local name, node, key pos)
    nodes_map = b.mapping(items.get("nodes"), "nodes", set(_as_map(items.get("nodes")).items))
    if nodes_map is not None:
        raw_nodes += [("", k, v, nodes_map.keys[k]) for k, v in nodes_map.items.items()]
    sub_starts: dict[str, Target | None] = {}
    subs = b.mapping(items.get("subflows"), "subflows", set(_as_map(items.get("subflows")).items))
    if subs is not None:
        for sub_name, sub_node in subs.items.items():
            sm = b.mapping(
                sub_node, f"subflow {sub_name}", {"description", "start", "nodes"}, {"start", "nodes"}
            )
            if sm is None:
                continue
            b.subflow_names.add(sub_name)
            sub_starts[sub_name] = b.target(sm.items.get("start"), f"subflow {sub_name}.start", sub_name)
            inner = b.mapping(
                sm.items.get("nodes"), f"subflow {sub_name}.nodes", set(_as_map(sm.items.get("nodes")).items)
            )
            if inner is not None:
                raw_nodes += [(sub_name, k, v, inner.keys[k]) for k, v in inner.items.items()]
    for scope, local, _, key_pos in raw_nodes:
        if not NAME_RE.match(local):
            b.issue("bad-value", f"node name {local!r} must be letters, digits, _ or -", key_pos)
        b.node_ids.add(f"{scope}/{local}" if scope else local)

    global_intents = _global_map(b, items.get("global_intents"), "global_intents", "", {})
    global_keys = _global_map(b, items.get("global_keys"), "global_keys", "", {})
    defaults = _default_handlers(b)
    nodes: dict[str, Node] = {}
    for scope, local, node, key_pos in raw_nodes:
        node_id = f"{scope}/{local}" if scope else local
        built = _node(b, node, node_id, scope, key_pos, global_intents, global_keys, defaults)
        if built is not None:
            nodes[node_id] = built

    start = b.target(items.get("start"), "start", "")
    flow = Flow(
        name=name,
        version=version,
        file=file,
        digest=hashlib.sha256(source.encode()).hexdigest(),
        languages=b.languages,
        start=start,
        nodes=nodes,
        subflows={},
        global_intents=global_intents,
        global_keys=global_keys,
        calendars=calendars,
        variables=variables,
        settings=b.settings,
        pos=top.pos,
        key_positions=dict(top.keys),
    )
    return _resolve(flow, sub_starts, b.node_ids), b.issues


def _as_map(node: YNode | None) -> YMap:
    return node if isinstance(node, YMap) else YMap({}, {}, Pos("", 0, 0))


def _settings(b: _Builder, node: YNode | None) -> Settings:
    d = b.settings
    m = b.mapping(
        node,
        "settings",
        {
            "confidence",
            "confirm_below",
            "confirm_margin",
            "no_input_ms",
            "inter_digit_ms",
            "speech_ms",
            "max_steps",
        },
    )
    it = m.items if m else {}
    return Settings(
        confidence=b.number(it.get("confidence"), "settings.confidence", 0.0, 1.0, d.confidence),
        confirm_below=b.number(it.get("confirm_below"), "settings.confirm_below", 0.0, 1.0, d.confirm_below),
        confirm_margin=b.number(
            it.get("confirm_margin"), "settings.confirm_margin", 0.0, 1.0, d.confirm_margin
        ),
        no_input_ms=b.integer(it.get("no_input_ms"), "settings.no_input_ms", 500, 120_000, d.no_input_ms),
        inter_digit_ms=b.integer(
            it.get("inter_digit_ms"), "settings.inter_digit_ms", 200, 60_000, d.inter_digit_ms
        ),
        speech_ms=b.integer(it.get("speech_ms"), "settings.speech_ms", 1000, 120_000, d.speech_ms),
        max_steps=b.integer(it.get("max_steps"), "settings.max_steps", 10, 100_000, d.max_steps),
    )


def _calendars(b: _Builder, node: YNode | None) -> dict[str, Calendar]:
    out: dict[str, Calendar] = {}
    m = b.mapping(node, "calendars", set(_as_map(node).items))
    if m is None:
        return out
    for name, cal_node in m.items.items():
        where = f"calendar {name}"
        cm = b.mapping(cal_node, where, {"timezone", "hours", "holidays"}, {"timezone", "hours"})
        if cm is None:
            continue
        ok = True
        tz = b.text(cm.items.get("timezone"), f"{where}.timezone")
        if tz is not None:
            try:
                zone(tz)
            except FlowError:
                ok = False
                b.issue(
                    "unknown-timezone",
                    f"{where}: unknown time zone {tz!r}",
                    cm.items["timezone"].pos,
                    "use an IANA name such as America/New_York or Europe/London",
                )
        hours: dict[str, list[str]] = {}
        hm = b.mapping(cm.items.get("hours"), f"{where}.hours", set(_as_map(cm.items.get("hours")).items))
        for days, ranges in hm.items.items() if hm else []:
            try:
                parse_days(days)
            except FlowError as exc:
                ok = False
                b.issue("bad-hours", f"{where}: {exc}", hm.keys[days] if hm else cm.pos)
            spans = ranges.items if isinstance(ranges, YSeq) else [ranges]
            hours[days] = []
            for span in spans:
                text = b.text(span, f"{where}.hours.{days}")
                if text is None:
                    ok = False
                    continue
                if text.strip().lower() != "closed":
                    try:
                        parse_range(text)
                    except FlowError as exc:
                        ok = False
                        b.issue("bad-hours", f"{where}: {exc}", span.pos)
                hours[days].append(text)
        holidays: list[str] = []
        hol = cm.items.get("holidays")
        if isinstance(hol, YSeq):
            for h in hol.items:
                text = b.text(h, f"{where}.holidays[]")
                if text is None:
                    ok = False
                    continue
                try:
                    parse_date(text)
                    holidays.append(text)
                except FlowError as exc:
                    ok = False
                    b.issue("bad-hours", f"{where}: {exc}", h.pos)
        elif hol is not None:
            b.issue("wrong-type", f"{where}.holidays must be a list of YYYY-MM-DD dates", hol.pos)
        if ok and tz is not None:
            out[name] = build_calendar(tz, hours, holidays)
    return out


def _variables(b: _Builder, node: YNode | None) -> dict[str, Any]:
    m = b.mapping(node, "variables", set(_as_map(node).items))
    out: dict[str, Any] = {}
    for name, value in m.items.items() if m else []:
        if not NAME_RE.match(name):
            b.issue(
                "bad-value",
                f"variable name {name!r} must be letters, digits and _",
                m.keys[name] if m else value.pos,
            )
        if not isinstance(value, YScalar):
            b.issue(
                "wrong-type", f"variable {name} must start as text, a number, true/false or null", value.pos
            )
            continue
        out[name] = value.value
    return out


def _global_map(
    b: _Builder, node: YNode | None, where: str, scope: str, base: Mapping[str, Target | None]
) -> dict[str, Target | None]:
    out = dict(base)
    m = b.mapping(node, where, set(_as_map(node).items))
    for key, value in m.items.items() if m else []:
        if isinstance(value, YScalar) and value.value is None:
            out[key] = None  # switched off here
        else:
            out[key] = b.target(value, f"{where}.{key}", scope)
    return out


def _default_handlers(b: _Builder) -> tuple[Handler, Handler]:
    pos = Pos(b.file, 1, 1)
    no_input = Handler(
        3,
        (
            Prompt({"*": "Sorry, I didn't hear anything."}, {}, True, pos),
            Prompt({"*": "I still didn't hear anything. You can also use your keypad."}, {}, True, pos),
        ),
        None,
        True,
        pos,
    )
    no_match = Handler(
        3,
        (
            Prompt({"*": "Sorry, I didn't get that."}, {}, True, pos),
            Prompt({"*": "Sorry, I still didn't get that. You can also use your keypad."}, {}, True, pos),
        ),
        None,
        True,
        pos,
    )
    return no_input, no_match


_COMMON = {"type", "description"}
_LISTEN_KEYS = {"prompt", "gather", "no_input", "no_match", "global_intents", "global_keys"}
_NODE_KEYS: dict[str, set[str]] = {
    "play": {"prompt", "next"},
    "menu": _LISTEN_KEYS | {"routes", "confirm"},
    "collect": _LISTEN_KEYS | {"into", "valid", "next"},
    "confirm": _LISTEN_KEYS | {"yes", "no"},
    "set": {"set", "language", "next"},
    "branch": {"cases", "default"},
    "webhook": {
        "method",
        "url",
        "body",
        "headers",
        "timeout_ms",
        "retries",
        "result",
        "prompt",
        "next",
        "on_failure",
    },
    "transfer": {"prompt", "to", "data"},
    "hangup": {"prompt", "reason"},
    "goto": {"target"},
    "call": {"flow", "next"},
    "return": set(),
}
_REQUIRED: dict[str, set[str]] = {
    "play": {"prompt", "next"},
    "menu": {"prompt", "routes"},
    "collect": {"prompt", "into", "next"},
    "confirm": {"prompt", "yes", "no"},
    "set": {"next"},
    "branch": {"cases", "default"},
    "webhook": {"url", "next", "on_failure"},
    "transfer": {"to"},
    "hangup": set(),
    "goto": {"target"},
    "call": {"flow", "next"},
    "return": set(),
}


def _node(
    b: _Builder,
    node: YNode,
    node_id: str,
    scope: str,
    key_pos: Pos,
    global_intents: Mapping[str, Target | None],
    global_keys: Mapping[str, Target | None],
    defaults: tuple[Handler, Handler],
) -> Node | None:
    where = f"node {node_id}"
    if not isinstance(node, YMap):
        b.issue("wrong-type", f"{where} must be a mapping, found {_kind(node)}", node.pos)
        return None
    kind_node = node.items.get("type")
    kind = b.text(kind_node, f"{where}.type")
    if kind is None:
        if kind_node is None:
            b.issue("missing-field", f"{where} needs 'type'", node.pos, f"one of: {', '.join(_NODE_KEYS)}")
        return None
    if kind not in _NODE_KEYS:
        assert kind_node is not None
        close = _closest(kind, set(_NODE_KEYS))
        b.issue(
            "bad-value",
            f"{where}: unknown node type {kind!r}",
            kind_node.pos,
            f"did you mean {close!r}?" if close else f"one of: {', '.join(_NODE_KEYS)}",
        )
        return None
    m = b.mapping(node, where, _COMMON | _NODE_KEYS[kind], _REQUIRED[kind])
    assert m is not None
    it = m.items
    base: dict[str, Any] = {"id": node_id, "scope": scope, "pos": key_pos}

    def tgt(key: str) -> Target | None:
        return b.target(it.get(key), f"{where}.{key}", scope)

    def listening(speech: bool, max_digits: int) -> Listening:
        return Listening(
            prompt=b.prompt(it.get("prompt"), f"{where}.prompt"),
            gather=b.gather(it.get("gather"), f"{where}.gather", speech, max_digits),
            no_input=b.handler(it.get("no_input"), f"{where}.no_input", scope, defaults[0]),
            no_match=b.handler(it.get("no_match"), f"{where}.no_match", scope, defaults[1]),
            global_intents=_global_map(
                b, it.get("global_intents"), f"{where}.global_intents", scope, global_intents
            ),
            global_keys=_global_map(b, it.get("global_keys"), f"{where}.global_keys", scope, global_keys),
        )

    if kind == "play":
        return PlayNode(**base, prompt=b.prompt(it.get("prompt"), f"{where}.prompt"), next=tgt("next"))
    if kind == "menu":
        routes = _routes(b, it.get("routes"), where, scope, "route", needs_input=True)
        longest = max((len(r.dtmf) for r in routes if r.dtmf), default=1)
        s = b.settings
        confirm_node = b.mapping(it.get("confirm"), f"{where}.confirm", {"below", "margin", "prompt"})
        ci = confirm_node.items if confirm_node else {}
        confirm = Confirm(
            below=b.number(ci.get("below"), f"{where}.confirm.below", 0.0, 1.0, s.confirm_below),
            margin=b.number(ci.get("margin"), f"{where}.confirm.margin", 0.0, 1.0, s.confirm_margin),
            prompt=b.prompt(ci.get("prompt"), f"{where}.confirm.prompt"),
        )
        return MenuNode(**base, listen=listening(True, longest), routes=tuple(routes), confirm=confirm)
    if kind == "collect":
        into = b.text(it.get("into"), f"{where}.into") or ""
        if into and not NAME_RE.match(into):
            b.issue("bad-value", f"{where}.into must be a variable name", it["into"].pos)
        return CollectNode(
            **base,
            listen=listening(True, 16),
            into=into,
            valid=b.cond(it.get("valid"), f"{where}.valid"),
            next=tgt("next"),
        )
    if kind == "confirm":
        return ConfirmNode(**base, listen=listening(True, 1), yes=tgt("yes"), no=tgt("no"))
    if kind == "set":
        return SetNode(
            **base,
            values=tuple(_assignments(b, it.get("set"), f"{where}.set")),
            language=b.cond(it.get("language"), f"{where}.language"),
            next=tgt("next"),
        )
    if kind == "branch":
        cases = _routes(b, it.get("cases"), where, scope, "case", needs_input=False)
        return BranchNode(**base, cases=tuple(cases), default=tgt("default"))
    if kind == "webhook":
        method = (b.text(it.get("method"), f"{where}.method") or "GET").upper()
        if method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            b.issue("bad-value", f"{where}.method must be GET, POST, PUT, PATCH or DELETE", it["method"].pos)
        url = b.template(it.get("url"), f"{where}.url") or ""
        if url and not re.match(r"^https?://", url):
            b.issue("bad-value", f"{where}.url must start with http:// or https://", it["url"].pos)
        headers_node = b.mapping(it.get("headers"), f"{where}.headers", set(_as_map(it.get("headers")).items))
        headers = {
            k: b.template(v, f"{where}.headers.{k}") or ""
            for k, v in (headers_node.items.items() if headers_node else [])
        }
        body = it.get("body")
        if body is not None:
            _check_body_templates(b, body, f"{where}.body")
        return WebhookNode(
            **base,
            method=method,
            url=url,
            body=plain(body) if body is not None else None,
            headers=headers,
            timeout_ms=b.integer(it.get("timeout_ms"), f"{where}.timeout_ms", 100, 60_000, 3000),
            retries=b.integer(it.get("retries"), f"{where}.retries", 0, 5, 1),
            result=tuple(_assignments(b, it.get("result"), f"{where}.result")),
            prompt=b.prompt(it.get("prompt"), f"{where}.prompt"),
            next=tgt("next"),
            on_failure=tgt("on_failure"),
        )
    if kind == "transfer":
        to = b.template(it.get("to"), f"{where}.to") or ""
        if to and not re.match(r"^(queue:[\w.-]+|sip:\S+|tel:\+?[\d\-]+|\+?\d[\d\-]{2,}|\{.+\})$", to):
            b.issue(
                "bad-value",
                f"{where}.to {to!r} is not a queue, SIP URI or phone number",
                it["to"].pos,
                "write queue:billing, sip:agent@pbx.example.com or +18005550100",
            )
        data_node = it.get("data")
        data: tuple[str, ...] | None = None
        if isinstance(data_node, YSeq):
            data = tuple(v for v in (b.text(n, f"{where}.data[]") for n in data_node.items) if v)
        elif data_node is not None:
            b.issue("wrong-type", f"{where}.data must be a list of variable names", data_node.pos)
        return TransferNode(**base, prompt=b.prompt(it.get("prompt"), f"{where}.prompt"), to=to, data=data)
    if kind == "hangup":
        return HangupNode(
            **base,
            prompt=b.prompt(it.get("prompt"), f"{where}.prompt"),
            reason=b.text(it.get("reason"), f"{where}.reason") or "done",
        )
    if kind == "goto":
        return GotoNode(**base, target=tgt("target"))
    if kind == "call":
        flow_node = it.get("flow")
        return CallNode(
            **base,
            flow=b.text(flow_node, f"{where}.flow") or "",
            flow_pos=flow_node.pos if flow_node else m.pos,
            start=None,
            next=tgt("next"),
        )
    return ReturnNode(**base)


def _routes(
    b: _Builder, node: YNode | None, where: str, scope: str, prefix: str, needs_input: bool
) -> list[Route]:
    if node is None:
        return []
    if not isinstance(node, YSeq):
        b.issue("wrong-type", f"{where}.{prefix}s must be a list, found {_kind(node)}", node.pos)
        return []
    routes: list[Route] = []
    allowed = (
        {"intent", "dtmf", "when", "goto", "confidence", "confirm", "label"}
        if needs_input
        else {"when", "goto", "label"}
    )
    for i, item in enumerate(node.items, start=1):
        rw = f"{where}.{prefix}s[{i}]"
        m = b.mapping(item, rw, allowed, {"goto"} if needs_input else {"when", "goto"})
        if m is None:
            continue
        it = m.items
        intent = b.text(it.get("intent"), f"{rw}.intent")
        dtmf = b.text(it.get("dtmf"), f"{rw}.dtmf")
        when = b.cond(it.get("when"), f"{rw}.when")
        if needs_input and intent is None and dtmf is None and "intent" not in it and "dtmf" not in it:
            b.issue(
                "missing-field",
                f"{rw} needs 'intent' or 'dtmf'",
                m.pos,
                "a menu route fires on what the caller says or presses",
            )
        target = b.target(it.get("goto"), f"{rw}.goto", scope) or Target("", None, m.pos)
        confirm_node = it.get("confirm")
        label = (
            b.text(it.get("label"), f"{rw}.label")
            or (intent or "").replace("_", " ")
            or (f"key {dtmf}" if dtmf else "")
        )
        routes.append(
            Route(
                key=f"{prefix}{i}",
                intent=intent,
                dtmf=dtmf,
                when=when,
                target=target,
                confidence=b.number(it["confidence"], f"{rw}.confidence", 0.0, 1.0, 0.5)
                if "confidence" in it
                else None,
                confirm=b.boolean(confirm_node, f"{rw}.confirm", False) if confirm_node is not None else None,
                label=label,
                pos=m.pos,
                intent_pos=it["intent"].pos if "intent" in it else None,
                dtmf_pos=it["dtmf"].pos if "dtmf" in it else None,
            )
        )
    return routes


def _assignments(b: _Builder, node: YNode | None, where: str) -> list[Assign]:
    m = b.mapping(node, where, set(_as_map(node).items))
    out: list[Assign] = []
    for var, value in m.items.items() if m else []:
        pos = m.keys[var] if m else value.pos
        if not NAME_RE.match(var):
            b.issue("bad-value", f"{where}: {var!r} is not a variable name", pos)
            continue
        cond = b.cond(value, f"{where}.{var}")
        if cond is not None:
            out.append(Assign(var, cond, pos))
    return out


def _check_body_templates(b: _Builder, node: YNode, where: str) -> None:
    if isinstance(node, YScalar) and isinstance(node.value, str):
        b.template(node, where)
    elif isinstance(node, YSeq):
        for item in node.items:
            _check_body_templates(b, item, where)
    elif isinstance(node, YMap):
        for key, value in node.items.items():
            _check_body_templates(b, value, f"{where}.{key}")


# ---------------------------------------------------------------- target resolution


def resolve_name(name: str, scope: str, ids: set[str]) -> str | None:
    if name == REPEAT:
        return REPEAT
    if scope and f"{scope}/{name}" in ids:
        return f"{scope}/{name}"
    return name if name in ids else None


def _resolve(flow: Flow, sub_starts: Mapping[str, Target | None], ids: set[str]) -> Flow:
    """The same flow with every ``Target.id`` filled in (None where the name is unknown)."""
    replace = dataclasses.replace

    def r(t: Target | None, scope: str) -> Target | None:
        return None if t is None else replace(t, id=resolve_name(t.name, scope, ids))

    def rmap(m: Mapping[str, Target | None], scope: str) -> dict[str, Target | None]:
        return {k: r(v, scope) for k, v in m.items()}

    def rlisten(listen: Listening, scope: str) -> Listening:
        return replace(
            listen,
            no_input=replace(listen.no_input, then=r(listen.no_input.then, scope)),
            no_match=replace(listen.no_match, then=r(listen.no_match.then, scope)),
            global_intents=rmap(listen.global_intents, scope),
            global_keys=rmap(listen.global_keys, scope),
        )

    def rroutes(routes: tuple[Route, ...], scope: str) -> tuple[Route, ...]:
        return tuple(replace(route, target=r(route.target, scope)) for route in routes)

    starts = {name: (resolve_name(t.name, name, ids) if t else None) for name, t in sub_starts.items()}
    nodes: dict[str, Node] = {}
    for nid, n in flow.nodes.items():
        s = n.scope
        new: Node
        match n:
            case PlayNode() | SetNode():
                new = replace(n, next=r(n.next, s))
            case MenuNode():
                new = replace(n, listen=rlisten(n.listen, s), routes=rroutes(n.routes, s))
            case CollectNode():
                new = replace(n, listen=rlisten(n.listen, s), next=r(n.next, s))
            case ConfirmNode():
                new = replace(n, listen=rlisten(n.listen, s), yes=r(n.yes, s), no=r(n.no, s))
            case BranchNode():
                new = replace(n, cases=rroutes(n.cases, s), default=r(n.default, s))
            case WebhookNode():
                new = replace(n, next=r(n.next, s), on_failure=r(n.on_failure, s))
            case GotoNode():
                new = replace(n, target=r(n.target, s))
            case CallNode():
                new = replace(n, start=starts.get(n.flow), next=r(n.next, s))
            case _:
                new = n
        nodes[nid] = new
    return replace(
        flow,
        start=r(flow.start, ""),
        nodes=nodes,
        subflows=starts,
        global_intents=rmap(flow.global_intents, ""),
        global_keys=rmap(flow.global_keys, ""),
    )


# ---------------------------------------------------------------- small helpers


def _kind(node: YNode) -> str:
    if isinstance(node, YMap):
        return "a mapping"
    if isinstance(node, YSeq):
        return "a list"
    v = node.value
    if v is None:
        return "nothing (null)"
    if isinstance(v, bool):
        return f"{str(v).lower()} (a boolean)"
    if isinstance(v, int | float):
        return f"{v} (a number)"
    return f"text {v!r}"


def _closest(word: str, options: set[str]) -> str | None:

    found = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.7)
    return found[0] if found else None


def _shift(node: YNode, offset: int) -> Pos:
    """Point into a one-line scalar (plain or quoted) at character ``offset`` of its text."""
    quoted = isinstance(node, YScalar) and node.quoted
    return Pos(node.pos.file, node.pos.line, node.pos.column + offset + (1 if quoted else 0))


def _literal_source(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _expr_hint() -> str:
    return "conditions use == != < <= > >= in, and/or/not, 'text', numbers and variable paths"
