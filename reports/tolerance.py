"""How far a float32 result may lie from the exact answer: a bound from rounding-error analysis.

A float32 computation rounds its inputs and every operation's result. Write the rounded value
of node n as v_n (1 + delta_n) with |delta_n| <= c_n u, where u = 2^-24 is float32's unit
roundoff (half its machine epsilon) and c_n is the operation's cost in units of u (its op-table
entry's `cost`).
To first order the error of a quantity q is sum_n (dq/dv_n) v_n delta_n, so

    |error of q| <= sum over the nodes n of q's graph of  c_n u |dq/dv_n| |v_n|

The adjoints dq/dv_n are what reverse mode computes: one backward pass from q, keeping the
adjoint of *every* node instead of the inputs' only (this is the analysis Linnainmaa's 1970
thesis, where reverse mode was born, was written for). The bound is therefore the case's
conditioning, measured automatically: tan near its pole has a huge dq/dx, 1 - cos(x) at small
x a huge |v_n| relative to q, and the bound grows with them. Details of the model:

- an input x is rounded to float32 once: it contributes |dq/dx| |x - float32(x)| (zero when x
  is a float32 number, such as 0.5 or 4);
- costs (the op table's): data movement (reshape, where, abs, ...) is exact (0); + - * /
  sqrt are correctly rounded (1 u); libm functions (sin, exp, tanh, pow, ...) are allowed
  2 ULPs (4 u);
- a reduction of n terms (sum, mean, matmul) is allowed (n - 1) u times the sum of the
  |terms| (recursive summation's worst case; pairwise summation, which numpy and the
  frameworks use, does better), never a multiple of the result, which may have cancelled;
- each operation may also underflow: an absolute error of |dq/dv_n| times float32's smallest
  normal number (1.2e-38), enough for a flush to zero;
- a gradient dq/dx is itself a graph (refad records its backward pass with create_graph),
  and so is a Hessian entry (the second backward pass): the same walk bounds them, forward
  nodes included, since the backward pass reads their values.

The graph walked is refad's, evaluated in float64 at the case's inputs; torch and jax use
other formulas for some operations, which first-order analysis cannot see, hence a safety
factor calibrated on the catalogue. A float32 row is `ok` when at every element

    |result - reference| <= SAFETY * bound + FLOOR_ULPS ULPs of the reference in float32

(the ULP floor covers the rounding of the reference to float32). Worked example, the seed
x*y + sin(x) at x = 0.5, y = 4 (float32 numbers both, so the inputs cost nothing): the value's
bound is u (|x*y| + 4 |sin x| + |x*y + sin x|) = u (2 + 1.918 + 2.479) = 3.8e-7, allowed
2 * 3.8e-7 + 2 ULPs = 1.24e-6 (5.2 ULPs of 2.479); the gradient d/dx = 1*y + 1*cos(x) walks
cos (4u * 0.878), the two products of the VJPs (u * 4, u * 0.878) and their sum (u * 4.878):
bound u * 13.3 = 7.9e-7, allowed 2.5e-6 (5.3 ULPs of 4.878). torch's float32 value and
gradient are 0 ULPs from the exact answers rounded to float32. Where the model cannot be
evaluated (refad fails on the case, a bound is not finite: a singular point, an overflow, or
the quantity has more than `MAX_ELEMENTS` elements, each costing a backward pass) the row
falls back to the flat float32 rule, rtol 1e-4 and atol 1e-6, and its detail says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from refad.functional import jacobian_rows
from refad.optable import OPS, REDUCTION, op

U32 = 2.0 ** -24                            # float32's unit roundoff: eps32 / 2
TINY32 = float(np.finfo(np.float32).tiny)   # smallest normal float32, the underflow error
# The same analysis for float64 (inputs are exact there): it widens a float64 row only where
# rounding alone can exceed the flat rtol/atol, such as terms of 1e4 cancelling to an exact 0
# (found by `refad fuzz`: a second derivative 7e-12 from a reference of exactly 0).
U64 = 2.0 ** -53
TINY64 = float(np.finfo(np.float64).tiny)
UNITS = {"float32": (U32, TINY32), "float64": (U64, TINY64)}
# Calibrated on the catalogue (refad, torch and jax in float32, README "How float32 is
# judged"): the largest error/bound ratio measured is 1.0, where the input's rounding, which
# the model computes exactly, dominates; every other case stays below 0.86; the median of
# the errors that are not 0 is 0.1. Twice the largest leaves correct code a margin of 2
# and still catches an error of 10 ULPs on the seed's gradient (2 + 0.54030 for 2 + cos(1)).
SAFETY = 2.0
FLOOR_ULPS = 2.0

# Each primitive's rounding cost is a fact of its op-table entry (refad/optable.py): exact
# data movement 0, correctly rounded 1 u, libm 4 u (2 ULPs), or REDUCTION for sums and
# products of n terms. A primitive without an entry is an error naming it, never a default.
# One backward pass per element: a quantity with more elements (a big parameter vector's
# gradient, its Hessian blocks) falls back to the flat rule rather than cost minutes.
MAX_ELEMENTS = 1024


@dataclass
class Bounds:
    """The first-order error bound of each quantity of a case (or why there is none)."""

    values: dict[str, np.ndarray] = field(default_factory=dict)       # float32
    values64: dict[str, np.ndarray] = field(default_factory=dict)     # float64
    reason: str = ""                        # why the whole case has no bounds
    reasons: dict[str, str] = field(default_factory=dict)     # why one quantity has none

    def why_not(self, quantity: str) -> str:
        """Why `quantity` has no bound (the detail of a row judged by the flat rule)."""
        return self.reason or self.reasons.get(quantity, "no bound for this quantity")

    def get(self, quantity: str, dtype: str) -> np.ndarray | None:
        """The bound of `quantity` in `dtype`, or None."""
        return (self.values if dtype == "float32" else self.values64).get(quantity)

    def put(self, quantity: str, pair: tuple[np.ndarray, np.ndarray]) -> None:
        self.values[quantity], self.values64[quantity] = pair


def _costs_by_value() -> dict[str, list[str]]:
    """The op table's costs, grouped for the report's metadata: {"0": [...], "1": [...]}."""
    groups: dict[str, list[str]] = {}
    for name, entry in OPS.items():
        key = entry.cost if entry.cost == REDUCTION else f"{entry.cost:g}"
        groups.setdefault(key, []).append(name)
    return groups


def describe() -> dict[str, Any]:
    """The model in a few fields, for the report's metadata."""
    return {"model": "first-order rounding-error bound by reverse mode over refad's float64 "
                     "graph: sum over nodes of cost * u * |dq/dv| * |v| (reductions: "
                     "(n-1) u * sum|terms|; inputs: |dq/dx| * |x - float32(x)|); allowed = "
                     "safety * bound + floor_ulps ULPs of the reference; flat rtol/atol "
                     "where the model cannot be evaluated",
            "unit_roundoff": U32, "safety": SAFETY, "floor_ulps": FLOOR_ULPS,
            "max_elements": MAX_ELEMENTS,
            "costs_in_u": _costs_by_value()}


