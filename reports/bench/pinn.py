"""W5: one training step of the worked PINN (examples/pinn_networks.py), per engine.

The step takes five nested reverse-mode derivatives of the network with respect to its
inputs (u_t, u_x, u_tt, u_xx, u_t at t = 0), each recorded as a graph, then the gradient of
the loss with respect to the parameters, and updates them. refad, PyTorch and JAX use the
example's own code; HIPS autograd gets the same loss written its way (functions of
functions, like JAX).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

Run = Callable[[], Any]
WIDTH = 32              # hidden units per layer
LR = 0.05               # the step's learning rate (the example's default)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pinn_networks.py"


@lru_cache(maxsize=1)
def networks() -> ModuleType:
    """examples/pinn_networks.py, loaded by path (examples/ is not a package)."""
    if not EXAMPLE.exists():
        raise FileNotFoundError(f"W5 runs the worked PINN example, and {EXAMPLE} is not "
                                f"there (run from a checkout of the repository)")
    spec = importlib.util.spec_from_file_location("pinn_networks", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def problem(points: int) -> tuple[dict, dict]:
    """Parameters (width 32) and `points` interior collocation points, with half as many
    initial (t = 0) and boundary points, as in examples/pinn_wave.py."""
    nets = networks()
    return nets.init_params(width=WIDTH), nets.make_points(points, points // 2, points // 2)


def step_refad(points: int) -> Run:
    params, pts = problem(points)
    return lambda: networks().refad_step(params, pts, LR)


def step_torch(points: int) -> Run:
    params, pts = problem(points)
    return lambda: networks().torch_step(params, pts, LR)


def step_jax(points: int, jit: bool = False) -> Run:
    import jax

    params, pts = problem(points)
    step = networks().make_jax_step(LR, jit=jit)
    return lambda: jax.block_until_ready(step(params, pts))


def autograd_loss(p: dict, pts: dict):
    """The PINN loss with HIPS autograd: `autograd.grad` nested as JAX nests `jax.grad`."""
    import autograd
    import autograd.numpy as anp

    return networks().nested_loss(autograd.grad, anp.tanh, p, pts)


def step_autograd(points: int) -> Run:
    import autograd

    params, pts = problem(points)
    derivative = autograd.value_and_grad(autograd_loss)

    def run():
        loss, grads = derivative(params, pts)
        return loss, {name: params[name] - LR * grads[name] for name in params}
    return run
