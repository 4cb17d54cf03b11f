"""Every function of the ops vocabulary, alone, at ordinary points and at the edges of its domain.

The unary and binary cases are generated from small tables: one row per point, named
`<function>-<where>` (`log-near-0`, `atan2-quadrant-3`). Kinks (relu and abs at 0, ties,
the where switch) live in `nonsmooth.py`; overflow and cancellation in `numerics.py`.
"""

from __future__ import annotations

import numpy as np

from .case import expression_case

FAMILY = "primitives"

# Near tan's pole the relative condition number is x * (1 + tan^2 x) / tan x ~ x * tan x ~ 2e3
# (value) and ~4e3 for tan' = 1 + tan^2 (and for tan''). float32's rounding of the input
# (~3e-8 relative at 1.57) becomes ~1e-4 relative in the results. No hand-set rtol: the float32
# tolerance model (reports/tolerance.py) derives exactly that from the conditioning (its
# bound is |tan'(x)| |x - float32(x)|, and the error measured is 0.995 of it); float64 inputs
# are exact and need nothing either.
_TAN_POLE_NOTE = ("near the pole at pi/2 (1.5707963...): tan(1.57) = 1255.8, condition number "
                  "~x*tan(x) = 2e3 for the value and ~4e3 for the derivatives, so float32's "
                  "rounding of the input (3e-8) costs ~1e-4 relative in every framework: the "
                  "float32 tolerance model's bound is that conditioning, not a framework "
                  "difference")

# function -> rows of (where, x, note); the expression is `function(x)`.
_UNARY: dict[str, tuple[tuple[str, float, str], ...]] = {
    "sin": (("ordinary", 0.7, ""), ("negative", -2.2, ""),
            ("large", 1e6, "1e6 is exact in float32 too; the library must reduce the "
                           "argument modulo 2*pi accurately")),
    "cos": (("ordinary", 0.7, ""), ("at-0", 0.0, "cos'(0) = -sin(0) = -0.0"),
            ("near-pi", 3.0, "")),
    "tan": (("ordinary", 0.4, ""), ("negative", -1.2, ""),
            ("near-half-pi", 1.57, _TAN_POLE_NOTE)),
    "tanh": (("ordinary", 0.5, ""), ("negative", -2.0, ""),
             ("large", 20.0, "saturated: tanh' = 1 - tanh^2 = 1.7e-17, below every atol")),
    "exp": (("ordinary", 1.0, ""), ("negative", -3.0, ""),
            ("large", 50.0, "exp' = exp: value and gradient 5.2e21"),
            ("small", -50.0, "exp(-50) = 1.9e-22: value and gradient far below atol")),
    "log": (("ordinary", 2.0, ""), ("below-1", 0.3, ""),
            ("near-0", 1e-30, "log near 0+: log'(x) = 1/x = 1e30 and log'' = -1e60 "
                              "(1e-30 is a normal float32)"),
            ("large", 1e30, "log' = 1e-30: tiny but exact")),
    "sqrt": (("ordinary", 4.0, ""), ("below-1", 0.5, ""),
             ("tiny", 1e-30, "sqrt(1e-30) = 1e-15, sqrt' = 1/(2 sqrt(x)) = 5e14: large but "
                             "finite; at exactly 0 it is inf (see nonsmooth)"),
             ("large", 1e30, "")),
    "abs": (("negative", -1.5, "abs' = sign(x) = -1"), ("positive", 2.0, "")),
    "relu": (("positive", 1.5, ""), ("negative", -1.5, "relu' = 0 for x < 0")),
    "sigmoid": (("at-0", 0.0, "sigmoid'(0) = 1/4, the steepest point"),
                ("positive", 2.5, ""), ("negative", -3.0, "")),
    "square": (("negative", -1.5, ""), ("positive", 3.0, "")),
    "log1p": (("ordinary", 0.5, ""), ("negative", -0.5, ""),
              ("near-minus-1", -0.999, "log1p'(x) = 1/(1+x) = 1000; in float32 the input "
                                       "rounds to -0.99900001, moving 1+x by 1.3e-5 relative")),
    "expm1": (("ordinary", 0.5, ""), ("negative", -2.0, ""),
              ("small", 1e-8, "expm1 keeps every digit of exp(x) - 1 for small x")),
}