def allowed_error(bound: np.ndarray, reference: np.ndarray,
                  dtype: str = "float32") -> np.ndarray:
    """The absolute error allowed per element: SAFETY * bound + FLOOR_ULPS ULPs of `dtype`."""
    with np.errstate(all="ignore"):
        rounded = np.abs(np.asarray(reference, dtype=np.float64)).astype(dtype)
        ulp = np.spacing(rounded).astype(np.float64)
        ulp = np.where(np.isfinite(ulp), ulp, 0.0)      # an infinite reference: no ULP
    return SAFETY * np.asarray(bound, dtype=np.float64) + FLOOR_ULPS * ulp


_CACHE: dict[tuple[int, int], tuple[Any, Bounds]] = {}
_CACHE_SIZE = 64


def bounds_for(case: Any, order: int) -> Bounds:
    """`case_bounds(case, order)`, kept for the last cases seen, so that comparing a case
    again (assert_parity, the explorer, a second compare() call) costs nothing."""
    key = (id(case), order)
    cached = _CACHE.get(key)
    if cached is not None and cached[0] is case:
        return cached[1]
    bounds = case_bounds(case, order)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = (case, bounds)
    return bounds


def case_bounds(case: Any, order: int) -> Bounds:
    """The bound of every quantity of `case` (value, d/dx, d2/dxdy) up to `order`.

    Runs the case through refad in float64 as its backend does, but records every backward
    pass (create_graph) so that gradients and Hessian entries are graphs to walk too.
    """
    from refad.adapters.base import hessian_pairs
    from refad.adapters.refad_backend import run_case

    import refad
    try:
        with np.errstate(all="ignore"):
            # Constants require grad here (never in the backends) so that their rounding
            # to float32 is counted like an input's.
            out, inputs = run_case(case, constants_require_grad=True)
            bounds = Bounds()
            bounds.put("value", element_bounds(out))
            if order < 1:
                return _checked(bounds)
            names = case.differentiated
            wrt = [inputs[name] for name in names]
            wanted = [_affordable(bounds, f"d/d{name}", x.size)
                      for name, x in zip(names, wrt, strict=True)]
            pairs = hessian_pairs(names) if order >= 2 else []
            size = {name: x.size for name, x in zip(names, wrt, strict=True)}
            wanted_pairs = [(a, b) for a, b in pairs
                            if _affordable(bounds, f"d2/d{a}d{b}", size[a] * size[b])]
            # The recorded gradient is a graph several times the size of the inputs: build
            # it only when some bound will walk it (not for a 10^7-element input).
            grads = [None] * len(wrt)
            if out.requires_grad and (any(wanted) or wanted_pairs):
                # The seed requires grad too, so that the backward's steps that depend on it
                # alone are nodes, and their rounding is charged: mean's g/n is 1/3 in a
                # mean of three, inexact in float32 (fuzz-s22-1418).
                seed = refad.tensor(1.0, requires_grad=True)
                grads = list(refad.autograd.grad(out, wrt, grad_outputs=seed,
                                                 create_graph=True, allow_unused=True))
            for name, g, x, want in zip(names, grads, wrt, wanted, strict=True):
                if want:
                    bounds.put(f"d/d{name}", element_bounds(g, x.shape))
            position = {name: i for i, name in enumerate(names)}
            for a, b in wanted_pairs:
                x_a, x_b = wrt[position[a]], wrt[position[b]]
                bounds.put(f"d2/d{a}d{b}", _hessian_bounds(grads[position[a]], x_a, x_b))
    except Exception as error:  # noqa: BLE001 -- the row falls back to the flat rule
        return Bounds(reason=f"refad could not evaluate the case ({type(error).__name__}: "
                             f"{error})")
    return _checked(bounds)


