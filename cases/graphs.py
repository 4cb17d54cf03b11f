"""Graph shapes: shared inputs, diamonds, deep chains, a node used many times, wide sums.

These test the backward loop itself: gradients accumulate (add, never assign) wherever a
value has several consumers, and the traversal is iterative, so depth costs nothing but time.
Deep chains are built in Python with ops calls (an expression string may nest at most 64
brackets deep and 256 syntax-tree levels).
"""

from __future__ import annotations

from .case import Case, expression_case

FAMILY = "graphs"


def _sin_chain(ops, x):
    """sin(sin(...sin(x))) 100 deep: the gradient is the product of 100 cosines."""
    for _ in range(100):
        x = ops.sin(x)
    return x


def _tanh_chain(ops, x, w):
    """x <- tanh(w*x + 0.5), 200 times: w feeds all 200 layers."""
    for _ in range(200):
        x = ops.tanh(w * x + 0.5)
    return x


def _stacked_diamonds(ops, x):
    """y <- sin(y) * cos(y), 12 times: each level is a diamond, 2^12 paths from x to the end."""
    y = x
    for _ in range(12):
        y = ops.sin(y) * ops.cos(y)
    return y


def _wide_fan_out(ops, x):
    """x feeds 500 terms, each a different function of it."""
    total = 0.0
    for k in range(1, 501):
        total = total + ops.sin(x * (k / 250.0)) / k
    return total


def _product_chain(ops, x):
    """(x + 1)(x + 2)...(x + 30) / 30!: 30 factors, d/dx is a sum of 30 products."""
    total = 1.0
    for k in range(1, 31):
        total = total * ((x + k) / k)
    return total


def _shared_intermediate(ops, a, w):
    """u = a*w is one node with two consumers: a diamond whose top is not an input."""
    u = a * w
    return (u + 1.0) * ops.sin(u)


def _node_used_three_times(ops, x, y):
    """u = x*y feeds three consumers: u itself, sin(u) and exp(-u)."""
    u = x * y
    return u * ops.sin(u) + ops.exp(-u)


def _unused_input(ops, x, y):
    """y is an input the output never reads."""
    return x * x


_NESTED_60 = "sin(" * 60 + "x" + ")" * 60
_SUM_100 = " + ".join(f"sin({k}*x)/{k}" for k in range(1, 101))

CASES = (
    expression_case("graph-shared-inputs", "x*y + y*z + z*x", {"x": 0.5, "y": -1.5, "z": 2.0},
                    FAMILY, tags=("graph", "shared-input"),
                    note="every input feeds two products: d/dx = y + z, the sum of two paths"),
    expression_case("graph-diamond", "sin(a) * exp(a)", {"a": 0.7}, FAMILY,
                    tags=("graph", "diamond"),
                    note="a -> b = sin(a), a -> c = exp(a), (b, c) -> d = b*c: d/da = "
                         "cos(a)*exp(a) + sin(a)*exp(a), one term per side of the diamond"),
    Case(name="graph-diamond-shared-node", fn=_shared_intermediate,
         inputs={"a": 0.8, "w": -1.3}, family=FAMILY, tags=("graph", "diamond"),
         note="the diamond's top is an intermediate node u = a*w; its gradient "
              "(sin(u) + (u + 1)*cos(u)) is complete before it flows to a and w"),
    Case(name="graph-node-used-three-times", fn=_node_used_three_times,
         inputs={"x": 0.6, "y": 1.4}, family=FAMILY, tags=("graph", "shared-node"),
         note="u = x*y has three consumers; backward adds three contributions into u: "
              "sin(u) + u*cos(u) - exp(-u)"),
    expression_case("graph-input-used-five-times", "x * sin(x) + exp(x) / (1 + x*x)",
                    {"x": 1.3}, FAMILY, tags=("graph", "shared-input"),
                    note="x appears five times: its gradient sums five paths"),
    expression_case("graph-cancelling-paths", "sin(x) * y - y * sin(x) + x",
                    {"x": 0.9, "y": 2.5}, FAMILY, tags=("graph", "shared-input"),
                    note="two paths of equal size and opposite sign: d/dy = 0 and d/dx = 1 "
                         "exactly, by accumulation, not by simplification"),
    Case(name="graph-unused-input", fn=_unused_input, inputs={"x": 1.5, "y": -0.5},
         family=FAMILY, tags=("graph", "unused-input"),
         note="y is never read: its gradient is a zero, not an error or None"),
    Case(name="graph-deep-chain-sin-100", fn=_sin_chain, inputs={"x": 1.0}, family=FAMILY,
         tags=("graph", "deep"),
         note="100 nested sines: d/dx is a product of 100 cosines (chain rule, one "
              "local Jacobian per node)"),
    Case(name="graph-deep-chain-tanh-200", fn=_tanh_chain, inputs={"x": 0.1, "w": 1.1},
         family=FAMILY, tags=("graph", "deep", "shared-input"), max_order=1,
         note="200 layers x <- tanh(w*x + 0.5): d/dx vanishes (a product of 200 factors "
              "< 1) while w, used by every layer, sums 200 paths"),
    expression_case("graph-nested-string-60", _NESTED_60, {"x": 1.2}, FAMILY,
                    tags=("graph", "deep", "expression-limit"),
                    note="60 nested calls in an expression string, near the parser's "
                         "64-bracket limit"),
    Case(name="graph-stacked-diamonds-12", fn=_stacked_diamonds, inputs={"x": 0.4},
         family=FAMILY, tags=("graph", "diamond", "deep"),
         note="12 diamonds in a row give 2^12 = 4096 paths from x to the output; reverse "
              "mode visits each of the 36 nodes once, never enumerating paths"),
    expression_case("graph-wide-sum-string-100", _SUM_100, {"x": 0.3}, FAMILY,
                    tags=("graph", "wide", "shared-input"),
                    note="a sum of 100 terms written as a string (100 syntax-tree levels of "
                         "the parser's 256): x feeds 100 nodes"),
    Case(name="graph-wide-fan-out-500", fn=_wide_fan_out, inputs={"x": 0.8}, family=FAMILY,
         tags=("graph", "wide", "shared-input"),
         note="x feeds 500 nodes; its gradient accumulates 500 contributions"),
    Case(name="graph-product-chain-30", fn=_product_chain, inputs={"x": 0.5}, family=FAMILY,
         tags=("graph", "deep", "shared-input"),
         note="a product of 30 factors, each using x: d/dx = f * sum(1/(x + k))"),
)
