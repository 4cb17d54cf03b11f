"""Physics-informed residuals: the 1D wave equation u_tt = c^2 u_xx for a small tanh MLP u(t, x).

The loss is mean(r^2) with r = u_tt - c^2 u_xx at collocation points; its gradient with
respect to the network's parameters needs derivatives of derivatives (the page's "AD engine
called twice or more per training step"). Inner derivatives come from `ops.grad` of a sum
over the points: each row of u depends only on its own point, so d sum(u) / d t holds every
row's own u_t. The points t, x are inputs (shaped (N, 1)) because the inner derivatives are
taken with respect to them, but only the parameters are reported (`wrt`).
"""

from __future__ import annotations

import numpy as np

from .case import Case

FAMILY = "pinn"
TAGS = ("pinn", "second-order", "tensor", "nested-grad")
C = 1.5  # the wave speed, a Python float


def _second_derivative(ops, f, v):
    """d2 f / dv2 row by row: the grad of sum(grad of sum(f)) at v."""
    def first(s):
        return ops.grad(lambda q: ops.sum(f(q)))(s)
    return ops.grad(lambda s: ops.sum(first(s)))(v)


def _residual_loss(ops, u, t, x):
    """mean((u_tt - c^2 u_xx)^2) for u(t, x) at the points (t, x)."""
    u_tt = _second_derivative(ops, lambda q: u(q, x), t)
    u_xx = _second_derivative(ops, lambda q: u(t, q), x)
    r = u_tt - C ** 2 * u_xx
    return ops.mean(r * r)


def _one_layer(ops, t, x, Wt, Wx, b1, W2, b2):
    def u(t_, x_):
        h = ops.tanh(t_ @ Wt + x_ @ Wx + b1)
        return h @ W2 + b2
    return _residual_loss(ops, u, t, x)


def _two_layers(ops, t, x, Wt, Wx, b1, W2, b2, W3, b3):
    def u(t_, x_):
        h1 = ops.tanh(t_ @ Wt + x_ @ Wx + b1)
        h2 = ops.tanh(h1 @ W2 + b2)
        return h2 @ W3 + b3
    return _residual_loss(ops, u, t, x)


def _combined_input(ops, X, W1, b1, W2, b2, e_t, e_x, mistake=False):
    """The same network fed X = [t, x] (N, 2); columns are picked by selectors e_t, e_x.

    Correct: differentiate the x column of u_X again and keep its x column (u_xx).
    The mistake: differentiate sum(u_X), both columns (u_t + u_x), so the x column of the
    result is u_tx + u_xx, and likewise u_tt picks up u_xt.
    """
    def u(Q):
        return ops.tanh(Q @ W1 + b1) @ W2 + b2

    def u_X(Q):
        return ops.grad(lambda P: ops.sum(u(P)))(Q)               # (N, 2): [u_t, u_x]

    if mistake:
        both = ops.grad(lambda Q: ops.sum(u_X(Q)))(X)             # (N, 2), mixed in
        u_tt, u_xx = both @ e_t, both @ e_x
    else:
        u_tt = ops.grad(lambda Q: ops.sum(u_X(Q) @ e_t))(X) @ e_t
        u_xx = ops.grad(lambda Q: ops.sum(u_X(Q) @ e_x))(X) @ e_x
    r = u_tt - C ** 2 * u_xx
    return ops.mean(r * r)


def _combined_mistake(ops, X, W1, b1, W2, b2, e_t, e_x):
    return _combined_input(ops, X, W1, b1, W2, b2, e_t, e_x, mistake=True)


def _points(seed: int, n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"t": np.round(rng.uniform(0.0, 1.0, size=(n, 1)), 3),
            "x": np.round(rng.uniform(-1.0, 1.0, size=(n, 1)), 3)}


def _layer(rng, *shape: int, scale: float) -> np.ndarray:
    return np.round(rng.normal(scale=scale, size=shape), 3)


