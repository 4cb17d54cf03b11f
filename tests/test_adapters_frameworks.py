"""Tests for the torch and jax adapters: known answers, agreement with refad, errors as results,
and that the jax adapter leaves JAX's global x64 setting alone.

Each framework's tests skip (with the reason) where that framework is not installed.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from refad.adapters.base import hessian_pairs
from refad.adapters.jax_backend import JaxBackend, JaxJitBackend, choose_mode, graph_size
from refad.adapters.refad_backend import RefadBackend
from refad.adapters.torch_backend import TorchBackend
from refad.cases.case import Case, expression_case

from refad.vocabulary import FUNCTIONS

RTOL = 1e-12                # float64 agreement between backends
FRAMEWORKS = ("torch", "jax")

SEED = expression_case("seed-multivariate", "x*y + sin(x)", {"x": 1.0, "y": 2.0}, "seed")
BROADCAST = expression_case(
    "broadcast", "sum(a * b + exp(a) * maximum(b, 0.0) + sigmoid(a - b) ** 2)",
    {"a": np.linspace(-0.5, 0.5, 3).reshape(3, 1), "b": np.linspace(-1.0, 1.0, 4).reshape(1, 4)},
    "tensors")
NESTED = expression_case("nested-grad", "sum(grad(grad(tanh(2*x + y), x), x))",
                         {"x": np.array([0.1, 0.5, -0.3]), "y": 0.2}, "pinn")
WHERE = expression_case("where", "where(x > 0, x ** 2, -x) + atan2(x, 2.0) + log1p(x*x)",
                        {"x": 0.7}, "nonsmooth")
CLOSURE = Case("closure", lambda ops, x: ops.grad(lambda v: v * x)(x) + ops.sin(x),
               {"x": 0.4}, "pinn", note="x inside the inner function is held fixed: d/dx = 1")
CONSTANT = Case("constant", lambda ops, x, w: ops.mean(ops.matmul(w, x) ** 2),
                {"x": np.array([0.5, -1.0])}, "tensors",
                constants={"w": np.array([[1.0, 2.0], [3.0, 4.0], [-1.0, 0.5]])})
UNUSED = Case("unused", lambda ops, x, y: ops.square(x) + 0.0 * ops.abs(x), {"x": 0.3, "y": 2.0},
              "graphs", note="y is not used: zero gradient, zero Hessian blocks")
REDUCE = Case("reduce", lambda ops, m: ops.sum(ops.mean(ops.exp(m), axis=0, keepdims=True)
                                               * ops.sum(m, axis=1, keepdims=True)),
              {"m": np.arange(6.0).reshape(2, 3) / 5}, "tensors")
SUBSET = Case("wrt-subset", lambda ops, x, y: ops.sin(x * y) * ops.exp(-y), {"x": 0.3, "y": 2.0},
              "graphs", wrt=("y",), note="x is an input held fixed: no derivative reported")
AGREEMENT_CASES = (SEED, BROADCAST, NESTED, WHERE, CLOSURE, CONSTANT, UNUSED, REDUCE, SUBSET)


@pytest.fixture(params=FRAMEWORKS)
def backend(request):
    """Each framework's backend; skipped with the reason where it is not installed."""
    pytest.importorskip(request.param, reason=f"{request.param} is not installed")
    return TorchBackend() if request.param == "torch" else JaxBackend()


@pytest.fixture(scope="module")
def refad_results():
    """refad's answers, computed once per (case, order)."""
    return {(case.name, order): RefadBackend().evaluate(case, "float64", order)
            for case in AGREEMENT_CASES for order in (1, 2)}


def assert_ok(result) -> None:
    assert result.status == "ok", f"{result.backend} on {result.case}: {result.error}"


def assert_same(result, reference, rtol: float = RTOL) -> None:
    """Every quantity of `result` equals `reference`'s, named in the failure message."""
    assert_ok(result)
    assert_ok(reference)
    ours, theirs = result.quantities(), reference.quantities()
    assert set(ours) == set(theirs), f"{result.backend} on {result.case}: quantities differ"
    for quantity, value in theirs.items():
        np.testing.assert_allclose(
            ours[quantity], value, rtol=rtol, atol=rtol,
            err_msg=f"case {result.case!r} {quantity}: {result.backend} against "
                    f"{reference.backend}")


def test_seed_known_answers_float64(backend):
    result = backend.evaluate(SEED, "float64", order=2)
    assert_ok(result)
    expected = {"value": 2.0 + math.sin(1.0), "d/dx": 2.0 + math.cos(1.0), "d/dy": 1.0,
                "d2/dxdx": -math.sin(1.0), "d2/dxdy": 1.0, "d2/dydy": 0.0}
    got = result.quantities()
    assert set(got) == set(expected)
    for quantity, value in expected.items():
        assert got[quantity].dtype == np.float64
        assert got[quantity] == pytest.approx(value, rel=1e-15, abs=1e-15), quantity


def test_float32_results_are_float32_and_close(backend):
    single = backend.evaluate(BROADCAST, "float32", order=2)
    double = backend.evaluate(BROADCAST, "float64", order=2)
    assert_ok(single)
    for quantity, value in single.quantities().items():
        assert value.dtype == np.float32, f"{backend.name} {quantity} is {value.dtype}"
    assert_same(single, double, rtol=1e-5)


