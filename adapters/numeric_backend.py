"""The `numeric` backend: derivatives without any autodiff rule, and the Taylor check.

Two ways to the numbers, tried in this order:
- `mpmath` (scalar cases): the case runs on mpmath numbers at 50 digits and `mpmath.diff`
  takes the derivatives (central differences with a step near 10**-54 at several hundred
  bits), with each input moved in steps scaled to it and extra digits for tiny inputs.
  Everything is computed again at 65 digits: numbers that agree to 30 digits are kept;
  a derivative that moves with the step (relu'' at 0 ~ 1/(4h)) is at a kink and is nan;
  one lost in f's last digits is recomputed at 200. Results are rounded once to float64.
- `finite-difference` (everything else, or when mpmath cannot run the case): the case runs
  in float64 with refad as the ops namespace, and central differences with the classic steps
  h = eps**(1/3) * max(1, |x_i|) (first derivatives, error ~ eps**(2/3) ~ 4e-11 relative)
  and h = eps**(1/4) * max(1, |x_i|) (second derivatives, error ~ eps**(1/2) ~ 1e-8, and an
  absolute noise of that size where the exact entry is 0).
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
TAYLOR_NOISE = 1e3  # a remainder counts when above TAYLOR_NOISE * eps * |f| ...
TAYLOR_MEASURED = 10  # ... and above 10 times the remainder measured at h = 2**-48..2**-52
TAYLOR_FIT = 6  # the fit uses at most this many of the smallest counted h
TAYLOR_SLOPE = 1.8  # a fitted slope above this passes ...
TAYLOR_LOCAL = 1.5  # ... when no step-to-step slope among the fitted points is below this


def taylor_check(case, grad: dict[str, np.ndarray], *, seed: int = 0) -> dict:
    """The Taylor-remainder test of a claimed gradient: no tolerance on any step.

    Along a random unit direction v (seeded; over all differentiated inputs at once),
    r(h) = |f(x + h v) - f(x) - h <grad, v>| for h = 2**-k, k = 4..20, with f evaluated in
    float64 through refad. Taylor's theorem makes r = O(h**2) when the gradient is right and
    ~ h |<error, v>| when it is wrong, so the slope of log r against log h is 2 or 1.

    Only remainders above rounding noise count: above 1e3 * eps * max(|f(x)|, |f(x + h v)|,
    |h <grad, v>|) and above 10 times the largest remainder at h = 2**-48..2**-52 (a
    few ulps of x, where any remainder is rounding: this catches an f that cancels, like
    log(1 + x) at x = 1e-10). The slope is a least-squares fit over the (at most 6) smallest
    counted h, the asymptotic end, where a wrong gradient shows slope 1 even when its error
    is small next to the curvature. `ok`: slope > 1.8 (pre-asymptotic terms may pull 2 down a
    little; a vanishing curvature along v gives 3) and no step-to-step slope below 1.5 (where
    the error and curvature terms cancel, r dips and a wrong gradient can fit slope > 2), or
    fewer than 3 remainders above noise (f linear along v, or a gradient right to rounding:
    nothing to fit).

    Steps of 2**-k are lost in the rounding of x = 1e30 and jump over the singularity next
    to x = 1e-300. So unless this absolute run passes with a fit, a second run scales v by
    |x_i| (1 where x_i = 0): relative steps. A fitted pass of either run passes; otherwise
    the run with a fit reports (both at rounding level: ok, nothing to fit). At a kink
    inside the probed range even a conventional gradient gives slope ~1; a non-finite f(x)
    or gradient cannot be checked; and an f that float64 computes with a large relative
    error (sqrt(x + 1) - sqrt(x) at 1e12) makes its float64 gradient fail, rightly.

    Args:
        case: the case (duck-typed `Case`); grad: input name -> claimed gradient, shaped
            like the input, for every name in `case.differentiated`; seed: of the direction.

    Returns:
        {"slope", "ok", "h", "remainder", "floor", "fitted" (the h used), "local_min"
        (the smallest step-to-step slope among them), "steps"
        ("absolute" or "relative"), "note"} of the deciding run; when a relative run was
        made, "first" holds the absolute run.
    """
    f, flat = float_function(case)
    x = flat.point
    g = flat.join(grad, "gradient")
    unit = np.random.default_rng(seed).standard_normal(x.size)
    unit /= max(np.linalg.norm(unit), np.finfo(float).tiny)
    absolute = _taylor_run(f, x, g, unit, "absolute")
    if absolute["ok"] and absolute["fitted"]:
        return absolute
    scale = np.where((x != 0) & np.isfinite(x), np.abs(x), 1.0)
    if np.all(scale == 1.0):
        return absolute
    relative = _taylor_run(f, x, g, unit * scale, "relative")
    relative["first"] = absolute
    if relative["ok"] and relative["fitted"]:
        return relative
    if absolute["ok"] and relative["ok"]:
        return absolute  # both at rounding level: nothing to fit either way
    return absolute if absolute["fitted"] or not relative["fitted"] else relative


def _taylor_run(f, x: np.ndarray, g: np.ndarray, direction: np.ndarray, steps: str) -> dict:
    """One Taylor-remainder run along `direction` (see `taylor_check`)."""
    f0 = f(x)
    with np.errstate(all="ignore"):
        slope_term = float(g @ direction)

    def remainder(step: float) -> tuple[float, float]:
        moved = f(x + step * direction)
        scale = max(abs(f0), abs(moved), abs(step * slope_term))
        return abs(moved - f0 - step * slope_term), TAYLOR_NOISE * EPS * scale

    report = {"slope": math.nan, "ok": False, "h": [], "remainder": [], "floor": [],
              "fitted": [], "steps": steps, "note": ""}
    if not (math.isfinite(f0) and math.isfinite(slope_term)):
        report["note"] = f"f(x) = {f0} and <grad, v> = {slope_term}: not finite"
        return report
    noise = max(remainder(sign * 2.0 ** -k)[0] for k in range(48, 53) for sign in (1, -1))
    for k in TAYLOR_POWERS:
        r, floor = remainder(2.0 ** -k)
        report["h"].append(2.0 ** -k)
        report["remainder"].append(r)
        report["floor"].append(max(floor, TAYLOR_MEASURED * noise))
    h, r = report["h"], report["remainder"]
    counted = [i for i, floor in enumerate(report["floor"]) if math.isfinite(r[i]) and r[i] > floor]
    if len(counted) < 3:
        report["ok"] = True
        report["note"] = (f"{len(counted)} of {len(h)} remainders above rounding noise: nothing "
                          "to fit (f linear along v, or a gradient right to rounding)")
        return report
    fitted = counted[-TAYLOR_FIT:]
    log_h, log_r = np.log([h[i] for i in fitted]), np.log([r[i] for i in fitted])
    slope = float(np.polyfit(log_h, log_r, 1)[0])
    # Where the error term h <error, v> and the curvature term cancel, r dips and the fitted
    # slope can exceed 2 for a wrong gradient: every step-to-step slope must be near 2 too.
    steepest_drop = float(np.min(np.diff(log_r) / np.diff(log_h)))
    report.update(slope=slope, ok=slope > TAYLOR_SLOPE and steepest_drop > TAYLOR_LOCAL,
                  fitted=[h[i] for i in fitted], local_min=steepest_drop)
    verdict = "second order: gradient consistent" if report["ok"] else "below 2: gradient wrong"
    report["note"] = f"slope {slope:.2f} over {len(fitted)} {steps} steps; {verdict}"
    return report


# --- mpmath ----------------------------------------------------------------------------


def _mpmath_derivatives(case, order: int, result: Result) -> None:
    """Fill `result` with 50-digit values and derivatives, each rounded once to float64.

    Everything is computed twice, at 50 and at 65 digits (so with steps near 1e-54 and
    1e-69): a smooth function gives the same numbers to ~40 digits; a derivative that moves
    with the step is taken at a kink (relu'' at 0 is ~1/(4h)) and is reported as nan.
    """
    import mpmath

    coarse, scales = _mpmath_numbers(case, order, DIGITS)
    fine, _ = _mpmath_numbers(case, order, DIGITS + 15)
    levels = {key: _zero_level(coarse, fine, scales, key) for key in coarse}
    # A derivative far smaller than f (3e-139 at the end of a 200-layer tanh chain) is lost
    # in f's last digits: 0 or noise at 50 digits. Ask again with 150 more digits.
    small = [key for key, number in coarse.items()
             if key != "value" and mpmath.isfinite(number) and abs(number) <= levels[key]]
    if small:
        deep, _ = _mpmath_numbers(case, order, DIGITS + 150, keys=small)
        deeper, _ = _mpmath_numbers(case, order, DIGITS + 165, keys=small)
        for key in small:
            if deep[key] != 0 and _agree(deep[key], deeper[key]):
                coarse[key], fine[key] = deep[key], deeper[key]
    unstable = []
    for key, number in coarse.items():
        value = _settled(number, fine[key], levels[key])
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


def _mpmath_numbers(case, order: int, digits: int, keys=None) -> tuple[dict, dict]:
    """{"value": v, name: d/dname, (a, b): d2/dadb} as mpmath numbers (only `keys` when
    given), and per key the product of the input scales it was divided by.

    mpmath.diff steps by about 10**-digits in absolute terms, which is no step at all
    next to x = 1e30 and a leap across x = 1e-300. So each input is moved as
    x_i + s_i * t_i with s_i = 2**k >= |x_i| (for |x_i| > 1; exact to divide by), and tiny
    inputs raise the precision by as many digits as they are small.
    """
    import mpmath

    names = tuple(case.inputs)
    values = [float(case.inputs[name]) for name in names]
    powers = [max(0, math.frexp(v)[1]) if math.isfinite(v) else 0 for v in values]
    tiny = [-math.log10(abs(v)) for v in values if 0 < abs(v) < 1]
    digits += min(400, math.ceil(max(tiny, default=0)))
    ops = _mpmath_namespace()

    def f(*moves):
        moved = [x + mpmath.ldexp(t, k) for x, k, t in zip(point, powers, moves, strict=True)]
        return _real(case.fn(ops, **dict(zip(names, moved, strict=True))))

    def orders(*wrt: str) -> list[int]:
        return [sum(1 for w in wrt if w == name) for name in names]

    def scale(*wrt: str):
        return mpmath.ldexp(1, sum(powers[names.index(w)] for w in wrt))

    with mpmath.workdps(digits):
        point = [mpmath.mpf(v) for v in values]
        zero = [mpmath.mpf(0)] * len(names)
        numbers: dict = {"value": f(*zero)}
        divisors: dict = {"value": mpmath.mpf(1)}
        for name in case.differentiated if order >= 1 else ():
            if keys is not None and name not in keys:
                continue
            divisors[name] = scale(name)
            numbers[name] = _real(mpmath.diff(f, zero, orders(name))) / divisors[name]
        for a, b in hessian_pairs(case.differentiated) if order >= 2 else ():
            if keys is not None and (a, b) not in keys:
                continue
            divisors[(a, b)] = scale(a, b)
            numbers[(a, b)] = _real(mpmath.diff(f, zero, orders(a, b))) / divisors[(a, b)]
    return numbers, divisors


def _zero_level(coarse: dict, fine: dict, divisors: dict, key) -> Any:
    """How big a number must be not to be noise around zero: 1e-30 times the largest of
    |f| / (the input scales of `key`) and the settled derivatives of the same order."""
    import mpmath

    def order(k) -> int:
        return 0 if k == "value" else (2 if isinstance(k, tuple) else 1)

    value = coarse["value"]
    sizes = [mpmath.mpf(1), abs(value) if mpmath.isfinite(value) else 0]
    sizes = [size / divisors[key] for size in sizes]
    sizes += [abs(v) for k, v in coarse.items() if order(k) == order(key)
              and mpmath.isfinite(v) and _agree(v, fine[k])]
    return mpmath.mpf(10) ** -30 * max(sizes)


def _agree(a, b) -> bool:
    """Equal to 30 digits (both finite)."""
    return abs(a - b) <= abs(a).context.mpf(10) ** -30 * max(abs(a), abs(b))


def _settled(coarse, fine, zero_level) -> float:
    """The float64 of a number computed at two precisions: itself when they agree to 30
    digits, 0 when both are noise around zero (below `zero_level`), else nan (a kink)."""
    import mpmath

    if mpmath.isnan(coarse) or mpmath.isnan(fine) or mpmath.isinf(coarse) or mpmath.isinf(fine):
        same = (mpmath.isnan(coarse) and mpmath.isnan(fine)) or coarse == fine
        return to_float64(coarse) if same else math.nan
    if _agree(coarse, fine):
        return to_float64(coarse)
    return 0.0 if max(abs(coarse), abs(fine)) <= zero_level else math.nan


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

    def periodic(function, name: str):
        def call(x):
            # sin(exp(1e300)) would reduce its argument with 10**300 digits: refuse.
            if mpmath.isfinite(x) and mpmath.mag(x) > 4096:
                raise NotScalar(f"{name} of a number beyond 2**4096 (float64 gives nan)")
            return function(x)
        return call

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
        sin=real(periodic(mpmath.sin, "sin")), cos=real(periodic(mpmath.cos, "cos")),
        tan=real(periodic(mpmath.tan, "tan")),
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
