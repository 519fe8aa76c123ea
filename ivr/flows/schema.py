"""The flow language as typed, frozen dataclasses: what a flow file becomes once loaded.

``build.py`` makes these from YAML (reporting every shape problem), ``validate.py`` checks their
meaning, ``engine.py`` runs them. Every part keeps the position (``Pos``) it was written at, so any
later check can point at the file, line and column.

Node ids: main-flow nodes keep their name; sub-flow nodes are ``subflow/name``. A target written
inside a sub-flow resolves to the sub-flow's own node first, then to a main-flow node.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ivr.flows import expr
from ivr.flows.calendar import Calendar
from ivr.flows.loader import Pos

REPEAT = "@repeat"  # a global intent/key target meaning "play the current node's prompt again"
DTMF_KEYS = set("0123456789*#ABCD")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True, slots=True)
class Target:
    name: str  # as written
    id: str | None  # resolved node id; None when unknown (validate reports it)
    pos: Pos


@dataclass(frozen=True, slots=True)
class Prompt:
    text: Mapping[str, str]  # language -> template; key "*" applies to every language
    audio: Mapping[str, str]  # language -> file path (relative to the flow file)
    barge_in: bool
    pos: Pos
    audio_pos: Mapping[str, Pos] = field(default_factory=dict)  # language -> where the file is named

    def pick(self, language: str, default: str) -> tuple[str, str | None]:
        """(text, audio) in ``language``, falling back to the flow's default language."""
        text = self.text.get(language) or self.text.get("*") or self.text.get(default) or ""
        audio = self.audio.get(language) or self.audio.get("*") or self.audio.get(default)
        if not text and self.text:
            text = next(iter(self.text.values()))
        return text, audio


@dataclass(frozen=True, slots=True)
class Handler:
    """Counted no-input / no-match: the n-th event plays ``prompts[n-1]``; event ``max`` goes to ``then``."""

    max: int
    prompts: tuple[Prompt, ...]
    then: Target | None
    reprompt: bool  # replay the node's prompt after the handler's prompt
    pos: Pos


@dataclass(frozen=True, slots=True)
class Gather:
    speech: bool
    dtmf: bool
    no_input_ms: int
    inter_digit_ms: int
    speech_ms: int  # longest wait for a result once the caller started speaking
    min_digits: int
    max_digits: int
    terminator: str | None


@dataclass(frozen=True, slots=True)
class Confirm:
    below: float  # confirm when the top confidence is below this
    margin: float  # ... or when the second intent is within this of the top one
    prompt: Prompt | None


@dataclass(frozen=True, slots=True)
class Cond:
    source: str
    tree: expr.Expr | None  # None when it failed to parse (an issue was recorded)
    pos: Pos


@dataclass(frozen=True, slots=True)
class Route:
    key: str  # stable id within the node, for coverage: "route1", "case2"
    intent: str | None
    dtmf: str | None
    when: Cond | None
    target: Target
    confidence: float | None
    confirm: bool | None  # None: the node's confirmation policy decides
    label: str
    pos: Pos
    intent_pos: Pos | None = None
    dtmf_pos: Pos | None = None


@dataclass(frozen=True, slots=True)
class Assign:
    var: str
    value: Cond  # an expression
    pos: Pos


@dataclass(frozen=True, slots=True)
class NodeBase:
    id: str
    scope: str  # "" for the main flow, else the sub-flow's name
    pos: Pos


@dataclass(frozen=True, slots=True)
class Listening:
    """What every node that waits for the caller shares."""

    prompt: Prompt | None
    gather: Gather
    no_input: Handler
    no_match: Handler
    global_intents: Mapping[str, Target | None]  # effective map (flow globals + node overrides)
    global_keys: Mapping[str, Target | None]


@dataclass(frozen=True, slots=True)
class PlayNode(NodeBase):
    prompt: Prompt | None
    next: Target | None


@dataclass(frozen=True, slots=True)
class MenuNode(NodeBase):
    listen: Listening
    routes: tuple[Route, ...]
    confirm: Confirm


@dataclass(frozen=True, slots=True)
class CollectNode(NodeBase):
    listen: Listening
    into: str
    valid: Cond | None
    next: Target | None


@dataclass(frozen=True, slots=True)
class ConfirmNode(NodeBase):
    listen: Listening
    yes: Target | None
    no: Target | None


@dataclass(frozen=True, slots=True)
class SetNode(NodeBase):
    values: tuple[Assign, ...]
    language: Cond | None
    next: Target | None


@dataclass(frozen=True, slots=True)
class BranchNode(NodeBase):
    cases: tuple[Route, ...]
    default: Target | None


@dataclass(frozen=True, slots=True)
class WebhookNode(NodeBase):
    method: str
    url: str
    body: Any  # YAML structure whose strings are templates
    headers: Mapping[str, str]
    timeout_ms: int
    retries: int
    result: tuple[Assign, ...]  # expressions over ``response`` (the JSON body) and ``status``
    prompt: Prompt | None  # played while waiting ("one moment please")
    next: Target | None
    on_failure: Target | None


@dataclass(frozen=True, slots=True)
class TransferNode(NodeBase):
    prompt: Prompt | None
    to: str  # template: queue:NAME, sip:..., tel:+1..., or +1...
    data: tuple[str, ...] | None  # variables attached; None attaches all


@dataclass(frozen=True, slots=True)
class HangupNode(NodeBase):
    prompt: Prompt | None
    reason: str


@dataclass(frozen=True, slots=True)
class GotoNode(NodeBase):
    target: Target | None


@dataclass(frozen=True, slots=True)
class CallNode(NodeBase):
    flow: str
    flow_pos: Pos
    start: str | None  # the sub-flow's start node id
    next: Target | None


@dataclass(frozen=True, slots=True)
class ReturnNode(NodeBase):
    pass


Node = (
    PlayNode
    | MenuNode
    | CollectNode
    | ConfirmNode
    | SetNode
    | BranchNode
    | WebhookNode
    | TransferNode
    | HangupNode
    | GotoNode
    | CallNode
    | ReturnNode
)
LISTENING_NODES = (MenuNode, CollectNode, ConfirmNode)


@dataclass(frozen=True, slots=True)
class Settings:
    confidence: float
    confirm_below: float
    confirm_margin: float
    no_input_ms: int
    inter_digit_ms: int
    speech_ms: int
    max_steps: int  # events per call before the engine gives up (a runaway-loop fuse)


@dataclass(frozen=True, slots=True)
class Flow:
    name: str
    version: str
    file: str
    digest: str  # sha256 of the source: the version calls record
    languages: tuple[str, ...]  # first = default
    start: Target | None
    nodes: Mapping[str, Node]
    subflows: Mapping[str, str | None]  # name -> start node id
    global_intents: Mapping[str, Target | None]
    global_keys: Mapping[str, Target | None]
    calendars: Mapping[str, Calendar]
    variables: Mapping[str, Any]
    settings: Settings
    pos: Pos
    key_positions: Mapping[str, Pos] = field(default_factory=dict)

    @property
    def default_language(self) -> str:
        return self.languages[0]

    @property
    def version_tag(self) -> str:
        return f"{self.name}@{self.version}#{self.digest[:12]}"
