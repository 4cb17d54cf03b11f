"""Floating point at its edges: overflow, underflow, subnormals, cancellation, saturation.

A case's `rtol` is set only where the problem's conditioning costs digits in every float64
framework alike (its note says how many and why), never to hide a disagreement. It is a
float64 setting: float32 rows are judged by the rounding-error model of reports/tolerance.py,
which finds the same conditioning by itself (and ignores `rtol`). Cases
tagged `formula-artifact` show a number that every AD framework computes from the formula
as written and that differs from the exact derivative (an intermediate overflows, or
0 * inf): the finding is the formula's, not a framework's.
"""

from __future__ import annotations

from .case import expression_case

FAMILY = "numerics"

# 1 + x for x = 1e-10 keeps x only to the nearest multiple of 2^-53 ~ 1.1e-16: up to
# 1.1e-6 relative of x is lost before log or exp ever runs. The same for exp(x) - 1.
_ONE_PLUS_TINY_RTOL = 2e-6
# cos(1e-4) = 1 - 5e-9 is rounded to within 1.1e-16 of 1: 1 - cos(x) keeps ~7.6 digits.
_ONE_MINUS_COS_RTOL = 1e-7
# sqrt(1e12 + 1) and sqrt(1e12) agree in 12 of their digits; each is rounded to within
# 5.8e-11 (half an ulp of 1e6), so their difference (5e-7) may be off by 2.3e-4 relative
# (measured: 7.6e-6 for the value, 8e-5 for the gradient, in torch, jax and refad alike).
_SQRT_DIFFERENCE_RTOL = 1e-3

_FLUSH = ("jax on CPU (XLA) flushes subnormals to zero, in float64 too: measured with "
          "jax 0.10 x64")

