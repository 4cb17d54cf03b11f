"""The `numeric` backend's first path: scalar cases on mpmath numbers at 50 digits.

The case runs on mpmath numbers and `mpmath.diff` takes the derivatives (central
differences with a step near 10**-54 at several hundred bits), with each input moved in
steps scaled to it and extra digits for tiny inputs. Everything is computed again at 65
digits: numbers that agree to 30 digits are kept; a derivative that moves with the step
(relu'' at 0 ~ 1/(4h)) is at a kink and is nan; one lost in f's last digits is recomputed
at 200. Results are rounded once to float64 (`to_float64`).

A case that needs arrays (matmul, a reduction over an axis) raises `NotScalar`, and the
backend falls back to float64 finite differences.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np

from .base import Result, hessian_pairs
from .namespace import from_table

DIGITS = 50  # mpmath working precision, in significant digits


class NotScalar(Exception):
    """The case needs arrays (matmul, a reduction over an axis): no mpmath evaluation."""


def mpmath_derivatives(case, order: int, result: Result) -> None:
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
    corners = _one_sided_kinks(case) if order >= 1 else []
    if corners:
        note = f"{', '.join(corners)}: the one-sided derivatives differ (a corner)"
        result.info["kink"] = "; ".join(filter(None, [result.info.get("kink"), note]))


def _one_sided_kinks(case) -> list[str]:
    """The inputs along which f has a corner: left and right derivatives differ.

    A central difference cannot see a corner (at relu's kink it averages 0 and 1 into a
    steady 1/2), so each first derivative is also taken from each side.
    """
    import mpmath

    names = tuple(case.inputs)
    ops = _mpmath_namespace()
    corners = []
    with mpmath.workdps(DIGITS):
        point = {name: mpmath.mpf(float(case.inputs[name])) for name in names}
        for name in case.differentiated:
            def along(t, name=name):
                return _real(case.fn(ops, **{**point, name: point[name] + t}))
            # A step far below |x| (1e-300 is tiny, yet 1e-50 would leap across it).
            step = abs(point[name]) * mpmath.mpf(10) ** -25 or mpmath.mpf(10) ** -30
            try:
                left = mpmath.diff(along, 0, h=step, direction=-1)
                right = mpmath.diff(along, 0, h=step, direction=1)
            except (ValueError, ZeroDivisionError, TypeError):
                continue
            if not (mpmath.isfinite(left) and mpmath.isfinite(right)):
                continue
            if abs(left - right) > mpmath.mpf(10) ** -20 * max(1, abs(left), abs(right)):
                corners.append(name)
    return corners


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

    own = {
        "sin": real(periodic(mpmath.sin, "sin")), "cos": real(periodic(mpmath.cos, "cos")),
        "tan": real(periodic(mpmath.tan, "tan")), "log": real(log),
        "maximum": extreme(max), "minimum": extreme(min),
        "where": lambda condition, a, b: _real(a) if condition else _real(b),
        "sum": reduce, "mean": reduce, "matmul": matmul, "grad": grad,
    }
    return from_table("mpmath", mpmath, lambda entry, function: real(function), own)


def _number(value: float) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)