def test_tensor_shapes(backend):
    result = backend.evaluate(BROADCAST, "float64", order=2)
    assert_ok(result)
    assert result.value.shape == ()
    assert result.grad["a"].shape == (3, 1) and result.grad["b"].shape == (1, 4)
    assert set(result.hessian) == set(hessian_pairs(("a", "b")))
    assert result.hessian[("a", "b")].shape == (3, 1, 1, 4)


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("case", AGREEMENT_CASES, ids=lambda case: case.name)
def test_agrees_with_refad_float64(backend, case, order, refad_results):
    assert_same(backend.evaluate(case, "float64", order), refad_results[(case.name, order)])


def test_unused_input_has_zero_derivatives(backend):
    result = backend.evaluate(UNUSED, "float64", order=2)
    assert_ok(result)
    assert result.grad["y"] == 0.0
    assert result.hessian[("x", "y")] == 0.0 and result.hessian[("y", "y")] == 0.0


def test_order_zero_and_subsets(backend):
    value_only = backend.evaluate(SEED, "float64", order=0)
    assert_ok(value_only)
    assert value_only.grad == {} and value_only.hessian == {}
    subset = backend.evaluate(SUBSET, "float64", order=2)
    assert set(subset.quantities()) == {"value", "d/dy", "d2/dydy"}


def test_nested_grad_three_ways():
    pytest.importorskip("torch", reason="torch is not installed")
    pytest.importorskip("jax", reason="jax is not installed")
    results = [b.evaluate(NESTED, "float64", 1)
               for b in (RefadBackend(), TorchBackend(), JaxBackend())]
    for result in results[1:]:
        assert_same(result, results[0])
    assert_same(results[1], results[2])


@pytest.mark.parametrize("case", [
    Case("raises", lambda ops, x: ops.sin(x) / {}["missing"], {"x": 1.0}, "errors"),
    expression_case("matmul-shapes", "sum(a @ b)", {"a": np.ones((2, 3)), "b": np.ones((4, 2))},
                    "errors"),
], ids=lambda case: case.name)
def test_errors_become_results(backend, case):
    result = backend.evaluate(case, "float64", order=1)
    assert result.status == "error"
    if case.name == "raises":
        assert "KeyError" in result.error and "missing" in result.error
    else:
        assert "matmul" in result.error and "(2, 3)" in result.error, result.error


def test_ops_cover_the_vocabulary(backend):
    if backend.name == "torch":
        import torch
        from refad.adapters.torch_backend import make_ops
        ops = make_ops(torch.float64)
    else:
        from refad.adapters.jax_backend import make_ops
        ops = make_ops()
    assert set(vars(ops)) == set(FUNCTIONS)


def test_lazy_imports():
    code = ("import sys, adapters.torch_backend, adapters.jax_backend; "
            "print(sorted({'torch', 'jax'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


# ---- torch only ---------------------------------------------------------------------------


def test_torch_available_and_versions():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    assert TorchBackend().available() == (True, "")
    assert TorchBackend().versions() == {"torch": torch.__version__}


# ---- jax only -----------------------------------------------------------------------------


def test_jax_float64_leaves_x64_off():
    jax = pytest.importorskip("jax", reason="jax is not installed")
    before = jax.config.jax_enable_x64
    result = JaxBackend().evaluate(SEED, "float64", order=1)
    assert_ok(result)
    assert result.value.dtype == np.float64
    assert jax.config.jax_enable_x64 == before
    if not before:
        assert jax.numpy.asarray(1.0).dtype == np.float32


def test_jax_modes_and_names():
    pytest.importorskip("jax", reason="jax is not installed")
    auto = JaxBackend().evaluate(WHERE, "float64", order=1)
    assert auto.mode == "eager", "a small scalar case runs eagerly"
    assert auto.info["ops"] == graph_size(WHERE)[0] and auto.info["shapes"] == 0
    assert JaxBackend().evaluate(CONSTANT, "float64", order=1).mode == "jit"
    jit = JaxJitBackend()
    assert jit.name == "jax-jit" and JaxBackend(mode="eager").name == "jax-eager"
    compiled = jit.evaluate(WHERE, "float64", order=1)
    assert compiled.mode == "jit" and "ops" not in compiled.info
    assert_same(compiled, auto)
    assert set(JaxBackend().versions()) == {"jax", "jaxlib"}
    # Python control flow on a value cannot be traced: auto falls back to eager, jit fails.
    branchy = Case("branch", lambda ops, x: ops.sum(ops.sin(x)) if ops.sum(x) > 0 else 0.0,
                   {"x": np.array([0.5, 1.0])}, "errors")
    fallback = JaxBackend().evaluate(branchy, "float64", order=1)
    assert fallback.mode == "eager" and "boolean" in fallback.info["jit_failed"]
    assert jit.evaluate(branchy, "float64", order=1).status == "error"
    with pytest.raises(ValueError, match="mode 'fast'"):
        JaxBackend(mode="fast")


def test_choose_mode():
    assert choose_mode(None, 1) == "eager"            # refad could not size the case
    assert choose_mode((5, 0), 2) == "eager"          # small scalar case: eager is warm
    assert choose_mode((5000, 0), 1) == "eager"       # a long scalar chain: compile is worse
    assert choose_mode((12, 7), 1) == "jit"           # small tensor case: new shapes
    assert choose_mode((400, 4), 1) == "eager"        # long tensor chain: compile is worse
    assert graph_size(SEED) == (5, 0)
    assert graph_size(Case("bad", lambda ops, x: ops.nope(x), {"x": 1.0}, "errors")) is None
