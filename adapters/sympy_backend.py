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
out rounded once, IEEE readings of zoo) live in `adapters.sympy_ops`, the evaluation of a
formula at the point in `adapters.sympy_point`; this module holds the backend: building the
formula, differentiating it, and its size limits.
"""

from __future__ import annotations

import copy

import numpy as np

from .base import Backend, Result, hessian_pairs
from .sympy_ops import (
    DIGITS,
    FLOAT_DENOMINATOR,
    MAX_CALLS,
    Inexpressible,
    exact_constant,
    exact_number,
    namespace,
    to_float64,
)
from .sympy_point import MAX_DIGITS, UNDECIDABLE, Unevaluable, evaluate_at

__all__ = [
    "DIGITS", "MAX_CALLS", "MAX_DEPTH", "MAX_DERIVATIVE_TREE", "MAX_DIGITS", "MAX_TREE",
    "Inexpressible", "SympyBackend", "exact_number", "to_float64",
]

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
            constants: dict = {}    # float constants as symbols: {symbol: exact value}
            raw = sp.sympify(_built(case, namespace(constants), symbols))
            # Floats also enter through Python operators (x * 0.1): the same way.
            exact = raw.xreplace({f: exact_constant(exact_number(float(f)), constants)
                                  for f in raw.atoms(sp.Float)})
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
        result.value = np.asarray(evaluate_at(exact, point, "value", notes))
        for name, derivative in first.items():
            result.grad[name] = np.asarray(evaluate_at(derivative, point, f"d/d{name}", notes))
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
            result.hessian[(a, b)] = np.asarray(evaluate_at(derivative, point, key, notes))
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
        if not any(text in str(error) for text in UNDECIDABLE):
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
    floats.update((r, sp.Float(r.p / r.q)) for r in expr.atoms(sp.Rational)
                  if r.q > FLOAT_DENOMINATOR)
    return str(expr.xreplace(floats) if floats else expr)
