"""Float64 central differences: the `numeric` backend's fallback when mpmath cannot run.

The case runs in float64 with refad as the ops namespace, and central differences use the
classic steps h = eps**(1/3) * max(1, |x_i|) (first derivatives, error ~ eps**(2/3) ~ 4e-11
relative) and h = eps**(1/4) * max(1, |x_i|) (second derivatives, error ~ eps**(1/2) ~ 1e-8,
and an absolute noise of that size where the exact entry is 0).

`Flat` and `float_function` (the differentiated inputs as one vector, and the case as a
float64 function of it) are shared with the Taylor check.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .base import Result, hessian_pairs
from .refad_backend import run_case

EPS = float(np.finfo(np.float64).eps)
STEP_FIRST = EPS ** (1 / 3)  # ~6.1e-6, times max(1, |x_i|)
STEP_SECOND = EPS ** (1 / 4)  # ~1.2e-4, times max(1, |x_i|)
MAX_HESSIAN_ENTRIES = 400


class Flat:
    """The differentiated inputs of a case as one float64 vector, and back."""

    def __init__(self, case) -> None:
        self.case = case
        self.names = case.differentiated
        self.shapes = [np.shape(case.inputs[name]) for name in self.names]
        self.sizes = [int(np.prod(shape)) for shape in self.shapes]
        self.point = self.join({name: case.inputs[name] for name in self.names}, "input")

    def join(self, parts: dict[str, Any], what: str) -> np.ndarray:
        """One vector from name -> array (shapes checked against the inputs)."""
        pieces = []
        for name, shape in zip(self.names, self.shapes, strict=True):
            if name not in parts:
                raise ValueError(f"case {self.case.name!r}: no {what} for input {name!r}")
            piece = np.asarray(parts[name], dtype=np.float64)
            if piece.shape != shape:
                raise ValueError(f"case {self.case.name!r}: {what} for {name!r} has shape "
                                 f"{piece.shape}, the input has shape {shape}")
            pieces.append(piece.ravel())
        return np.concatenate(pieces) if pieces else np.zeros(0)

    def split(self, vector: np.ndarray) -> dict[str, np.ndarray]:
        """name -> array shaped like the input, from one vector."""
        parts, start = {}, 0
        for name, shape, size in zip(self.names, self.shapes, self.sizes, strict=True):
            parts[name] = vector[start:start + size].reshape(shape)
            start += size
        return parts


def float_function(case):
    """f(vector) -> float: the case in float64 through refad, at the differentiated inputs
    given by a `Flat` vector (the other inputs fixed). Returns (f, flat)."""

    flat = Flat(case)
    def f(vector: np.ndarray) -> float:
        values = {**case.inputs, **flat.split(vector)}
        with np.errstate(all="ignore"):
            out, _ = run_case(case, requires_grad=False, values=values)
            out = np.asarray(out.data)
        if out.size != 1:
            raise ValueError(f"case {case.name!r}: the output has shape {out.shape}, "
                             "not a scalar")
        return float(out.reshape(()))

    return f, flat


def finite_differences(case, order: int, result: Result) -> None:
    """Fill `result` with central differences in float64 (value from refad)."""
    f, flat = float_function(case)
    x = flat.point
    result.mode = "finite-difference"
    result.value = _number(f(x))
    if not math.isfinite(result.value):
        # A pole or a domain edge: differences across it measure the step, not a slope.
        f = _nan_function
        result.info["derivatives"] = f"f(x) = {result.value}: no finite differences (nan)"
    result.info["h"] = {"first": f"{STEP_FIRST:.3g} * max(1, |x_i|)",
                        "second": f"{STEP_SECOND:.3g} * max(1, |x_i|)"}
    if order >= 1:
        gradient = np.array([_first(f, x, i) for i in range(x.size)])
        result.grad = {name: np.asarray(g) for name, g in flat.split(gradient).items()}
    if order < 2:
        return
    pairs = hessian_pairs(flat.names)
    size = dict(zip(flat.names, flat.sizes, strict=True))
    entries = sum(size[a] * size[b] for a, b in pairs)
    if entries > MAX_HESSIAN_ENTRIES:
        result.info["hessian"] = (f"skipped: {entries} entries (more than "
                                  f"{MAX_HESSIAN_ENTRIES}) by finite differences")
        return
    full = _hessian(f, x)
    offsets = dict(zip(flat.names, np.cumsum([0, *flat.sizes[:-1]]), strict=True))
    for a, b in pairs:
        block = full[offsets[a]:offsets[a] + size[a], offsets[b]:offsets[b] + size[b]]
        shape = flat.shapes[flat.names.index(a)] + flat.shapes[flat.names.index(b)]
        result.hessian[(a, b)] = block.reshape(shape)


def _number(value: float) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)


def _nan_function(vector: np.ndarray) -> float:
    return math.nan


def _step(x: np.ndarray, i: int, base: float) -> float:
    """A step for element i, scaled by max(1, |x_i|), that is exactly representable."""
    h = base * max(1.0, abs(float(x[i])))
    return float((x[i] + h) - x[i]) if math.isfinite(x[i]) else h


def _shifted(x: np.ndarray, *moves: tuple[int, float]) -> np.ndarray:
    y = x.copy()
    for i, h in moves:
        y[i] += h
    return y


def _first(f, x: np.ndarray, i: int) -> float:
    h = _step(x, i, STEP_FIRST)
    return (f(_shifted(x, (i, h))) - f(_shifted(x, (i, -h)))) / (2 * h)


def _hessian(f, x: np.ndarray) -> np.ndarray:
    """All second derivatives by central differences: 2 or 4 evaluations per entry."""
    n = x.size
    h = [_step(x, i, STEP_SECOND) for i in range(n)]
    f0 = f(x)
    full = np.zeros((n, n))
    for i in range(n):
        up, down = f(_shifted(x, (i, h[i]))), f(_shifted(x, (i, -h[i])))
        full[i, i] = (up - 2 * f0 + down) / (h[i] * h[i])
        for j in range(i + 1, n):
            corners = [f(_shifted(x, (i, si * h[i]), (j, sj * h[j])))
                       for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1))]
            value = (corners[0] - corners[1] - corners[2] + corners[3]) / (4 * h[i] * h[j])
            full[i, j] = full[j, i] = value
    return full
