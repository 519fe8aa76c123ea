"""Loading a flow file and checking it: every problem at once, each with file:line:column and a hint.

The schema builder (``schema.build``) reports shape problems; the small named checks here report
meaning problems: targets that do not exist, nodes nothing reaches, nodes with no way out, loops that
never wait for the caller, routes the model cannot produce, duplicate keys, missing audio, variables
nothing sets, calendars nobody declared.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ivr.errors import FlowError
from ivr.flows import expr
from ivr.flows.build import build
from ivr.flows.graph import ANY, Edge, edges
from ivr.flows.issues import Issue
from ivr.flows.loader import Pos, YamlLoadError, load_text
from ivr.flows.schema import (
    DTMF_KEYS,
    CallNode,
    CollectNode,
    Cond,
    ConfirmNode,
    Flow,
    HangupNode,
    MenuNode,
    Prompt,
    ReturnNode,
    SetNode,
    Target,
    TransferNode,
    WebhookNode,
)
from ivr.intents import DEFAULT_INTENTS

BUILTIN_ROOTS = {"caller", "last", "language"}
WAITS_FOR_CALLER = (MenuNode, CollectNode, ConfirmNode)


@dataclass(frozen=True, slots=True)
class Report:
    file: str
    flow: Flow | None
    issues: tuple[Issue, ...]

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def ok(self) -> bool:
        return self.flow is not None and not self.errors


def validate_text(text: str, file: str, labels: Sequence[str] = DEFAULT_INTENTS) -> Report:
    try:
        tree = load_text(text, file)
    except YamlLoadError as exc:
        return Report(
            file, None, (Issue("yaml-syntax", exc.reason, exc.pos, "check indentation and quoting"),)
        )
    flow, issues = build(tree, file, text)
    if flow is not None:
        issues += check(flow, labels, Path(file).parent)
    issues.sort(key=lambda i: (i.pos.line, i.pos.column, i.code))
    return Report(file, flow, tuple(issues))


def validate_file(path: str | Path, labels: Sequence[str] = DEFAULT_INTENTS) -> Report:
    path = Path(path)
    from ivr.flows.loader import MAX_FILE_BYTES

    if path.stat().st_size > MAX_FILE_BYTES:
        issue = Issue("yaml-syntax", f"file larger than {MAX_FILE_BYTES} bytes", Pos(str(path), 1, 1))
        return Report(str(path), None, (issue,))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return Report(str(path), None, (Issue("yaml-syntax", "not UTF-8 text", Pos(str(path), 1, 1)),))
    return validate_text(text, str(path), labels)


def load_flow(path: str | Path, labels: Sequence[str] = DEFAULT_INTENTS) -> Flow:
    """A valid flow, or FlowError listing every error (what the server and hot reload use)."""
    report = validate_file(path, labels)
    if not report.ok or report.flow is None:
        lines = "\n".join(str(i) for i in report.errors)
        raise FlowError(f"{path}: {len(report.errors)} error(s) in flow\n{lines}")
    return report.flow


def check(flow: Flow, labels: Sequence[str], base_dir: Path) -> list[Issue]:
    """Every semantic check, in a fixed order."""
    graph = edges(flow)
    return [
        *unknown_targets(flow),
        *unknown_subflows(flow),
        *unreachable_nodes(flow, graph),
        *endless_loops(flow, graph),
        *dead_ends(flow, graph),
        *unknown_intents(flow, labels),
        *digit_problems(flow),
        *duplicate_routes(flow),
        *missing_audio(flow, base_dir),
        *expression_problems(flow),
    ]


# ---------------------------------------------------------------- targets and structure


def _targets(flow: Flow) -> Iterator[Target]:
    if flow.start is not None:
        yield flow.start
    yield from (t for t in flow.global_intents.values() if t is not None)
    yield from (t for t in flow.global_keys.values() if t is not None)
    for n in flow.nodes.values():
        for attr in ("next", "default", "target", "yes", "no", "on_failure"):
            t = getattr(n, attr, None)
            if isinstance(t, Target):
                yield t
        for route in (*getattr(n, "routes", ()), *getattr(n, "cases", ())):
            yield route.target
        listen = getattr(n, "listen", None)
        if listen is not None:
            for h in (listen.no_input, listen.no_match):
                if h.then is not None:
                    yield h.then
            for key, t in (*listen.global_intents.items(), *listen.global_keys.items()):
                own = (
                    flow.global_intents.get(key)
                    if key in listen.global_intents
                    else flow.global_keys.get(key)
                )
                if t is not None and t is not own:
                    yield t


def unknown_targets(flow: Flow) -> Iterator[Issue]:
    import difflib

    seen: set[tuple[int, int]] = set()
    names = sorted({nid.split("/")[-1] for nid in flow.nodes})
    for t in _targets(flow):
        if t.id is None and (t.pos.line, t.pos.column) not in seen:
            seen.add((t.pos.line, t.pos.column))
            close = difflib.get_close_matches(t.name, names, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else "add the node, or fix the name"
            yield Issue("unknown-target", f"no node named {t.name!r}", t.pos, hint)
    for name, start in flow.subflows.items():
        if start is None:
            yield Issue("unknown-target", f"sub-flow {name!r} starts at a node it does not have", flow.pos)


def unknown_subflows(flow: Flow) -> Iterator[Issue]:
    for n in flow.nodes.values():
        if isinstance(n, CallNode) and n.flow not in flow.subflows:
            known = ", ".join(sorted(flow.subflows)) or "none declared"
            yield Issue("unknown-subflow", f"no sub-flow named {n.flow!r}", n.flow_pos, f"sub-flows: {known}")


def _successors(graph: list[Edge]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for e in graph:
        if e.dst is not None:
            out.setdefault(e.src, set()).add(e.dst)
    return out


def unreachable_nodes(flow: Flow, graph: list[Edge]) -> Iterator[Issue]:
    succ = _successors(graph)
    roots = {"*"} | ({flow.start.id} if flow.start and flow.start.id else set())
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        nid = todo.pop()
        if nid in seen:
            continue
        seen.add(nid)
        todo += succ.get(nid, ())
    for nid, n in flow.nodes.items():
        if nid not in seen:
            yield Issue(
                "unreachable-node",
                f"nothing leads to node {nid!r}",
                n.pos,
                "route to it from a menu, or delete it",
            )


def _sccs(nodes: Iterable[str], succ: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively (flows can be long chains)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(succ.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(succ.get(w, ())))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(comp)
    return out


def _cycles(flow: Flow, succ: dict[str, set[str]], nodes: set[str]) -> list[list[str]]:
    """Strongly connected components of ``nodes`` that really cycle (more than one node, or a self-loop)."""
    inner = {k: {d for d in v if d in nodes} for k, v in succ.items() if k in nodes}
    return [c for c in _sccs(sorted(nodes), inner) if len(c) > 1 or c[0] in inner.get(c[0], set())]


def _first(flow: Flow, comp: list[str]) -> str:
    return min(comp, key=lambda nid: (flow.nodes[nid].pos.line, flow.nodes[nid].pos.column))


def endless_loops(flow: Flow, graph: list[Edge]) -> Iterator[Issue]:
    """Cycles that never end: among nodes that do not wait for the caller, or for a silent caller."""
    quiet = {nid for nid, n in flow.nodes.items() if not isinstance(n, WAITS_FOR_CALLER)}
    for comp in _cycles(flow, _successors(graph), quiet):
        members = set(comp)
        pos = flow.nodes[_first(flow, comp)].pos
        loop = " -> ".join(sorted(comp))
        leaves = [e for e in graph if e.src in members and e.dst is not None and e.dst not in members]
        if not leaves:
            yield Issue(
                "endless-loop",
                f"loop {loop} has no way out",
                pos,
                "add a branch that leaves the loop, or a menu",
            )
        elif not any(isinstance(flow.nodes[m], SetNode | WebhookNode) for m in members):
            yield Issue(
                "endless-loop",
                f"loop {loop} changes no variable, so its conditions never change",
                pos,
                "count the turns with a set node (tries: tries + 1) and leave when tries > 3",
            )
    # A caller who never answers follows only the no-input exits. Counters restart when a node is
    # entered again, so a cycle of them (with no counting set node) keeps a silent caller forever.
    silent = [e for e in graph if e.key == "no_input" or (e.src in quiet and e.src != ANY)]
    for comp in _cycles(flow, _successors(silent), set(flow.nodes)):
        members = set(comp)
        if members <= quiet or any(isinstance(flow.nodes[m], SetNode | WebhookNode) for m in members):
            continue  # quiet-only loops are reported above; a counter may end this one
        node = flow.nodes[_first(flow, [m for m in comp if m not in quiet])]
        assert isinstance(node, WAITS_FOR_CALLER)
        yield Issue(
            "endless-loop",
            f"a silent caller loops forever through {' -> '.join(sorted(comp))} (no_input restarts each node's count)",
            node.listen.no_input.then.pos if node.listen.no_input.then else node.pos,
            "send the last no-input to a transfer or hangup, or count the turns with a set node",
        )


def _looping(flow: Flow, graph: list[Edge]) -> set[str]:
    quiet = {nid for nid, n in flow.nodes.items() if not isinstance(n, WAITS_FOR_CALLER)}
    return {m for comp in _cycles(flow, _successors(graph), quiet) for m in comp}


def dead_ends(flow: Flow, graph: list[Edge]) -> Iterator[Issue]:
    """Nodes from which no transfer, hangup or sub-flow return can ever be reached."""
    pred: dict[str, set[str]] = {}
    for e in graph:
        if e.dst is not None:
            pred.setdefault(e.dst, set()).add(e.src)
    can_end: set[str] = set()
    todo = [
        nid
        for nid, n in flow.nodes.items()
        if isinstance(n, TransferNode | HangupNode | ReturnNode)
        or (
            isinstance(n, WAITS_FOR_CALLER)
            and (n.listen.no_input.then is None or n.listen.no_match.then is None)
        )
        or any(e.src == nid and e.terminal for e in graph)
    ]
    while todo:
        nid = todo.pop()
        if nid in can_end:
            continue
        can_end.add(nid)
        todo += pred.get(nid, ())
    looping = _looping(flow, graph)
    for nid, n in flow.nodes.items():
        if isinstance(n, ReturnNode) and not n.scope:
            yield Issue(
                "dead-end",
                f"return node {nid!r} is not inside a sub-flow",
                n.pos,
                "use hangup or goto instead",
            )
        elif nid not in can_end and nid not in looping:
            yield Issue(
                "dead-end",
                f"node {nid!r} has no way to end the call",
                n.pos,
                "every path should reach a transfer, a hangup or a handler that gives up",
            )


# ---------------------------------------------------------------- routes


def unknown_intents(flow: Flow, labels: Sequence[str]) -> Iterator[Issue]:
    known = set(labels)
    hint = f"the model knows: {', '.join(labels)}"
    for n in flow.nodes.values():
        for route in getattr(n, "routes", ()):
            if route.intent is not None and route.intent not in known:
                yield Issue(
                    "unknown-intent",
                    f"the model cannot produce intent {route.intent!r}",
                    route.intent_pos or route.pos,
                    hint,
                )
    for intent, t in flow.global_intents.items():
        if intent not in known:
            yield Issue(
                "unknown-intent",
                f"the model cannot produce intent {intent!r}",
                t.pos if t else flow.pos,
                hint,
            )


def digit_problems(flow: Flow) -> Iterator[Issue]:
    for key, t in flow.global_keys.items():
        if not key or any(c not in DTMF_KEYS for c in key):
            yield Issue(
                "impossible-digits", f"global key {key!r} is not on a phone keypad", t.pos if t else flow.pos
            )
    for n in flow.nodes.values():
        if not isinstance(n, MenuNode):
            continue
        g = n.listen.gather
        for route in n.routes:
            if route.dtmf is None:
                continue
            pos = route.dtmf_pos or route.pos
            if not route.dtmf or any(c not in DTMF_KEYS for c in route.dtmf):
                yield Issue(
                    "impossible-digits",
                    f"{route.dtmf!r} is not keys on a phone keypad",
                    pos,
                    "use 0-9, * and #",
                )
            elif not g.dtmf:
                yield Issue(
                    "impossible-digits", f"node {n.id!r} does not listen for keys (gather.dtmf: false)", pos
                )
            elif len(route.dtmf) > g.max_digits:
                yield Issue(
                    "impossible-digits",
                    f"{route.dtmf!r} is longer than gather.max_digits={g.max_digits}",
                    pos,
                )
            elif g.terminator is not None and g.terminator in route.dtmf:
                yield Issue(
                    "impossible-digits", f"{route.dtmf!r} contains the terminator key {g.terminator!r}", pos
                )


def duplicate_routes(flow: Flow) -> Iterator[Issue]:
    for n in flow.nodes.values():
        if not isinstance(n, MenuNode):
            continue
        keys: dict[str, int] = {}
        intents: dict[str, int] = {}
        for i, route in enumerate(n.routes):
            if route.when is not None:
                continue
            if route.dtmf is not None:
                if route.dtmf in keys:
                    first = n.routes[keys[route.dtmf]].dtmf_pos
                    yield Issue(
                        "duplicate-dtmf",
                        f"key {route.dtmf!r} is already routed in node {n.id!r} (line {first.line if first else '?'})",
                        route.dtmf_pos or route.pos,
                        "the second route can never fire; pick another key",
                    )
                keys.setdefault(route.dtmf, i)
            if route.intent is not None:
                if route.intent in intents:
                    yield Issue(
                        "duplicate-intent",
                        f"intent {route.intent!r} is already routed in node {n.id!r}",
                        route.intent_pos or route.pos,
                        "add a 'when' condition to tell the routes apart, or remove one",
                    )
                intents.setdefault(route.intent, i)


# ---------------------------------------------------------------- prompts and expressions


def _prompts(flow: Flow) -> Iterator[Prompt]:
    for n in flow.nodes.values():
        p = getattr(n, "prompt", None)
        if p is not None:
            yield p
        listen = getattr(n, "listen", None)
        if listen is not None:
            if listen.prompt is not None:
                yield listen.prompt
            for h in (listen.no_input, listen.no_match):
                yield from h.prompts
        if isinstance(n, MenuNode) and n.confirm.prompt is not None:
            yield n.confirm.prompt


def missing_audio(flow: Flow, base_dir: Path) -> Iterator[Issue]:
    for p in _prompts(flow):
        for lang, file in p.audio.items():
            if file and not (base_dir / file).is_file():
                yield Issue(
                    "missing-audio",
                    f"audio file {file!r} not found",
                    p.audio_pos.get(lang, p.pos),
                    f"paths are relative to the flow file's folder ({base_dir})",
                )


def _known_variables(flow: Flow) -> set[str]:
    names = set(flow.variables) | BUILTIN_ROOTS
    for n in flow.nodes.values():
        if isinstance(n, SetNode):
            names |= {a.var for a in n.values}
        elif isinstance(n, CollectNode):
            names.add(n.into)
        elif isinstance(n, WebhookNode):
            names |= {a.var for a in n.result}
    return names


def expression_problems(flow: Flow) -> Iterator[Issue]:
    known = _known_variables(flow)

    def conds() -> Iterator[tuple[Cond, set[str]]]:
        for n in flow.nodes.values():
            for route in (*getattr(n, "routes", ()), *getattr(n, "cases", ())):
                if route.when is not None:
                    yield route.when, set()
            if isinstance(n, SetNode):
                yield from ((a.value, set()) for a in n.values)
                if n.language is not None:
                    yield n.language, set()
            if isinstance(n, CollectNode) and n.valid is not None:
                yield n.valid, set()
            if isinstance(n, WebhookNode):
                yield from ((a.value, {"response", "status"}) for a in n.result)

    for cond, extra in conds():
        if cond.tree is None:
            continue
        for path in expr.paths(cond.tree):
            if path.parts[0] not in known | extra:
                yield _unknown_var(
                    path.parts[0], Pos(cond.pos.file, cond.pos.line, cond.pos.column + path.offset)
                )
        for call in expr.calls(cond.tree):
            if call.name in ("open", "holiday") and call.args and isinstance(call.args[0], expr.Literal):
                name = call.args[0].value
                if name not in flow.calendars:
                    yield Issue(
                        "unknown-calendar",
                        f"{call.name}() names calendar {name!r}, which the flow does not declare",
                        Pos(cond.pos.file, cond.pos.line, cond.pos.column + call.offset),
                        f"calendars: {', '.join(sorted(flow.calendars)) or 'none declared'}",
                    )
    for p in _prompts(flow):
        for text in p.text.values():
            yield from _template_vars(text, known | {"choice"}, p.pos)
    for n in flow.nodes.values():
        if isinstance(n, TransferNode):
            yield from _template_vars(n.to, known, n.pos)
            for name in n.data or ():
                if name not in known:
                    yield _unknown_var(name, n.pos)
        if isinstance(n, WebhookNode):
            yield from _template_vars(n.url, known, n.pos)
            for value in n.headers.values():
                yield from _template_vars(value, known, n.pos)
            for text in _strings(n.body):
                yield from _template_vars(text, known, n.pos)


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)


def _template_vars(text: str, known: set[str], pos: Pos) -> Iterator[Issue]:
    for path, _ in expr.template_paths(text):
        root = path.strip().split(".")[0]
        if root and root not in known:
            yield _unknown_var(root, pos)


def _unknown_var(name: str, pos: Pos) -> Issue:
    return Issue(
        "unknown-variable",
        f"nothing sets variable {name!r}",
        pos,
        "declare it under 'variables:', or set it with a set/collect/webhook node first",
    )


# ---------------------------------------------------------------- labels from a model checkpoint


def labels_from_model(path: str | Path) -> tuple[str, ...]:
    """The intent labels stored in a safetensors checkpoint's JSON header.

    Reads only the header: no torch, no weights. Looks in ``__metadata__["ivr"]`` (a JSON object with
    ``labels``, as ivr.model.checkpoint writes it), then ``__metadata__["labels"]`` (a JSON list or
    comma-separated text).
    """
    path = Path(path)
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise FlowError(f"{path}: not a safetensors file (too short)")
        (size,) = struct.unpack("<Q", head)
        if size > 100 * 1024 * 1024:
            raise FlowError(f"{path}: not a safetensors file (header size {size})")
        raw = f.read(size)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FlowError(f"{path}: not a safetensors file (bad JSON header)") from exc
    meta = (header.get("__metadata__") or {}) if isinstance(header, dict) else {}
    # ivr checkpoints (ivr.model.checkpoint) keep a JSON object under "ivr"; others may list labels directly.
    nested = _json(meta.get("ivr"))
    candidates = [
        nested.get("labels") if isinstance(nested, dict) else None,
        meta.get("labels"),
        meta.get("intents"),
    ]
    for value in candidates:
        if isinstance(value, str):
            parsed = _json(value)
            value = parsed if isinstance(parsed, list) else [v.strip() for v in value.split(",")]
        if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
            return tuple(value)
    raise FlowError(f"{path}: no 'labels' in the safetensors metadata")


__all__ = [
    "Report",
    "check",
    "labels_from_model",
    "load_flow",
    "validate_file",
    "validate_text",
]


def _json(text: object) -> object:
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None
