"""The backward pass: one topological order, one loop, one hook.

Reverse mode in four lines: walk the graph from the output back to the inputs; at each node
multiply the gradient arriving from above (the upstream gradient) by the node's local
derivative (its VJP); send the product to each input; and *add* it to whatever that input
has already received, because a value used by several consumers gets the sum over paths.
"""

from __future__ import annotations

import gc
import itertools
import operator
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .mode import Quiet, _GradMode
from .node import Tensor, _wrap, normalise
from .primitives import astype


class Step:
    """One VJP application, as passed to an `on_step` hook.

    Attributes:
        node: the tensor whose gradient is being pushed back.
        index: which input of `node.prim` receives it.
        input: that input tensor.
        local: the local derivative as a formula, from the registry (`"cos(x)"`).
        upstream: the gradient arriving at `node` (d output / d node).
        contribution: what this step sends to `input` (upstream times local derivative).
        total: the input's running total after this contribution was added.
        shared: True when the input had already received a contribution (sum over paths).
    """

    __slots__ = ("node", "index", "input", "local", "upstream", "contribution", "total",
                 "shared")

    def __init__(self, node, index, input, local, upstream, contribution, total, shared):
        self.node = node
        self.index = index
        self.input = input
        self.local = local
        self.upstream = upstream
        self.contribution = contribution
        self.total = total
        self.shared = shared

    def __repr__(self) -> str:
        return (f"Step({self.node.op} input {self.index}: upstream={self.upstream!r} "
                f"x [{self.local}] -> {self.contribution!r}, total={self.total!r})")


class Recorder:
    """The one `on_step` hook that records a backward pass (the trace and the pictures use it).

    Attributes:
        steps: every `Step`, in the order the engine ran them.
        sent: (id of node, input index) -> the contribution that step sent.
        upstream: id of node -> the gradient that arrived at it.
    Subclasses add what they need from each step in `record`.
    """

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.sent: dict[tuple[int, int], Any] = {}
        self.upstream: dict[int, Any] = {}

    def __call__(self, step: Step) -> None:
        self.steps.append(step)
        self.sent[(id(step.node), step.index)] = step.contribution
        self.upstream[id(step.node)] = step.upstream
        self.record(step)

    def record(self, step: Step) -> None:
        """Called once per step after it is stored; nothing more by default."""


def topological_order(roots: Iterable[Tensor]) -> list[Tensor]:
    """Every tensor that requires grad and feeds `roots`, each after all of its inputs.

    Two steps, both without recursion (a recursive search needs one Python frame per node
    along the longest path and stops near 1,000 frames, yet a 10^6-node chain is an ordinary
    graph): collect the graph with an explicit stack, then sort it by creation number. A
    tensor's inputs always exist before it does, so creation order is a topological order.
    """
    stamp = next(_walks)
    nodes: list[Tensor] = []
    stack = []
    for root in roots:
        if root.requires_grad and root.visit != stamp:
            root.visit = stamp
            stack.append(root)
    while stack:
        node = stack.pop()
        nodes.append(node)
        for parent in node.inputs:
            if type(parent) is Tensor and parent.requires_grad and parent.visit != stamp:
                parent.visit = stamp
                stack.append(parent)
    nodes.sort(key=_creation_number)
    return nodes


_walks = itertools.count(1)
_creation_number = operator.attrgetter("seq")


def _mark_needed(order: list[Tensor], targets: set[int], stamp: int) -> None:
    """Stamp the nodes from which some target can be reached: only they need gradients.

    `autograd.grad(u, x)` on a network need not push gradients into the weights.
    """
    for node in order:                      # inputs come first, so one pass suffices
        if id(node) in targets:
            node.visit = stamp
            continue
        for parent in node.inputs:
            if type(parent) is Tensor and parent.visit == stamp:
                node.visit = stamp
                break


def run_backward(roots: list[Tensor], seeds: list[Any], *, targets: set[int] | None = None,
                 create_graph: bool = False,
                 on_step: Callable[[Step], None] | None = None,
                 on_target: Callable[[Tensor, Any], None] | None = None) -> dict[int, Any]:
    """Push `seeds` (d root / d root) back through the graph of `roots`.

    With `targets` (ids of tensors), return their gradients by id and touch no `.grad`;
    without, accumulate into the `.grad` of every leaf that requires grad. With `on_target`
    as well, each target's gradient is handed to `on_target(tensor, gradient)` once it is
    complete, and not kept: a caller that wants every node's gradient (the rounding-error
    model) then holds one at a time, not the whole graph's worth.

    Without `create_graph` the VJPs see raw values (floats, numpy arrays), so nothing is
    recorded and each step costs a few arithmetic operations. With it they see the tensors
    themselves, so the backward pass is recorded as a graph that can be differentiated again.
    Gradients in flight are kept on the nodes themselves (`pending`), cleared as they go.
    """
    order = topological_order(roots)
    needed = _needed(order, targets)
    for root, seed in zip(roots, seeds, strict=True):
        root.pending = seed if root.pending is None else root.pending + seed
    captured: dict[int, Any] = {}
    paused = _pause(create_graph)
    quiet = None
    try:
        for node in reversed(order):            # every consumer of a node comes before it
            g = node.pending
            if g is None:
                continue
            node.pending = None
            if quiet is None and (create_graph or type(node.data) is not float):
                quiet = _quiet()                # the first node numpy may warn about
            if targets is not None and id(node) in targets:
                _hand_over(node, g, captured, on_target)
            prim = node.prim
            if prim is None:                    # a leaf: the end of every path
                if targets is None:
                    _accumulate_leaf(node, g)
                continue
            # What the VJPs see: raw values (nothing recorded), or the tensors themselves
            # under create_graph. Unary and binary nodes, most of any graph, are unpacked
            # here rather than in `_vjp_arguments`, since a call per node costs ~8%.
            inputs = node.inputs
            if create_graph or len(inputs) > 2:
                out, values = _vjp_arguments(node, create_graph)
            elif len(inputs) == 1:
                out, values = node.data, (inputs[0].data,)
            else:
                a, b = inputs
                out = node.data
                values = (a.data if type(a) is Tensor else a, b.data if type(b) is Tensor else b)
            params = node.params
            arity = len(values)
            for index, parent in enumerate(inputs):
                if type(parent) is not Tensor or parent.visit != needed:
                    continue
                vjp = prim.vjps[index]
                if vjp is None:                 # not differentiable (a where condition)
                    continue
                # The VJP's call, positional where it can be (measurably faster than * or an
                # empty **{}); Python's math raises on 1/0 where numpy gives inf.
                try:
                    if params:
                        contribution = vjp(g, out, *values, **params)
                    elif arity == 1:
                        contribution = vjp(g, out, values[0])
                    elif arity == 2:
                        contribution = vjp(g, out, values[0], values[1])
                    else:
                        contribution = vjp(g, out, *values)
                except ArithmeticError:
                    contribution = _numpy_retry(vjp, g, out, values, params)
                # Add, never assign: a value used twice gets both contributions. The first
                # is stored as it is rather than added to 0, because 0 + (-0.0) is +0.0.
                shared = parent.pending is not None
                total = parent.pending + contribution if shared else contribution
                parent.pending = total
                if on_step is not None:
                    on_step(Step(node, index, parent, prim.local[index], g, contribution,
                                 total, shared))
    except BaseException:
        for node in order:                      # after an error, no gradient in flight
            node.pending = None
        raise
    finally:
        _restore(paused, quiet)
    return captured


