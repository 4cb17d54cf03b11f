"""Array workloads, one builder per engine: W3 vectorised and W4 (a tanh MLP's gradient).

As in scalar.py, a builder prepares the data in the engine's own array type (parameters
persist across steps, as in training) and returns the function that is timed. "numpy by
hand" writes the forward and the backward pass out in numpy: the floor for an engine that
runs on numpy.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

Run = Callable[[], Any]
MLP_SHAPES = ((2, 64), (64,), (64, 64), (64,), (64, 1), (1,))


def vector_data(n: int) -> tuple[np.ndarray, np.ndarray]:
    """W3's vectorised inputs: x and y, n float64 values each in [-1, 1)."""
    rng = np.random.default_rng(4)
    return rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)


def mlp_data(batch: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """W4's parameters (2-64-64-1), a batch of inputs (batch, 2) and targets (batch, 1)."""
    rng = np.random.default_rng(0)
    params = [rng.normal(0, 0.5, shape) for shape in MLP_SHAPES]
    return params, rng.normal(size=(batch, 2)), rng.normal(size=(batch, 1))


def mlp_loss(tanh, mean, params, x, y):
    """W4: mean squared error of a 2-64-64-1 tanh MLP, in any engine's arrays."""
    w1, b1, w2, b2, w3, b3 = params
    h = tanh(x @ w1 + b1)
    h = tanh(h @ w2 + b2)
    e = h @ w3 + b3 - y
    return mean(e * e)


# -- W3 vectorised: sum(x*y + sin(x)) over arrays of N ------------------------------------
def vector_refad(n: int) -> Run:
    import refad

    x, y = (refad.tensor(a, requires_grad=True) for a in vector_data(n))

    def run():
        total = refad.sum(x * y + refad.sin(x))
        return (total, *refad.autograd.grad(total, [x, y]))
    return run


def vector_torch(n: int) -> Run:
    import torch

    x, y = (torch.from_numpy(a).requires_grad_() for a in vector_data(n))

    def run():
        total = torch.sum(x * y + torch.sin(x))
        return (total.detach(), *torch.autograd.grad(total, [x, y]))
    return run


def _jax(loss, argnums, jit: bool, *args) -> Run:
    import jax

    derivative = jax.value_and_grad(loss, argnums=argnums)
    if jit:
        derivative = jax.jit(derivative)
    args = jax.device_put(args)                 # arrays live on the device, as in training
    return lambda: jax.block_until_ready(derivative(*args))


def vector_jax(n: int, jit: bool = False) -> Run:
    import jax.numpy as jnp

    return _jax(lambda x, y: jnp.sum(x * y + jnp.sin(x)), (0, 1), jit, *vector_data(n))


def vector_autograd(n: int) -> Run:
    import autograd
    import autograd.numpy as anp

    xy = vector_data(n)
    derivative = autograd.value_and_grad(lambda p: anp.sum(p[0] * p[1] + anp.sin(p[0])))
    return lambda: derivative(xy)


def vector_numpy(n: int) -> Run:
    x, y = vector_data(n)

    def run():
        total = np.sum(x * y + np.sin(x))
        return total, y + np.cos(x), x          # d/dx = y + cos(x); d/dy = x
    return run


# -- W4: one gradient of a tanh MLP's loss with respect to its six parameters --------------
def mlp_refad(batch: int) -> Run:
    import refad

    params, x, y = mlp_data(batch)
    leaves = [refad.tensor(p, requires_grad=True) for p in params]
    x, y = refad.tensor(x), refad.tensor(y)

    def run():
        loss = mlp_loss(refad.tanh, refad.mean, leaves, x, y)
        return loss, refad.autograd.grad(loss, leaves)
    return run


def mlp_torch(batch: int) -> Run:
    import torch

    params, x, y = mlp_data(batch)
    leaves = [torch.tensor(p, requires_grad=True) for p in params]
    x, y = torch.from_numpy(x), torch.from_numpy(y)

    def run():
        loss = mlp_loss(torch.tanh, torch.mean, leaves, x, y)
        return loss.detach(), torch.autograd.grad(loss, leaves)
    return run


def mlp_jax(batch: int, jit: bool = False) -> Run:
    import jax.numpy as jnp

    params, x, y = mlp_data(batch)
    loss = partial(mlp_loss, jnp.tanh, jnp.mean)
    return _jax(loss, 0, jit, params, x, y)     # the gradient of the parameters only


def mlp_autograd(batch: int) -> Run:
    import autograd
    import autograd.numpy as anp

    params, x, y = mlp_data(batch)
    derivative = autograd.value_and_grad(lambda ps: mlp_loss(anp.tanh, anp.mean, ps, x, y))
    return lambda: derivative(params)


def mlp_numpy(batch: int) -> Run:
    """The MLP's forward and backward pass written out, the chain rule done by hand."""
    (w1, b1, w2, b2, w3, b3), x, y = mlp_data(batch)

    def run():
        h1 = np.tanh(x @ w1 + b1)
        h2 = np.tanh(h1 @ w2 + b2)
        e = h2 @ w3 + b3 - y
        loss = np.mean(e * e)
        g_out = e * (2.0 / e.size)              # d loss / d output
        g_a2 = (g_out @ w3.T) * (1.0 - h2 * h2)  # back through the second tanh
        g_a1 = (g_a2 @ w2.T) * (1.0 - h1 * h1)
        grads = (x.T @ g_a1, g_a1.sum(axis=0), h1.T @ g_a2, g_a2.sum(axis=0),
                 h2.T @ g_out, g_out.sum(axis=0))
        return loss, grads
    return run
