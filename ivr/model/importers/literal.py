"""Parse fairseq's ``conv_feature_layers`` string without ``eval``.

fairseq stores the conv stack as Python source, e.g.
``"[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2"``, and builds it with ``eval``. We accept
only that grammar: lists and tuples of integer literals joined by ``+`` and repeated by ``* int``.
"""

from __future__ import annotations

import ast

from ivr.errors import CheckpointError

ConvLayer = tuple[int, int, int]  # (channels, kernel, stride)

_MAX_REPEAT = 1024  # a conv stack never has more layers; bounds "[...] * 10**9" in a hostile file


def parse_conv_layers(text: str) -> tuple[ConvLayer, ...]:
    """The (channels, kernel, stride) layers described by a fairseq ``conv_feature_layers`` string."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
        value = _evaluate(tree.body)
    except (SyntaxError, ValueError) as exc:
        raise CheckpointError(f"conv_feature_layers {text!r}: {exc}") from None
    if not isinstance(value, list) or not value:
        raise CheckpointError(f"conv_feature_layers {text!r}: expected a non-empty list of layers")
    layers = []
    for item in value:
        if not (isinstance(item, tuple) and len(item) == 3 and all(v > 0 for v in item)):
            raise CheckpointError(
                f"conv_feature_layers {text!r}: each layer must be (channels, kernel, stride) "
                f"of positive integers, found {item!r}"
            )
        layers.append((item[0], item[1], item[2]))
    return tuple(layers)


def _evaluate(node: ast.expr) -> int | list[object] | tuple[object, ...]:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.Tuple):
        return tuple(_evaluate(element) for element in node.elts)
    if isinstance(node, ast.List):
        return [_evaluate(element) for element in node.elts]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(left, list) and isinstance(right, list):
            return left + right
        raise ValueError("'+' joins two lists only")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(left, list) and isinstance(right, int) and 0 <= right <= _MAX_REPEAT:
            return left * right
        raise ValueError(f"'*' repeats a list 0..{_MAX_REPEAT} times only")
    raise ValueError(f"unsupported expression {ast.dump(node)[:60]}")