def _needed(order: list[Tensor], targets: set[int] | None) -> int:
    """The stamp of the nodes that need a gradient: all of them, or those reaching a target."""
    if targets is None:
        return order[0].visit if order else 0   # every node of this walk carries its stamp
    stamp = next(_walks)
    _mark_needed(order, targets, stamp)
    return stamp


def _hand_over(node: Tensor, g: Any, captured: dict[int, Any], on_target) -> None:
    """A target's gradient is complete when the loop reaches it: keep it or hand it over."""
    if on_target is None:
        captured[id(node)] = g
    else:
        on_target(node, g)


def _pause(create_graph: bool) -> tuple[bool, bool]:
    """Switch off, for the backward pass, what it does not need; returns what to restore.

    - Python's cyclic garbage collector: graphs are acyclic, so it would find nothing, yet
      with torch and jax loaded each collection walks ~240k objects (DESIGN.md, speed).
    - Recording: raw values record nothing anyway, and with `create_graph` the VJPs must be.
    """
    collecting = gc.isenabled()
    gc.disable()
    recording = _GradMode.enabled
    _GradMode.enabled = create_graph
    return collecting, recording


def _quiet() -> Any:
    """numpy's warnings silenced until `_restore`: entered once, at the first node that is
    not a Python float, since `np.errstate` costs ~1.5 us and a scalar graph never needs it."""
    quiet = np.errstate(all="ignore")
    quiet.__enter__()
    Quiet.depth += 1
    return quiet


def _restore(paused: tuple[bool, bool], quiet: Any) -> None:
    """Undo `_pause` and `_quiet`."""
    collecting, recording = paused
    if quiet is not None:
        Quiet.depth -= 1
        quiet.__exit__(None, None, None)
    _GradMode.enabled = recording
    if collecting:
        gc.enable()


def _vjp_arguments(node: Tensor, create_graph: bool) -> tuple[Any, Any]:
    """(out, inputs) as the VJPs see them: the tensors (recording the backward pass), or
    raw values (floats and arrays, recording nothing)."""
    if create_graph:
        return node, node.inputs
    return node.data, [arg.data if type(arg) is Tensor else arg for arg in node.inputs]


def _numpy_retry(vjp, g, out, values, params):
    """Python floats raise on 1/0 where numpy gives inf: redo the step with numpy scalars.

    This mirrors the forward pass, whose math fast path also falls back to numpy on error.
    """
    def as_numpy(value):
        return np.float64(value) if type(value) is float else value
    with np.errstate(all="ignore"):
        contribution = vjp(as_numpy(g), as_numpy(out), *[as_numpy(v) for v in values],
                           **params)
    return normalise(contribution)


def as_gradient_of(g: Any, like: Tensor) -> Any:
    """`g` as a fresh gradient for `like`: cast to its dtype, never sharing memory.

    PyTorch casts every gradient to its input's dtype; and `add` passes the same upstream
    array to both inputs, so storing it twice would let one `.grad` alias another.
    """
    if type(g) is float and type(like.data) is float:
        return g                            # float64 to float64: immutable, nothing to do
    if type(g) is Tensor:
        return g if g.dtype == like.dtype else astype(g, dtype=like.dtype)
    if type(g) is float:
        return g if like.dtype == np.float64 else np.array(g, dtype=like.dtype)
    return normalise(np.array(g, dtype=like.dtype, copy=True))


def _accumulate_leaf(leaf: Tensor, g: Any) -> None:
    """`.grad` accumulates across backward calls, as in PyTorch (zero it yourself)."""
    if type(g) is float and type(leaf.data) is float and leaf.grad is None:
        leaf.grad = _wrap(g)                # float64 to float64: nothing to cast or copy
        return
    g = as_gradient_of(g, leaf)
    gradient = g if type(g) is Tensor else _wrap(g)
    leaf.grad = gradient if leaf.grad is None else leaf.grad + gradient
