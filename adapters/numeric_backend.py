"""The `numeric` backend: derivatives without any autodiff rule, and the Taylor check.

Two ways to the numbers, tried in this order:
- `mpmath` (scalar cases): the case runs on mpmath numbers at 50 digits and `mpmath.diff`
  takes the derivatives (central differences with a step near 10**-54 at several hundred
  bits, so they are exact to far beyond float64); results are rounded once to float64.
- `finite-difference` (everything else, or when mpmath cannot run the case): the case runs
  in float64 with refad as the ops namespace, and central differences with the classic steps
  h = eps**(1/3) * max(1, |x_i|) (first derivatives, error ~ eps**(2/3) ~ 4e-11 relative)
  and h = eps**(1/4) * max(1, |x_i|) (second derivatives, error ~ eps**(1/2) ~ 1e-8).
Either way the numbers are float64 for every dtype: this backend is a reference.

`taylor_check` (also `NumericBackend.taylor`) tests a claimed gradient with no tolerance on
a step: a correct gradient leaves a remainder that shrinks like h**2, a wrong one like h.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np

from .base import Backend, Result, hessian_pairs

DIGITS = 50  # mpmath working precision, in significant digits
EPS = float(np.finfo(np.float64).eps)
STEP_FIRST = EPS ** (1 / 3)  # ~6.1e-6, times max(1, |x_i|)
STEP_SECOND = EPS ** (1 / 4)  # ~1.2e-4, times max(1, |x_i|)
MAX_HESSIAN_ENTRIES = 400


class NotScalar(Exception):
    """The case needs arrays (matmul, a reduction over an axis): no mpmath evaluation."""


class NumericBackend(Backend):
    name = "numeric"
    description = "mpmath at 50 digits for scalar cases, else float64 central differences"

    def versions(self) -> dict[str, str]:
        import mpmath
        return {"mpmath": mpmath.__version__, "numpy": np.__version__}

    def _evaluate(self, case, dtype: str, order: int) -> Result:
        result = Result(self.name, case.name, dtype, order)
        reason = "array inputs or constants" if not case.is_scalar else None
        if reason is None:
            try:
                _mpmath_derivatives(case, order, result)
            except Exception as error:  # noqa: BLE001 -- any failure falls back to float64
                reason = f"{type(error).__name__}: {error}"
        if reason is not None:
            result = Result(self.name, case.name, dtype, order)
            _finite_differences(case, order, result)
            result.info["mpmath"] = f"not used: {reason}"
        if dtype != "float64":
            result.info["dtype"] = (f"{dtype} requested: the numbers are float64, the "
                                    "reference for every dtype")
        return result

    def taylor(self, case, grad: dict[str, np.ndarray], *, seed: int = 0) -> dict:
        """The Taylor-remainder test of a claimed gradient (see `taylor_check`)."""
        return taylor_check(case, grad, seed=seed)


TAYLOR_POWERS = range(4, 21)  # h = 2**-k, k = 4..20
TAYLOR_NOISE = 1e3  # a remainder counts when above TAYLOR_NOISE * eps * |f|
TAYLOR_FIT = 8  # the fit uses at most this many of the smallest counted h
TAYLOR_SLOPE = 1.8  # a slope above this passes


def taylor_check(case, grad: dict[str, np.ndarray], *, seed: int = 0) -> dict:
    """The Taylor-remainder test of a claimed gradient: no tolerance on any step.

    Along a random unit direction v (seeded; over all differentiated inputs at once),
    r(h) = |f(x + h v) - f(x) - h <grad, v>| for h = 2**-k, k = 4..20, with f evaluated in
    float64 through refad. Taylor's theorem makes r = O(h**2) when the gradient is right and
    ~ h |<error, v>| when it is wrong, so the slope of log r against log h is 2 or 1.

    Only remainders above the rounding noise count: r > 1e3 * eps * max(|f(x)|,
    |f(x + h v)|, |h <grad, v>|) (1e3 leaves room for rounding in f itself). The slope is a
    least-squares fit over the (at most 8) smallest counted h, where the asymptotic regime
    is cleanest; a wrong gradient whose error is small next to the curvature only shows
    slope 1 there. `ok` means slope > 1.8 (pre-asymptotic terms may pull 2 down a little;
    a vanishing curvature along v gives 3), or a remainder at rounding level for all but at
    most two h (f linear along v, or a gradient right to rounding): too few points to fit.
    At a kink inside the probed range even a conventional gradient gives slope ~1.

    Args:
        case: the case (duck-typed `Case`); grad: input name -> claimed gradient, shaped
            like the input, for every name in `case.differentiated`; seed: of the direction.

    Returns:
        {"slope", "ok", "h", "remainder", "floor", "fitted" (the h used), "note"}.
    """
    f, flat = float_function(case)
    x = flat.point
    g = flat.join(grad, "gradient")
    direction = np.random.default_rng(seed).standard_normal(x.size)
    direction /= max(np.linalg.norm(direction), np.finfo(float).tiny)
    f0 = f(x)
    slope_term = float(g @ direction)
    h = [2.0 ** -k for k in TAYLOR_POWERS]
    remainder, floor = [], []
    for step in h:
        moved = f(x + step * direction)
        remainder.append(abs(moved - f0 - step * slope_term))
        scale = max(abs(f0), abs(moved), abs(step * slope_term))
        floor.append(TAYLOR_NOISE * EPS * scale)
    report = {"slope": math.nan, "ok": False, "h": h, "remainder": remainder,
              "floor": floor, "fitted": [], "note": ""}
    if not (math.isfinite(f0) and math.isfinite(slope_term)):
        report["note"] = f"f(x) = {f0} and <grad, v> = {slope_term}: not finite"
        return report
    counted = [i for i, (r, lo) in enumerate(zip(remainder, floor, strict=True))
               if math.isfinite(r) and r > lo]
    if len(counted) < 3:
        report["ok"] = True
        if counted:
            report["note"] = (f"only {len(counted)} of {len(h)} remainders above rounding "
                              "level: too few to fit; consistent with a right gradient")
        else:
            report["note"] = ("remainder at rounding level for every h: f is linear along v, "
                              "or the gradient is right to rounding")
        return report
    fitted = counted[-TAYLOR_FIT:]
    slope = float(np.polyfit(np.log([h[i] for i in fitted]),
                             np.log([remainder[i] for i in fitted]), 1)[0])
    report.update(slope=slope, ok=slope > TAYLOR_SLOPE, fitted=[h[i] for i in fitted])
    verdict = "second order: gradient consistent" if report["ok"] else "below 2: gradient wrong"
    report["note"] = f"slope {slope:.2f} over {len(fitted)} steps; {verdict}"
    return report


# --- mpmath ----------------------------------------------------------------------------


def _mpmath_derivatives(case, order: int, result: Result) -> None:
    """Fill `result` with 50-digit values and derivatives, each rounded once to float64.

    Everything is computed twice, at 50 and at 65 digits (so with steps near 1e-54 and
    1e-69): a smooth function gives the same numbers to ~40 digits; a derivative that moves
    with the step is taken at a kink (relu'' at 0 is ~1/(4h)) and is reported as nan.
    """
    import mpmath

    coarse = _mpmath_numbers(case, order, DIGITS)
    fine = _mpmath_numbers(case, order, DIGITS + 15)
    scale = max(1.0, abs(to_float64(coarse["value"])))
    unstable = []
    for key, number in coarse.items():
        value = _settled(number, fine[key], scale)
        if math.isnan(value) and not mpmath.isnan(number):
            unstable.append(key)
        if key == "value":
            result.value = _number(value)
        elif isinstance(key, tuple):
            result.hessian[key] = _number(value)
        else:
            result.grad[key] = _number(value)
    result.mode = "mpmath"
    result.info["digits"] = DIGITS
    if unstable:
        result.info["kink"] = (f"{', '.join(map(str, unstable))} depend on the step "
                               "(not differentiable here): reported as nan")


def _mpmath_numbers(case, order: int, digits: int) -> dict:
    """{"value": v, name: d/dname, (a, b): d2/dadb} as mpmath numbers at `digits`."""
    import mpmath

    names = tuple(case.inputs)
    ops = _mpmath_namespace()

    def f(*values):
        return _real(case.fn(ops, **dict(zip(names, values, strict=True))))

    def orders(*wrt: str) -> list[int]:
        return [sum(1 for w in wrt if w == name) for name in names]

    with mpmath.workdps(digits):
        point = [mpmath.mpf(float(case.inputs[name])) for name in names]
        numbers: dict = {"value": f(*point)}
        for name in case.differentiated if order >= 1 else ():
            numbers[name] = _real(mpmath.diff(f, point, orders(name)))
        for a, b in hessian_pairs(case.differentiated) if order >= 2 else ():
            numbers[(a, b)] = _real(mpmath.diff(f, point, orders(a, b)))
    return numbers


def _settled(coarse, fine, scale: float) -> float:
    """The float64 of a number computed at two precisions: itself when they agree to 30
    digits, 0 when both are noise around zero (below 1e-30 * scale), else nan (a kink)."""
    import mpmath

    if mpmath.isnan(coarse) or mpmath.isnan(fine) or mpmath.isinf(coarse) or mpmath.isinf(fine):
        same = (mpmath.isnan(coarse) and mpmath.isnan(fine)) or coarse == fine
        return to_float64(coarse) if same else math.nan
    size = max(abs(coarse), abs(fine))
    if abs(coarse - fine) <= mpmath.mpf(10) ** -30 * size:
        return to_float64(coarse)
    return 0.0 if size <= mpmath.mpf(10) ** -30 * scale else math.nan


def to_float64(value: Any) -> float:
    """An mpmath (or Python) number rounded once, to nearest, to float64.

    Through a decimal string with more digits than the number holds: Python's `float` of a
    string rounds correctly (subnormals included), while mpmath's `float()` uses the
    context's rounding and `to_float`'s default truncates.
    """
    import mpmath

    value = _real(value)
    if isinstance(value, mpmath.mpf):
        return float(mpmath.nstr(value, DIGITS + 10, min_fixed=0, max_fixed=0))
    return float(value)


def _real(value: Any) -> Any:
    """A real mpmath number; a complex one (sqrt of a negative) is nan, as in float64."""
    import mpmath

    if isinstance(value, mpmath.mpc):
        return value.real if value.imag == 0 else mpmath.nan
    if isinstance(value, (bool, np.bool_)):
        return value
    if isinstance(value, (int, float, np.floating, np.integer)):
        return mpmath.mpf(float(value))
    if isinstance(value, mpmath.mpf):
        return value
    raise NotScalar(f"value of type {type(value).__name__} is not a scalar")


def _mpmath_namespace() -> SimpleNamespace:
    """The ops vocabulary on mpmath numbers; comparisons are Python's."""
    import mpmath

    def real(function):
        return lambda *args: _real(function(*(_real(arg) for arg in args)))

    def log(x):
        return -mpmath.inf if x == 0 else mpmath.log(x)

    def extreme(pick):
        def function(a, b):
            a, b = _real(a), _real(b)
            return mpmath.nan if mpmath.isnan(a) or mpmath.isnan(b) else pick(a, b)
        return function

    def reduce(x, axis=None, keepdims=False):
        if axis not in (None, 0, -1, ()) or np.ndim(x) != 0:
            raise NotScalar(f"reduction over axis {axis} of a non-scalar")
        return _real(x)

    def matmul(a, b):
        raise NotScalar("matmul needs arrays")

    def grad(fun):
        return lambda v: mpmath.diff(lambda t: _real(fun(t)), _real(v))

    return SimpleNamespace(
        sin=real(mpmath.sin), cos=real(mpmath.cos), tan=real(mpmath.tan),
        tanh=real(mpmath.tanh), exp=real(mpmath.exp), log=real(log), sqrt=real(mpmath.sqrt),
        abs=real(mpmath.fabs), relu=real(lambda x: x if x > 0 else mpmath.mpf(0)),
        sigmoid=real(lambda x: 1 / (1 + mpmath.exp(-x))), square=real(lambda x: x * x),
        log1p=real(mpmath.log1p), expm1=real(mpmath.expm1), pow=real(mpmath.power),
        atan2=real(mpmath.atan2), maximum=extreme(max), minimum=extreme(min),
        where=lambda condition, a, b: _real(a) if condition else _real(b),
        sum=reduce, mean=reduce, matmul=matmul, grad=grad,
    )


# --- float64 finite differences ----------------------------------------------------------


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
    import refad

    flat = Flat(case)
    constants = {name: refad.tensor(np.asarray(value, dtype=np.float64))
                 for name, value in case.constants.items()}

    def f(vector: np.ndarray) -> float:
        values = {**case.inputs, **flat.split(vector)}
        inputs = {name: refad.tensor(np.asarray(value, dtype=np.float64))
                  for name, value in values.items()}
        with np.errstate(all="ignore"):
            out = np.asarray(refad.as_tensor(case.fn(refad, **inputs, **constants)).data)
        if out.size != 1:
            raise ValueError(f"case {case.name!r}: the output has shape {out.shape}, "
                             "not a scalar")
        return float(out.reshape(()))

    return f, flat


def _finite_differences(case, order: int, result: Result) -> None:
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
