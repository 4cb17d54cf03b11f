"""`refad trace`: the teaching trace, checked number by number against the engine itself,
the analytic derivative and the frameworks."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from refad.cases.case import expression_case
from refad.reports import cli

import refad
from refad import cases
from refad.nan_origin import is_finite
from refad.trace import format_value, trace

ROOT = Path(__file__).resolve().parents[1]
SEED = "x*y + sin(x)"
COS1 = math.cos(1.0)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "refad", "trace", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def seed():
    return trace(SEED, {"x": 1.0, "y": 2.0})


def test_seed_forward_table_is_exact(seed):
    rows = [(n.name, n.op, n.inputs, n.value, n.torch_name) for n in seed.forward]
    assert rows == [
        ("x", "input", [], 1.0, "AccumulateGrad"),
        ("y", "input", [], 2.0, "AccumulateGrad"),
        ("n1", "mul", ["x", "y"], 2.0, "MulBackward0"),
        ("n2", "sin", ["x"], math.sin(1.0), "SinBackward0"),
        ("n3", "add", ["n1", "n2"], 2.0 + math.sin(1.0), "AddBackward0"),
    ]
    assert seed.first.output == "n3" and seed.value == 2.0 + math.sin(1.0)


def test_seed_backward_steps_in_engine_order_are_exact(seed):
    steps = [(s.node, s.op, s.upstream, s.input, s.local, s.formula, s.local_value,
              s.contribution, s.total) for s in seed.backward]
    assert steps == [
        ("n3", "add", 1.0, "n1", "1", "1", 1.0, 1.0, 1.0),
        ("n3", "add", 1.0, "n2", "1", "1", 1.0, 1.0, 1.0),
        ("n2", "sin", 1.0, "x", "cos(x)", "cos(x)", COS1, COS1, COS1),
        ("n1", "mul", 1.0, "x", "y", "y", 2.0, 2.0, COS1 + 2.0),
        ("n1", "mul", 1.0, "y", "x", "x", 1.0, 1.0, 1.0),
    ]


def test_the_steps_are_the_engines_own_on_step_calls(seed):
    x = refad.tensor(1.0, requires_grad=True)
    y = refad.tensor(2.0, requires_grad=True)
    seen = []
    (x * y + refad.sin(x)).backward(on_step=lambda s: seen.append(
        (s.node.op, s.index, s.upstream, s.contribution, s.total, s.shared)))
    ours = [(s.op, s.index, s.upstream, s.contribution, s.total, s.shared)
            for s in seed.backward]
    assert ours == seen


def test_the_shared_input_shows_both_paths_and_their_sum(seed):
    shared = [s for s in seed.backward if s.shared]
    assert len(shared) == 1
    (step,) = shared
    assert step.input == "x"
    assert step.paths == [("n2", COS1), ("n1", 2.0)]
    assert step.total == 2.0 + COS1 == seed.gradients["x"]
    assert seed.gradients == {"x": 2.0 + COS1, "y": 1.0}


def test_text_of_the_seed(seed):
    text = seed.to_text()
    assert str(seed) == text
    assert "n2    sin        x       0.8414709848078965" in text
    assert ("0.5403023058681398 (from n2 sin) + 2.0 (from n1 mul) = 2.5403023058681398"
            in text)
    assert "d/dx = 2.5403023058681398" in text


@pytest.mark.parametrize("text, values", [
    ("x*y + sin(x)", {"x": 1.0, "y": 2.0}),
    ("tanh(w*x + b)", {"w": 0.7, "x": -1.3, "b": 0.2}),
    ("x / y - (2 - x) + x**3 + pow(y, x)", {"x": 0.6, "y": 1.7}),
    ("atan2(y, x) + maximum(x, y) + sigmoid(x) * exp(-y)", {"x": 0.4, "y": -0.9}),
    ("log1p(x) + expm1(y) + sqrt(x) + abs(y) + relu(x) + square(y)", {"x": 0.4, "y": -0.9}),
])
def test_every_step_is_upstream_times_local_and_the_gradients_are_the_engines(text, values):
    t = trace(text, values)
    for s in t.backward:
        # The local value is the VJP at an upstream of 1; the engine's contribution is the VJP
        # at the real upstream. They agree up to one rounding of the product.
        assert s.contribution == pytest.approx(s.upstream * s.local_value, rel=4e-16, abs=0), s
    expression = refad.parse(text)
    names = list(values)
    grads = refad.grad(lambda *a: expression(refad, **dict(zip(names, a, strict=True))),
                       argnums=tuple(range(len(names))))(*values.values())
    for name, g in zip(names, grads, strict=True):
        assert t.gradients[name] == g.item(), (text, name)


def test_local_formula_names_the_actual_inputs():
    t = trace("atan2(x, y) + 2.0 * sin(x*y)", {"x": 0.5, "y": -2.0})
    formulas = {(s.node, s.input): s.formula for s in t.backward}
    atan2 = next(n.name for n in t.forward if n.op == "atan2")
    product = next(n.name for n in t.forward if n.op == "mul" and n.inputs == ["x", "y"])
    sine = next(n.name for n in t.forward if n.op == "sin")
    # registry: atan2(y, x) has local x/(x^2+y^2) for its first argument, here called x.
    assert formulas[(atan2, "x")] == "y/(y^2+x^2)"
    assert formulas[(sine, product)] == f"cos({product})"


def test_catalogue_traces_agree_with_the_refad_backend():
    from refad.adapters.refad_backend import RefadBackend

    backend = RefadBackend()
    for case in cases.CATALOGUE:
        order = min(2, case.max_order)
        t = trace(_with_constants(case), case.inputs, order=order)
        t.to_text()
        result = backend.evaluate(case, "float64", order)
        for name in case.differentiated:
            assert np.array_equal(t.gradients[name], result.grad[name], equal_nan=True), \
                (case.name, name, t.gradients[name], result.grad[name])
        for (a, b), block in result.hessian.items():
            if a in t.hessian:
                assert np.array_equal(t.hessian[a][b], block, equal_nan=True), \
                    (case.name, a, b, t.hessian[a][b], block)


# -- order 2 ---------------------------------------------------------------------------------


def test_order_2_traces_the_recorded_backward_graph():
    t = trace(SEED, {"x": 1.0, "y": 2.0}, order=2)
    by_input = {p.of: p for p in t.second}
    dx = by_input["d/dx"]
    assert dx.value == 2.0 + COS1
    ops = [(n.op, n.inputs, n.made_by) for n in dx.forward if n.made_by]
    assert ops == [
        ("cos", ["x"], "step 3: VJP of n2 (sin) for x"),
        ("mul", ["1.0", "n4"], "step 3: VJP of n2 (sin) for x"),
        ("mul", ["1.0", "y"], "step 4: VJP of n1 (mul) for x"),
        ("add", ["n5", "n6"], "step 4: the sum over paths at x"),
    ]
    last = dx.backward[-1]
    assert (last.node, last.op, last.formula, last.local_value) == \
        ("n4", "cos", "-sin(x)", -math.sin(1.0))
    hessian = refad.hessian(lambda x, y: x * y + refad.sin(x), (0, 1))(1.0, 2.0)
    assert t.hessian == {"x": {"x": hessian[0][0].item(), "y": hessian[0][1].item()},
                         "y": {"x": hessian[1][0].item(), "y": hessian[1][1].item()}}
    assert "Hessian row x" in t.to_text()


def test_order_2_of_a_constant_derivative_and_an_unused_input():
    t = trace(lambda x, y: 3.0 * x, {"x": 2.0, "y": 5.0}, order=2)
    assert t.gradients == {"x": 3.0, "y": 0.0}
    assert t.hessian == {"x": {"x": 0.0, "y": 0.0}, "y": {"x": 0.0, "y": 0.0}}
    assert all("does not depend" in p.note for p in t.second)


# -- tensors, dtypes, the Python API ---------------------------------------------------------


def test_tensor_inputs():
    x, w = np.array([1.0, 2.0, 3.0]), np.array([[0.5], [0.25]])
    t = trace("sum(x * w) + mean(tanh(x))", {"x": x, "w": w})
    grads = refad.grad(lambda x, w: refad.sum(x * w) + refad.mean(refad.tanh(x)), (0, 1))(x, w)
    assert np.array_equal(t.gradients["x"], grads[0].numpy())
    assert np.array_equal(t.gradients["w"], grads[1].numpy())
    assert [s.input for s in t.backward if s.shared] == ["x"]
    assert "(2, 3) [0.5, 1.0, ...]" in t.to_text()
    json.dumps(_json_ready(t.to_dict()), allow_nan=False)


def test_float32_and_case_style_functions():
    t = trace(lambda ops, x: ops.sin(x) * x, {"x": 0.5}, dtype="float32")
    assert t.dtype == "float32"
    assert np.asarray(t.gradients["x"]).dtype == np.float32
    assert format_value(np.float32(0.1)) == "0.1"


def test_bad_arguments():
    with pytest.raises(ValueError, match="scalar output"):
        trace("x * 2", {"x": [1.0, 2.0]})
    with pytest.raises(ValueError, match="order"):
        trace("x", {"x": 1.0}, order=3)


# -- NaN origin ------------------------------------------------------------------------------


def test_nan_origin_of_the_where_trap_is_the_backward_step_of_sqrt():
    t = trace("where(x > 0, sqrt(x), 0)", {"x": -1.0})
    assert t.value == 0.0 and math.isnan(t.gradients["x"])
    origin = t.nan_origin
    assert (origin["pass"], origin["node"], origin["op"], origin["input"]) == \
        ("backward", "n1", "sqrt", "x")
    assert origin["upstream"] == 0.0 and math.isnan(origin["contribution"])
    assert "hidden from the output" in origin["message"]


def test_nan_origin_of_zero_times_infinity():
    t = trace("x * sqrt(y)", {"x": 0.0, "y": 0.0})
    origin = t.nan_origin
    assert (origin["pass"], origin["op"], origin["upstream"], origin["local_value"]) == \
        ("backward", "sqrt", 0.0, math.inf)


def test_nan_origin_of_log_0_is_the_forward_node():
    t = trace("2 * log(x)", {"x": 0.0})
    assert t.value == -math.inf
    assert (t.nan_origin["pass"], t.nan_origin["node"], t.nan_origin["op"]) == \
        ("forward", "n1", "log")
    assert "log(x = 0.0) = -inf" in t.nan_origin["message"]


def test_nan_origin_of_an_overflowing_sum_over_paths():
    t = trace("y * 1e308 + y * 1e308", {"y": 1e-10})
    assert is_finite(t.value)
    assert t.nan_origin["pass"] == "backward"
    assert "sum over paths at y overflows" in t.nan_origin["message"]
    assert trace(SEED, {"x": 1.0, "y": 2.0}).nan_origin is None


def test_framework_nan_reports():
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    from refad.adapters.framework_trace import nan_reports

    trap = nan_reports(expression_case("t", "where(x > 0, sqrt(x), 0)", {"x": -1.0}, "t"))
    assert trap["pytorch"] == "Function 'SqrtBackward0' returned nan values in its 0th output."
    assert trap["jax"] == "invalid value (nan) encountered in sqrt"
    log = nan_reports(expression_case("t", "log(x)", {"x": 0.0}, "t"))
    assert log["pytorch"].startswith("no error")
    assert "invalid value (inf) encountered in log" in log["jax"]


# -- frameworks ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_views():
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    from refad.adapters.framework_trace import frameworks

    case = expression_case("seed", SEED, {"x": 1.0, "y": 2.0}, "seed")
    t = trace(case.fn, case.inputs, order=2)
    return t, frameworks(case, t)


def test_torch_grad_fn_graph_is_matched_to_refad_nodes(seed_views):
    _, views = seed_views
    graph = [(e["torch"], e["refad"], e["same_op"], e["consumers"])
             for e in views["pytorch"]["graph"]]
    assert graph == [("AddBackward0", "n3", True, 0), ("MulBackward0", "n1", True, 1),
                     ("AccumulateGrad", "x", True, 2), ("AccumulateGrad", "y", True, 1),
                     ("SinBackward0", "n2", True, 1)]
    (dx, dy) = views["pytorch"]["second"]
    assert [e["torch"] for e in dx["graph"]] == ["AddBackward0", "MulBackward0", "CosBackward0",
                                                 "AccumulateGrad", "MulBackward0",
                                                 "AccumulateGrad"]
    assert all(e["same_op"] for e in dx["graph"] + dy["graph"])


def test_jaxprs_and_framework_numbers_equal_refads(seed_views):
    t, views = seed_views
    jax_view = views["jax"]
    assert "sin a" in jax_view["jaxpr"] and "mul a b" in jax_view["jaxpr"]
    assert "cos a" in jax_view["grad_jaxpr"] and "f64" in jax_view["grad_jaxpr"]
    assert "neg" in jax_view["second_jaxprs"]["d/dx"]         # d/dx cos(x) = -sin(x)
    for view in (views["pytorch"], jax_view):
        assert set(view["ulps_from_refad"].values()) == {0}
        assert view["value"] == t.value
        assert {k: float(v) for k, v in view["gradients"].items()} == t.gradients
        assert float(view["hessian"]["x"]["x"]) == t.hessian["x"]["x"] == -math.sin(1.0)


def test_torch_names_differently_where_it_computes_differently():
    pytest.importorskip("torch")
    from refad.adapters.framework_trace import torch_view

    case = expression_case("t", "2 / x + square(x)", {"x": 0.5}, "t")
    graph = torch_view(case, trace(case.fn, case.inputs))["graph"]
    names = {e["torch"]: e for e in graph}
    assert names["PowBackward0"]["refad_op"] == "square" and names["PowBackward0"]["same_op"]
    # torch computes 2 / x as 2 * reciprocal(x): no refad node for the reciprocal
    assert names["MulBackward0"]["refad_op"] == "div" and not names["MulBackward0"]["same_op"]
    assert names["ReciprocalBackward0"]["refad"] is None


def test_ulp_distance():
    from refad.adapters.framework_trace import ulp_distance

    assert ulp_distance(1.0, np.nextafter(1.0, 2.0)) == 1
    assert ulp_distance(-0.0, 0.0) == 0
    assert ulp_distance(np.nextafter(0.0, -1.0), np.nextafter(0.0, 1.0)) == 2
    assert ulp_distance(math.nan, math.nan) == 0 and ulp_distance(math.inf, math.inf) == 0
    assert ulp_distance(math.nan, 1.0) is None and ulp_distance([1.0], [1.0, 2.0]) is None


def test_analytic_derivative_is_the_textbooks():
    pytest.importorskip("sympy")
    from refad.adapters.framework_trace import analytic

    exact = analytic(expression_case("seed", SEED, {"x": 1.0, "y": 2.0}, "seed"), order=2)
    assert exact["gradients"]["x"]["formula"] == "y + cos(x)"
    assert float(exact["gradients"]["x"]["value"]) == 2.0 + COS1
    assert exact["hessian"]["x"]["x"]["formula"] == "-sin(x)"
    vector = analytic(expression_case("v", "sum(x)", {"x": [1.0, 2.0]}, "v"))
    assert "array inputs" in vector["unavailable"]


# -- the command line ------------------------------------------------------------------------


def test_cli_json_for_the_seed():
    done = run_cli(SEED, "x=1", "y=2", "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert set(payload) >= {"expr", "inputs", "forward", "backward", "gradients", "analytic",
                            "nan_origin"}
    assert "frameworks" not in payload and payload["nan_origin"] is None
    assert payload["inputs"] == {"x": 1.0, "y": 2.0}
    assert [n["value"] for n in payload["forward"]] == [1.0, 2.0, 2.0, math.sin(1.0),
                                                        2.0 + math.sin(1.0)]
    shared = [s for s in payload["backward"] if s["shared"]]
    assert shared[0]["paths"] == [{"from": "n2", "contribution": COS1},
                                  {"from": "n1", "contribution": 2.0}]
    assert payload["gradients"] == {"x": 2.0 + COS1, "y": 1.0}
    if payload["analytic"].get("gradients"):
        assert payload["analytic"]["gradients"]["x"]["formula"] == "y + cos(x)"


def test_cli_json_with_frameworks_order_2_and_nan():
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    done = run_cli("where(x > 0, sqrt(x), 0)", "x=-1", "--json", "--frameworks", "--order", "2")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)          # JAX's debug_nans printing stays out of it
    assert payload["gradients"] == {"x": "nan"}
    assert payload["nan_origin"]["op"] == "sqrt"
    assert "SqrtBackward0" in payload["nan_origin"]["pytorch"]
    assert "sqrt" in payload["nan_origin"]["jax"]
    assert payload["frameworks"]["pytorch"]["gradients"] == {"x": "nan"}
    assert "sqrt" in payload["frameworks"]["jax"]["jaxpr"]
    assert payload["hessian"]["x"]["x"] == "nan"


def test_cli_text(capsys):
    assert cli.main(["trace", SEED, "x=1", "y=2"]) == 0
    out = capsys.readouterr().out
    assert "backward pass" in out and "sum over paths" in out


@pytest.mark.parametrize("args, message", [
    (["sinn(x)", "x=1"], "did you mean 'sin'"),
    (["x*y", "x=1"], "missing value for y"),
    (["x", "x=1", "z=2"], "unexpected variable z"),
    (["x", "x=abc"], "not a number"),
    (["x * 2", "x=[1, 2]"], "refad trace needs a scalar"),
])
def test_bad_input_exits_2_with_one_line(capsys, args, message):
    assert cli.main(["trace", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def _json_ready(value):
    from refad.reports.writers import json_ready
    return json_ready(value)


def _with_constants(case):
    """The case's function with its constants bound, in the `fn(ops, **inputs)` style."""
    def fn(ops, **inputs):
        return case.fn(ops, **inputs, **case.constants)
    return fn
