"""YAML to a positioned tree: every mapping key and value keeps its file:line:column.

Safe by construction: PyYAML's SafeLoader composer (no Python tags), YAML 1.2 booleans only
(``no``/``on``/``yes`` stay strings: "press no" should not become False), a size limit, an alias
limit and a node limit (billion-laughs expansions stop early), and duplicate keys reported instead
of silently overwritten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from ivr.errors import FlowError

MAX_FILE_BYTES = 1 << 20  # 1 MiB: a large call center flow is ~50 KB
MAX_ALIASES = 100
MAX_NODES = 100_000  # after alias expansion


@dataclass(frozen=True, slots=True)
class Pos:
    file: str
    line: int  # 1-based
    column: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class YScalar:
    value: Any  # str | int | float | bool | None
    pos: Pos
    quoted: bool = False  # '...' or "...": text starts one column after pos


@dataclass(frozen=True, slots=True)
class YSeq:
    items: list[YNode]
    pos: Pos


@dataclass(frozen=True, slots=True)
class YMap:
    """A mapping; ``keys`` holds each key's position, ``items`` the values (keys are strings)."""

    items: dict[str, YNode]
    keys: dict[str, Pos]
    pos: Pos
    duplicates: list[tuple[str, Pos]] = field(default_factory=list)


YNode = YScalar | YSeq | YMap


class YamlLoadError(FlowError):
    def __init__(self, message: str, pos: Pos) -> None:
        super().__init__(f"{pos}: {message}")
        self.pos = pos
        self.reason = message


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans and an alias counter."""

    yaml_implicit_resolvers: ClassVar[dict[Any, Any]] = {  # type: ignore[misc]
        k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise yaml.YAMLError(f"more than {MAX_ALIASES} aliases at line {mark.line + 1}")
        return super().compose_node(parent, index)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_text(text: str, file: str) -> YNode:
    """Parse YAML ``text`` into a positioned tree; raise YamlLoadError with a position."""
    if len(text.encode("utf-8", "replace")) > MAX_FILE_BYTES:
        raise YamlLoadError(f"file larger than {MAX_FILE_BYTES} bytes", Pos(file, 1, 1))
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlLoadError(f"YAML syntax: {exc.problem or exc}", Pos(file, line, col)) from exc
    except yaml.YAMLError as exc:
        raise YamlLoadError(f"YAML: {exc}", Pos(file, 1, 1)) from exc
    finally:
        loader.dispose()
    if root is None:
        return YMap({}, {}, Pos(file, 1, 1))
    budget = [MAX_NODES]
    return _convert(root, file, loader, budget)


def load_file(path: str | Path) -> YNode:
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise YamlLoadError(f"file is {size} bytes, more than {MAX_FILE_BYTES}", Pos(str(path), 1, 1))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlLoadError("not UTF-8 text", Pos(str(path), 1, 1)) from exc
    return load_text(text, str(path))


def _pos(node: yaml.Node, file: str) -> Pos:
    return Pos(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _convert(node: yaml.Node, file: str, loader: _Loader, budget: list[int]) -> YNode:
    budget[0] -= 1
    if budget[0] < 0:
        raise YamlLoadError(f"more than {MAX_NODES} YAML nodes (alias bomb?)", _pos(node, file))
    if isinstance(node, yaml.ScalarNode):
        try:
            value = loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise YamlLoadError(f"bad scalar: {exc}", _pos(node, file)) from exc
        if not isinstance(value, str | int | float | bool | type(None)):
            value = node.value  # timestamps, binary: keep the text
        return YScalar(value, _pos(node, file), node.style in ("'", '"'))
    if isinstance(node, yaml.SequenceNode):
        return YSeq([_convert(n, file, loader, budget) for n in node.value], _pos(node, file))
    if isinstance(node, yaml.MappingNode):
        items: dict[str, YNode] = {}
        keys: dict[str, Pos] = {}
        dups: list[tuple[str, Pos]] = []
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlLoadError("mapping keys must be plain text", _pos(key_node, file))
            key = key_node.value
            if key == "<<":
                raise YamlLoadError("merge keys (<<) are not supported", _pos(key_node, file))
            if key in items:
                dups.append((key, _pos(key_node, file)))
                continue
            keys[key] = _pos(key_node, file)
            items[key] = _convert(value_node, file, loader, budget)
        return YMap(items, keys, _pos(node, file), dups)
    raise YamlLoadError("unsupported YAML node", _pos(node, file))


def plain(node: YNode) -> Any:
    """The tree without positions: dicts, lists and scalars."""
    if isinstance(node, YScalar):
        return node.value
    if isinstance(node, YSeq):
        return [plain(n) for n in node.items]
    return {k: plain(v) for k, v in node.items.items()}
