"""The ops vocabulary as public functions: `refad.sin(x)` like `torch.sin(x)`.

Each accepts tensors, numpy arrays and Python numbers alike and always returns a tensor;
it is the registry's primitive with its first argument made a tensor when no argument is
one. The docstring of each comes from its registry entry.
"""

from __future__ import annotations

from collections.abc import Callable

from . import primitives as P
from .registry import Primitive, apply
from .tensor import Tensor, as_tensor
from .vocabulary import FUNCTIONS


def _public(prim: Primitive) -> Callable:
    def function(*args, **params):
        if type(args[0]) is not Tensor:
            if not any(type(arg) is Tensor for arg in args[1:]):
                args = (as_tensor(args[0]),) + args[1:]
        return apply(prim, args, params)

    function.__name__ = function.__qualname__ = prim.name
    local = ", ".join(prim.local) if prim.vjps else "not differentiable"
    function.__doc__ = f"refad's `{prim.name}`; local derivative per input: {local}."
    if prim.note:
        function.__doc__ += f" Convention: {prim.note}."
    return function


sin = _public(P.sin)
cos = _public(P.cos)
tan = _public(P.tan)
tanh = _public(P.tanh)
exp = _public(P.exp)
log = _public(P.log)
sqrt = _public(P.sqrt)
abs = _public(P.abs)
relu = _public(P.relu)
sigmoid = _public(P.sigmoid)
square = _public(P.square)
log1p = _public(P.log1p)
expm1 = _public(P.expm1)
pow = _public(P.pow)
atan2 = _public(P.atan2)
maximum = _public(P.maximum)
minimum = _public(P.minimum)
where = _public(P.where)
matmul = _public(P.matmul)
sign = _public(P.sign)
_sum = _public(P.sum)
_mean = _public(P.mean)


def sum(x, axis=None, keepdims: bool = False) -> Tensor:
    """Sum over `axis` (all axes when None); the gradient is 1 for every element."""
    return _sum(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims: bool = False) -> Tensor:
    """Mean over `axis` (all axes when None); the gradient is 1/n for every element."""
    return _mean(x, axis=axis, keepdims=keepdims)


def reshape(x, shape) -> Tensor:
    """`x` with a new shape of the same size."""
    return as_tensor(x).reshape(shape)


def transpose(x, axes=None) -> Tensor:
    """`x` with its axes permuted (reversed when `axes` is None)."""
    return P.transpose(as_tensor(x), axes=None if axes is None else tuple(axes))


def _check_vocabulary() -> None:
    missing = [name for name in FUNCTIONS if name != "grad" and name not in globals()]
    if missing:
        raise ImportError(f"vocabulary functions without a refad implementation: {missing}")


_check_vocabulary()
