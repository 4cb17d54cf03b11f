"""The float32 tolerance model: bounds from eps and conditioning, and what they catch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from refad.adapters.refad_backend import RefadBackend
from refad.cases.case import Case, expression_case
from refad.reports import tolerance
from refad.reports.compare import TOLERANCES, compare_values, is_disagreement
from refad.reports.evaluate import evaluate_case

from refad import adapters, cases

U = tolerance.U32
SEED = expression_case("seed-half-four", "x*y + sin(x)", {"x": 0.5, "y": 4.0}, "seed")


def _installed(*names: str) -> list[str]:
    return [name for name in names if adapters.get(name).available()[0]]


# -- the bound itself ---------------------------------------------------------------------


def test_the_worked_example_of_the_readme():
    bounds = tolerance.case_bounds(SEED, 2).values
    value = 2.0 + math.sin(0.5)
    # mul (u * 2), sin (4u * sin 0.5), add (u * value); 0.5 and 4 are float32 numbers.
    assert bounds["value"] == pytest.approx(U * (2.0 + 4 * math.sin(0.5) + value), rel=1e-12)
    # cos (4u), the VJPs' products 1*cos(x) and 1*y (u each), their sum (u * (4 + cos))
    gradient = 4.0 + math.cos(0.5)
    expected = U * (4 * math.cos(0.5) + math.cos(0.5) + 4.0 + gradient)
    assert bounds["d/dx"] == pytest.approx(expected, rel=1e-12)
    assert bounds["d/dy"] == pytest.approx(U * 0.5, rel=1e-12)


def test_an_input_that_is_not_a_float32_number_costs_its_rounding_times_the_derivative():
    case = cases.get("tan-near-half-pi")
    x = case.inputs["x"]
    rounding = abs(x - float(np.float32(x)))
    bound = float(tolerance.case_bounds(case, 1).values["value"])
    derivative = 1 + math.tan(x) ** 2
    assert bound == pytest.approx(derivative * rounding + 4 * U * abs(math.tan(x)), rel=1e-9)
    assert bound / abs(math.tan(x)) > 1e-5, "the pole's conditioning must show in the bound"


def test_a_sum_is_charged_for_its_terms_not_its_cancelled_result():
    terms = np.array([1.0, -1.0, 0.001])          # float32 numbers but 0.001
    case = Case("cancelling-sum", lambda ops, x: ops.sum(x), {"x": terms}, family="test")
    bound = float(tolerance.case_bounds(case, 0).values["value"])
    assert bound >= (terms.size - 1) * U * np.abs(terms).sum()
    assert bound > 100 * U * abs(terms.sum())


def test_a_branch_that_where_did_not_pick_adds_nothing():
    case = cases.get("where-nan-trap")        # sqrt(x) at x = -1 is NaN, but not chosen
    assert float(tolerance.case_bounds(case, 1).values["value"]) == 0.0


def test_a_quantity_too_big_for_one_backward_pass_per_element_falls_back():
    x = np.linspace(0.1, 1.0, tolerance.MAX_ELEMENTS + 1)
    case = Case("big", lambda ops, x: ops.sum(x * x), {"x": x}, family="test")
    bounds = tolerance.case_bounds(case, 1)
    assert bounds.values["value"] > 0 and "d/dx" not in bounds.values
    assert f"{x.size} elements" in bounds.why_not("d/dx")


def test_bounds_are_computed_once_per_case():
    assert tolerance.bounds_for(SEED, 2) is tolerance.bounds_for(SEED, 2)


# -- rows and metadata ----------------------------------------------------------------------


def test_float32_rows_carry_the_bound_and_an_allowance_that_reads_as_rtol_and_atol():
    rows = evaluate_case(SEED, ["refad", "sympy"], ["float32", "float64"], 2).rows
    float32 = [row for row in rows if row["dtype"] == "float32"]
    assert float32 and all(row["status"] == "ok" for row in float32)
    for row in float32:
        assert np.isfinite(row["bound"]) and row["tol"] > 0, row
        reread = row["atol"] + row["rtol"] * abs(row["reference"])
        assert reread == pytest.approx(row["tol"], rel=1e-12), row
        flat = TOLERANCES["float32"]["atol"] + TOLERANCES["float32"]["rtol"] * abs(
            row["reference"])
        assert row["tol"] < flat, (
            f"{row['quantity']}: the model allows {row['tol']}, looser than the flat rule")
    float64 = [row for row in rows
               if row["dtype"] == "float64" and row["quantity"] != "taylor-slope"]
    # float64 rows carry their bound too, but on the seed the flat rule is the wider one.
    assert float64 and all(np.isfinite(row["bound"]) and row["rtol"] == 1e-10
                           for row in float64)


def test_float64_terms_cancelling_to_an_exact_zero_are_judged_by_their_rounding():
    # Found by `refad fuzz` (seed 10, index 1632): tan(atan2(z, y*z)) = 1/y does not depend
    # on z, so d2/dz2 = 0 exactly, but it is a sum of terms ~1/r^2 ~ 1e4 (r = |(z, y z)|)
    # that cancel; refad and torch leave 7e-12 and 3.6e-12, over the flat atol 1e-12.
    case = expression_case("cancel-to-zero", "tan(atan2(z, y*z))",
                           {"y": -2.5, "z": -0.0036857}, "test")
    rows = evaluate_case(case, ["refad", "torch", "sympy"], ["float64"], 2).rows
    hessian = [row for row in rows if row["quantity"] == "d2/dzdz"
               and row["backend"] in ("refad", "torch")]
    assert hessian and all(row["status"] == "ok" for row in hessian), hessian
    for row in hessian:
        assert row["reference"] == 0.0 and row["tol"] > 1e-12 and row["tol"] < 1e-9, row


def test_float64_rows_still_catch_an_error_of_1e_9_relative():
    ref = {"value": np.float64(2.479425538604203)}
    bound = np.float64(5e-16)               # the seed's float64 bound, roughly
    wrong = compare_values(ref["value"] * (1 + 1e-9), ref["value"], "float64",
                           dict(TOLERANCES["float64"]), bound=bound)
    assert wrong["status"] == "mismatch", wrong


def test_the_metadata_describes_the_model():
    described = TOLERANCES["float32"]
    assert described["safety"] == tolerance.SAFETY and "reverse mode" in described["model"]
    assert (described["rtol"], described["atol"]) == (1e-4, 1e-6)        # the fallback


def test_a_quantity_without_a_finite_bound_falls_back_to_the_flat_rule():
    rows = evaluate_case(cases.get("sqrt-at-0"), ["refad", "sympy"], ["float32"], 1).rows
    gradient = [row for row in rows if row["backend"] == "refad" and row["quantity"] == "d/dx"]
    assert gradient[0]["detail"].startswith("flat float32 tolerance: ")
    assert gradient[0]["rtol"] == 1e-4 and np.isnan(gradient[0]["bound"])


def test_a_case_refad_cannot_run_falls_back_and_says_why():
    def not_for_refad(ops, x):
        if ops.__name__ == "refad":
            raise RuntimeError("no refad here")
        return ops.sin(x)

    bounds = tolerance.case_bounds(Case("picky", not_for_refad, {"x": 0.5}, "test"), 1)
    assert "no refad here" in bounds.why_not("value") and not bounds.values


# -- what it catches: fault backends ----------------------------------------------------------


class Faulty(RefadBackend):
    """refad whose float32 gradient of input `name` is replaced by `fault(case, x, g)`."""

    def __init__(self, fault, name: str = "x"):
        self.fault = fault
        self.input = name

    def _evaluate(self, case, dtype, order):
        result = super()._evaluate(case, dtype, order)
        if dtype == "float32":
            wrong = self.fault(case, case.inputs[self.input], result.grad[self.input])
            result.grad[self.input] = np.float32(wrong)
        return result


def _judge(monkeypatch, case, fault) -> tuple[dict, dict]:
    """The model's row and the flat rule's verdict for a faulty float32 d/dx."""
    monkeypatch.setitem(adapters._instances, "refad", Faulty(fault))
    done = evaluate_case(case, ["refad"], ["float32"], 1)
    (row,) = [row for row in done.rows if row["quantity"] == "d/dx"]
    flat = compare_values(row["result"], done.reference.values["d/dx"], "float32",
                          TOLERANCES["float32"])
    return row, flat


def _float32_central_difference(case, x, g):
    h = np.float32(np.finfo(np.float32).eps ** (1 / 3))
    inputs = {name: np.float32(v) for name, v in case.inputs.items()}

    def f(at):
        import refad
        values = {**inputs, "x": at}
        tensors = {k: refad.tensor(v, dtype="float32") for k, v in values.items()}
        return np.float32(case.fn(refad, **tensors).data)
    return (f(np.float32(x) + h) - f(np.float32(x) - h)) / (2 * h)


def _sigmoid_gradient_in_float16(case, x, g):
    s = np.float16(1 / (1 + math.exp(-x)))
    return s * (np.float16(1) - s)


FAULTS = (
    ("gradient 1e-5 relative off", "seed-multivariate", lambda case, x, g: g * (1 + 1e-5),
     True),
    ("cos(1) as the constant 0.54030", "seed-multivariate",
     lambda case, x, g: case.inputs["y"] + 0.54030, True),
    ("float32 central difference", "tanh-ordinary", _float32_central_difference, True),
    ("sigmoid' = s*(1-s) in float16", "sigmoid-positive", _sigmoid_gradient_in_float16,
     False),
)


@pytest.mark.parametrize(("fault", "case_name", "wrong", "flat_passed"), FAULTS,
                         ids=[f[0] for f in FAULTS])
def test_a_realistic_float32_bug_is_a_mismatch(monkeypatch, fault, case_name, wrong,
                                               flat_passed):
    if not adapters.get("sympy").available()[0]:
        pytest.skip("the exact reference needs sympy")
    row, flat = _judge(monkeypatch, cases.get(case_name), wrong)
    assert row["status"] == "mismatch" and is_disagreement(row), (
        f"{fault} on {case_name}: result {row['result']!r}, reference {row['reference']!r}, "
        f"error {row['abs_err']:.3g} ({row['ulp']:.0f} ULPs) within the allowed {row['tol']:.3g}")
    if flat_passed:                     # the bug the flat rtol 1e-4 let through
        assert flat["status"] == "ok", f"{fault}: the flat rule caught it too ({flat})"


# -- what it lets through: correct float32 code --------------------------------------------


ILL_CONDITIONED = ("tan-near-half-pi", "one-minus-cos-cancellation", "log1p-near-minus-1",
                   "sqrt-difference-cancellation")


@pytest.mark.parametrize("case_name", ILL_CONDITIONED)
def test_ill_conditioned_cases_pass_in_float32_because_the_model_explains_them(case_name):
    backends = _installed("refad", "torch", "jax", "sympy")
    done = evaluate_case(cases.get(case_name), backends, ["float32"], 2)
    float32 = [row for row in done.rows if row["dtype"] == "float32"]
    assert float32
    for row in float32:
        assert row["status"] == "ok" and np.isfinite(row["bound"]), (
            f"{case_name} {row['backend']} {row['quantity']}: error {row['abs_err']:.3g}, "
            f"bound {row['bound']:.3g}, allowed {row['tol']:.3g}")
    # Far beyond a few ULPs, yet within the bound: the conditioning, not a bug.
    assert max(row["ulp"] for row in float32) > 100


def test_tan_near_its_pole_needs_no_hand_set_rtol():
    assert cases.get("tan-near-half-pi").rtol is None


def test_torch_and_jax_float32_on_the_seed_and_numerics_families_stay_ok():
    frameworks = _installed("torch", "jax")
    if not frameworks:
        pytest.skip("neither torch nor jax is installed")
    for case in cases.select("seed") + cases.select("numerics"):
        done = evaluate_case(case, frameworks + _installed("sympy", "numeric"), ["float32"], 2)
        bad = [row for row in done.rows if row["dtype"] == "float32" and is_disagreement(row)]
        assert not bad, [(r["case"], r["backend"], r["quantity"], r["abs_err"], r["tol"])
                         for r in bad]