def _one_layer_params(seed: int, width: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"Wt": _layer(rng, 1, width, scale=1.0), "Wx": _layer(rng, 1, width, scale=1.0),
            "b1": _layer(rng, width, scale=0.3), "W2": _layer(rng, width, 1, scale=0.5),
            "b2": _layer(rng, 1, scale=0.1)}


def _two_layer_params(seed: int, width: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"Wt": _layer(rng, 1, width, scale=1.0), "Wx": _layer(rng, 1, width, scale=1.0),
            "b1": _layer(rng, width, scale=0.3),
            "W2": _layer(rng, width, width, scale=0.6), "b2": _layer(rng, width, scale=0.2),
            "W3": _layer(rng, width, 1, scale=0.5), "b3": _layer(rng, 1, scale=0.1)}


_POINTS = _points(40, 12)
_PARAMS = _one_layer_params(41, 8)
_COMBINED = {"X": np.hstack([_POINTS["t"], _POINTS["x"]]),
             "W1": np.vstack([_PARAMS["Wt"], _PARAMS["Wx"]]),
             "b1": _PARAMS["b1"], "W2": _PARAMS["W2"], "b2": _PARAMS["b2"]}
_SELECTORS = {"e_t": np.array([1.0, 0.0]), "e_x": np.array([0.0, 1.0])}
_WAVE = f"the 1D wave residual r = u_tt - c^2 u_xx (c = {C})"

CASES = (
    Case(name="pinn-wave-residual", fn=_one_layer, inputs={**_POINTS, **_PARAMS},
         wrt=tuple(_PARAMS), family=FAMILY, tags=TAGS, max_order=1,
         note=f"{_WAVE} of a tanh MLP with one hidden layer of width 8, "
              "u(t, x) = tanh(t Wt + x Wx + b1) W2 + b2 at 12 "
              "points; loss mean(r^2), gradient with respect to every parameter: third "
              "derivatives of the network, through two nested grads"),
    Case(name="pinn-wave-residual-two-layers", fn=_two_layers,
         inputs={**_points(42, 10), **_two_layer_params(43, 6)},
         wrt=tuple(_two_layer_params(43, 6)), family=FAMILY, tags=TAGS, max_order=1,
         note=f"{_WAVE} of a two-hidden-layer tanh MLP (width 6) at 10 points"),
    Case(name="pinn-wave-residual-small", fn=_one_layer,
         inputs={**_points(44, 3), **_one_layer_params(45, 4)},
         wrt=tuple(_one_layer_params(45, 4)), family=FAMILY, tags=TAGS, max_order=1,
         note=f"{_WAVE} at only 3 points with width 4: small enough to read every number"),
    Case(name="pinn-wave-residual-combined-input", fn=_combined_input, inputs=_COMBINED,
         constants=_SELECTORS, wrt=("W1", "b1", "W2", "b2"), family=FAMILY, tags=TAGS,
         max_order=1,
         note=f"{_WAVE} with the points as one input X = [t, x] (12, 2) and W1 = [Wt; Wx]: "
              "the same network as pinn-wave-residual, so the same loss. Columns are picked "
              "with constant selectors (X-gradient @ e_x), the x column is differentiated "
              "again and only its x column kept"),
    Case(name="pinn-wave-residual-mixed-columns-mistake", fn=_combined_mistake,
         inputs=_COMBINED, constants=_SELECTORS, wrt=("W1", "b1", "W2", "b2"),
         family=FAMILY, tags=TAGS + ("mistake",), max_order=1,
         note="the common mistake: differentiating sum(u_X), both columns (u_t + u_x), with "
              "respect to all of X, so the 'u_xx' column is u_xx + u_tx and 'u_tt' is "
              "u_tt + u_xt. Every backend computes this wrong residual identically (they "
              "agree with each other), and its loss differs from "
              "pinn-wave-residual-combined-input's: agreement between frameworks does not "
              "prove the residual is the one you meant"),
)
