"""The tensor's operators and methods, attached to `Tensor` once the primitives exist.

`Tensor` itself (refad/node.py) is only the node: storage and its record in the graph. What a
user calls on it comes here, after the primitives, the op table and the backward pass, so
that no engine module has to import one that imports it back (HIPS autograd keeps its `Box`
apart from the operators the same way):
- the Python operators (`+`, `*`, `**`, `@`, `<`, ...), each one primitive of the registry;
- one method per op of the table under PyTorch's name (`x.sin()`, `x.pow(2)`,
  `x.sum(dim=0, keepdim=True)`), generated from the table, not written out by hand;
- the rest of PyTorch's tensor spelling: `backward`, `detach`, `double`, `float`, `zero_`,
  `reshape`, `T`, indexing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import primitives as P
from .autograd import backward as _backward
from .mode import enable_grad, is_grad_enabled, no_grad
from .node import _NO_PARAMS, Tensor, _plain_index, as_tensor, tensor
from .optable import OPS
from .registry import REGISTRY, Primitive, apply, zeros_like

__all__ = ["Tensor", "as_tensor", "enable_grad", "is_grad_enabled", "no_grad", "tensor",
           "reduction_axes"]


# -- the Python operators: each is one primitive ----------------------------------------------

def _binary(prim: Primitive, reflected: bool = False) -> Callable:
    """`self <op> other` (or `other <op> self` for the reflected form) as `prim`."""
    if reflected:
        def operator(self, other):
            return apply(prim, (other, self), _NO_PARAMS)
    else:
        def operator(self, other):
            return apply(prim, (self, other), _NO_PARAMS)
    return operator


_OPERATORS = {"add": P.add, "sub": P.sub, "mul": P.mul, "truediv": P.div, "pow": P.pow,
              "matmul": P.matmul}
for _name, _prim in _OPERATORS.items():
    setattr(Tensor, f"__{_name}__", _binary(_prim))
    setattr(Tensor, f"__r{_name}__", _binary(_prim, reflected=True))

_COMPARISONS = {"lt": P.less, "le": P.less_equal, "gt": P.greater, "ge": P.greater_equal,
                "eq": P.equal, "ne": P.not_equal, "and": P.logical_and}
for _name, _prim in _COMPARISONS.items():
    setattr(Tensor, f"__{_name}__", _binary(_prim))
Tensor.__rand__ = _binary(P.logical_and, reflected=True)


def _neg(self: Tensor) -> Tensor:
    return apply(P.neg, (self,), _NO_PARAMS)


def _pos(self: Tensor) -> Tensor:
    return self


Tensor.__neg__ = _neg
Tensor.__pos__ = _pos


# -- one method per op of the table, under PyTorch's name -------------------------------------

def reduction_axes(dim=None, keepdim=None, axis=None, keepdims=None) -> tuple[Any, bool]:
    """(axis, keepdims) from PyTorch's `dim`/`keepdim` or numpy's `axis`/`keepdims`.

    Either spelling works; giving both spellings of one argument is an error.
    """
    if dim is not None and axis is not None:
        raise TypeError(f"give dim or axis, not both (dim={dim!r}, axis={axis!r})")
    if keepdim is not None and keepdims is not None:
        raise TypeError(f"give keepdim or keepdims, not both ({keepdim!r}, {keepdims!r})")
    chosen = axis if dim is None else dim
    if isinstance(chosen, list):
        chosen = tuple(chosen)
    return chosen, bool(keepdim or keepdims)


def _elementwise_method(prim: Primitive) -> Callable:
    def method(self, *others):
        return apply(prim, (self, *others), _NO_PARAMS)
    return method


def _reduction_method(prim: Primitive) -> Callable:
    def method(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        axis, keepdims = reduction_axes(dim, keepdim, axis, keepdims)
        return apply(prim, (self,), {"axis": axis, "keepdims": keepdims})
    return method


def _attach_methods() -> None:
    """Give `Tensor` the method of every op of the table that has one."""
    for entry in OPS.values():
        if entry.method is None:
            continue
        prim = REGISTRY[entry.name]
        if "axis" in entry.keywords:
            method = _reduction_method(prim)
        else:
            method = _elementwise_method(prim)
        method.__name__ = method.__qualname__ = entry.method
        local = ", ".join(prim.local) if prim.vjps else "not differentiable"
        method.__doc__ = f"`{entry.name}` of this tensor; local derivative: {local}."
        setattr(Tensor, entry.method, method)


_attach_methods()


# -- the rest of PyTorch's tensor spelling ----------------------------------------------------

def _backward_method(self: Tensor, gradient: Any = None, create_graph: bool = False,
                     on_step=None) -> None:
    """Accumulate d(self)/d(leaf) into every leaf's `.grad` (added, as in PyTorch)."""
    _backward(self, gradient, create_graph=create_graph, on_step=on_step)


def _reshape(self: Tensor, *shape) -> Tensor:
    """This tensor with a new shape of the same size (`x.reshape(2, 3)` or `((2, 3))`)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return P.reshape(self, shape=tuple(shape))


def _transposed(self: Tensor) -> Tensor:
    return P.transpose(self)


def _getitem(self: Tensor, index) -> Tensor:
    return P.getitem(self, index=_plain_index(index))


def _cast(dtype: type) -> Callable:
    def cast(self: Tensor) -> Tensor:
        if self.dtype == dtype:
            return self                     # as in PyTorch: no copy when nothing changes
        return P.astype(self, dtype=np.dtype(dtype))
    cast.__doc__ = f"This tensor as {np.dtype(dtype)} (differentiable)."
    return cast


def _where(self: Tensor, condition: Any, other: Any) -> Tensor:
    """`where(condition, self, other)`, in PyTorch's argument order."""
    return apply(P.where, (condition, self, other), _NO_PARAMS)


def _zero_(self: Tensor) -> Tensor:
    """Set every element to 0, in place (`x.grad.zero_()` between two backward passes)."""
    self.data = zeros_like(self.data)
    return self


Tensor.backward = _backward_method
Tensor.reshape = _reshape
Tensor.T = property(_transposed)
Tensor.__getitem__ = _getitem
Tensor.double = _cast(np.float64)
Tensor.float = _cast(np.float32)
Tensor.zero_ = _zero_
Tensor.where = _where
