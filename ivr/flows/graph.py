"""A flow as a graph: the edge list (shared by validation, coverage and pictures) and its renderings.

Every way out of a node is one ``Edge`` with a stable ``key`` (``route2``, ``no_match``,
``global:goodbye``); the engine records ``"src:key"`` in its trace when it takes one, so test
coverage is "edges taken / edges". Pictures: Graphviz DOT (rendered by the ``dot`` binary) and
Mermaid text.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ivr.errors import FlowError
from ivr.flows.schema import (
    REPEAT,
    BranchNode,
    CallNode,
    CollectNode,
    ConfirmNode,
    Flow,
    GotoNode,
    Handler,
    HangupNode,
    MenuNode,
    Node,
    PlayNode,
    ReturnNode,
    SetNode,
    Target,
    TransferNode,
    WebhookNode,
)

ANY = "*"  # the source of flow-wide edges: the start and the global intents/keys


@dataclass(frozen=True, slots=True)
class Edge:
    src: str  # node id, or "*"
    key: str
    dst: str | None  # None: the call ends here (or the target is unknown)
    label: str
    terminal: bool = False  # True: this exit ends the call

    @property
    def id(self) -> str:
        return f"{self.src}:{self.key}"


def edges(flow: Flow) -> list[Edge]:
    out: list[Edge] = []
    if flow.start is not None:
        out.append(Edge(ANY, "start", flow.start.id, "start"))
    for intent, t in flow.global_intents.items():
        if t is not None and t.id != REPEAT:
            out.append(Edge(ANY, f"global:{intent}", t.id, f'"{intent}"'))
    for key, t in flow.global_keys.items():
        if t is not None and t.id != REPEAT:
            out.append(Edge(ANY, f"key:{key}", t.id, f"key {key}"))
    for n in flow.nodes.values():
        out += _node_edges(flow, n)
    return out


def _to(src: str, key: str, t: Target | None, label: str) -> Edge:
    return Edge(src, key, t.id if t else None, label)


def _handler(src: str, key: str, h: Handler) -> Edge:
    label = f"{key.replace('_', ' ')} x{h.max}"
    if h.then is None:
        return Edge(src, key, None, label, terminal=True)
    return Edge(src, key, h.then.id, label)


def _node_edges(flow: Flow, n: Node) -> list[Edge]:
    src = n.id
    match n:
        case PlayNode():
            return [_to(src, "next", n.next, "")]
        case MenuNode():
            out = []
            for r in n.routes:
                parts = [f'"{r.intent}"' if r.intent else "", f"key {r.dtmf}" if r.dtmf else ""]
                label = " / ".join(p for p in parts if p) + (f" if {r.when.source}" if r.when else "")
                out.append(_to(src, r.key, r.target, label))
            return out + _listen_edges(flow, n)
        case CollectNode():
            return [_to(src, "next", n.next, f"digits -> {n.into}"), *_listen_edges(flow, n)]
        case ConfirmNode():
            return [
                _to(src, "yes", n.yes, '"affirm" / key 1'),
                _to(src, "no", n.no, '"deny" / key 2'),
                *_listen_edges(flow, n),
            ]
        case SetNode():
            return [_to(src, "next", n.next, "")]
        case BranchNode():
            cases = [_to(src, c.key, c.target, c.when.source if c.when else "") for c in n.cases]
            return [*cases, _to(src, "default", n.default, "otherwise")]
        case WebhookNode():
            return [_to(src, "next", n.next, "ok"), _to(src, "on_failure", n.on_failure, "failed")]
        case GotoNode():
            return [_to(src, "target", n.target, "")]
        case CallNode():
            return [Edge(src, "call", n.start, f"call {n.flow}"), _to(src, "next", n.next, "returned")]
        case TransferNode():
            return [Edge(src, "transfer", None, n.to, terminal=True)]
        case HangupNode():
            return [Edge(src, "hangup", None, n.reason, terminal=True)]
        case ReturnNode():
            return []
    return []


def _listen_edges(flow: Flow, n: MenuNode | CollectNode | ConfirmNode) -> list[Edge]:
    listen = n.listen
    out = [_handler(n.id, "no_input", listen.no_input), _handler(n.id, "no_match", listen.no_match)]
    # Node-level overrides of the global intents/keys are edges of the node itself.
    for intent, t in listen.global_intents.items():
        if t is not None and t.id != REPEAT and flow.global_intents.get(intent) != t:
            out.append(_to(n.id, f"global:{intent}", t, f'"{intent}"'))
    for key, t in listen.global_keys.items():
        if t is not None and t.id != REPEAT and flow.global_keys.get(key) != t:
            out.append(_to(n.id, f"key:{key}", t, f"key {key}"))
    return out


# ---------------------------------------------------------------- pictures

_SHAPES = {
    "PlayNode": ("note", "lightyellow"),
    "MenuNode": ("box", "lightblue"),
    "CollectNode": ("box", "lightcyan"),
    "ConfirmNode": ("diamond", "lightcyan"),
    "SetNode": ("box", "white"),
    "BranchNode": ("diamond", "white"),
    "WebhookNode": ("cds", "lavender"),
    "TransferNode": ("doubleoctagon", "palegreen"),
    "HangupNode": ("octagon", "mistyrose"),
    "GotoNode": ("circle", "white"),
    "CallNode": ("component", "wheat"),
    "ReturnNode": ("invhouse", "wheat"),
}
END = "__end__"


def _drawn(e: Edge) -> str | None:
    """The picture id of an edge's end; transfers and hangups show their ending in the node itself."""
    if e.key in ("transfer", "hangup"):
        return None
    if e.dst is not None:
        return _gid(e.dst)
    return _gid(END) if e.terminal else None


