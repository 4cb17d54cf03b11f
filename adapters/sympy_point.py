"""An exact formula at the case's point: DIGITS significant digits, rounded once to float64.

The point is exact (a float64 is a binary fraction). Where sympy, given exact numbers, would
decide something symbolically or at a few digits, this module decides it numerically at
DIGITS digits instead; every such place was found by fuzzing and names its case in
`cases/found/`:
- a comparison (a where's condition) from the two sides' difference (`_decided`);
- Heaviside and sign from their argument (`_signs_decided`), DiracDelta likewise
  (`_delta_value`);
- a power whose exponent varies (x**x) from an unevaluated power (`_numeric_powers`).
Where sympy cannot evaluate a formula at all (a comparison meets nan or a complex number),
`Unevaluable` lets the oracle step aside for the numeric one.
"""

from __future__ import annotations

import math

from .sympy_ops import DIGITS, ieee_value, to_float64

MAX_DIGITS = 800  # evalf's working-precision cap (maxn): enough for cancellations near 1e-300


class Unevaluable(Exception):
    """sympy cannot evaluate a formula at the point (the oracle steps aside)."""


def _delta_value(delta):
    """DiracDelta(u) at a point: 0 where u is a nonzero number, nan at u = 0 (a kink).

    sympy evaluates DiracDelta(u) to 0 only when it can prove u nonzero symbolically; at
    DiracDelta(1 - tan(log(3846428709810037/2**57))) it cannot, so u is evaluated at
    DIGITS digits: nonzero there means nonzero.
    """
    import sympy as sp

    number = _at_digits(delta.args[0])     # 0 to MAX_DIGITS digits: the kink itself
    if number.is_Number and number.is_finite and number != 0:
        return sp.Integer(0)
    return sp.nan


def _at_digits(number):
    """A numeric sympy expression at DIGITS digits; exactly 0 where it is zero to
    MAX_DIGITS digits (a tie, a kink: strict evalf cannot tell it from a cancellation)."""
    import sympy as sp
    from sympy.core.evalf import PrecisionExhausted

    try:
        return number.evalf(DIGITS, maxn=MAX_DIGITS, strict=True)
    except PrecisionExhausted:
        return sp.Integer(0)


def _signs_decided(expr, point: dict):
    """`expr` with each Heaviside(u) and sign(u) replaced by its value at the point, from the
    sign of u at DIGITS digits (Heaviside(0) stays sympy's 1/2, sign(0) is 0).

    Found by fuzzing (fuzz-s18-231): substituting the point into Heaviside(u) lets sympy
    settle it at once by `u.is_positive`, which it works out at a few digits. At x = 1/2,
    u = x**x - atan2(sin(tan(x)), sqrt(x) - x**x) is -0.86, but it contains
    sqrt(x) - x**x = 2e-72 (x**x at 90 digits), and at low precision u came out positive:
    d/dx max(...) was -0.726 against the true -0.943. So the point goes into u alone, with
    exact arithmetic (unevaluated, exp(0) - 1 would stay a zero that strict evalf cannot
    tell from a cancellation: fuzz-s20-1273), and u's sign is read at DIGITS digits. Also:
    evalf leaves Heaviside(-1 + 1/sqrt(-1 + exp(sqrt(11827031224970878)/2**29))) as it is.
    """
    import sympy as sp

    rules = {}
    for step in expr.atoms(sp.Heaviside, sp.sign):
        number = _at_digits(step.args[0].xreplace(point))  # exact arithmetic: exp(0) - 1 is 0
        if number.is_Number and number.is_finite:       # else left to sympy, after the point
            rules[step] = step.func(number, *step.args[1:])     # on a number: 0, 1/2 or 1
    return expr.xreplace(rules) if rules else expr


# What sympy says when a comparison meets nan or a complex number (see `evaluate_at`).
UNDECIDABLE = ("not comparable", "Invalid NaN comparison", "Invalid comparison of non-real")


def evaluate_at(expr, point: dict, quantity: str, notes: list[str]) -> float:
    """`expr` at the exact point with DIGITS digits, rounded once to float64.

    Raises:
        Unevaluable: sympy evaluates every branch of a Piecewise, and Max, Min and `>=`
            refuse an operand that is nan or complex there: Max(0, atan2(0, 0)), or
            Min(y, y**y) at y = -0.25 in a branch the point does not take. The value may
            well exist, so the oracle steps aside for the numeric one (lazy comparisons).
    """
    try:
        return _evaluate_number(expr, point, quantity, notes)
    except (ValueError, TypeError) as error:
        message = str(error).strip()
        if not any(text in message for text in UNDECIDABLE):
            raise
        raise Unevaluable(f"{quantity}: sympy cannot evaluate it at this point "
                          f"({message})") from None


