"""The teaching trace: what `.backward()` does, node by node, in refad's own numbers.

`trace(f, values)` runs `f` on fresh leaves, then one backward pass with an `on_step` hook, and
keeps what a reader needs: the forward table (node, operation, inputs, value); every backward
step in the order the engine ran it (upstream gradient, local derivative from the registry as
a formula and as a number, contribution, the input's running total, and the sum over paths
where an input has several consumers); the gradients; where a NaN or an infinity was born;
and at order 2 the graph the backward pass recorded, differentiated once more.
The frameworks' side of the same expression lives in `adapters.framework_trace`.
"""

from __future__ import annotations

import bisect
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from . import autograd, functions
from .backward import Recorder, Step, _numpy_retry, topological_order
from .nan_origin import backward_origin, forward_origin, raw
from .node import Tensor, as_tensor, normalise, tensor
from .parse import Expression, parse
from .registry import ones_like, zeros_like
from .trace_text import TABLE_ELEMENTS, format_value, render


@dataclass
class Node:
    """One row of a forward table.

    Attributes:
        name: the input's own name, or n1, n2, ... in the order the operations ran.
        op: `input`, or the registry name of the operation (`mul`).
        inputs: each argument as a node's name or a constant's value, then parameters.
        parents: the arguments gradients flow to (recorded nodes), by name, in order.
        value: the forward value.
        torch_name: PyTorch's name for its backward (`MulBackward0`, `AccumulateGrad`).
        made_by: at order 2, the backward step whose VJP recorded this node.
    """

    name: str
    op: str
    inputs: list[str]
    parents: list[str]
    value: Any
    torch_name: str
    made_by: str = ""


@dataclass
class BackwardStep:
    """One VJP application: contribution = upstream x local, added to the input's total.

    `paths` holds every (node, contribution) the input has received so far: two or more
    mean a sum over paths, and `total` is their sum, added left to right as the engine did.
    `local_value` is the VJP applied to an upstream of ones (the local derivative itself).
    """

    number: int
    node: str
    op: str
    upstream: Any
    input: str
    index: int
    local: str
    formula: str
    local_value: Any
    contribution: Any
    total: Any
    paths: list[tuple[str, Any]]

    @property
    def shared(self) -> bool:
        return len(self.paths) > 1


@dataclass
class Pass:
    """A graph and one backward pass through it: of the output, or (order 2) of a d/dx."""

    of: str
    output: str
    value: Any
    forward: list[Node]
    backward: list[BackwardStep]
    gradients: dict[str, Any]
    note: str = ""


@dataclass
class Trace:
    """Everything `refad trace` shows; `to_text()` and `to_dict()` render it.

    `analytic` (sympy) and `frameworks` (PyTorch, JAX) are filled by the layers that know
    those libraries; `nan_origin` may carry their messages under "pytorch" and "jax".
    """

    expr: str
    inputs: dict[str, Any]
    dtype: str
    order: int
    first: Pass
    second: list[Pass] = field(default_factory=list)
    nan_origin: dict[str, Any] | None = None
    analytic: dict[str, Any] = field(default_factory=dict)
    frameworks: dict[str, Any] = field(default_factory=dict)

    value = property(lambda self: self.first.value)
    forward = property(lambda self: self.first.forward)
    backward = property(lambda self: self.first.backward)
    gradients = property(lambda self: self.first.gradients)

    @property
    def hessian(self) -> dict[str, dict[str, Any]]:
        """Row a of the Hessian, {b: d2 out / da db}, for each scalar input a (order 2).

        For an array input a the second pass differentiates sum(d/da), which is not a row of
        the Hessian (it is the Hessian times ones), so it is left out here.
        """
        return {p.of[3:]: p.gradients for p in self.second if np.ndim(p.value) == 0}

    def to_dict(self) -> dict[str, Any]:
        """Plain data (numbers stay floats or numpy arrays; see reports.writers.json_ready)."""
        data = {"expr": self.expr, "inputs": dict(self.inputs), "dtype": self.dtype,
                "order": self.order, "value": self.value, "output": self.first.output}
        data.update(_pass_dict(self.first))
        data.update(analytic=self.analytic, nan_origin=self.nan_origin)
        if self.order >= 2:
            data["second"] = [_pass_dict(p) | {"of": p.of, "output": p.output, "note": p.note}
                              for p in self.second]
            data["hessian"] = self.hessian
        if self.frameworks:
            data["frameworks"] = self.frameworks
        return data

    def to_text(self) -> str:
        """The trace as a readable text, as `refad trace` prints it."""
        return render(self)

    __str__ = to_text


