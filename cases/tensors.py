"""Arrays: broadcasting, reductions along axes, matmul in its shapes, an MLP loss, softmax.

Every case still returns a scalar (a sum or mean at the end). Values come from fixed seeds,
rounded to 3 decimals so a reader can copy them. A gradient has its input's shape: where an
input was stretched by broadcasting, its gradient is summed back over the stretched axes.
"""

from __future__ import annotations

import numpy as np

from .case import Case, expression_case

FAMILY = "tensors"
TAGS = ("tensor",)


def _values(seed: int, *shape: int, scale: float = 1.0) -> np.ndarray:
    """Fixed normal(0, scale) values of `shape`, rounded to 3 decimals."""
    return np.round(np.random.default_rng(seed).normal(scale=scale, size=shape), 3)


def _mlp_loss(ops, W1, b1, W2, b2, X, Y):
    """Mean squared error of a 2-8-1 tanh MLP over the batch X (5, 2) -> Y (5, 1)."""
    hidden = ops.tanh(X @ W1 + b1)          # (5, 8): b1 (8,) broadcasts over the rows
    prediction = hidden @ W2 + b2           # (5, 1)
    error = prediction - Y
    return ops.mean(error * error)


def _softmax_cross_entropy(ops, z, onehot):
    """-log softmax(z)[label] for each row of z (4, 3), averaged: log-sum-exp minus the label."""
    log_normaliser = ops.log(ops.sum(ops.exp(z), axis=1))     # (4,)
    picked = ops.sum(z * onehot, axis=1)                       # (4,): the label's logit
    return ops.mean(log_normaliser - picked)


def _column_selector(ops, M, e1):
    """Use only the second column of M, picked by a constant selector: M @ e1."""
    return ops.sum(ops.exp(M @ e1))


# (name, expression, inputs, note)
_EXPRESSIONS = (
    ("tensor-broadcast-outer", "sum(sin(x) * y + x)",
     {"x": _values(10, 3, 1), "y": _values(11, 1, 4)},
     "(3, 1) with (1, 4) broadcasts to (3, 4): d/dx is summed over the 4 columns and keeps "
     "shape (3, 1); d/dy over the 3 rows, shape (1, 4)"),
    ("tensor-broadcast-scalar-matrix", "sum(a * M + a * a)", {"a": 0.7, "M": _values(12, 3, 4)},
     "a scalar meets a (3, 4) matrix: d/da = sum(M) + 12 * 2a, because the scalar a*a is "
     "broadcast onto all 12 elements and each copy sends its 2a back"),
    ("tensor-broadcast-kernel", "sum(exp(-(x - y) ** 2))",
     {"x": _values(13, 3, 1), "y": _values(14, 1, 4)},
     "a Gaussian kernel matrix between 3 and 4 points, built by broadcasting (3, 1) - (1, 4)"),
    ("tensor-sum-axis", "sum(sum(x * x, axis=0) * sin(sum(x, axis=1, keepdims=True)))",
     {"x": _values(15, 3, 4)},
     "sum over axis 0 gives (4,), over axis 1 with keepdims (3, 1): they broadcast to (3, 4)"),
    ("tensor-mean-keepdims", "sum((x - mean(x, axis=1, keepdims=True)) ** 2)",
     {"x": _values(16, 3, 5)},
     "centring each row: x reaches the output directly and through its row mean; the "
     "gradient 2(x - mean) has zero row sums"),
    ("tensor-mean-axis-0", "mean(mean(x, axis=0) ** 2)", {"x": _values(17, 4, 3)},
     "a mean over axis 0, then over what is left"),
    ("tensor-matmul-2d", "sum(tanh(A @ B))", {"A": _values(18, 2, 3), "B": _values(19, 3, 4)},
     "(2, 3) @ (3, 4): d/dA = G @ B^T and d/dB = A^T @ G with G = 1 - tanh^2"),
    ("tensor-matmul-vector-matrix", "sum(v @ M)", {"v": _values(20, 3), "M": _values(21, 3, 4)},
     "1-d @ 2-d: v is treated as a row (1, 3) and the result is (4,)"),
    ("tensor-matmul-matrix-vector", "sum(sin(M @ v))",
     {"M": _values(22, 4, 3), "v": _values(23, 3)},
     "2-d @ 1-d: v is treated as a column (3, 1) and the result is (4,)"),
    ("tensor-batched-matmul", "sum((A @ B) ** 2)",
     {"A": _values(24, 2, 3, 4), "B": _values(25, 4, 2)},
     "a stack of two (3, 4) matrices times one (4, 2): B's gradient sums over the batch"),
    ("tensor-where-leaky", "sum(where(x > 0, x, 0.1 * x) ** 2)", {"x": _values(26, 2, 5)},
     "a leaky ReLU elementwise (no element at 0)"),
    ("tensor-relu-layer", "mean(relu(x @ W) ** 2)",
     {"x": _values(27, 4, 3), "W": _values(28, 3, 5)},
     "a ReLU layer; relu(.)^2 is smooth enough to take a Hessian"),
    ("tensor-logsumexp", "log(sum(exp(x)))", {"x": _values(29, 6)},
     "log-sum-exp written with exp, sum and log: its gradient is softmax(x)"),
)

_RNG_MLP = np.random.default_rng(30)
_MLP_INPUTS = {
    "W1": np.round(_RNG_MLP.normal(scale=0.8, size=(2, 8)), 3),
    "b1": np.round(_RNG_MLP.normal(scale=0.1, size=8), 3),
    "W2": np.round(_RNG_MLP.normal(scale=0.5, size=(8, 1)), 3),
    "b2": np.round(_RNG_MLP.normal(scale=0.1, size=1), 3),
}
_MLP_DATA = {"X": _values(31, 5, 2), "Y": _values(32, 5, 1)}
_LABELS = np.array([2, 0, 1, 2])
_ONEHOT = np.eye(3)[_LABELS]


CASES = (
    *(expression_case(name, text, inputs, FAMILY, tags=TAGS, note=note)
      for name, text, inputs, note in _EXPRESSIONS),
    Case(name="tensor-mlp-loss", fn=_mlp_loss, inputs=_MLP_INPUTS, constants=_MLP_DATA,
         family=FAMILY, tags=TAGS + ("mlp",), max_order=2,
         note="a 2-8-1 tanh MLP, mean squared error over a batch of 5 (constants): the "
              "gradient with respect to all 33 weights, and their 33 x 33 Hessian"),
    Case(name="tensor-softmax-cross-entropy", fn=_softmax_cross_entropy,
         inputs={"z": _values(33, 4, 3)}, constants={"onehot": _ONEHOT}, family=FAMILY,
         tags=TAGS, note="mean cross-entropy of 4 rows of logits; d/dz = (softmax(z) - "
                         "onehot) / 4"),
    Case(name="tensor-column-selector", fn=_column_selector,
         inputs={"M": _values(34, 3, 2)}, constants={"e1": np.array([0.0, 1.0])},
         family=FAMILY, tags=TAGS,
         note="no indexing in the vocabulary: M @ [0, 1] picks the second column, and the "
              "first column's gradient is exactly 0"),
)
