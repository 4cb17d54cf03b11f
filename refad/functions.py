"""The ops vocabulary as public functions: `refad.sin(x)` like `torch.sin(x)`.

One function per op of the table that has a vocabulary name or a method, generated from the
table: each accepts tensors, numpy arrays and Python numbers alike and returns a tensor (its
first argument made a tensor when no argument is one). Reductions take PyTorch's `dim` and
`keepdim` as well as numpy's `axis` and `keepdims`. This module is also refad's ops namespace:
`case.fn(refad.functions, **inputs)` runs a case on refad.
"""

from __future__ import annotations

from collections.abc import Callable

from . import primitives as P
from .functional import grad as _functional_grad
from .node import _NO_PARAMS, Tensor, as_tensor
from .optable import OPS
from .registry import REGISTRY, Primitive, apply
from .tensor import reduction_axes


def _tensor_arguments(args: tuple) -> tuple:
    """`args` with the first made a tensor when none is one (so the result is a tensor)."""
    for arg in args:
        if type(arg) is Tensor:
            return args
    return (as_tensor(args[0]),) + args[1:]


def _elementwise(prim: Primitive) -> Callable:
    def function(*args):
        if type(args[0]) is not Tensor:         # the common case needs no look further
            args = _tensor_arguments(args)
        return apply(prim, args, _NO_PARAMS)
    return function


def _reduction(prim: Primitive) -> Callable:
    def function(x, axis=None, keepdims=None, *, dim=None, keepdim=None):
        axis, keepdims = reduction_axes(dim, keepdim, axis, keepdims)
        return apply(prim, (as_tensor(x),), {"axis": axis, "keepdims": keepdims})
    return function


def _public(name: str) -> Callable:
    """The public function of the op `name`, with a docstring from its registry entry."""
    prim = REGISTRY[name]
    if "axis" in OPS[name].keywords:
        function = _reduction(prim)
    else:
        function = _elementwise(prim)
    function.__name__ = function.__qualname__ = name
    local = ", ".join(prim.local) if prim.vjps else "not differentiable"
    function.__doc__ = f"refad's `{name}`; local derivative per input: {local}."
    if prim.note:
        function.__doc__ += f" Convention: {prim.note}."
    return function


PUBLIC = tuple(name for name, entry in OPS.items()
               if entry.in_vocabulary or entry.method is not None)
globals().update({name: _public(name) for name in PUBLIC})


def reshape(x, shape) -> Tensor:
    """`x` with a new shape of the same size."""
    return P.reshape(as_tensor(x), shape=tuple(shape))


def transpose(x, axes=None) -> Tensor:
    """`x` with its axes permuted (reversed when `axes` is None)."""
    return P.transpose(as_tensor(x), axes=None if axes is None else tuple(axes))


def grad(f: Callable) -> Callable:
    """The vocabulary's `grad`: `grad(f)(v)` is d f / d v, itself differentiable (JAX's)."""
    return _functional_grad(f)


__all__ = [*PUBLIC, "grad", "reshape", "transpose"]