def _decided(expr, point: dict):
    """`expr` with each comparison (a where's condition) replaced by its truth at the point.

    Found by fuzzing: given exact numbers, sympy decides exp(atan2(x, log(1 + x))) > 3/2
    symbolically (as_real_imag, logcombine) and, at x = -5284321415188873/2**53, built
    integers of gigabytes for minutes. The two sides' difference at DIGITS digits decides
    it in a millisecond; a difference zero to MAX_DIGITS digits is a tie. A power whose
    exponent varies goes in numerically, as everywhere (`_numeric_powers`): x**x >= 1.0
    took minutes otherwise (fuzz-s20-1007).
    """
    from sympy.core.relational import Relational

    rules = {}
    for comparison in expr.atoms(Relational):
        difference = _numeric_powers(comparison.lhs - comparison.rhs, point).xreplace(point)
        number = _at_digits(difference)
        if not (number.is_Number and number.is_finite):
            raise Unevaluable(f"the condition {comparison} is {number} at the point")
        rules[comparison] = comparison.func(number, 0)
    return expr.xreplace(rules) if rules else expr


def _numeric_powers(expr, point: dict):
    """`expr` with each power whose exponent varies (x**x) replaced by its value at the
    point, computed at DIGITS + 20 digits.

    Found by fuzzing (fuzz-s10-6549, sin(x ** x) at x = 0.6633): given exact numbers, sympy
    works x**x out as an exact power of rationals with 2**53 denominators (minutes and
    gigabytes, beyond any time limit); evalf of the unevaluated power takes microseconds.
    """
    import sympy as sp

    def numeric(power):
        base, exponent = power.base.xreplace(point), power.exp.xreplace(point)
        return sp.Pow(base, exponent, evaluate=False).evalf(DIGITS + 20)

    return expr.replace(lambda e: e.is_Pow and bool(e.exp.free_symbols), numeric)


def _evaluate_number(expr, point: dict, quantity: str, notes: list[str]) -> float:
    import sympy as sp
    from sympy.core.evalf import PrecisionExhausted

    at = _signs_decided(_numeric_powers(_decided(expr, point), point), point).xreplace(point)
    deltas = {delta: _delta_value(delta) for delta in at.atoms(sp.DiracDelta)}
    at = at.xreplace(deltas) if deltas else at
    deltas = [delta for delta, value in deltas.items() if value is sp.nan]
    if deltas:
        # A kink's second derivative: DiracDelta(0) has no value.
        notes.append(f"{quantity}: {', '.join(map(str, deltas))} (derivative of a kink); nan")
    try:
        number = at.evalf(DIGITS, maxn=MAX_DIGITS, strict=True)
    except PrecisionExhausted:
        # The value cancels below 10**-MAX_DIGITS: what evalf returns is zero to that level.
        number = at.evalf(DIGITS, maxn=MAX_DIGITS)
        notes.append(f"{quantity}: cancels beyond {MAX_DIGITS} digits; reported as {number}")
    if number is sp.zoo:
        value = ieee_value(expr, point)
        notes.append(f"{quantity}: sympy gives complex infinity (zoo); IEEE reading: {value}")
        return value
    if number is sp.nan:
        if not deltas:
            notes.append(f"{quantity}: sympy gives nan (undefined) for {expr}")
        return math.nan
    if number.free_symbols:
        raise ValueError(f"{quantity} did not evaluate to a number: {number}")
    real, imaginary = number.as_real_imag()
    if imaginary != 0 and abs(imaginary) <= abs(real) * sp.Float(10) ** -(2 * DIGITS):
        # evalf's noise, not a complex number: atan2(u, u) / tanh(atan2(u, u)) at
        # u = tan(sigmoid(0.205)) came back as 1.1976... + 4.9e-271*I.
        notes.append(f"{quantity}: imaginary part {imaginary} dropped (evalf noise)")
        imaginary = 0
    if imaginary != 0:
        notes.append(f"{quantity}: complex value {number}; reported as nan")
        return math.nan
    return to_float64(real)
