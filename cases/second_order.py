"""Hessians of scalar functions of 2 to 4 scalar inputs.

Order 2 runs the backward pass on a recorded backward pass (create_graph): every entry
d2f/da db is compared, so a wrong VJP of a VJP shows here even when first derivatives agree.
"""

from __future__ import annotations

from .case import expression_case

FAMILY = "second-order"

# (name, expression, inputs, note)
_ROWS = (
    ("second-rosenbrock", "(1 - x)**2 + 100*(y - x*x)**2", {"x": -1.2, "y": 1.0},
     "Rosenbrock's banana at the classic start: H = [[1200x^2 - 400y + 2, -400x], "
     "[-400x, 200]]"),
    ("second-rosenbrock-minimum", "(1 - x)**2 + 100*(y - x*x)**2", {"x": 1.0, "y": 1.0},
     "at the minimum the gradient is exactly 0 and H = [[802, -400], [-400, 200]]"),
    ("second-xyz-sin", "x*y*z + sin(x*y)", {"x": 0.5, "y": -1.0, "z": 2.0},
     "three inputs: d2/dxdy = z + cos(xy) - xy sin(xy), and d2/dz2 = 0"),
    ("second-exp-cos", "exp(x)*cos(y)", {"x": 0.3, "y": 1.1},
     "a harmonic function: d2/dx2 + d2/dy2 = 0 exactly"),
    ("second-quadratic-form", "3*x*x + 2*x*y - y*y + 4*y*z + z*z",
     {"x": 0.4, "y": -0.7, "z": 1.3},
     "a quadratic form: the Hessian is the constant [[6, 2, 0], [2, -2, 4], [0, 4, 2]] "
     "wherever it is taken"),
    ("second-logsumexp", "log(exp(a) + exp(b) + exp(c))", {"a": 0.1, "b": -0.5, "c": 1.2},
     "log-sum-exp of three scalars: H = diag(p) - p p^T with p = softmax(a, b, c); its rows "
     "sum to 0"),
    ("second-rational", "x / (1 + y*y)", {"x": 1.5, "y": 0.6},
     "linear in x: d2/dx2 = 0, and the mixed derivative -2y/(1 + y^2)^2"),
    ("second-himmelblau", "(x*x + y - 11)**2 + (x + y*y - 7)**2", {"x": 3.0, "y": 2.0},
     "Himmelblau's function at its minimum (3, 2): gradient 0, Hessian [[74, 20], [20, 34]]"),
    ("second-gaussian", "exp(-(x*x + y*y) / 2)", {"x": 0.8, "y": -0.4},
     "a Gaussian bump: d2/dxdy = xy exp(-(x^2+y^2)/2)"),
    ("second-four-inputs", "w*x*y*z + tanh(w - z)", {"w": 0.3, "x": -1.1, "y": 0.9, "z": 0.5},
     "four inputs, 10 distinct Hessian entries; tanh(w - z) couples only w and z"),
    ("second-sigmoid-product", "sigmoid(x) * sigmoid(-y) + x * y",
     {"x": 0.4, "y": -0.8}, "sigmoid's second derivative s(1 - s)(1 - 2s), from its VJP "
                            "written with sigmoid's own output"),
    ("second-nested-grad", "grad(sin(x) * y, x) + x * y", {"x": 0.7, "y": -1.3},
     "grad inside an expression: grad(sin(x)*y, x) = y cos(x) is itself differentiated, so "
     "the Hessian needs third derivatives of the recorded graph"),
    ("second-pow-both", "pow(x, y)", {"x": 1.8, "y": 2.5},
     "x^y in both arguments: d2/dxdy = x^(y-1) (1 + y log x)"),
    ("second-atan2", "atan2(y, x)", {"y": 0.6, "x": -1.4},
     "atan2 is harmonic away from the origin: the Hessian has zero trace"),
)

CASES = tuple(
    expression_case(name, text, inputs, FAMILY, tags=("second-order",), note=note)
    for name, text, inputs, note in _ROWS
)
