"""Tests for the two oracles the comparison layer trusts: `sympy` (exact symbolic
derivatives) and `numeric` (mpmath at 50 digits, float64 finite differences, and the
Taylor-remainder check of a claimed gradient)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import mpmath
import numpy as np
import pytest
from refad.adapters.base import hessian_pairs
from refad.adapters.numeric_backend import taylor_check
from refad.cases.case import Case, expression_case

from refad import adapters

SYMPY = adapters.get("sympy")
NUMERIC = adapters.get("numeric")
ROOT = Path(__file__).resolve().parents[1]


def case(text: str, family: str = "test", **inputs):
    """A throwaway case named after its expression."""
    return expression_case(text, text, inputs, family)


def correctly_rounded(function, digits: int = 60) -> float:
    """float64 nearest to the value `function()` computes with mpmath at `digits` digits."""
    with mpmath.workdps(digits):
        return float(mpmath.nstr(function(), 60))


def ulps(a: float, b: float) -> float:
    return abs(a - b) / math.ulp(max(abs(a), abs(b)))


# --- sympy: the exact oracle ---------------------------------------------------------------


def test_sympy_seed_is_correctly_rounded_with_its_formula():
    result = SYMPY.evaluate(case("x*y + sin(x)", x=1.0, y=2.0), order=1)
    assert result.status == "ok", result.error
    assert result.mode == "exact"
    exact_dx = correctly_rounded(lambda: 2 + mpmath.cos(1))
    assert float(result.grad["x"]) == exact_dx == 2 + math.cos(1)
    assert float(result.grad["y"]) == 1.0
    assert float(result.value) == correctly_rounded(lambda: 2 + mpmath.sin(1))
    assert result.info["formula"]["d/dx"] == "y + cos(x)"
    assert result.info["formula"]["d/dy"] == "x"
    assert result.info["formula"]["value"] == "x*y + sin(x)"


def test_sympy_tanh_neuron_matches_the_chain_rule():
    result = SYMPY.evaluate(case("tanh(w*x + b)", w=0.5, x=2.0, b=-0.3), order=1)
    u = 0.5 * 2.0 - 0.3
    local = 1 - math.tanh(u) ** 2
    expected = {"w": local * 2.0, "x": local * 0.5, "b": local}
    for name, value in expected.items():
        assert ulps(float(result.grad[name]), value) <= 2, (name, result.grad[name], value)
    assert result.info["formula"]["d/db"] == "1 - tanh(b + w*x)**2"


def test_sympy_second_order_gives_every_hessian_block():
    result = SYMPY.evaluate(case("tanh(w*x + b)", w=0.5, x=2.0, b=-0.3), order=2)
    assert list(result.hessian) == hessian_pairs(("w", "x", "b"))
    t = math.tanh(0.7)
    curvature = -2 * t * (1 - t * t)  # d2 tanh(u) / du2
    assert math.isclose(float(result.hessian[("w", "w")]), curvature * 4.0, rel_tol=1e-15)
    assert math.isclose(float(result.hessian[("w", "x")]), curvature * 1.0 + (1 - t * t),
                        rel_tol=1e-15)
    assert math.isclose(float(result.hessian[("b", "b")]), curvature, rel_tol=1e-15)
    formula = result.info["formula"]
    assert set(formula) == {"value", *(f"d/d{n}" for n in "wxb"),
                            *(f"d2/d{a}d{b}" for a, b in hessian_pairs(("w", "x", "b")))}
    assert formula["d2/dbdb"] == "-(2 - 2*tanh(b + w*x)**2)*tanh(b + w*x)"
    seed = SYMPY.evaluate(case("x*y + sin(x)", x=1.0, y=2.0), order=2)
    assert float(seed.hessian[("x", "x")]) == -math.sin(1.0)
    assert float(seed.hessian[("x", "y")]) == 1.0
    assert float(seed.hessian[("y", "y")]) == 0.0


@pytest.mark.parametrize("x, value, slope", [(0.5, 0.25, 1.0), (-0.5, 0.5, -1.0),
                                             (0.0, 0.0, -1.0)])
def test_sympy_where_is_a_piecewise(x, value, slope):
    # At x = 0 the condition is false, so the else branch (and its slope) is taken, as in
    # every framework's where.
    result = SYMPY.evaluate(case("where(x > 0, x*x, -x)", x=x), order=1)
    assert float(result.value) == value
    assert float(result.grad["x"]) == slope
    assert result.info["formula"]["value"] == "Piecewise((x**2, x > 0), (-x, True))"


def test_sympy_takes_heaviside_half_at_the_relu_kink():
    # sympy's own convention, recorded (the comparison layer treats "kink" cases as
    # conventions): d/dx Max(x, 0) = Heaviside(x), Heaviside(0) = 1/2 (PyTorch says 0);
    # d/dx Abs(x) = sign(x) = 0 at 0; a second derivative there is a DiracDelta: nan.
    relu = SYMPY.evaluate(case("relu(x)", x=0.0), order=2)
    assert float(relu.grad["x"]) == 0.5
    assert relu.info["formula"]["d/dx"] == "Heaviside(x)"
    assert math.isnan(float(relu.hessian[("x", "x")]))
    assert "DiracDelta" in " ".join(relu.info["notes"])
    assert float(SYMPY.evaluate(case("abs(x)", x=0.0)).grad["x"]) == 0.0


@pytest.mark.parametrize("text, inputs, why", [
    ("sum(x*y)", {"x": np.ones(3), "y": 2.0}, "array inputs"),
    ("a @ b", {"a": 1.0, "b": 2.0}, "matmul"),
    ("where(x == y, x, y)", {"x": 1.0, "y": 1.0}, "structurally"),
])
def test_sympy_refuses_what_it_cannot_express(text, inputs, why):
    result = SYMPY.evaluate(case(text, **inputs))
    assert result.status == "unsupported"
    assert why in result.error


def test_sympy_reads_infinities_like_ieee_and_complex_as_nan():
    log = SYMPY.evaluate(case("log(x)", x=0.0), order=1)  # sympy: zoo and zoo
    assert float(log.value) == -math.inf and float(log.grad["x"]) == math.inf
    root = SYMPY.evaluate(case("sqrt(x)", x=-1.0), order=1)  # sympy: I and -I/2
    assert math.isnan(float(root.value)) and math.isnan(float(root.grad["x"]))


def test_sympy_is_exact_where_float64_cancels():
    result = SYMPY.evaluate(case("sin(x) - x", x=1e-100), order=1)
    assert math.sin(1e-100) - 1e-100 == 0.0
    # -x**3/6: 300 digits cancel, so the check itself needs more than that.
    exact = correctly_rounded(lambda: mpmath.sin(1e-100) - 1e-100, digits=400)
    assert float(result.value) == exact == -1e-100 ** 3 / 6
    assert float(result.grad["x"]) == -5e-201


def test_sympy_nested_grad_and_float32():
    c = case("grad(x*x*y, x)", x=1.5, y=2.0)
    first = SYMPY.evaluate(c, order=2)
    result = SYMPY.evaluate(c, dtype="float32", order=2)  # from the cache: same numbers
    assert result.quantities() == first.quantities() and result.dtype == "float32"
    assert result.info["formula"]["value"] == "2*x*y"
    assert (float(result.value), float(result.grad["x"]), float(result.grad["y"])) == (6, 4, 3)
    assert float(result.hessian[("x", "y")]) == 2.0
    assert result.value.dtype == np.float64  # the float64 reference, for every dtype
    assert "float32 requested" in result.info["notes"][-1]


def test_sympy_refuses_a_case_too_big_to_be_exact():
    def chain(ops, x):
        for _ in range(50):
            x = ops.sin(x)
        return x

    result = SYMPY.evaluate(Case("sin-chain-50", chain, {"x": 1.0}, "test"))
    assert result.status == "unsupported"
    assert "too large for the exact oracle" in result.error
    assert NUMERIC.evaluate(Case("sin-chain-50", chain, {"x": 1.0}, "test")).mode == "mpmath"


def test_oracle_modules_import_no_framework():
    code = ("import sys, adapters.sympy_backend, adapters.numeric_backend; "
            "print(sorted(m for m in ('sympy', 'mpmath') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- numeric: mpmath ---------------------------------------------------------------------

SCALAR_CASES = [
    ("x*y + sin(x)", {"x": 1.0, "y": 2.0}),
    ("tanh(w*x + b)", {"w": 0.5, "x": 2.0, "b": -0.3}),
    ("sigmoid(x) + log1p(x*y) + expm1(y) + square(x)", {"x": 0.3, "y": -0.7}),
    ("atan2(y, x) * pow(x, y) + max(x, y)", {"x": 1.3, "y": 0.4}),
    ("exp(-x*x) / sqrt(1 + y*y) + cos(x*y)", {"x": 0.9, "y": 2.5}),
    ("grad(sin(x)*y*y, x) + grad(grad(x*x*x*y, x), x)", {"x": 0.5, "y": 3.0}),
]


@pytest.mark.parametrize("text, inputs", SCALAR_CASES)
def test_mpmath_agrees_with_sympy(text, inputs):
    c = case(text, **inputs)
    numeric, exact = NUMERIC.evaluate(c, order=2), SYMPY.evaluate(c, order=2)
    assert numeric.mode == "mpmath", numeric.info
    expected = exact.quantities()
    assert set(numeric.quantities()) == set(expected)
    for quantity, value in numeric.quantities().items():
        assert math.isclose(float(value), float(expected[quantity]), rel_tol=1e-15,
                            abs_tol=1e-300), (text, quantity, float(value),
                                              float(expected[quantity]))


@pytest.mark.parametrize("text, x", [
    ("log(x)", 1e30),  # a step of 1e-54 is no step next to 1e30: steps scale with x
    ("log(x)", 1e-300),  # nor may it jump across 0: tiny inputs raise the precision
    ("sqrt(x + 1) - sqrt(x)", 1e12),
    ("1 + exp(-200*x)", 1.0),  # d/dx = -2.8e-85 is lost in the digits of f: retried at 200
])
def test_mpmath_at_extreme_scales_agrees_with_sympy(text, x):
    c = case(text, x=x)
    numeric, exact = NUMERIC.evaluate(c, order=2), SYMPY.evaluate(c, order=2)
    assert numeric.mode == "mpmath"
    for quantity, value in exact.quantities().items():
        got = float(numeric.quantities()[quantity])
        assert math.isclose(got, float(value), rel_tol=1e-15), (quantity, got, float(value))


def test_mpmath_reports_a_kink_second_derivative_as_nan():
    result = NUMERIC.evaluate(case("relu(x)", x=0.0), order=2)
    assert result.mode == "mpmath"
    assert float(result.grad["x"]) == 0.5  # the central difference straddles the kink
    assert math.isnan(float(result.hessian[("x", "x")]))  # ~1/(4h) moved with the step
    assert "depend on the step" in result.info["kink"]


def test_numeric_falls_back_to_float64_when_mpmath_cannot_run():
    result = NUMERIC.evaluate(case("1/x", x=0.0), order=1)  # mpmath: ZeroDivisionError
    assert result.mode == "finite-difference"
    assert "ZeroDivisionError" in result.info["mpmath"]
    assert float(result.value) == math.inf
    assert math.isnan(float(result.grad["x"]))  # no difference quotient across a pole


# --- numeric: finite differences on arrays ---------------------------------------------------

X = np.array([0.1, -0.2, 0.3])
W = np.arange(6.0).reshape(2, 3) / 7
Y = np.array([[1.0], [2.0]])


def test_finite_differences_with_broadcasting():
    result = NUMERIC.evaluate(case("sum(x*y)", x=X, y=Y), order=2)
    assert result.mode == "finite-difference"
    assert "first" in result.info["h"]
    np.testing.assert_allclose(result.grad["x"], np.full(3, Y.sum()), rtol=1e-8)
    np.testing.assert_allclose(result.grad["y"], np.full((2, 1), X.sum()), rtol=1e-8)
    assert result.hessian[("x", "y")].shape == (3, 2, 1)
    np.testing.assert_allclose(result.hessian[("x", "y")], np.ones((3, 2, 1)), rtol=1e-6)
    np.testing.assert_allclose(result.hessian[("x", "x")], np.zeros((3, 3)), atol=1e-6)


def test_finite_differences_on_a_small_layer():
    result = NUMERIC.evaluate(case("sum(tanh(W @ x))", W=W, x=X), order=1)
    local = 1 - np.tanh(W @ X) ** 2
    np.testing.assert_allclose(result.grad["W"], np.outer(local, X), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(result.grad["x"], W.T @ local, rtol=1e-8)
    assert math.isclose(float(result.value), float(np.tanh(W @ X).sum()), rel_tol=1e-15)


def test_finite_differences_skip_a_big_hessian():
    result = NUMERIC.evaluate(case("sum(x*x)", x=np.arange(30.0)), order=2)
    assert result.hessian == {}
    assert "skipped" in result.info["hessian"]
    np.testing.assert_allclose(result.grad["x"], 2 * np.arange(30.0), rtol=1e-8, atol=1e-8)


def test_finite_differences_through_a_nested_grad():
    # The inner grad is refad's reverse mode; the outer derivative is the difference quotient.
    x = np.array([1.0, 2.0])
    result = NUMERIC.evaluate(case("sum(grad(x*x*y, x))", x=x, y=3.0), order=2)
    np.testing.assert_allclose(result.grad["x"], [6.0, 6.0], rtol=1e-8)
    np.testing.assert_allclose(result.grad["y"], 2 * x.sum(), rtol=1e-8)
    np.testing.assert_allclose(result.hessian[("x", "y")], [2.0, 2.0], rtol=1e-6)


# --- numeric: the Taylor-remainder check ---------------------------------------------------

TAYLOR_CASES = [
    (case("x*y + sin(x)", x=1.0, y=2.0), {"x": 2.0 + math.cos(1.0), "y": 1.0}),
    (case("sum(tanh(W @ x))", W=W, x=X),
     {"W": np.outer(1 - np.tanh(W @ X) ** 2, X), "x": W.T @ (1 - np.tanh(W @ X) ** 2)}),
    (case("sum(grad(x*x*y, x))", x=np.array([1.0, 2.0]), y=3.0),
     {"x": np.array([6.0, 6.0]), "y": 6.0}),
]


@pytest.mark.parametrize("c, gradient", TAYLOR_CASES, ids=lambda v: getattr(v, "name", ""))
def test_taylor_slope_two_for_a_right_gradient_one_for_a_wrong_one(c, gradient):
    right = taylor_check(c, gradient)
    assert right["ok"] and abs(right["slope"] - 2) < 0.1, right["note"]
    wrong = NUMERIC.taylor(c, {name: np.asarray(g) * 1.01 for name, g in gradient.items()})
    assert not wrong["ok"] and abs(wrong["slope"] - 1) < 0.1, wrong["note"]
    assert len(right["h"]) == len(right["remainder"]) == 17


def test_taylor_on_a_linear_function_stays_at_rounding_level():
    c = expression_case("linear", "sum(x*w) + 3", {"x": X, "w": np.array([1.0, 2.0, 3.0])},
                        "test", wrt=("x",))
    report = taylor_check(c, {"x": np.array([1.0, 2.0, 3.0])})
    assert report["ok"] and math.isnan(report["slope"]), report["note"]
    assert not taylor_check(c, {"x": np.array([1.0, 2.0, 3.1])})["ok"]


@pytest.mark.parametrize("error", [0.0, 1e-12, 1e-6, 1e-2])
def test_taylor_on_a_linear_function_with_rounding_inside_judges_by_the_first_order_term(
        error):
    # log(exp(x)) = x, but exp(x) near 1 rounds by u absolutely: remainders of ~7e-17 at
    # every step, above a floor relative to |f| ~ h (fuzz-s23-790). The gradient is 1.
    c = case("log(exp(x))", x=0.0)
    plain = taylor_check(c, {"x": 1.0 + error})
    check = NUMERIC.taylor(c, {"x": 1.0 + error})
    if error <= 1e-12:
        assert not plain["ok"]              # the plain fit sees slope ~1 in rounding noise
        assert check["ok"] and "f is linear along v" in check["note"], check["note"]
    else:                                   # a real error: r = h * error at every step
        assert not check["ok"], check["note"]


def test_taylor_takes_relative_steps_next_to_a_singularity():
    # sqrt at 1e-300: x + 2**-4 v crosses 0, so the absolute run fails for the right
    # gradient; steps relative to x pass it, and still catch the wrong one.
    c = case("sqrt(x)", x=1e-300)
    right = taylor_check(c, {"x": 0.5 / math.sqrt(1e-300)})
    assert right["ok"] and right["steps"] == "relative", right["note"]
    assert not right["first"]["ok"]
    assert not taylor_check(c, {"x": 0.505 / math.sqrt(1e-300)})["ok"]


def test_taylor_names_a_bad_gradient():
    c = case("sum(tanh(W @ x))", W=W, x=X)
    with pytest.raises(ValueError, match="'x' has shape \\(2,\\)"):
        taylor_check(c, {"W": np.zeros((2, 3)), "x": np.zeros(2)})
    with pytest.raises(ValueError, match="no gradient for input 'W'"):
        taylor_check(c, {"x": np.zeros(3)})
