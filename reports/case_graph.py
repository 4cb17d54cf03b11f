"""The computational graph of a case, as the textbook widget shows it.

`graph_of` runs a case through refad with an `on_step` hook and keeps, for each node, its
forward value and the gradient arriving at it; for each edge, the contribution that flowed
back along it; and for each input its total, the sum over paths. `reports.graph_svg` draws it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from refad.adapters.refad_backend import run_case

from refad.backward import Recorder


@dataclass
class Node:
    """One value of the computation: an input, an operation's result or a constant.

    Attributes:
        id: index in `Graph.nodes`.
        label: the operation (`mul`), the input's name, or `const`.
        kind: `input`, `op` or `const`.
        value: the forward value (a float or a numpy array).
        grad: the gradient arriving at this node (the upstream total); for an input, `.grad`.
        uses: how many edges leave this node; two or more means a sum over paths.
        title: a tooltip (the PyTorch backward name, the constant's name).
    """

    id: int
    label: str
    kind: str
    value: Any
    grad: Any = None
    uses: int = 0
    title: str = ""

    @property
    def is_input(self) -> bool:
        return self.kind == "input"

    @property
    def shared(self) -> bool:
        return self.uses >= 2


@dataclass
class Edge:
    """A data dependency: `source` is argument `index` of `target`.

    `grad` is the contribution sent back along it (None where no gradient flows: constants,
    a `where` condition); `local` is the local derivative from the registry (`"cos(x)"`).
    """

    source: int
    target: int
    index: int
    grad: Any = None
    local: str = ""


@dataclass
class Graph:
    """Nodes and edges of one forward and backward pass; `output` is the output node's id."""

    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    output: int = 0

    def find(self, label: str) -> Node:
        """The first node labelled `label` (an input name or an operation)."""
        for node in self.nodes:
            if node.label == label:
                return node
        raise KeyError(f"no node labelled {label!r} among {[n.label for n in self.nodes]}")

    def edges_from(self, node_id: int) -> list[Edge]:
        return [edge for edge in self.edges if edge.source == node_id]


def graph_of(case: Any, dtype: str = "float64") -> Graph:
    """Evaluate `case` with refad, run backward, and record the graph with its gradients.

    Args:
        case: a Case (`fn`, `inputs`, `constants`).
        dtype: "float64" or "float32".
    Returns:
        The Graph: every input of the case (used or not), each operation, each constant.
    """

    out, leaves = run_case(case, dtype)
    recorder = Recorder()           # the trace's hook: what each step sent, and to whom
    if out.requires_grad:
        out.backward(np.ones_like(out.data) if out.shape else None, on_step=recorder)
    sent, upstream = recorder.sent, recorder.upstream
    tensors = _reachable(out)
    graph = Graph()
    ids = _add_nodes(graph, list(leaves.values()), tensors)
    _add_edges(graph, tensors, ids, sent)
    for tensor in tensors + list(leaves.values()):
        node = graph.nodes[ids[id(tensor)]]
        if node.kind == "op":
            node.grad = upstream.get(id(tensor))
        elif node.kind == "input":          # an input the output ignores gets a zero
            node.grad = np.zeros_like(tensor.data) if tensor.grad is None else tensor.grad.data
    graph.output = ids[id(out)]
    if out.requires_grad and graph.nodes[graph.output].grad is None:
        graph.nodes[graph.output].grad = np.ones_like(out.data) if out.shape else 1.0
    return graph


def _add_nodes(graph: Graph, leaves: list, tensors: list) -> dict[int, int]:
    """A node per input (case order first) and per tensor; returns id(tensor) -> node id."""
    ids: dict[int, int] = {}
    for tensor in leaves + tensors:
        if id(tensor) in ids:
            continue
        if tensor.prim is not None:
            node = Node(0, tensor.prim.name, "op", tensor.data, title=tensor.prim.backward_name)
        elif tensor.requires_grad:
            node = Node(0, tensor.name or "leaf", "input", tensor.data)
        else:
            node = Node(0, tensor.name or "const", "const", tensor.data, title="constant")
        node.id = len(graph.nodes)
        graph.nodes.append(node)
        ids[id(tensor)] = node.id
    return ids


def _add_edges(graph: Graph, tensors: list, ids: dict[int, int], sent: dict) -> None:
    """An edge per argument of each operation; a Python number gets its own grey node."""
    for tensor in tensors:
        if tensor.prim is None:
            continue
        for index, arg in enumerate(tensor.inputs):
            if hasattr(arg, "inputs"):
                source = ids[id(arg)]
            else:
                source = len(graph.nodes)
                graph.nodes.append(Node(source, "const", "const", arg, title="constant"))
            local = tensor.prim.local[index] if index < len(tensor.prim.local) else ""
            graph.edges.append(Edge(source, ids[id(tensor)], index,
                                    sent.get((id(tensor), index)), local))
            graph.nodes[source].uses += 1


def _reachable(out) -> list:
    """Every tensor `out` was computed from, oldest first (an explicit stack: no recursion)."""
    seen = {id(out): out}
    stack = [out]
    while stack:
        for arg in stack.pop().inputs:
            if hasattr(arg, "inputs") and id(arg) not in seen:
                seen[id(arg)] = arg
                stack.append(arg)
    return sorted(seen.values(), key=lambda t: t.seq)


def summarize(value: Any, digits: int = 4) -> str:
    """A compact text for a value: `2.541` for scalars, `(3,4) [0.1, 0.2, …]` for arrays."""
    if value is None:
        return ""
    array = np.asarray(value)
    if array.ndim == 0:
        return _number(array.item(), digits)
    shape = "(" + ",".join(str(n) for n in array.shape) + ("," if array.ndim == 1 else "") + ")"
    flat = array.ravel()
    shown = ", ".join(_number(v, 3) for v in flat[:2].tolist())
    return f"{shape} [{shown}{', …' if flat.size > 2 else ''}]"


def _number(value: Any, digits: int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}g}"
