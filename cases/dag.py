"""Expression DAGs: a list of nodes where a node may feed several parents (shared work).

A fuzzed expression is a `Dag`: nodes in evaluation order, each naming its operation and
the earlier nodes it reads. A node read by two parents is one shared subexpression, so its
gradient is the sum of two paths: every backend sees that sharing, because `DagFunction`
evaluates each node once (a memo) and hands the same object to every parent.

Node kinds, as JSON-friendly lists (the case-file format):
    ["input", "x"]                an input;  ["const", 0.5]   a number
    ["constant", "W"]             an array constant of the case (a matrix for matmul)
    ["sin", 3]                    a vocabulary function of node 3 (likewise relu, log, ...)
    ["+", 1, 2], ["neg", 4]       Python operators: + - * / ** and unary minus
    ["where", ">", a, b, c, d]    where(a > b, c, d)
    ["sum", 5] / ["sum", 5, 0]    a reduction, over everything or over one axis
    ["grad", 6, "x"]              d sum(node 6) / d x, itself differentiable
The last node is the output.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any

OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
             "**": operator.pow}
COMPARISONS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
REDUCTIONS = ("sum", "mean")


@dataclass(frozen=True)
class Dag:
    """Nodes in evaluation order (lists, see the module docstring); the last is the output."""

    nodes: tuple[tuple, ...]

    def parents(self) -> dict[int, list[int]]:
        """Node index -> the indices of the nodes that read it."""
        readers: dict[int, list[int]] = {}
        for index, node in enumerate(self.nodes):
            for arg in arguments(node):
                readers.setdefault(arg, []).append(index)
        return readers

    def shared(self) -> list[int]:
        """The nodes read by two or more parents (or twice by one)."""
        return [index for index, readers in self.parents().items() if len(readers) > 1]

    def ops_used(self) -> list[str]:
        """The operation names in the DAG, sorted (inputs and constants left out)."""
        kinds = {node[0] if node[0] != "where" else f"where{node[1]}" for node in self.nodes}
        return sorted(kinds - {"input", "const", "constant"})

    def to_json(self) -> list[list]:
        return [list(node) for node in self.nodes]

    @classmethod
    def from_json(cls, nodes: list[list]) -> Dag:
        """The inverse of `to_json`; ValueError naming a malformed node."""
        checked = []
        for index, node in enumerate(nodes):
            if not isinstance(node, list) or not node or not isinstance(node[0], str):
                raise ValueError(f"dag node {index}: expected [op, ...], got {node!r}")
            for arg in arguments(tuple(node)):
                if not (isinstance(arg, int) and 0 <= arg < index):
                    raise ValueError(f"dag node {index} {node!r}: argument {arg!r} is not "
                                     "an earlier node")
            checked.append(tuple(node))
        if not checked:
            raise ValueError("dag has no nodes")
        return cls(tuple(checked))


def arguments(node: tuple) -> tuple[int, ...]:
    """The node indices a node reads."""
    kind = node[0]
    if kind in ("input", "const", "constant"):
        return ()
    if kind == "where":
        return tuple(node[2:6])
    if kind == "grad" or kind in REDUCTIONS:
        return (node[1],)
    if kind == "matmul":
        return tuple(node[1:3])
    return tuple(node[1:])


def prune(nodes: list[tuple]) -> tuple[list[tuple], dict[int, int]]:
    """The nodes the output (the last node) reads, renumbered (unused inputs go too).

    Returns:
        (the kept nodes, old index -> new index for each kept node).
    """
    keep = {len(nodes) - 1}
    for index in range(len(nodes) - 1, -1, -1):
        if index in keep:
            keep.update(arguments(nodes[index]))
    new = {old: position for position, old in enumerate(sorted(keep))}
    return [_renumbered(nodes[old], new) for old in sorted(keep)], new


def _renumbered(node: tuple, new: dict[int, int]) -> tuple:
    kind = node[0]
    if kind in ("input", "const", "constant"):
        return node
    if kind == "where":
        return node[:2] + tuple(new[i] for i in node[2:6])
    if kind == "grad":
        return (kind, new[node[1]], node[2])
    if kind in REDUCTIONS:
        return (kind, new[node[1]]) + node[2:]
    return (kind,) + tuple(new[i] for i in node[1:])


class DagFunction:
    """`fn(ops, **inputs)` of a case: evaluates the DAG once per node, in order."""

    def __init__(self, dag: Dag) -> None:
        self.dag = dag

    def __call__(self, ops: Any, **values: Any) -> Any:
        return evaluate(self.dag, ops, values)


def evaluate(dag: Dag, ops: Any, values: dict[str, Any], upto: int | None = None) -> Any:
    """The value of node `upto` (default: the output) with the backend namespace `ops`.

    Each node is computed once and the same object goes to every parent: that is what makes
    a shared node shared in the backend's graph too.
    """
    last = len(dag.nodes) - 1 if upto is None else upto
    memo: list[Any] = []
    for node in dag.nodes[:last + 1]:
        memo.append(_apply(dag, node, memo, ops, values))
    return memo[last]


def _apply(dag: Dag, node: tuple, memo: list, ops: Any, values: dict[str, Any]) -> Any:
    kind = node[0]
    if kind in ("input", "constant"):
        return values[node[1]]
    if kind == "const":
        return float(node[1])
    if kind == "neg":
        return -memo[node[1]]
    if kind in OPERATORS:
        return OPERATORS[kind](memo[node[1]], memo[node[2]])
    if kind == "where":
        _, comparison, a, b, then, otherwise = node
        condition = COMPARISONS[comparison](memo[a], memo[b])
        return ops.where(condition, memo[then], memo[otherwise])
    if kind in REDUCTIONS:
        options = {"axis": node[2]} if len(node) > 2 else {}
        return getattr(ops, kind)(memo[node[1]], **options)
    if kind == "grad":
        _, body, name = node

        def summed(value: Any) -> Any:
            # The whole body again, with `name` rebound: the semantics of the parser's grad.
            return ops.sum(evaluate(dag, ops, {**values, name: value}, upto=body))

        return ops.grad(summed)(values[name])
    return getattr(ops, kind)(*(memo[arg] for arg in node[1:]))


def render(dag: Dag, upto: int | None = None) -> str:
    """The DAG as expression text for refad.parse (shared nodes written out each time)."""
    texts: list[str] = []
    last = len(dag.nodes) - 1 if upto is None else upto
    for node in dag.nodes[:last + 1]:
        texts.append(_text(dag, node, texts))
    return texts[last]


def _text(dag: Dag, node: tuple, texts: list[str]) -> str:
    kind = node[0]
    if kind in ("input", "constant"):
        return node[1]
    if kind == "const":
        return number_text(float(node[1]))
    if kind == "neg":
        return f"(-{texts[node[1]]})"
    if kind in OPERATORS:
        return f"({texts[node[1]]} {kind} {texts[node[2]]})"
    if kind == "where":
        _, comparison, a, b, then, otherwise = node
        return f"where({texts[a]} {comparison} {texts[b]}, {texts[then]}, {texts[otherwise]})"
    if kind in REDUCTIONS:
        axis = f", axis={node[2]}" if len(node) > 2 else ""
        return f"{kind}({texts[node[1]]}{axis})"
    if kind == "grad":
        return f"grad({render(dag, node[1])}, {node[2]})"
    if kind == "matmul":
        return f"({texts[node[1]]} @ {texts[node[2]]})"
    return f"{kind}({', '.join(texts[arg] for arg in node[1:])})"


def number_text(value: float) -> str:
    """A float as text the parser reads back to the same float (negatives in brackets)."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"constant {value!r} cannot be written in an expression")
    text = repr(value)
    return f"({text})" if text.startswith("-") else text
