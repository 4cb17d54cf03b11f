"""The JAX-style front door: `grad`, `value_and_grad`, `jacobian`, `hessian`.

They are thin: each wraps the chosen arguments as fresh tensors, runs the function, and asks
`autograd.grad` for the derivative. Nesting (`grad(grad(f))`) works because an inner call
made while an outer one is running uses `create_graph=True`, so its result is itself a graph
the outer call can differentiate. An inner call differentiates with respect to a fresh node
(`identity(x)`), not `x` itself, so a closure that uses the outer `x` is held fixed, as in JAX.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import autograd
from .node import Tensor, _wrap, as_tensor, tensor
from .primitives import identity, reshape
from .registry import zeros_like


class _Nesting:
    depth = 0


def _fresh(value: Any) -> Tensor:
    """A tensor to differentiate with respect to, connected to `value`'s graph if any."""
    if isinstance(value, Tensor) and value.requires_grad:
        return identity(value)
    if isinstance(value, Tensor):
        return tensor(value.data, requires_grad=True, name=value.name)
    return tensor(value, requires_grad=True)


def _argnums(argnums: int | Sequence[int], count: int) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for n in nums:
        if not -count <= n < count:
            raise ValueError(f"argnums {argnums!r}: the function got {count} arguments")
    return tuple(n % count for n in nums)


def _call(fun: Callable, args: tuple, argnums: int | Sequence[int]):
    """Run `fun` with fresh tensors at `argnums`; return (output, those tensors, nested)."""
    nums = _argnums(argnums, len(args))
    nested = _Nesting.depth > 0 or any(
        isinstance(args[n], Tensor) and args[n].requires_grad for n in nums)
    wrapped = list(args)
    for n in nums:
        wrapped[n] = _fresh(args[n])
    _Nesting.depth += 1
    try:
        out = fun(*wrapped)
    finally:
        _Nesting.depth -= 1
    return out, [wrapped[n] for n in nums], nested


def _derivatives(out: Any, wrt: list[Tensor], nested: bool, weight: Any = None) -> list:
    """d(out)/d(each of wrt), zeros where out does not depend on it."""
    if not isinstance(out, Tensor) or not out.requires_grad:
        return [_wrap(zeros_like(w)) for w in wrt]
    grads = autograd.grad(out, wrt, grad_outputs=weight, create_graph=nested,
                          allow_unused=True)
    return [_wrap(zeros_like(w)) if g is None else g for g, w in zip(grads, wrt, strict=True)]


def _check_scalar(out: Any, name: str) -> None:
    shape = out.shape if isinstance(out, Tensor) else np.shape(out)
    if shape != ():
        raise ValueError(f"{name} needs a function with a scalar output; it returned shape "
                         f"{tuple(shape)} (use jacobian for vector outputs)")


def value_and_grad(fun: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """Return a function computing `(fun(*args), d fun / d args[argnums])`.

    `argnums` an int gives one gradient; a tuple gives a tuple of gradients.
    """
    def value_and_grad_fun(*args):
        out, wrt, nested = _call(fun, args, argnums)
        _check_scalar(out, "grad")
        grads = _derivatives(out, wrt, nested)
        value = as_tensor(out) if nested else as_tensor(out).detach()
        return value, grads[0] if isinstance(argnums, int) else tuple(grads)
    return value_and_grad_fun


def grad(fun: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """Return a function computing d fun / d args[argnums] (`fun` returns a scalar)."""
    both = value_and_grad(fun, argnums)

    def grad_fun(*args):
        return both(*args)[1]
    return grad_fun


def jacobian_rows(out: Tensor, wrt: list[Tensor], nested: bool = False,
                  seed_requires_grad: bool = False) -> list[list]:
    """Row k of each Jacobian, d out[k] / d wrt, by one backward pass per element of `out`.

    The one way refad takes a Jacobian or a Hessian by rows (`jacobian`, the refad backend's
    Hessian blocks, the rounding-error model's Hessian bounds).

    Args:
        out: the tensor whose elements are differentiated.
        wrt: the tensors to differentiate with respect to.
        nested: record the passes (create_graph), so the rows can be differentiated again.
        seed_requires_grad: make each one-hot seed a tensor that requires grad, so that the
            backward's steps that depend on the seed alone are recorded as nodes too.

    Returns:
        for each element k of `out`, a list with one gradient tensor per `wrt` (zeros where
        `out` does not depend on it).
    """
    rows = []
    for k in range(out.size):
        weight = np.zeros(out.size, dtype=out.dtype)
        weight[k] = 1.0
        seed = tensor(weight.reshape(out.shape), requires_grad=seed_requires_grad)
        rows.append(_derivatives(out, wrt, nested or seed_requires_grad, seed))
    return rows


def _stack(rows: list, out_shape: tuple, in_shape: tuple, nested: bool) -> Tensor:
    """Stack the rows into a (out_shape + in_shape) tensor, differentiably when nested."""
    if not nested:
        data = np.stack([np.asarray(r.data) for r in rows]).reshape(out_shape + in_shape)
        return _wrap(data if data.ndim else float(data))
    size = len(rows)
    total = None
    for k, row in enumerate(rows):          # sum_k e_k (outer) row_k, built from primitives
        basis = np.zeros((size,) + (1,) * len(in_shape), dtype=row.dtype)
        basis[k] = 1.0
        term = basis * reshape(row, shape=(1,) + in_shape)
        total = term if total is None else total + term
    return reshape(total, shape=out_shape + in_shape)


def jacobian(fun: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """Return a function computing d fun / d args[argnums], shaped out.shape + arg.shape.

    If `fun` returns a tuple, the result is a tuple over its outputs (as in JAX); a tuple
    `argnums` makes each entry a tuple over the arguments.
    """
    def jacobian_fun(*args):
        out, wrt, nested = _call(fun, args, argnums)
        outs = out if isinstance(out, tuple) else (out,)
        table = []
        for o in outs:
            o = o if isinstance(o, Tensor) else _wrap(np.asarray(o, dtype=float))
            rows = jacobian_rows(o, wrt, nested)
            table.append(tuple(_stack([r[j] for r in rows], o.shape, w.shape, nested)
                               for j, w in enumerate(wrt)))
        table = [t[0] if isinstance(argnums, int) else t for t in table]
        return tuple(table) if isinstance(out, tuple) else table[0]
    return jacobian_fun


def hessian(fun: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """Return a function computing the matrix of second derivatives of a scalar `fun`."""
    return jacobian(grad(fun, argnums), argnums)
