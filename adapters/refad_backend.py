"""The `refad` backend: the in-house engine, PyTorch style (tensors, autograd.grad)."""

from __future__ import annotations

import numpy as np

import refad
from refad.functional import jacobian_rows

from .base import Backend, Result, as_numpy, hessian_pairs


def run_case(case, dtype: str = "float64", *, requires_grad: bool = True,
             constants_require_grad: bool = False, values: dict | None = None):
    """The one way a case runs through refad: (output tensor, input tensors by name).

    Args:
        case: a Case (`fn`, `inputs`, `constants`).
        dtype: "float64" or "float32".
        requires_grad: whether the inputs are leaves that require grad.
        constants_require_grad: whether the constants do too (the rounding-error model
            counts their rounding like an input's).
        values: input values to use instead of the case's (a finite difference's point).
    """
    values = case.inputs if values is None else values
    inputs = {name: refad.tensor(value, requires_grad=requires_grad, dtype=dtype, name=name)
              for name, value in values.items()}
    constants = {name: refad.tensor(value, requires_grad=constants_require_grad, dtype=dtype,
                                    name=name)
                 for name, value in getattr(case, "constants", {}).items()}
    out = refad.as_tensor(case.fn(refad, **inputs, **constants))
    return out, inputs


class RefadBackend(Backend):
    name = "refad"
    description = "refad's own reverse mode (autograd.grad, create_graph for order 2)"

    def versions(self) -> dict[str, str]:
        return {"refad": refad.__version__, "numpy": np.__version__}

    def _evaluate(self, case, dtype: str, order: int) -> Result:
        out, inputs = run_case(case, dtype)
        result = Result(self.name, case.name, dtype, order, value=as_numpy(out.data, dtype))
        if order < 1:
            return result
        names = case.differentiated
        wrt = [inputs[name] for name in names]
        grads = _grad(out, wrt, create_graph=order >= 2)
        for name, g, x in zip(names, grads, wrt, strict=True):
            result.grad[name] = as_numpy(_data(g, x), dtype)
        if order >= 2:
            position = {name: i for i, name in enumerate(names)}
            for a, b in hessian_pairs(names):
                result.hessian[(a, b)] = _hessian_block(grads[position[a]], wrt[position[b]],
                                                        dtype)
        return result


def _grad(out, wrt, create_graph):
    if not out.requires_grad:           # the value does not depend on any input
        return [None] * len(wrt)
    return list(refad.autograd.grad(out, wrt, create_graph=create_graph, allow_unused=True))


def _data(g, like):
    return np.zeros(like.shape) if g is None else g.data


def _hessian_block(g, x, dtype):
    """d g / d x, one backward pass per element of g: shape g.shape + x.shape."""
    shape = x.shape if g is None else g.shape
    if g is None or not g.requires_grad:
        return as_numpy(np.zeros(shape + x.shape), dtype)
    rows = [np.asarray(row.data) for (row,) in jacobian_rows(g, [x])]
    return as_numpy(np.reshape(rows, shape + x.shape), dtype)
