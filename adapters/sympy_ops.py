"""The sympy side of the exact oracle: the ops vocabulary on real symbols, and numbers in
and out.

`namespace()` is the ops vocabulary written with sympy functions, so a case run on sympy
symbols becomes a formula; Python numbers enter exactly (`exact_number`: a float64 is a
binary fraction, so `Rational(x)` is its exact value), and what sympy cannot state (matmul,
arrays, a structural `==`, more than MAX_CALLS calls) raises `Inexpressible`. On the way
out, `to_float64` rounds a sympy number once to float64, and `ieee_value` reads complex
infinity (zoo) with IEEE conventions where the sign is clear (log(0) = -inf, 1/0 = +inf).
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np

from .namespace import from_table

DIGITS = 50  # significant digits of every evaluation
MAX_CALLS = 100  # vocabulary calls while building: beyond this the case is too big to be exact
# A fraction with a larger denominator came from a float (a binary fraction: 0.1 is x/2**55).
FLOAT_DENOMINATOR = 1024


class Inexpressible(Exception):
    """The case uses something a scalar symbolic formula cannot say (matmul, arrays, ...)."""


def exact_number(value: float) -> Any:
    """The exact sympy number equal to a float64 (oo, -oo, nan for the non-finite ones)."""
    import sympy as sp

    value = float(value)
    if math.isnan(value):
        return sp.nan
    if math.isinf(value):
        return sp.oo if value > 0 else -sp.oo
    if value.is_integer():
        return sp.Integer(int(value))
    return sp.Rational(value)  # exact: the binary fraction, not the shortest decimal


def _exact(value: Any) -> Any:
    """A case's operand as a sympy object: Python numbers exactly, arrays refused."""
    import sympy as sp

    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, (bool, np.bool_)):
        raise Inexpressible("a comparison gave a Python bool: sympy compares == and != "
                            "structurally, so this condition cannot be written")
    if isinstance(value, (int, float, np.floating, np.integer)):
        return exact_number(float(value))
    raise Inexpressible(f"operand of type {type(value).__name__} is not a scalar")


def namespace(constants: dict | None = None) -> SimpleNamespace:
    """The ops vocabulary written with sympy functions of real symbols (at most MAX_CALLS
    calls: a bigger case is refused before sympy spends seconds building it).

    A float constant of the case (0.1 in pow(x, 0.1)) enters as a signed symbol, recorded in
    `constants` ({symbol: exact value}; see `exact_constant` for why).
    """
    import sympy as sp

    constants = {} if constants is None else constants

    def exact(value):
        return exact_constant(_exact(value), constants)

    calls = [0]

    def counted(function):
        def call(*args, **options):
            calls[0] += 1
            if calls[0] > MAX_CALLS:
                raise Inexpressible(f"more than {MAX_CALLS} vocabulary calls: too large "
                                    "for the exact oracle; the numeric oracle covers it")
            return function(*args, **options)
        return call

    def where(condition, a, b):
        condition = exact(condition) if isinstance(condition, (bool, np.bool_)) else condition
        return sp.Piecewise((exact(a), condition), (exact(b), True))

    def matmul(a, b):
        raise Inexpressible("matmul needs arrays; the symbolic oracle takes scalar cases")

    def grad(f):
        def derivative(v):
            # Closure semantics: differentiate in a fresh symbol, then put v back, so
            # variables the function captured from outside are held fixed.
            d = sp.Dummy("d", real=True)
            return sp.diff(sp.sympify(f(d)), d).xreplace({d: exact(v)})
        return derivative

    def wrap(entry, function):
        def call(*args, **options):
            return function(*(exact(arg) for arg in args), **options)
        return counted(call)

    own = {"where": counted(where), "matmul": counted(matmul), "grad": counted(grad)}
    return from_table("sympy", sp, wrap, own)


