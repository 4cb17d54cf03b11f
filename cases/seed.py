"""The textbook's three expressions (seed/ad-as-computational-graph.txt), each at several points.

- the multivariate expression `x*y + sin(x)`: x feeds two nodes (the product and the sine),
  so its gradient is the sum of two paths, y + cos(x);
- the single neuron `tanh(w*x + b)`: every input feeds exactly one node;
- the single-variable composite `sin(x) * x`: x is used twice, so again two contributions add,
  x*cos(x) + sin(x).
"""

from __future__ import annotations

import math

from .case import expression_case

FAMILY = "seed"

_MULTIVARIATE = "x*y + sin(x)"
_MULTIVARIATE_NOTE = ("x feeds two nodes (x*y and sin(x)): backward adds both contributions, "
                      "d/dx = y + cos(x) (sum over paths); y feeds only the product, d/dy = x")
_NEURON = "tanh(w*x + b)"
_NEURON_NOTE = ("a single neuron: each input feeds one node, so each gradient is one path, "
                "(1 - tanh^2) times the local derivative of w*x + b (x, w and 1)")
_COMPOSITE = "sin(x) * x"
_COMPOSITE_NOTE = ("x is used twice (in sin and in the product): its gradient is the sum of "
                   "two contributions, x*cos(x) + sin(x)")

# (name suffix, inputs, extra note)
_MULTIVARIATE_POINTS = (
    ("", {"x": 1.0, "y": 2.0},
     "the page's pause-and-check point: d/dx = y + cos(1) = 2.5403023058681398"),
    ("-at-0", {"x": 0.0, "y": 0.0}, "at the origin d/dx = 0 + cos(0) = 1"),
    ("-negative", {"x": -2.5, "y": 0.75}, ""),
    ("-at-pi", {"x": math.pi, "y": -1.5}, "cos(pi) = -1: the two paths add to y - 1"),
)
# 1 - tanh(13)^2: tanh(13) is rounded to within 1.1e-16 of 1, so 1 - tanh^2 = 2e-11 keeps
# only ~5 digits, whichever framework computes it.
_SATURATED_RTOL = 1e-5

_NEURON_POINTS = (
    ("", {"w": 0.5, "x": 1.5, "b": -0.25}, ""),
    ("-at-0", {"w": 1.0, "x": 0.0, "b": 0.0},
     "x = 0: the pre-activation is 0, tanh' = 1, and d/dw = x * 1 = 0"),
    ("-negative", {"w": -1.2, "x": 0.8, "b": 0.3}, ""),
    ("-saturated", {"w": 3.0, "x": 4.0, "b": 1.0},
     "tanh(13) is 1 - 1e-11: gradients are ~1e-11 (float64) and exactly 0 in float32, the "
     "vanishing gradient of a saturated unit. 1 - tanh^2 cancels ~6 digits in every "
     "framework (measured 1.8e-6 relative; rtol 1e-5 is that cancellation)"),
)
_COMPOSITE_POINTS = (
    ("", {"x": 1.0}, "d/dx = cos(1) + sin(1)"),
    ("-at-0", {"x": 0.0}, "both contributions vanish at 0: x*cos(x) = 0 and sin(x) = 0"),
    ("-negative", {"x": -2.0}, ""),
    ("-large", {"x": 25.0}, "the x*cos(x) path dominates: it grows with x"),
)


def _family(stem: str, text: str, note: str, points: tuple) -> list:
    cases = []
    for suffix, inputs, extra in points:
        full_note = f"{note}. {extra}" if extra else note
        rtol = _SATURATED_RTOL if suffix == "-saturated" else None
        cases.append(expression_case(f"seed-{stem}{suffix}", text, inputs, FAMILY,
                                     tags=("seed", stem), note=full_note, rtol=rtol))
    return cases


CASES = (
    *_family("multivariate", _MULTIVARIATE, _MULTIVARIATE_NOTE, _MULTIVARIATE_POINTS),
    *_family("neuron", _NEURON, _NEURON_NOTE, _NEURON_POINTS),
    *_family("composite", _COMPOSITE, _COMPOSITE_NOTE, _COMPOSITE_POINTS),
)
