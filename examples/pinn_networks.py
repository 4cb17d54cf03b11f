"""The PINN problem, one gradient-descent step of it in refad, PyTorch and JAX, and counters.

The network u(t, x) = tanh(tanh(t Wt + x Wx + b1) W2 + b2) W3 + b3 takes t and x as
separate (N, 1) columns, so each row of u depends on its own point only: the derivative of
sum(u) with respect to t is then every row's own u_t. All three frameworks run the same
formula (`mlp`, written with `@`, `+` and the framework's tanh), from the same numpy
starting parameters; each takes its derivatives in its own natural way.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections import Counter

import numpy as np

C = 1.0                 # the wave speed in u_tt = c^2 u_xx


def init_params(width: int = 16, seed: int = 0) -> dict[str, np.ndarray]:
    """Glorot-normal weights, zero biases, for a 2 -> width -> width -> 1 tanh MLP."""
    rng = np.random.default_rng(seed)

    def weights(fan_in: int, fan_out: int) -> np.ndarray:
        return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=(fan_in, fan_out))

    return {"Wt": weights(2, width)[:1], "Wx": weights(2, width)[:1],
            "b1": np.zeros((1, width)), "W2": weights(width, width),
            "b2": np.zeros((1, width)), "W3": weights(width, 1), "b3": np.zeros((1, 1))}


def make_points(n_interior: int = 64, n_initial: int = 32, n_boundary: int = 32,
                seed: int = 1) -> dict[str, np.ndarray]:
    """Collocation points in [0, 1] x [0, 1], initial points (t = 0), boundary points.

    The target sin(pi x) is computed here, once, so that every framework fits the same
    numbers (their sin functions could differ in the last bit).
    """
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(0.0, 1.0, size=(n_initial, 1))
    half = n_boundary // 2
    return {"t": rng.uniform(0.0, 1.0, size=(n_interior, 1)),
            "x": rng.uniform(0.0, 1.0, size=(n_interior, 1)),
            "t0": np.zeros((n_initial, 1)), "x0": x0, "u0": np.sin(np.pi * x0),
            "tb": rng.uniform(0.0, 1.0, size=(n_boundary, 1)),
            "xb": np.vstack([np.zeros((half, 1)), np.ones((n_boundary - half, 1))])}


def mlp(tanh, p: dict, t, x):
    """u(t, x), one row per point, in whichever framework `tanh` and the arrays belong to."""
    h1 = tanh(t @ p["Wt"] + x @ p["Wx"] + p["b1"])
    h2 = tanh(h1 @ p["W2"] + p["b2"])
    return h2 @ p["W3"] + p["b3"]


def mean_square(e):
    return (e * e).mean()


def combine(residual, initial_value, initial_velocity, boundary):
    """The loss: mean r^2 + mean (u(0,x) - sin pi x)^2 + mean u_t(0,x)^2 + mean u(t,0|1)^2."""
    return (mean_square(residual) + mean_square(initial_value)
            + mean_square(initial_velocity) + mean_square(boundary))


# -- refad: refad.autograd.grad(create_graph=True), like PyTorch ------------------------------
def refad_loss(p: dict, pts: dict):
    """The loss as a refad graph; five nested `autograd.grad` calls record the derivatives."""
    import refad

    t = refad.tensor(pts["t"], requires_grad=True)
    x = refad.tensor(pts["x"], requires_grad=True)
    u = mlp(refad.tanh, p, t, x)
    (u_t,) = refad.autograd.grad(u.sum(), t, create_graph=True)
    (u_x,) = refad.autograd.grad(u.sum(), x, create_graph=True)
    (u_tt,) = refad.autograd.grad(u_t.sum(), t, create_graph=True)
    (u_xx,) = refad.autograd.grad(u_x.sum(), x, create_graph=True)
    t0 = refad.tensor(pts["t0"], requires_grad=True)
    u0 = mlp(refad.tanh, p, t0, refad.tensor(pts["x0"]))
    (u0_t,) = refad.autograd.grad(u0.sum(), t0, create_graph=True)
    ub = mlp(refad.tanh, p, refad.tensor(pts["tb"]), refad.tensor(pts["xb"]))
    return combine(u_tt - C ** 2 * u_xx, u0 - pts["u0"], u0_t, ub)


def refad_step(p: dict, pts: dict, lr: float):
    """One step of gradient descent: (loss before it, new parameters as numpy arrays)."""
    import refad

    leaves = {name: refad.tensor(value, requires_grad=True) for name, value in p.items()}
    loss = refad_loss(leaves, pts)
    grads = refad.autograd.grad(loss, list(leaves.values()))       # the sixth call
    new = {name: p[name] - lr * g.numpy() for name, g in zip(p, grads, strict=True)}
    return loss.item(), new


# -- PyTorch: torch.autograd.grad(create_graph=True) ----------------------------------------
def torch_loss(p: dict, pts: dict):
    """The same loss, the same five nested calls, in PyTorch."""
    import torch

    def column(name, requires_grad=False):
        return torch.tensor(pts[name], dtype=torch.float64, requires_grad=requires_grad)

    t, x = column("t", True), column("x", True)
    u = mlp(torch.tanh, p, t, x)
    (u_t,) = torch.autograd.grad(u.sum(), t, create_graph=True)
    (u_x,) = torch.autograd.grad(u.sum(), x, create_graph=True)
    (u_tt,) = torch.autograd.grad(u_t.sum(), t, create_graph=True)
    (u_xx,) = torch.autograd.grad(u_x.sum(), x, create_graph=True)
    t0 = column("t0", True)
    u0 = mlp(torch.tanh, p, t0, column("x0"))
    (u0_t,) = torch.autograd.grad(u0.sum(), t0, create_graph=True)
    ub = mlp(torch.tanh, p, column("tb"), column("xb"))
    return combine(u_tt - C ** 2 * u_xx, u0 - column("u0"), u0_t, ub)


def torch_step(p: dict, pts: dict, lr: float):
    """One step of gradient descent in PyTorch, from and to numpy arrays, like `refad_step`."""
    import torch

    leaves = {name: torch.tensor(value, dtype=torch.float64, requires_grad=True)
              for name, value in p.items()}
    loss = torch_loss(leaves, pts)
    grads = torch.autograd.grad(loss, list(leaves.values()))       # the sixth call
    new = {name: p[name] - lr * g.numpy() for name, g in zip(p, grads, strict=True)}
    return loss.item(), new


# -- JAX: functions of functions, jax.grad nested inside jax.value_and_grad ---------------
def nested_loss(grad, tanh, p: dict, pts: dict):
    """The loss in a functional framework: derivatives are `grad` of functions, nested three
    deep (`jax.grad` with `jnp.tanh`, or HIPS `autograd.grad` with `autograd.numpy.tanh`)."""
    def u(t, x):
        return mlp(tanh, p, t, x)

    def u_t(t, x):
        return grad(lambda s: u(s, x).sum())(t)

    def u_x(t, x):
        return grad(lambda s: u(t, s).sum())(x)

    t, x = pts["t"], pts["x"]
    u_tt = grad(lambda s: u_t(s, x).sum())(t)
    u_xx = grad(lambda s: u_x(t, s).sum())(x)
    return combine(u_tt - C ** 2 * u_xx, u(pts["t0"], pts["x0"]) - pts["u0"],
                   u_t(pts["t0"], pts["x0"]), u(pts["tb"], pts["xb"]))


def jax_loss(p: dict, pts: dict):
    """The same loss with `jax.grad` nested three deep."""
    import jax
    import jax.numpy as jnp

    return nested_loss(jax.grad, jnp.tanh, p, pts)


def make_jax_step(lr: float, jit: bool = True):
    """A step function (params, points) -> (loss, new params); jitted unless jit=False.

    Call it inside `jax.enable_x64(True)`: float64 needs JAX's x64 mode.
    """
    import jax

    def step(p, pts):
        loss, grads = jax.value_and_grad(jax_loss)(p, pts)          # the outer derivative
        return loss, {name: p[name] - lr * grads[name] for name in p}

    return jax.jit(step) if jit else step


# -- settings: float64 in JAX, one thread in torch --------------------------------------
@contextlib.contextmanager
def settings(framework: str):
    """Settings a framework needs here, switched on only while it trains, then restored."""
    if framework == "jax":
        import jax
        with jax.enable_x64(True):          # float64 needs JAX's x64 mode (thread-local)
            yield
    elif framework == "torch":
        # One thread: these tensors are tiny, so more threads only wait on each other (15x
        # slower than one, measured on a busy 2-core machine).
        import torch
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
    else:
        yield


# -- counting: how many times each framework's AD is called ---------------------------------
@contextlib.contextmanager
def counting(module, names):
    """Replace `module.<name>` by a counting wrapper while inside; yields the Counter.

    A call is counted under its name, with "(create_graph=True)" where it was passed.
    """
    counts: Counter = Counter()
    originals = {name: getattr(module, name) for name in names}

    def wrapper(name, function):
        def counted(*args, **kwargs):
            label = name + ("(create_graph=True)" if kwargs.get("create_graph") else "")
            counts[label] += 1
            return function(*args, **kwargs)
        return counted

    for name, function in originals.items():
        setattr(module, name, wrapper(name, function))
    try:
        yield counts
    finally:
        for name, function in originals.items():
            setattr(module, name, function)


# -- sizes: how big the graph that call 6 runs over is -------------------------------------
def graph_sizes(params: dict, pts: dict) -> dict[str, int]:
    """Nodes in refad's loss graph and one forward pass, and torch's grad_fn nodes."""
    import refad

    leaves = {k: refad.tensor(v, requires_grad=True) for k, v in params.items()}
    loss = refad_loss(leaves, pts)
    t, x = (refad.tensor(pts[name], requires_grad=True) for name in ("t", "x"))
    u = mlp(refad.tanh, leaves, t, x)          # as in the loss: t and x are leaves too
    sizes = {"refad loss": len(refad.topological_order([loss])),
             "refad u": len(refad.topological_order([u]))}
    if importlib.util.find_spec("torch") is not None:
        import torch

        leaves = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
        seen, stack = set(), [torch_loss(leaves, pts).grad_fn]
        while stack:                        # walk grad_fn.next_functions back to the leaves
            node = stack.pop()
            if node is not None and node not in seen:
                seen.add(node)
                stack.extend(parent for parent, _ in node.next_functions)
        sizes["torch loss"] = len(seen)
    return sizes