def _ends(flow: Flow) -> bool:
    """Whether any drawn edge ends the call (a handler that gives up without a target)."""
    return any(_drawn(e) == _gid(END) for e in edges(flow))


def _caption(n: Node) -> str:
    kind = type(n).__name__.removesuffix("Node").lower()
    if isinstance(n, TransferNode):
        return f"{kind} {n.to}"
    if isinstance(n, HangupNode):
        return f"{kind}: {n.reason}"
    return kind


def _gid(node_id: str) -> str:
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", node_id)


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(flow: Flow) -> str:
    lines = [
        f'digraph "{_esc(flow.name)}" {{',
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=10, style=filled];',
        '  edge [fontname="Helvetica", fontsize=9];',
        f'  {_gid(ANY)} [label="call / any node", shape=plaintext, style=""];',
    ]
    if _ends(flow):
        lines.append(f'  {_gid(END)} [label="call ends", shape=point];')
    scopes: dict[str, list[Node]] = {}
    for n in flow.nodes.values():
        scopes.setdefault(n.scope, []).append(n)
    for scope, nodes in scopes.items():
        indent = "  "
        if scope:
            lines.append(
                f'  subgraph "cluster_{_esc(scope)}" {{ label="sub-flow {_esc(scope)}"; style=dashed;'
            )
            indent = "    "
        for n in nodes:
            shape, color = _SHAPES[type(n).__name__]
            name = n.id.split("/")[-1]
            lines.append(
                f'{indent}{_gid(n.id)} [label="{_esc(name)}\\n({_esc(_caption(n))})", shape={shape}, fillcolor={color}];'
            )
        if scope:
            lines.append("  }")
    for e in edges(flow):
        dst = _drawn(e)
        if dst is None:
            continue
        style = ", style=dashed" if e.src == ANY or e.key in ("no_input", "no_match") else ""
        lines.append(f'  {_gid(e.src)} -> {dst} [label="{_esc(e.label)}"{style}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mm_label(text: str) -> str:
    """Mermaid labels cannot hold quotes or brackets: drop quotes, blank the rest."""
    return re.sub(r"[|<>{}\[\]()#;]", " ", text.replace('"', "")).strip()


def to_mermaid(flow: Flow) -> str:
    lines = ["flowchart LR", f'  {_gid(ANY)}(["call / any node"])']
    if _ends(flow):
        lines.append(f"  {_gid(END)}((end))")
    scopes: dict[str, list[Node]] = {}
    for n in flow.nodes.values():
        scopes.setdefault(n.scope, []).append(n)
    for scope, nodes in scopes.items():
        if scope:
            lines.append(f"  subgraph {_gid('sub_' + scope)}[sub-flow {_mm_label(scope)}]")
        for n in nodes:
            text = f"{_mm_label(n.id.split('/')[-1])}<br/>{_mm_label(_caption(n))}"
            if isinstance(n, BranchNode | ConfirmNode):
                lines.append(f'    {_gid(n.id)}{{"{text}"}}')
            elif isinstance(n, TransferNode | HangupNode):
                lines.append(f'    {_gid(n.id)}(["{text}"])')
            else:
                lines.append(f'    {_gid(n.id)}["{text}"]')
        if scope:
            lines.append("  end")
    for e in edges(flow):
        dst = _drawn(e)
        if dst is None:
            continue
        arrow = "-.->" if e.src == ANY or e.key in ("no_input", "no_match") else "-->"
        label = _mm_label(e.label)
        lines.append(
            f'  {_gid(e.src)} {arrow}|"{label}"| {dst}' if label else f"  {_gid(e.src)} {arrow} {dst}"
        )
    return "\n".join(lines) + "\n"


def render(flow: Flow, out: str | Path) -> Path:
    """Write ``out`` as .mmd (Mermaid), .dot, .svg or .png (the last two need Graphviz's ``dot``)."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix == ".mmd":
        out.write_text(to_mermaid(flow), encoding="utf-8")
    elif suffix in (".dot", ".gv"):
        out.write_text(to_dot(flow), encoding="utf-8")
    elif suffix in (".svg", ".png"):
        dot = shutil.which("dot")
        if dot is None:
            raise FlowError("Graphviz 'dot' is not installed (apt-get install graphviz); try -o flow.mmd")
        done = subprocess.run(
            [dot, f"-T{suffix[1:]}", "-o", str(out)],
            input=to_dot(flow).encode(),
            capture_output=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise FlowError(f"dot failed: {done.stderr.decode(errors='replace').strip()[:500]}")
    else:
        raise FlowError(f"unknown picture format {suffix!r}: use .svg, .png, .dot or .mmd")
    return out