def _affordable(bounds: Bounds, quantity: str, elements: int) -> bool:
    """Whether `quantity` is small enough for one backward pass per element (else say so)."""
    if elements <= MAX_ELEMENTS:
        return True
    bounds.reasons[quantity] = (f"{elements} elements, more than the model's {MAX_ELEMENTS} "
                                f"backward passes")
    return False


def _checked(bounds: Bounds) -> Bounds:
    """A bound that is not finite cannot judge anything: drop it and say why (the
    quantity falls back to the flat rule; the others keep theirs)."""
    for values in (bounds.values, bounds.values64):
        for quantity, value in list(values.items()):
            if not np.isfinite(value).all():
                del values[quantity]
                bounds.reasons[quantity] = "its first-order bound is not finite"
    return bounds


def _hessian_bounds(g: Any, x_a: Any, x_b: Any) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of d g / d x_b, element by element: one second backward pass per row, its seed
    requiring grad as the first pass's does."""
    shape = x_a.shape if g is None else g.shape
    if g is None or not g.requires_grad:
        zeros = np.zeros(shape + x_b.shape)
        return zeros, zeros.copy()
    rows32, rows64 = [], []
    for (row,) in jacobian_rows(g, [x_b], nested=True, seed_requires_grad=True):
        row32, row64 = element_bounds(row, x_b.shape)
        rows32.append(row32)
        rows64.append(row64)
    return np.reshape(rows32, shape + x_b.shape), np.reshape(rows64, shape + x_b.shape)