def trace(f: str | Callable, values: Mapping[str, Any], order: int = 1,
          dtype: str = "float64", expr: str | None = None) -> Trace:
    """Trace the forward and backward pass of a scalar function, node by node.

    Args:
        f: an expression string, a parsed `refad.Expression`, a case-style `fn(ops, **inputs)`
            (first parameter named `ops`), or a plain function of tensors `fn(x=..., y=...)`.
        values: input name -> number or array; every input is a leaf that requires grad.
        order: 1, or 2 to differentiate the recorded backward pass once more (Hessian rows).
        dtype: "float64" or "float32".
        expr: the text to show for `f` (default: the expression's own text or its name).

    Returns:
        the Trace.
    """
    if order not in (1, 2):
        raise ValueError(f"trace order {order!r}: use 1 or 2")
    fn = parse(f) if isinstance(f, str) else f
    text = expr or getattr(fn, "text", None) or getattr(fn, "__name__", "f")
    leaves = {name: tensor(v, requires_grad=True, dtype=dtype, name=name)
              for name, v in values.items()}
    out = as_tensor(_call(fn, leaves))
    if out.shape != ():
        raise ValueError(f"trace needs a scalar output; {text!r} has shape {out.shape}: "
                         f"wrap it in sum(...) or mean(...)")
    names = _Names(leaves)
    first, grads, recorder = _run_pass("out", out, leaves, names, create_graph=order >= 2)
    second = []
    if order >= 2:
        roots = [g for g in grads if type(g) is Tensor and g.requires_grad]
        for node in topological_order(roots):       # new names in creation order
            names(node)
        made_by = _made_by(roots, out.seq, recorder)
        for (name, leaf), g in zip(leaves.items(), grads, strict=True):
            g = zeros_like(leaf) if g is None else g          # an input the output ignores
            p, _, _ = _run_pass(f"d/d{name}", g, leaves, names, made_by=made_by)
            second.append(p)
    origin = forward_origin(out, names) or backward_origin([first] + second)
    inputs = {name: leaf.data for name, leaf in leaves.items()}
    return Trace(text, inputs, str(np.dtype(dtype)), order, first, second, origin)


def _call(fn: Any, leaves: dict[str, Tensor]) -> Any:
    if isinstance(fn, Expression):
        return fn(functions, **leaves)
    parameters = list(inspect.signature(fn).parameters)
    if parameters and parameters[0] == "ops":
        return fn(functions, **leaves)
    return fn(**leaves)


class _Names:
    """Names for tensors: inputs by their own name, operations n1, n2, ... as first seen."""

    def __init__(self, leaves: dict[str, Tensor]):
        self.by_id = {id(t): name for name, t in leaves.items()}
        self.taken = set(leaves)
        self.count = 0

    def __call__(self, t: Tensor) -> str:
        name = self.by_id.get(id(t))
        if name is None:
            self.count += 1
            while f"n{self.count}" in self.taken:     # an input may be called n1
                self.count += 1
            name = self.by_id[id(t)] = f"n{self.count}"
        return name

    def text(self, arg: Any) -> str:
        """A node's name, or a constant (a number, a `where` condition) as its value."""
        if type(arg) is Tensor and arg.requires_grad:
            return self(arg)
        return format_value(arg, TABLE_ELEMENTS)


def _forward_table(root: Tensor, leaves: dict[str, Tensor], names: _Names,
                   made_by: dict[int, str]) -> list[Node]:
    rows = [Node(name, "input", [], [], leaf.data, "AccumulateGrad")
            for name, leaf in leaves.items()]
    graph = topological_order([root]) if root.requires_grad else []
    for t in graph:
        names(t)
    leaf_ids = {id(leaf) for leaf in leaves.values()}
    for t in graph:
        if id(t) in leaf_ids:
            continue
        if t.prim is None:                  # a leaf made inside the function (nested grad)
            rows.append(Node(names(t), "input", [], [], t.data, "AccumulateGrad"))
            continue
        args = [names.text(a) for a in t.inputs]
        args += [f"{k}={v!r}" for k, v in t.params.items() if v is not None and v is not False]
        parents = [names(a) for a in t.inputs if type(a) is Tensor and a.requires_grad]
        rows.append(Node(names(t), t.op, args, parents, t.data, t.prim.backward_name,
                         made_by.get(id(t), "")))
    return rows


