"""The `refad` backend: the in-house engine, PyTorch style (tensors, autograd.grad)."""

from __future__ import annotations

import numpy as np

import refad
from refad.functional import jacobian_rows

from .base import Backend, Result, as_numpy, hessian_pairs


class RefadBackend(Backend):
    name = "refad"
    description = "refad's own reverse mode (autograd.grad, create_graph for order 2)"

    def versions(self) -> dict[str, str]:
        return {"refad": refad.__version__, "numpy": np.__version__}

    def _evaluate(self, case, dtype: str, order: int) -> Result:
        inputs = {name: refad.tensor(value, requires_grad=True, dtype=dtype, name=name)
                  for name, value in case.inputs.items()}
        constants = {name: refad.tensor(value, dtype=dtype)
                     for name, value in case.constants.items()}
        out = refad.as_tensor(case.fn(refad, **inputs, **constants))
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