def to_float64(number) -> float:
    """A sympy number rounded once, to nearest, to float64.

    `float(sympy.Float)` truncates (mpmath's fast rounding is round-down), so the digits go
    through a decimal string, which Python rounds correctly, subnormals included.
    """
    import sympy as sp

    if number is sp.nan:
        return math.nan
    if number is sp.oo:
        return math.inf
    if number is -sp.oo:
        return -math.inf
    if isinstance(number, sp.Rational):
        return number.p / number.q  # int / int is correctly rounded in Python
    return float(str(sp.Float(number, DIGITS)))


def exact_constant(number: Any, constants: dict) -> Any:
    """An exact sympy `number` of the case: itself where that is harmless, else (a float
    constant) a symbol that knows its sign, recorded in `constants` ({symbol: exact value})
    to be put back with the point.

    A float constant is an exact binary fraction (0.1 is 3602879701896397/2**55). Left as a
    number, it ends up in sympy's polynomial machinery, which then grows without bound.
    Found by fuzzing: d2/dx2 of tanh((0.1 x cos x)**(0.1 x cos x)) grew by 170 MB a second
    (tanh's realness check computes gcds; fuzz-s17-788), and building a where over
    pow(x, 0.1) made the inequality solver build a polynomial in x**(1/2**55)
    (fuzz-s23-1789, 7 GiB). As a signed symbol, each takes milliseconds. Integers and
    small fractions (1/2, 3/4) stay numbers: sympy simplifies with them.
    """
    import sympy as sp

    if not (isinstance(number, sp.Rational) and number.q > FLOAT_DENOMINATOR):
        return number
    for symbol, known in constants.items():
        if known == number:
            return symbol
    sign = {"positive": True} if number > 0 else {"negative": True}
    symbol = sp.Dummy(f"c{len(constants)}", **sign)
    constants[symbol] = number
    return symbol


def ieee_value(expr, point: dict) -> float:
    """`expr` at a point where sympy says zoo, read node by node with IEEE conventions where
    the sign is clear (log(0) = -inf, 0**-p = +inf, as float backends compute), else nan."""
    import mpmath

    with mpmath.workdps(DIGITS):
        try:
            value = _ieee_walk(expr, point)
        except (ZeroDivisionError, KeyError, TypeError, ValueError):
            return math.nan
        return float(mpmath.nstr(value, DIGITS)) if isinstance(value, mpmath.mpf) else math.nan


def _ieee_walk(expr, point: dict):
    """One node of `ieee_value`: mpmath numbers, IEEE's infinities; KeyError if unknown."""
    import mpmath
    import sympy as sp

    if expr in point:
        expr = point[expr]
    if expr.is_Number or isinstance(expr, sp.NumberSymbol):
        if expr in (sp.zoo, sp.nan):
            return mpmath.nan
        if expr in (sp.oo, -sp.oo):
            return mpmath.inf if expr is sp.oo else -mpmath.inf
        if expr.is_Rational:
            return mpmath.mpf(expr.p) / expr.q
        return mpmath.mpf(expr.evalf(DIGITS)._mpf_)
    args = [_ieee_walk(arg, point) for arg in expr.args]
    if expr.is_Add:
        return mpmath.fsum(args)
    if expr.is_Mul:
        return mpmath.fprod(args)
    if expr.is_Pow:
        base, exponent = args
        if base == 0 and exponent < 0:
            return mpmath.inf  # IEEE pow(+0, negative) = +inf
        value = mpmath.power(base, exponent)
        return value if isinstance(value, mpmath.mpf) else mpmath.nan
    name = type(expr).__name__
    if name == "log":
        x = args[0]
        return -mpmath.inf if x == 0 else (mpmath.nan if x < 0 else mpmath.log(x))
    functions = {"sin": mpmath.sin, "cos": mpmath.cos, "tan": mpmath.tan,
                 "tanh": mpmath.tanh, "exp": mpmath.exp, "Abs": mpmath.fabs,
                 "sign": mpmath.sign, "atan2": mpmath.atan2, "Max": max, "Min": min,
                 "Heaviside": lambda x: mpmath.mpf(x > 0) if x != 0 else mpmath.mpf(0.5)}
    return functions[name](*args)