def element_bounds(q: Any, shape: tuple[int, ...] | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The first-order bounds (float32, float64) of each element of the tensor `q` (zeros for
    a constant)."""
    from refad.backward import topological_order
    from refad.tensor import Tensor
    if q is None or type(q) is not Tensor or not q.requires_grad:
        zeros = np.zeros(shape if q is None or type(q) is not Tensor else q.shape)
        return zeros, zeros.copy()
    order = topological_order([q])          # the same graph for every element
    bounds = np.zeros(q.shape)
    bounds64 = np.zeros(q.shape)
    for k in range(bounds.size):
        if q.shape == ():
            seed: Any = 1.0 if type(q.data) is float else np.ones((), dtype=q.data.dtype)
        else:
            seed = np.zeros(q.shape)
            seed.flat[k] = 1.0
        bounds.flat[k], bounds64.flat[k] = first_order_bound(q, seed, order)
    return bounds, bounds64


def first_order_bound(q: Any, seed: Any, order: list | None = None) -> tuple[float, float]:
    """sum_n cost_n u |d(seed . q)/dv_n| |v_n| over every node of q's graph (module doc), in
    float32 (inputs rounded too) and in float64 (inputs exact): one backward pass for both.

    `order`: q's graph in topological order, when the caller has it already.
    """
    from refad.backward import run_backward, topological_order
    order = topological_order([q]) if order is None else order
    totals = [0.0, 0.0]

    def add(node: Any, adjoint: Any) -> None:
        # Called as each node's adjoint is complete, which is then dropped: on a large
        # input one adjoint array is alive at a time, not one per node.
        adjoint = np.abs(np.asarray(adjoint, dtype=np.float64))
        totals[0] += node_error(node, adjoint, "float32")
        totals[1] += node_error(node, adjoint, "float64")

    run_backward([q], [seed], targets={id(node) for node in order}, on_target=add)
    return totals[0], totals[1]


def node_error(node: Any, adjoint: np.ndarray, dtype: str = "float32") -> float:
    """The error node `node` can add to q in `dtype`, given |dq/d node| (`adjoint`)."""
    unit, tiny = UNITS[dtype]
    value = np.asarray(node.data, dtype=np.float64)
    if node.prim is None:                   # an input, rounded once to float32
        if dtype == "float64":
            return 0.0                      # the inputs are float64 numbers
        error = value.astype(np.float32).astype(np.float64)
        np.subtract(value, error, out=error)
        return _weighted(adjoint, np.abs(error, out=error))
    name = node.prim.name
    underflow = float(np.sum(adjoint)) * tiny
    cost = op(name).cost                    # KeyError naming an op without an entry
    if cost == REDUCTION:
        return _weighted(adjoint, _reduction_error(node)) * unit + underflow
    if cost == 0.0:
        return 0.0
    # cost * u first: |v| may be near float64's maximum (exp(709)), where 4 |v| overflows.
    return _weighted(adjoint, np.abs(value)) * (cost * unit) + underflow


def _weighted(adjoint: np.ndarray, error: np.ndarray) -> float:
    """sum |dq/dv| * error over the elements that can move q: an element with a zero adjoint
    (the branch `where` did not pick) or no error (an exact input) adds nothing, even where
    the other factor is NaN (the where-NaN trap's adjoint) or inf.

    `error` is the caller's fresh array (shaped like the node, as its adjoint is) and is
    overwritten: on a 10^7-element input each temporary is another 76 MB.
    """
    error = np.asarray(error, dtype=np.float64)     # a 0-d result of np.abs is a scalar
    with np.errstate(all="ignore"):
        nothing = (adjoint == 0) | (error == 0)
        np.multiply(error, adjoint, out=error)
        error[nothing] = 0.0
        return float(np.sum(error))


def _reduction_error(node: Any) -> np.ndarray:
    """Per output element, in units of u: (n - 1) sum|terms| for a sum of n terms (+ |mean|
    for mean)."""
    values = [_data(arg) for arg in node.inputs]
    if node.prim.name == "matmul":
        x, y = values
        n = x.shape[-1] if x.ndim else 1
        # n products each rounded (u) and n - 1 additions: at most n u sum_k |x_ik y_kj|.
        return n * np.abs(np.matmul(np.abs(x), np.abs(y)))
    params = dict(node.params)
    terms = np.sum(np.abs(values[0]), axis=params.get("axis"),
                   keepdims=params.get("keepdims", False))
    n = max(values[0].size // max(np.size(node.data), 1), 1)
    error = (n - 1) * terms
    if node.prim.name == "mean":
        error = error / n + np.abs(np.asarray(node.data, dtype=np.float64))
    return error


def _data(value: Any) -> np.ndarray:
    from refad.tensor import Tensor
    data = value.data if type(value) is Tensor else value
    return np.asarray(data, dtype=np.float64)


def as_rtol_atol(bound: float, tol: float, reference: float) -> dict[str, float]:
    """A row's fields for the model: its bound, and the allowance `tol` as rtol/atol (relative
    where the reference is not 0), so that |error| <= atol + rtol |reference| still reads true."""
    if math.isfinite(reference) and reference != 0:
        return {"bound": bound, "rtol": tol / abs(reference), "atol": 0.0}
    return {"bound": bound, "rtol": 0.0, "atol": tol}
