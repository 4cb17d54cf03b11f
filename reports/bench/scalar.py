"""Scalar workloads, one builder per engine: W1 (the seed), W2 (a deep chain), W3 scalar.

A builder takes the size and returns a function of no arguments that runs the workload once
(forward and backward) and returns the value and the gradient, in the engine's own types.
Everything that is not the workload (imports, data) is done by the builder, outside the
timed function. JAX results are waited for (`block_until_ready`): JAX dispatches
asynchronously, and a timing must include the work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .engines import PYTHON_DEFAULT_RECURSION_LIMIT, micrograd_value, recursion_limit

SEED_X, SEED_Y = 1.0, 2.0
CHAIN_START = 0.5
Run = Callable[[], Any]


def seed(sin, x, y):
    """W1: x*y + sin(x), the textbook's seed expression."""
    return x * y + sin(x)


def chain(sin, tanh, u, n: int):
    """W2: n alternating ops on u: sin, *1.0001, tanh, +1e-4 (n a multiple of 4)."""
    for _ in range(n // 4):
        u = sin(u)
        u = u * 1.0001
        u = tanh(u)
        u = u + 1e-4
    return u


def wide_sum(sin, xs, ys):
    """W3: the sum of x_i*y_i + sin(x_i), built term by term as a scalar graph."""
    total = seed(sin, xs[0], ys[0])
    for x, y in zip(xs[1:], ys[1:], strict=True):
        total = total + seed(sin, x, y)
    return total


def wide_data(n: int) -> tuple[list[float], list[float]]:
    """W3's inputs: n values of x and of y, uniform in [-1, 1), the same for every engine."""
    rng = np.random.default_rng(3)
    return rng.uniform(-1, 1, n).tolist(), rng.uniform(-1, 1, n).tolist()


# -- W1: the seed, value and gradient per call ---------------------------------------------
def seed_refad(size: int) -> Run:
    import refad

    def run():
        x = refad.tensor(SEED_X, requires_grad=True)
        y = refad.tensor(SEED_Y, requires_grad=True)
        z = seed(refad.sin, x, y)
        z.backward()
        return z.item(), x.grad.item(), y.grad.item()
    return run


def seed_micrograd(size: int) -> Run:
    Value = micrograd_value()

    def run():
        x, y = Value(SEED_X), Value(SEED_Y)
        z = seed(Value.sin, x, y)
        z.backward()
        return z.data, x.grad, y.grad
    return run


def seed_torch(size: int) -> Run:
    import torch

    def run():
        x = torch.tensor(SEED_X, dtype=torch.float64, requires_grad=True)
        y = torch.tensor(SEED_Y, dtype=torch.float64, requires_grad=True)
        z = seed(torch.sin, x, y)
        z.backward()
        return z.item(), x.grad.item(), y.grad.item()
    return run


def _jax(function, argnums, jit: bool, *args) -> Run:
    import jax

    derivative = jax.value_and_grad(function, argnums=argnums)
    if jit:
        derivative = jax.jit(derivative)

    def run():
        return jax.block_until_ready(derivative(*args))
    return run


def seed_jax(size: int, jit: bool = False) -> Run:
    import jax.numpy as jnp

    return _jax(lambda x, y: seed(jnp.sin, x, y), (0, 1), jit, SEED_X, SEED_Y)


def seed_autograd(size: int) -> Run:
    import autograd
    import autograd.numpy as anp

    derivative = autograd.value_and_grad(lambda xy: seed(anp.sin, xy[0], xy[1]))
    return lambda: derivative((SEED_X, SEED_Y))


# -- W2: a chain of N ops, time per node ---------------------------------------------------
def chain_refad(n: int) -> Run:
    import refad

    def run():
        x = refad.tensor(CHAIN_START, requires_grad=True)
        u = chain(refad.sin, refad.tanh, x, n)
        u.backward()
        return u.item(), x.grad.item()
    return run


def chain_micrograd(n: int, limit: int | None = None) -> Run:
    """micrograd's chain; `limit` None raises the recursion limit to the graph's depth."""
    Value = micrograd_value()
    limit = limit or n + 10_000                 # its topological sort recurses once per node

    def run():
        with recursion_limit(limit):
            x = Value(CHAIN_START)
            u = chain(Value.sin, Value.tanh, x, n)
            u.backward()
            return u.data, x.grad
    return run


def chain_micrograd_default(n: int) -> Run:
    return chain_micrograd(n, PYTHON_DEFAULT_RECURSION_LIMIT)


def chain_torch(n: int) -> Run:
    import torch

    def run():
        x = torch.tensor(CHAIN_START, dtype=torch.float64, requires_grad=True)
        u = chain(torch.sin, torch.tanh, x, n)
        u.backward()
        return u.item(), x.grad.item()
    return run


def chain_jax(n: int, jit: bool = False) -> Run:
    import jax.numpy as jnp

    return _jax(lambda x: chain(jnp.sin, jnp.tanh, x, n), 0, jit, CHAIN_START)


def chain_autograd(n: int) -> Run:
    import autograd
    import autograd.numpy as anp

    derivative = autograd.value_and_grad(lambda x: chain(anp.sin, anp.tanh, x, n))
    return lambda: derivative(CHAIN_START)


# -- W3 as a scalar graph: N terms, one node per operation ---------------------------------
def wide_refad(n: int) -> Run:
    import refad

    xs0, ys0 = wide_data(n)

    def run():
        xs = [refad.tensor(v, requires_grad=True) for v in xs0]
        ys = [refad.tensor(v, requires_grad=True) for v in ys0]
        total = wide_sum(refad.sin, xs, ys)
        total.backward()
        return total.item(), [x.grad for x in xs], [y.grad for y in ys]
    return run


def wide_micrograd(n: int) -> Run:
    Value = micrograd_value()
    xs0, ys0 = wide_data(n)

    def run():
        with recursion_limit(n + 10_000):       # the sum is a chain n deep
            xs = [Value(v) for v in xs0]
            ys = [Value(v) for v in ys0]
            total = wide_sum(Value.sin, xs, ys)
            total.backward()
            return total.data, [x.grad for x in xs], [y.grad for y in ys]
    return run


def wide_torch(n: int) -> Run:
    import torch

    xs0, ys0 = wide_data(n)

    def run():
        xs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in xs0]
        ys = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in ys0]
        total = wide_sum(torch.sin, xs, ys)
        total.backward()
        return total.item(), [x.grad for x in xs], [y.grad for y in ys]
    return run


def wide_jax(n: int, jit: bool = False) -> Run:
    import jax.numpy as jnp

    xs0, ys0 = wide_data(n)
    return _jax(lambda xs, ys: wide_sum(jnp.sin, xs, ys), (0, 1), jit, xs0, ys0)


def wide_autograd(n: int) -> Run:
    import autograd
    import autograd.numpy as anp

    xs0, ys0 = wide_data(n)
    derivative = autograd.value_and_grad(lambda xy: wide_sum(anp.sin, xy[0], xy[1]))
    return lambda: derivative((xs0, ys0))