# (name, expression, inputs, tags, note, rtol)
_ROWS = (
    # -- overflow ------------------------------------------------------------------------
    ("exp-overflow", "exp(x)", {"x": 710.0}, ("overflow",),
     "exp(710) = 2.2e308 is above the float64 maximum 1.8e308: value inf, gradient inf "
     "(torch inf, jax inf), and the exact values round to inf too", None),
    ("exp-near-overflow", "exp(x)", {"x": 709.0}, ("overflow",),
     "exp(709) = 8.2e307 is finite in float64; in float32 it is inf, like the float32 "
     "rounding of the exact value", None),
    ("exp-overflow-float32", "exp(x)", {"x": 89.0}, ("overflow", "float32"),
     "exp(89) = 4.5e38: finite in float64, above the float32 maximum 3.4e38", None),
    ("square-overflow", "square(x)", {"x": 1e200}, ("overflow",),
     "the value (1e400) overflows to inf but the gradient 2x = 2e200 is finite", None),
    ("reciprocal-gradient-overflow", "1 / x", {"x": 1e-300}, ("overflow",),
     "the value 1e300 is finite but the gradient -1/x^2 = -1e600 overflows to -inf", None),
    # -- underflow and subnormals --------------------------------------------------------
    ("exp-underflow", "exp(x)", {"x": -800.0}, ("underflow",),
     "exp(-800) = 3.6e-348 is below the smallest subnormal (4.9e-324): value and gradient "
     "are 0", None),
    ("exp-subnormal", "exp(x)", {"x": -740.0}, ("underflow", "subnormal"),
     f"exp(-740) = 4.2e-322 is a float64 subnormal: torch keeps it; {_FLUSH}, "
     "exp(-740) = 0 (within atol)", None),
    ("subnormal-square", "x * x", {"x": 1e-310}, ("underflow", "subnormal"),
     f"x = 1e-310 is subnormal: x*x underflows to 0 and d/dx = 2x = 2e-310 is subnormal: "
     f"torch 2e-310; {_FLUSH}, gradient 0 (within atol)", None),
    ("subnormal-sqrt", "sqrt(x)", {"x": 1e-310}, ("underflow", "subnormal"),
     f"sqrt(1e-310) = 1e-155 and sqrt' = 5e154: torch keeps both; {_FLUSH}: it reads x as 0, "
     "so value 0 and gradient inf. In float32 the input itself is 0 in every framework "
     "(value 0, gradient inf, and the exact 5e154 rounds to inf in float32)", None),
    ("subnormal-float32-sqrt", "sqrt(x)", {"x": 1e-40}, ("subnormal", "float32"),
     f"1e-40 is normal in float64 but subnormal in float32 (rounded to 9.99995e-41, "
     f"5e-6 relative, which the float32 tolerance model counts): torch float32 sqrt = "
     f"1e-20, gradient 5e19; "
     f"{_FLUSH.replace(', in float64 too', '')}: float32 value 0, gradient inf", None),
    # -- cancellation ----------------------------------------------------------------------
    ("log-one-plus-x-cancellation", "log(1 + x)", {"x": 1e-10}, ("cancellation",),
     "cancellation: 1 + x rounds away ~6 digits of x = 1e-10 (to the nearest 1.1e-16), so "
     "log(1 + x) is off by ~1e-7 relative in every framework; log1p does not lose them "
     "(see log1p-tiny). rtol 2e-6 is that rounding", _ONE_PLUS_TINY_RTOL),
    ("log1p-tiny", "log1p(x)", {"x": 1e-10}, ("cancellation",),
     "log1p(x) never forms 1 + x: every digit is kept", None),
    ("exp-minus-one-cancellation", "exp(x) - 1", {"x": 1e-10}, ("cancellation",),
     "cancellation: exp(1e-10) is rounded to the nearest 1.1e-16 near 1, so exp(x) - 1 "
     "keeps ~6 of its digits in every framework; expm1 keeps all (see expm1-tiny)",
     _ONE_PLUS_TINY_RTOL),
    ("expm1-tiny", "expm1(x)", {"x": 1e-10}, ("cancellation",),
     "expm1 keeps every digit", None),
    ("one-minus-cos-cancellation", "1 - cos(x)", {"x": 1e-4}, ("cancellation",),
     "cancellation: cos(1e-4) = 1 - 5e-9 is rounded to within 1.1e-16 of 1, so 1 - cos(x) "
     "keeps ~7.6 digits (rtol 1e-7); the gradient sin(x) is unaffected", _ONE_MINUS_COS_RTOL),
    ("one-minus-cos-stable", "2 * sin(x / 2) ** 2", {"x": 1e-4}, ("cancellation",),
     "the half-angle form of 1 - cos(x) subtracts nothing: every digit is kept", None),
    ("sqrt-difference-cancellation", "sqrt(x + 1) - sqrt(x)", {"x": 1e12}, ("cancellation",),
     "cancellation: sqrt(1e12 + 1) and sqrt(1e12) share 12 digits and each is rounded to "
     "within 5.8e-11, so the difference 5e-7 can be off by 2.3e-4 relative in every "
     "framework (rtol 1e-3); the two gradient terms cancel the same way (measured 8e-5)",
     _SQRT_DIFFERENCE_RTOL),
    # -- saturation --------------------------------------------------------------------------
    ("tanh-saturated", "tanh(x)", {"x": 30.0}, ("saturation",),
     "tanh(30) rounds to 1, so 1 - tanh^2 = 0 against the exact 3.5e-26: far below atol",
     None),
    ("sigmoid-saturated-negative", "sigmoid(x)", {"x": -40.0}, ("saturation",),
     "sigmoid(-40) = 4.2e-18 and its gradient 4.2e-18 are both representable", None),
    ("sigmoid-saturated-positive", "sigmoid(x)", {"x": 40.0}, ("saturation",),
     "sigmoid(40) rounds to 1 and its gradient (exactly 4.2e-18) to 0", None),
    ("sigmoid-far-negative", "sigmoid(x)", {"x": -800.0}, ("saturation", "underflow"),
     "exp(800) = inf inside sigmoid: value 0 and gradient 0, which are also the exact "
     "values rounded", None),
    # -- formulas that overflow or underflow where the function does not ----------------
    ("logsumexp-naive-overflow", "log(exp(x) + exp(y))", {"x": 1000.0, "y": 1000.0},
     ("overflow", "formula-artifact"),
     "exp(1000) = inf: value inf and gradients inf/inf = nan in every framework, though the "
     "exact value is 1000.69 and both gradients are 0.5; compare logsumexp-shifted", None),
    ("logsumexp-shifted", "x + log1p(exp(y - x))", {"x": 1000.0, "y": 1000.0}, ("overflow",),
     "the shifted log-sum-exp never overflows: 1000 + log(2), gradients 0.5 and 0.5", None),
    ("sigmoid-naive-nan", "1 / (1 + exp(-x))", {"x": -800.0}, ("overflow", "formula-artifact"),
     "sigmoid written by hand: exp(800) = inf, 1/inf = 0, and backward multiplies "
     "d(1/u) = -1/u^2 = -0 by d(exp) = inf: 0 * inf = nan in every framework; the exact "
     "gradient is 0 (compare sigmoid-far-negative)", None),
    ("atan2-tiny", "atan2(y, x)", {"y": 1e-300, "x": 1e-300}, ("underflow", "formula-artifact"),
     "x^2 + y^2 underflows to 0, though the exact gradients are +-5e299: torch (0, -0) "
     "(it masks a zero denominator to 0), jax (inf, -inf) from 1e-300/0. In float32 the "
     "inputs are 0 (the origin)", None),
    # -- large arguments -----------------------------------------------------------------
    ("sin-huge-argument", "sin(x)", {"x": 2.0 ** 60}, ("large-argument",),
     "2^60 is exact in float32 and float64: sin needs an argument reduction modulo 2*pi "
     "accurate to ~80 bits; torch and jax both get it right", None),
    ("sqrt-huge", "sqrt(x)", {"x": 1e300}, ("large-argument",),
     "sqrt(1e300) = 1e150, gradient 5e-151; in float32 the input is inf (value inf, "
     "gradient 0, as the exact values round)", None),
)

def _known(tags: tuple[str, ...], note: str) -> dict[str, str]:
    """Who is known to disagree with the exact answer here, and why (the case's note)."""
    if "formula-artifact" in tags:
        return {"*": note}                 # every AD framework computes the same artifact
    if "subnormal" in tags:
        return {"jax": _FLUSH, "jax-jit": _FLUSH}
    return {}


CASES = tuple(
    expression_case(name, text, inputs, FAMILY, tags=("numerics",) + tags, note=note,
                    rtol=rtol, known=_known(tags, note))
    for name, text, inputs, tags, note, rtol in _ROWS
)
