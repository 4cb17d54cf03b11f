"""The `sympy` backend: the exact oracle for scalar cases.

The case runs once on real sympy symbols, which turns it into a formula; `diff` gives the
exact first and second derivatives. Each formula is evaluated at the case's inputs taken
exactly (a float64 is a binary fraction, so `Rational(x)` is its exact value; float
constants in the case are taken exactly too) with 50 significant digits (evalf, adaptive,
strict, up to 800 digits of working precision), then rounded once to float64. The reference
is the same float64 numbers for every dtype: a float32 run of this backend returns them
unchanged (float64) and says so in `info["notes"]`; the dtypes share one computation.

Where sympy's answer is not a real number: complex infinity (zoo) is read with IEEE
conventions where the sign is clear (log(0) = -inf, 1/0 = +inf), else nan; complex values
(sqrt(-1)) and nan are nan; DiracDelta(0) (a kink's second derivative) is nan. Every such
reading is written to `info["notes"]`. Conventions at kinks are sympy's own, and recorded
rather than hidden: d/dx Max(x, 0) is Heaviside(x) and Heaviside(0) = 1/2; d/dx Abs(x) is
sign(x) and sign(0) = 0; where(c, a, b) is Piecewise, so at the switch the else branch.

Unsupported: array inputs or constants, matmul, conditions sympy cannot state (x == y is a
structural Python bool), and cases too big to be exact quickly (more than 100 vocabulary
calls, depth over 40, trees over 500 nodes or derivatives over 2000): the numeric oracle
covers those. `info["formula"]` holds each quantity as text, as `diff` leaves it.

The vocabulary on sympy symbols and the number conversions (float64 in exactly, float64
out rounded once, IEEE readings of zoo) live in `adapters.sympy_ops`; this module holds
the backend, its size limits and the evaluation of each formula.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from .base import Backend, Result, hessian_pairs
from .sympy_ops import (
    DIGITS,
    MAX_CALLS,
    Inexpressible,
    constants_as_symbols,
    exact_number,
    ieee_value,
    namespace,
    to_float64,
)

__all__ = [
    "DIGITS", "MAX_CALLS", "MAX_DEPTH", "MAX_DERIVATIVE_TREE", "MAX_DIGITS", "MAX_TREE",
    "Inexpressible", "SympyBackend", "exact_number", "to_float64",
]

MAX_DIGITS = 800  # evalf's working-precision cap (maxn): enough for cancellations near 1e-300
MAX_TREE = 500  # tree nodes of the expression (and of a first derivative to differentiate)
MAX_DERIVATIVE_TREE = 2000  # tree nodes of a derivative to evaluate (evalf: ~1 ms a node)
MAX_DEPTH = 40  # nesting depth (sympy recurses: deeper chains are slow, then fail)
_CACHE: dict = {}


class SympyBackend(Backend):
    name = "sympy"
    description = "exact symbolic derivatives (sympy.diff), evaluated at 50 digits"

    def available(self) -> tuple[bool, str]:
        try:
            import sympy  # noqa: F401
        except ImportError as error:
            return False, f"sympy is not installed ({error})"
        return True, ""

    def versions(self) -> dict[str, str]:
        import mpmath
        import sympy
        return {"sympy": sympy.__version__, "mpmath": mpmath.__version__}

    def unsupported(self, case, dtype: str, order: int) -> str | None:
        if case.constants:
            return f"sympy: case {case.name!r} has array constants; only scalar cases"
        shaped = [name for name, value in case.inputs.items() if np.ndim(value) != 0]
        if shaped:
            return f"sympy: case {case.name!r} has array inputs ({', '.join(shaped)})"
        return None

    def _evaluate(self, case, dtype: str, order: int) -> Result:
        # The runner asks for every dtype in turn: the exact answer is the same, so the
        # last few are kept (the case is held too, so its id stays its own).
        key = (id(case), order, tuple(float(v) for v in case.inputs.values()))
        if key not in _CACHE:
            while len(_CACHE) >= 16:
                _CACHE.pop(next(iter(_CACHE)))
            try:
                computed = self._exact(case, order)
            except RecursionError:  # sympy walks expressions recursively: too deep for it
                computed = Result(self.name, case.name, dtype, order, status="unsupported",
                                  mode="exact", error=f"sympy: case {case.name!r}: nested "
                                  "too deeply for sympy (RecursionError)")
            except Unevaluable as error:
                computed = Result(self.name, case.name, dtype, order, status="unsupported",
                                  mode="exact", error=f"sympy: case {case.name!r}: {error}")
            _CACHE[key] = (case, computed)
        result = copy.deepcopy(_CACHE[key][1])
        result.dtype = dtype
        if dtype != "float64" and result.status == "ok":
            result.info.setdefault("notes", []).append(
                f"{dtype} requested: the numbers are the exact values rounded to float64, "
                "the reference for every dtype")
        return result

    def _exact(self, case, order: int) -> Result:
        import sympy as sp

        symbols = {name: sp.Symbol(name, real=True) for name in case.inputs}
        result = Result(self.name, case.name, "float64", order, mode="exact")
        try:
            raw = sp.sympify(_built(case, namespace(), symbols))
            # Floats enter through Python operators (x * 0.1): take them exactly.
            exact = raw.xreplace({f: exact_number(float(f)) for f in raw.atoms(sp.Float)})
            # ... and as symbols while sympy works: its assumption queries choke on them.
            exact, constants = constants_as_symbols(exact)
            _check_size(exact, "the expression", MAX_TREE)
            names = case.differentiated
            first = {}
            for name in names if order >= 1 else ():
                first[name] = _settled(sp.diff(exact, symbols[name]))
            for derivative in first.values():
                _check_size(derivative, "a first derivative", MAX_DERIVATIVE_TREE)
        except Inexpressible as error:
            result.status = "unsupported"
            result.error = f"sympy: case {case.name!r}: {error}"
            return result
        point = {symbols[name]: exact_number(value) for name, value in case.inputs.items()}
        point.update(constants)
        notes: list[str] = []
        formula = {"value": _printed(exact, constants)}
        result.value = np.asarray(_evaluate_at(exact, point, "value", notes))
        for name, derivative in first.items():
            result.grad[name] = np.asarray(_evaluate_at(derivative, point, f"d/d{name}", notes))
            formula[f"d/d{name}"] = _printed(derivative, constants)
        second = {}
        try:
            for a, b in hessian_pairs(names) if order >= 2 else ():
                _check_size(first[a], f"d/d{a}", MAX_TREE)
                second[(a, b)] = _settled(sp.diff(first[a], symbols[b]))
                _check_size(second[(a, b)], f"d2/d{a}d{b}", MAX_DERIVATIVE_TREE)
        except Inexpressible as error:
            notes.append(f"hessian skipped: {error}")
            second = {}
        for (a, b), derivative in second.items():
            key = f"d2/d{a}d{b}"
            result.hessian[(a, b)] = np.asarray(_evaluate_at(derivative, point, key, notes))
            formula[key] = _printed(derivative, constants)
        result.info = {"formula": formula, "digits": DIGITS,
                       "reference": "exact, rounded once to float64 (for every dtype)"}
        if notes:
            result.info["notes"] = notes
        return result


def _built(case, ops, symbols: dict):
    """The case as a sympy formula; Unevaluable where a comparison meets nan.

    x - x is 0 symbolically and atan2(0, 0) is nan, so `nan >= -0.5` raises "Invalid NaN
    comparison" and Min(0, nan) "not comparable": no formula to differentiate; the numeric
    oracle gives the reference.
    """
    try:
        return case.fn(ops, **symbols)
    except (TypeError, ValueError) as error:
        if not any(text in str(error) for text in _UNDECIDABLE):
            raise
        raise Unevaluable(f"a comparison meets nan or a complex number: {error}") from None


def _settled(derivative):
    """`derivative` with sympy's unevaluated `Derivative(sign(u), v)` worked out.

    sympy differentiates sign(u) only when it can prove u real (for x/atan2(1.5, y) it
    cannot), and an unevaluated Derivative cannot be evaluated at a point (xreplace raises
    "Can't calculate derivative wrt 0.5"). Every case here is real-valued, so
    sign(u) = 2 Heaviside(u) - 1 (equal at 0 too, Heaviside(0) = 1/2), whose derivative
    2 DiracDelta(u) u' sympy knows. Any other unevaluated derivative is refused.
    """
    import sympy as sp

    for _ in range(8):      # u may hold a sign itself, whose derivative is left again
        pending = derivative.atoms(sp.Derivative)
        if not pending:
            return derivative
        rules = {}
        for item in pending:
            if not isinstance(item.expr, sp.sign):
                raise Inexpressible(f"sympy left {item} unevaluated")
            step = 2 * sp.Heaviside(item.expr.args[0]) - 1
            rules[item] = sp.diff(step, *item.variable_count)
        derivative = derivative.xreplace(rules)
    raise Inexpressible(f"sympy keeps leaving derivatives of sign unevaluated: {derivative}")


def _check_size(expr, what: str, limit: int) -> None:
    """Inexpressible when `expr` is too big to evaluate quickly.

    evalf walks the expression as a tree (a shared subexpression is evaluated each time it
    is used) at ~1 ms a node, so the measure is the tree size, counted over the DAG.
    """
    tree: dict = {}
    depth: dict = {}
    stack = [(expr, False)]
    while stack:  # iterative post-order: deep chains must not hit the recursion limit
        node, ready = stack.pop()
        if node in tree:
            continue
        if ready:
            tree[node] = 1 + sum(tree[arg] for arg in node.args)
            depth[node] = 1 + max((depth[arg] for arg in node.args), default=0)
            continue
        stack.append((node, True))
        stack.extend((arg, False) for arg in node.args if arg not in tree)
    if tree[expr] > limit or depth[expr] > MAX_DEPTH:
        raise Inexpressible(f"{what} has {tree[expr]} nodes as a tree, depth {depth[expr]} "
                            f"(limits {limit} and {MAX_DEPTH}): too large for the exact "
                            "oracle; the numeric oracle covers it")


def _printed(expr, constants: dict) -> str:
    """The formula as text, as `diff` leaves it (already canonical: `y + cos(x)`).

    Constants that came in as floats are symbols here (`constants`: their exact binary
    fractions); they print as the float they equal (0.1, not 3602879701896397/2**55), as
    does any other fraction with a large denominator. Not simplified:
    `simplify` costs 0.02 s to 5 s per formula (tanh's second derivatives) and as often
    reads worse (`w*(1 - tanh(u)**2)` becomes `-w*tanh(u)**2 + w`).
    """
    import sympy as sp

    floats = {symbol: sp.Float(value.p / value.q) for symbol, value in constants.items()}
    floats.update((r, sp.Float(r.p / r.q)) for r in expr.atoms(sp.Rational) if r.q > 1024)
    return str(expr.xreplace(floats) if floats else expr)


class Unevaluable(Exception):
    """sympy cannot evaluate a formula at the point (the oracle steps aside)."""


def _delta_value(delta):
    """DiracDelta(u) at a point: 0 where u is a nonzero number, nan at u = 0 (a kink).

    sympy evaluates DiracDelta(u) to 0 only when it can prove u nonzero symbolically; at
    DiracDelta(1 - tan(log(3846428709810037/2**57))) it cannot, so u is evaluated at
    DIGITS digits: nonzero there means nonzero.
    """
    import sympy as sp
    from sympy.core.evalf import PrecisionExhausted

    try:
        number = delta.args[0].evalf(DIGITS, maxn=MAX_DIGITS, strict=True)
    except PrecisionExhausted:      # zero to MAX_DIGITS digits: the kink itself
        return sp.nan
    if number.is_Number and number.is_finite and number != 0:
        return sp.Integer(0)
    return sp.nan


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
    from sympy.core.evalf import PrecisionExhausted

    rules = {}
    for step in expr.atoms(sp.Heaviside, sp.sign):
        argument = step.args[0].xreplace(point)     # exact arithmetic: exp(0) - 1 is 0
        try:
            number = argument.evalf(DIGITS, maxn=MAX_DIGITS, strict=True)
        except PrecisionExhausted:      # zero to MAX_DIGITS digits
            number = sp.Integer(0)
        if not (number.is_Number and number.is_finite):
            continue                    # left to sympy, after the point goes in
        if isinstance(step, sp.sign):
            rules[step] = sp.Integer(int(bool(number > 0)) - int(bool(number < 0)))
        elif number == 0:
            rules[step] = step.func(sp.Integer(0), *step.args[1:])
        else:
            rules[step] = sp.Integer(1) if number > 0 else sp.Integer(0)
    return expr.xreplace(rules) if rules else expr


# What sympy says when a comparison meets nan or a complex number (see `_evaluate_at`).
_UNDECIDABLE = ("not comparable", "Invalid NaN comparison", "Invalid comparison of non-real")


def _evaluate_at(expr, point: dict, quantity: str, notes: list[str]) -> float:
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
        if not any(text in message for text in _UNDECIDABLE):
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
    import sympy as sp
    from sympy.core.evalf import PrecisionExhausted
    from sympy.core.relational import Relational

    rules = {}
    for comparison in expr.atoms(Relational):
        difference = _numeric_powers(comparison.lhs - comparison.rhs, point).xreplace(point)
        try:
            number = difference.evalf(DIGITS, maxn=MAX_DIGITS, strict=True)
        except PrecisionExhausted:
            number = sp.Integer(0)
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