class _Recorder(Recorder):
    """The engine's `Recorder`, plus one BackwardStep row per step, in the engine's order."""

    def __init__(self, names: _Names):
        super().__init__()
        self.names = names
        self.rows: list[BackwardStep] = []
        self.received: dict[int, list[tuple[str, Any]]] = {}
        self.newest: list[int] = []     # per step: the newest tensor made so far (order 2)
        self.totals: list[int] = []     # per step: id of the total when it is a tensor

    def record(self, step: Step) -> None:
        node = step.node
        source = self.names(node)
        contribution = raw(step.contribution)
        paths = self.received.setdefault(id(step.input), [])
        paths.append((source, contribution))
        args = [self.names.text(a) for a in node.inputs]
        self.rows.append(BackwardStep(
            len(self.rows) + 1, source, node.op, raw(step.upstream), self.names(step.input),
            step.index, step.local, _formula(node.prim, step.index, args),
            _local_value(node, step.index), contribution, raw(step.total), list(paths)))
        made = [t.seq for t in (step.contribution, step.total) if type(t) is Tensor]
        self.newest.append(max(made + self.newest[-1:], default=0))
        self.totals.append(id(step.total))


def _run_pass(of: str, root: Any, leaves: dict[str, Tensor], names: _Names,
              create_graph: bool = False, made_by: dict[int, str] | None = None):
    """Forward table and backward steps of `root`; returns (Pass, gradients, recorder)."""
    root = as_tensor(root)
    forward = _forward_table(root, leaves, names, made_by or {})
    recorder = _Recorder(names)
    zeros = {name: zeros_like(leaf) for name, leaf in leaves.items()}
    if not leaves or not root.requires_grad:
        note = f"{of} does not depend on any input: no graph, so every derivative is 0"
        return Pass(of, "", root.data, forward, [], zeros, note), [None] * len(leaves), recorder
    weight = None if root.shape == () else ones_like(root)
    grads = autograd.grad(root, list(leaves.values()), grad_outputs=weight,
                          create_graph=create_graph, allow_unused=True, on_step=recorder)
    gradients = {name: zeros[name] if g is None else raw(g)
                 for name, g in zip(leaves, grads, strict=True)}
    note = "" if weight is None else f"{of} is not a scalar: its elements are summed first"
    return (Pass(of, names(root), root.data, forward, recorder.rows, gradients, note),
            grads, recorder)


def _made_by(roots: list[Tensor], last_forward: int, recorder: _Recorder) -> dict[int, str]:
    """For each node the first backward recorded: the step whose VJP (or sum) made it."""
    made = {}
    for t in topological_order(roots):
        if t.seq <= last_forward:
            continue
        k = bisect.bisect_left(recorder.newest, t.seq)
        if k == len(recorder.rows):
            made[id(t)] = "after the backward pass"
            continue
        step = recorder.rows[k]
        if step.shared and recorder.totals[k] == id(t):
            made[id(t)] = f"step {step.number}: the sum over paths at {step.input}"
        else:
            made[id(t)] = f"step {step.number}: VJP of {step.node} ({step.op}) for {step.input}"
    return made


_PARAMETERS: dict[str, list[str]] = {}


def _formula(prim: Any, index: int, args: list[str]) -> str:
    """The registry's local derivative with the node's arguments in place of x, y, ...

    The argument names are read from the VJP's own signature (`vjp(g, out, x, y)`; atan2's
    is `(g, out, y, x)`), so the substitution follows the registry, whatever it calls them.
    """
    if prim.name not in _PARAMETERS:
        vjp = next(v for v in prim.vjps if v is not None)
        _PARAMETERS[prim.name] = list(inspect.signature(vjp).parameters)[2:]
    bound = {}
    for parameter, arg in zip(_PARAMETERS[prim.name], args, strict=False):  # + params
        needs_brackets = arg.startswith("-") or " " in arg
        bound[parameter] = f"({arg})" if needs_brackets else arg
    return re.sub(r"[A-Za-z_]\w*", lambda m: bound.get(m.group(), m.group()),
                  prim.local[index])


def _local_value(node: Tensor, index: int) -> Any:
    """The local derivative as a number: the VJP applied to an upstream of ones.

    For an elementwise operation this is exactly d node / d input (1 x the formula, no
    rounding); after broadcasting or a reduction it is the VJP of ones.
    """
    vjp = node.prim.vjps[index]
    values = [raw(a) for a in node.inputs]
    g = ones_like(node.data)
    with np.errstate(all="ignore"):
        try:
            return normalise(vjp(g, node.data, *values, **node.params))
        except ArithmeticError:                 # Python floats raise on 1/0, as the engine
            return _numpy_retry(vjp, g, node.data, values, node.params)


def _pass_dict(p: Pass) -> dict[str, Any]:
    steps = []
    for s in p.backward:
        step = asdict(s)
        step["paths"] = [{"from": n, "contribution": c} for n, c in s.paths]
        step["shared"] = s.shared
        steps.append(step)
    return {"forward": [asdict(n) for n in p.forward], "backward": steps,
            "gradients": dict(p.gradients)}