# (name, expression, inputs, note)
_BINARY = (
    ("pow-ordinary", "pow(x, y)", {"x": 2.0, "y": 3.0},
     "d/dx = y*x^(y-1) = 12, d/dy = x^y*log(x) = 8*log(2)"),
    ("pow-negative-exponent", "pow(x, y)", {"x": 0.5, "y": -1.5}, ""),
    ("pow-fractional", "pow(x, y)", {"x": 3.0, "y": 0.5}, "x^0.5 is sqrt(x) away from 0"),
    ("pow-large", "pow(x, y)", {"x": 10.0, "y": 30.0}, "1e30: d/dy = 1e30*log(10)"),
    ("pow-negative-base-cube", "pow(x, 3)", {"x": -2.0},
     "negative base, integer exponent (a constant): (-2)^3 = -8, d/dx = 3*x^2 = 12; the "
     "exponent is not differentiated because d/dy x^y = x^y*log(x) is nan for x < 0"),
    ("pow-negative-base-inverse-square", "x ** -2", {"x": -1.5},
     "negative base, negative integer exponent: d/dx = -2*x^-3 = 0.5926"),
    ("pow-operator", "x ** y", {"x": 1.7, "y": 2.2}, "the ** operator is pow"),
    ("atan2-quadrant-1", "atan2(y, x)", {"y": 1.0, "x": 1.0},
     "atan2(y, x): d/dy = x/(x^2+y^2), d/dx = -y/(x^2+y^2)"),
    ("atan2-quadrant-2", "atan2(y, x)", {"y": 1.0, "x": -1.0}, "value 3*pi/4"),
    ("atan2-quadrant-3", "atan2(y, x)", {"y": -1.0, "x": -1.0}, "value -3*pi/4"),
    ("atan2-quadrant-4", "atan2(y, x)", {"y": -1.0, "x": 1.0}, "value -pi/4"),
    ("atan2-unequal", "atan2(y, x)", {"y": 3.0, "x": 0.25}, ""),
    ("maximum-ordinary", "maximum(x, y)", {"x": 0.3, "y": 0.9}, "the gradient goes to y"),
    ("maximum-first-wins", "max(x, y)", {"x": 2.0, "y": -1.0}, "max spells maximum"),
    ("maximum-with-float", "maximum(x, 0.5)", {"x": 1.2}, "a Python float as one argument"),
    ("minimum-ordinary", "minimum(x, y)", {"x": 0.3, "y": 0.9}, "the gradient goes to x"),
    ("minimum-with-float", "min(x, 0.5)", {"x": 1.2}, "min spells minimum; x loses: d/dx = 0"),
    ("where-true-branch", "where(x > 0, x * x, -x)", {"x": 1.5},
     "where passes the gradient to the chosen branch only: d/dx = 2x"),
    ("where-false-branch", "where(x > 0, x * x, -x)", {"x": -1.5}, "d/dx = -1"),
    ("where-two-inputs", "where(x < y, sin(x), cos(y))", {"x": 0.2, "y": 1.1},
     "x < y picks sin(x): d/dy = 0 although y decided the branch"),
)

_RNG = np.random.default_rng(1)
_VECTOR = np.round(_RNG.normal(size=4), 3)
_MATRIX_A = np.round(_RNG.normal(size=(2, 3)), 3)
_MATRIX_B = np.round(_RNG.normal(size=(3, 2)), 3)

# (name, expression, inputs, note): the reductions and matmul on arrays
_ARRAYS = (
    ("sum-vector", "sum(x * x)", {"x": _VECTOR}, "d/dx_i = 2 x_i"),
    ("sum-axis", "sum(sum(x, axis=0) * sum(x, axis=1, keepdims=True))", {"x": _MATRIX_A},
     "sum over each axis, then an outer-product-like broadcast"),
    ("mean-vector", "mean(sin(x))", {"x": _VECTOR}, "d/dx_i = cos(x_i) / 4"),
    ("mean-axis", "sum(mean(x * x, axis=1))", {"x": _MATRIX_A}, "d/dx_ij = 2 x_ij / 3"),
    ("matmul-2d", "sum(x @ y)", {"x": _MATRIX_A, "y": _MATRIX_B},
     "d/dx = 1 @ y^T: each row of the gradient is y's row sums"),
    ("matmul-dot", "x @ y", {"x": _VECTOR[:3], "y": _MATRIX_B[:, 0]},
     "1-d @ 1-d is the dot product, already a scalar"),
    ("matmul-function", "sum(matmul(x, y))", {"x": _MATRIX_B, "y": _MATRIX_A},
     "matmul() is the @ operator"),
)


def _unary_cases() -> list:
    cases = []
    for function, rows in _UNARY.items():
        for where, x, note in rows:
            tags = ("primitive", function) + (("domain-edge",) if "near" in where else ())
            cases.append(expression_case(f"{function}-{where}", f"{function}(x)", {"x": x},
                                         FAMILY, tags=tags, note=note))
    return cases


def _table_cases(rows: tuple, extra_tags: tuple[str, ...]) -> list:
    cases = []
    for name, text, inputs, note in rows:
        function = name.split("-")[0]
        cases.append(expression_case(name, text, inputs, FAMILY,
                                     tags=("primitive", function) + extra_tags, note=note))
    return cases


CASES = (
    *_unary_cases(),
    *_table_cases(_BINARY, ()),
    *_table_cases(_ARRAYS, ("tensor",)),
)
