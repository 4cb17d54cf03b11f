"""The engine's behaviours: the seed page's expressions, accumulation over shared inputs,
broadcasting, reductions, matmul, indexing, a 10^6-node chain, float32, higher order
derivatives, a PINN residual, PyTorch's conventions at the kinks, and the error messages.

Per-primitive derivatives are checked against finite differences in `test_registry.py`;
here the engine is exercised as a whole.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import refad
from refad import autograd

REPO = Path(__file__).resolve().parents[1]


# -- helpers ---------------------------------------------------------------------------------

def leaf(value, dtype=None) -> refad.Tensor:
    return refad.tensor(value, requires_grad=True, dtype=dtype)


def grad_of(t: refad.Tensor) -> np.ndarray:
    """A leaf's accumulated gradient as a float64 numpy array."""
    assert t.grad is not None, "the leaf received no gradient"
    return np.asarray(t.grad.numpy(), dtype=np.float64)


def stencil(fun, x: float, h: float = 1e-3) -> float:
    """d fun / dx at x by the 4th-order central difference."""
    return (-fun(x + 2 * h) + 8 * fun(x + h) - 8 * fun(x - h) + fun(x - 2 * h)) / (12 * h)


def sum_to_shape(full: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a broadcast gradient back to `shape` (written independently of refad's unbroadcast)."""
    extra = full.ndim - len(shape)
    reduced = full.sum(axis=tuple(range(extra))) if extra else full
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and reduced.shape[i] != 1)
    return reduced.sum(axis=stretched, keepdims=True) if stretched else reduced


def gradient_of_linear(f, shape: tuple, upstream: np.ndarray) -> np.ndarray:
    """d <upstream, f(x)> / dx for a *linear* f on raw numpy arrays: exactly <upstream, f(e_i)>
    for each unit vector e_i, so no finite differences are needed."""
    result = np.zeros(shape)
    for index in np.ndindex(shape):
        e = np.zeros(shape)
        e[index] = 1.0
        result[index] = np.sum(upstream * f(e))
    return result


def same_float(a: float, b: float) -> bool:
    """Equal, with nan equal to nan (infinities must match in sign)."""
    return (math.isnan(a) and math.isnan(b)) or a == b


# -- the seed page's three expressions ------------------------------------------------------

def test_seed_multivariate_pause_and_check():
    """x*y + sin(x) at (1, 2): d/dx = y + cos(x), to the last digit (two paths into x)."""
    x, y = leaf(1.0), leaf(2.0)
    out = x * y + refad.sin(x)
    out.backward()
    assert out.item() == 2.0 + math.sin(1.0)
    assert x.grad.item() == 2.0 + math.cos(1.0)
    assert y.grad.item() == 1.0


def test_seed_single_neuron():
    w, x, b = leaf(0.5), leaf(1.5), leaf(-0.3)
    out = refad.tanh(w * x + b)
    out.backward()
    t = math.tanh(0.5 * 1.5 - 0.3)
    assert out.item() == pytest.approx(t, rel=1e-15)
    assert w.grad.item() == pytest.approx((1 - t * t) * 1.5, rel=1e-15)
    assert x.grad.item() == pytest.approx((1 - t * t) * 0.5, rel=1e-15)
    assert b.grad.item() == pytest.approx(1 - t * t, rel=1e-15)


COMPOSITES = [
    pytest.param(lambda x: x * x + refad.sin(x), lambda x: 2 * x + math.cos(x), id="x*x+sin(x)"),
    pytest.param(lambda x: (x + refad.sin(x)) * x,
                 lambda x: (1 + math.cos(x)) * x + x + math.sin(x), id="(x+sin(x))*x"),
]


@pytest.mark.parametrize(("f", "derivative"), COMPOSITES)
@pytest.mark.parametrize("x0", [0.7, -1.3])
def test_seed_single_variable_composite(f, derivative, x0):
    x = leaf(x0)
    f(x).backward()
    assert x.grad.item() == pytest.approx(derivative(x0), rel=1e-15)


# -- sum over paths ------------------------------------------------------------------------

def test_shared_input_accumulates_and_on_step_shows_it():
    a = leaf(3.0)
    b = a + a
    c = b + b
    steps = []
    c.backward(on_step=steps.append)
    assert a.grad.item() == 4.0

    into_b = [s for s in steps if s.input is b]
    into_a = [s for s in steps if s.input is a]
    assert [s.shared for s in into_b] == [False, True]
    assert [s.total for s in into_b] == [1.0, 2.0]
    assert [s.shared for s in into_a] == [False, True]
    assert [s.contribution for s in into_a] == [2.0, 2.0]
    assert [s.total for s in into_a] == [2.0, 4.0]          # running sums
    assert [s.upstream for s in into_a] == [2.0, 2.0]
    assert sorted(s.index for s in into_a) == [0, 1]
    assert all(s.node is b and s.local == "1" for s in into_a)


def test_on_step_shows_the_two_paths_of_the_seed_expression():
    x, y = leaf(1.0), leaf(2.0)
    steps = []
    (x * y + refad.sin(x)).backward(on_step=steps.append)
    into_x = [s for s in steps if s.input is x]
    assert sorted(s.local for s in into_x) == ["cos(x)", "y"]
    assert [s.shared for s in into_x] == [False, True]
    assert into_x[-1].total == x.grad.item() == 2.0 + math.cos(1.0)
    assert isinstance(into_x[0], refad.Step)


def test_grad_accumulates_across_backward_calls():
    x, y = leaf(1.0), leaf(2.0)
    out = x * y + refad.sin(x)
    out.backward()
    first = x.grad.item()
    out.backward()
    assert x.grad.item() == 2 * first
    assert y.grad.item() == 2.0


def test_autograd_grad_leaves_dot_grad_alone():
    x = leaf(1.5)
    (g,) = autograd.grad(x * x, x)
    assert g.item() == 3.0
    assert x.grad is None


def test_autograd_grad_with_respect_to_intermediate_and_repeated_tensors():
    x = leaf(2.0)
    m = x * 3.0
    y = m * m
    gm, gx = autograd.grad(y, [m, x])
    assert (gm.item(), gx.item()) == (12.0, 36.0)
    assert [g.item() for g in autograd.grad(y, [x, x])] == [36.0, 36.0]
    assert autograd.grad([y, y], x)[0].item() == 72.0      # two outputs: their sum
    assert autograd.grad(x, x)[0].item() == 1.0


def test_grad_outputs_as_a_tensor_can_be_differentiated():
    x = leaf(np.array([1.0, 2.0]))
    v = leaf(np.array([3.0, 4.0]))
    (g,) = autograd.grad(x * x, x, grad_outputs=v, create_graph=True)
    np.testing.assert_array_equal(g.numpy(), [6.0, 16.0])
    (gv,) = autograd.grad(g.sum(), v)
    np.testing.assert_array_equal(gv.numpy(), [2.0, 4.0])


def test_topological_order_puts_inputs_first():
    x, y = leaf(1.0), leaf(2.0)
    out = (x * y + refad.sin(x)) * y
    order = refad.topological_order([out])
    position = {id(node): k for k, node in enumerate(order)}
    assert order[-1] is out and len(order) == 6
    for node in order:
        for parent in node.inputs:
            if isinstance(parent, refad.Tensor) and parent.requires_grad:
                assert position[id(parent)] < position[id(node)]


def test_grad_does_not_alias_the_callers_gradient():
    x, y = leaf(np.zeros(3)), leaf(np.zeros(3))
    upstream = np.ones(3)
    (x + y).backward(upstream)
    assert not np.shares_memory(x.grad.data, y.grad.data)
    assert not np.shares_memory(x.grad.data, upstream)


# -- broadcasting ---------------------------------------------------------------------------

BROADCAST_SHAPES = [
    pytest.param((3, 1), (1, 4), id="col-row"),
    pytest.param((), (2, 3), id="scalar-matrix"),
    pytest.param((2, 3), (), id="matrix-scalar"),
    pytest.param((4,), (3, 4), id="vector-matrix"),
    pytest.param((2, 1, 3), (4, 1), id="3d-2d"),
]
BINARY_OPS = {
    "add": (lambda x, y: x + y, lambda x, y: (np.ones_like(x * y), np.ones_like(x * y))),
    "sub": (lambda x, y: x - y, lambda x, y: (np.ones_like(x * y), -np.ones_like(x * y))),
    "mul": (lambda x, y: x * y, lambda x, y: (y + 0 * x, x + 0 * y)),
    "div": (lambda x, y: x / y, lambda x, y: (1 / y + 0 * x, -x / y**2)),
}


def random_array(shape, seed):
    rng = np.random.default_rng(seed)
    return np.asarray(rng.uniform(0.5, 2.0, size=shape))


@pytest.mark.parametrize("op", sorted(BINARY_OPS))
@pytest.mark.parametrize(("x_shape", "y_shape"), BROADCAST_SHAPES)
def test_broadcasting_gradients(op, x_shape, y_shape):
    f, local = BINARY_OPS[op]
    x_value, y_value = random_array(x_shape, 1), random_array(y_shape, 2)
    x, y = leaf(x_value), leaf(y_value)
    out = f(x, y)
    upstream = random_array(out.shape, 3)
    out.backward(upstream)

    np.testing.assert_allclose(out.numpy(), f(x_value, y_value), rtol=1e-15)
    dx, dy = local(x_value, y_value)
    assert x.grad.shape == x_shape and y.grad.shape == y_shape
    np.testing.assert_allclose(grad_of(x), sum_to_shape(upstream * dx, x_shape), rtol=1e-14)
    np.testing.assert_allclose(grad_of(y), sum_to_shape(upstream * dy, y_shape), rtol=1e-14)


def test_broadcasting_col_row_values():
    """(3, 1) + (1, 4) with a unit upstream: each input collects the count it was copied."""
    x, y = leaf(np.zeros((3, 1))), leaf(np.zeros((1, 4)))
    (x + y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((3, 1), 4.0))
    np.testing.assert_array_equal(y.grad.numpy(), np.full((1, 4), 3.0))


# -- reductions, shapes, indexing -----------------------------------------------------------

X3 = np.arange(24.0).reshape(2, 3, 4) / 7.0
REDUCTIONS = [
    pytest.param(None, False, id="all"),
    pytest.param(None, True, id="all-keepdims"),
    pytest.param(0, False, id="axis0"),
    pytest.param(1, True, id="axis1-keepdims"),
    pytest.param(-1, False, id="axis-1"),
    pytest.param(-2, True, id="axis-2-keepdims"),
    pytest.param((0, 2), False, id="axes02"),
    pytest.param((-1, 0), True, id="axes-10-keepdims"),
]


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize(("axis", "keepdims"), REDUCTIONS)
def test_reductions(reduction, axis, keepdims):
    numpy_reduction = getattr(np, reduction)
    x = leaf(X3)
    out = getattr(x, reduction)(axis=axis, keepdims=keepdims)
    expected = numpy_reduction(X3, axis=axis, keepdims=keepdims)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-15)

    upstream = random_array(out.shape, 4)
    out.backward(upstream)
    expected_grad = gradient_of_linear(
        lambda e: numpy_reduction(e, axis=axis, keepdims=keepdims), X3.shape, upstream)
    np.testing.assert_allclose(grad_of(x), expected_grad, rtol=1e-14)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_public_reductions_match_the_methods(reduction):
    x = leaf(X3)
    public = getattr(refad, reduction)(x, axis=1, keepdims=True)
    method = getattr(x, reduction)(axis=1, keepdims=True)
    np.testing.assert_array_equal(public.numpy(), method.numpy())


MATMUL_SHAPES = [
    pytest.param((2, 3), (3, 4), id="2d@2d"),
    pytest.param((3,), (3, 4), id="1d@2d"),
    pytest.param((2, 3), (3,), id="2d@1d"),
    pytest.param((3,), (3,), id="1d@1d"),
    pytest.param((5, 2, 3), (5, 3, 4), id="batched"),
    pytest.param((5, 2, 3), (3, 4), id="batched@2d"),
    pytest.param((2, 3), (5, 3, 4), id="2d@batched"),
    pytest.param((3,), (5, 3, 4), id="1d@batched"),
    pytest.param((5, 2, 3), (3,), id="batched@1d"),
    pytest.param((5, 1, 2, 3), (4, 3, 2), id="broadcast-batch"),
]


@pytest.mark.parametrize(("a_shape", "b_shape"), MATMUL_SHAPES)
def test_matmul(a_shape, b_shape):
    a_value, b_value = random_array(a_shape, 5) - 1, random_array(b_shape, 6) - 1
    a, b = leaf(a_value), leaf(b_value)
    out = a @ b
    np.testing.assert_allclose(out.numpy(), a_value @ b_value, rtol=1e-14)
    upstream = random_array(out.shape, 7)
    out.backward(upstream)
    expected_a = gradient_of_linear(lambda e: e @ b_value, a_shape, upstream)
    expected_b = gradient_of_linear(lambda e: a_value @ e, b_shape, upstream)
    assert a.grad.shape == a_shape and b.grad.shape == b_shape
    np.testing.assert_allclose(grad_of(a), expected_a, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(grad_of(b), expected_b, rtol=1e-13, atol=1e-15)


def test_public_matmul_and_reflected_matmul():
    m = np.array([[1.0, 2.0], [3.0, 4.0]])
    x = leaf(np.array([0.5, -1.0]))
    (m @ x).sum().backward()                # numpy array on the left: Tensor.__rmatmul__
    np.testing.assert_array_equal(x.grad.numpy(), m.sum(axis=0))
    np.testing.assert_array_equal(refad.matmul(m, m).numpy(), m @ m)


M34 = np.arange(12.0).reshape(3, 4) - 5.5
INDICES = [
    pytest.param(1, id="int"),
    pytest.param(-1, id="negative-int"),
    pytest.param((slice(0, 2), 1), id="slice-int"),
    pytest.param((slice(None), slice(None, None, -2)), id="reversed-step"),
    pytest.param((Ellipsis, 2), id="ellipsis"),
    pytest.param((None, 1), id="newaxis"),
    pytest.param(np.array([0, 2, 0, 0]), id="repeated-rows"),
    pytest.param((np.array([0, 1, 1, 1]), np.array([2, 0, 0, 0])), id="repeated-elements"),
    pytest.param(M34 > 0, id="boolean-mask"),
    pytest.param((1, 2), id="element"),
]


@pytest.mark.parametrize("index", INDICES)
def test_indexing(index):
    x = leaf(M34)
    out = x[index]
    np.testing.assert_array_equal(out.numpy(), M34[index])
    upstream = random_array(np.shape(M34[index]), 8)
    out.backward(upstream)
    expected = gradient_of_linear(lambda e: e[index], M34.shape, upstream)
    np.testing.assert_allclose(grad_of(x), expected, rtol=1e-15)


def test_boolean_tensor_as_index():
    x = leaf(np.array([-1.0, 2.0, 3.0]))
    x[x > 0].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 1.0])


def test_repeated_indices_add_up():
    x = leaf(np.array([10.0, 20.0, 30.0]))
    x[np.array([0, 2, 0, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 1.0])


RESHAPES = [
    pytest.param(lambda t: t.reshape(4, 3), lambda a: a.reshape(4, 3), id="reshape-args"),
    pytest.param(lambda t: t.reshape((2, 6)), lambda a: a.reshape(2, 6), id="reshape-tuple"),
    pytest.param(lambda t: t.reshape(-1), lambda a: a.reshape(-1), id="reshape-minus-one"),
    pytest.param(lambda t: refad.reshape(t, (6, 2)), lambda a: a.reshape(6, 2),
                 id="refad.reshape"),
    pytest.param(lambda t: t.T, lambda a: a.T, id=".T"),
    pytest.param(lambda t: refad.transpose(t), lambda a: a.T, id="refad.transpose"),
    pytest.param(lambda t: t.T.reshape(2, 6).T, lambda a: a.T.reshape(2, 6).T,
                 id="T-reshape-T"),
]


@pytest.mark.parametrize(("f", "numpy_f"), RESHAPES)
def test_reshape_and_transpose(f, numpy_f):
    x = leaf(M34)
    out = f(x)
    np.testing.assert_array_equal(out.numpy(), numpy_f(M34))
    upstream = random_array(out.shape, 9)
    out.backward(upstream)
    expected = gradient_of_linear(numpy_f, M34.shape, upstream)
    np.testing.assert_array_equal(grad_of(x), expected)


def test_gram_matrix_uses_x_twice():
    """t.T @ t: both operands are t, so its gradient is t (U + U^T) for an upstream U."""
    x = leaf(M34)
    upstream = random_array((4, 4), 11)
    (x.T @ x).backward(upstream)
    np.testing.assert_allclose(grad_of(x), M34 @ (upstream + upstream.T), rtol=1e-14)


def test_transpose_with_axes():
    value = np.arange(24.0).reshape(2, 3, 4)
    x = leaf(value)
    out = refad.transpose(x, axes=(1, 2, 0))
    assert out.shape == (3, 4, 2)
    upstream = random_array(out.shape, 10)
    out.backward(upstream)
    np.testing.assert_array_equal(x.grad.numpy(), np.transpose(upstream, (2, 0, 1)))


# -- reflected operators, constants, comparisons ---------------------------------------------

REFLECTED = [
    pytest.param(lambda x: 2.0 - x, lambda x: 2.0 - x, lambda x: -1.0, id="rsub"),
    pytest.param(lambda x: 3.0 / x, lambda x: 3.0 / x, lambda x: -3.0 / x**2, id="rtruediv"),
    pytest.param(lambda x: 2.0 ** x, lambda x: 2.0**x, lambda x: 2.0**x * math.log(2.0),
                 id="rpow"),
    pytest.param(lambda x: 2 ** x, lambda x: 2.0**x, lambda x: 2.0**x * math.log(2.0),
                 id="rpow-int"),
    pytest.param(lambda x: 5 + x, lambda x: 5.0 + x, lambda x: 1.0, id="radd-int"),
    pytest.param(lambda x: np.float64(1.5) * x, lambda x: 1.5 * x, lambda x: 1.5,
                 id="rmul-numpy-scalar"),
    pytest.param(lambda x: np.array([1.0, 2.0]) * x, lambda x: np.array([1.0, 2.0]) * x,
                 lambda x: 3.0, id="rmul-numpy-array"),     # summed: d/dx (x + 2x) = 3
    pytest.param(lambda x: -x, lambda x: -x, lambda x: -1.0, id="neg"),
    pytest.param(lambda x: +x, lambda x: x, lambda x: 1.0, id="pos"),
    pytest.param(lambda x: x ** 3, lambda x: x**3, lambda x: 3 * x**2, id="pow-int"),
]


@pytest.mark.parametrize(("f", "value", "derivative"), REFLECTED)
def test_operators_with_numbers_and_arrays(f, value, derivative):
    x = leaf(0.75)
    out = f(x)
    assert isinstance(out, refad.Tensor)
    out.sum().backward()
    assert out.numpy().sum() == pytest.approx(np.sum(value(0.75)), rel=1e-15)
    assert x.grad.item() == pytest.approx(derivative(0.75), rel=1e-15)


def test_comparisons_give_bool_tensors_without_gradient():
    x = leaf(np.array([-1.0, 0.0, 2.0]))
    for result in (x > 0, x >= 0, x < 0, x <= 0, x == 0, x != 0, (x > -1) & (x < 1)):
        assert isinstance(result, refad.Tensor)
        assert result.dtype == np.bool_
        assert not result.requires_grad
    np.testing.assert_array_equal((x > 0).numpy(), [False, False, True])


def test_a_comparison_of_scalars_is_a_0d_bool_tensor():
    # found by refad fuzz: the math fast path returns a Python bool, whose dtype and repr
    # raised AttributeError
    result = refad.tensor(1.0) > 0.5
    assert result.dtype == np.bool_ and result.shape == () and result.item() is True
    assert repr(result) == "tensor(True, dtype=bool)"
    assert result.numpy().dtype == np.bool_


def test_tensor_conversions():
    data = np.array([1.0, 2.0])
    t = refad.tensor(data, requires_grad=True)
    data[0] = 99.0                          # the tensor copied its data
    assert t.numpy().tolist() == [1.0, 2.0]
    assert refad.tensor(2.5).item() == 2.5
    assert type(refad.tensor(2.5).data) is float
    assert refad.tensor(3).dtype == np.float64
    assert refad.tensor([1, 2]).dtype == np.float64
    d = (t * 2).detach()
    assert not d.requires_grad and d.is_leaf
    assert t.shape == (2,) and t.T.shape == (2,)


def test_no_grad_records_nothing():
    x = leaf(2.0)
    with refad.no_grad():
        assert not refad.is_grad_enabled()
        y = x * 3.0 + refad.sin(x)
        with refad.enable_grad():
            z = x * 3.0
    assert refad.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf and y.op is None
    assert z.requires_grad and z.op == "mul"
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_no_grad_restores_state_after_an_error():
    with pytest.raises(ZeroDivisionError), refad.no_grad():
        raise ZeroDivisionError
    assert refad.is_grad_enabled()


# -- a 10^6-node chain ------------------------------------------------------------------------

def test_million_node_chain():
    """250,000 rounds of sin, *1.0001, tanh and +-1e-4 (alternating, so the gradient stays a
    normal float: with +1e-4 every round it underflows to a subnormal ~7e-322). No recursion
    anywhere; the gradient is the product of the local derivatives, taken here in floats."""
    x0 = leaf(0.5)
    x = x0
    value, product = 0.5, 1.0
    for i in range(250_000):
        x = refad.sin(x)
        product *= math.cos(value)
        value = math.sin(value)
        x = x * 1.0001
        product *= 1.0001
        value *= 1.0001
        x = refad.tanh(x)
        value = math.tanh(value)
        product *= 1.0 - value * value
        step = 1e-4 if i % 2 == 0 else -1e-4
        x = x + step
        value += step
    x.backward()
    assert x.item() == value
    gradient = x0.grad.item()
    assert math.isfinite(gradient) and gradient > 1e-300
    assert gradient == pytest.approx(product, rel=1e-12)


# -- float32 ---------------------------------------------------------------------------------

def test_float32_end_to_end():
    values = np.array([0.3, -1.2, 2.0], dtype=np.float32)
    weights = np.array([1.5, 0.5, -2.0], dtype=np.float32)
    x = leaf(values, dtype="float32")

    def f(t, w):
        return ((refad.sin(t) * 2.0 + 1) / 3.0 - t ** 2 + w * t + refad.exp(-t)).mean()

    out = f(x, weights)
    out.backward()
    assert out.dtype == np.float32
    assert x.grad.dtype == np.float32
    x64 = leaf(values.astype(np.float64))
    reference = f(x64, weights.astype(np.float64))
    reference.backward()
    assert out.item() == pytest.approx(reference.item(), rel=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), x64.grad.numpy(), rtol=1e-6)


def test_float32_scalars_and_intermediates():
    x = leaf(0.5, dtype=refad.float32)
    assert x.dtype == np.float32
    steps = []
    out = refad.tanh(x * 2.0 + 1) ** 2.0 - refad.sqrt(x) / 4
    assert out.dtype == np.float32
    out.backward(on_step=steps.append)
    assert x.grad.dtype == np.float32
    for step in steps:
        assert np.asarray(step.contribution).dtype == np.float32, step
    (g,) = autograd.grad(out, x, create_graph=False)
    assert g.dtype == np.float32


def test_float32_second_derivative():
    x = leaf(np.array([0.5, 1.5], dtype=np.float32))
    (g,) = autograd.grad((refad.sin(x) * x).sum(), x, create_graph=True)
    (h,) = autograd.grad(g.sum(), x)
    assert g.dtype == np.float32 and h.dtype == np.float32
    v = np.array([0.5, 1.5])
    np.testing.assert_allclose(h.numpy(), -np.sin(v) * v + 2 * np.cos(v), rtol=1e-5)


def _float32_times_float64_array():
    x = leaf(np.array([1.0, 2.0]), dtype="float32")
    (x * leaf(np.array([3.0, 4.0]))).sum().backward()
    return x


def _float64_scalar_times_float32_array():
    s = leaf(2.0)                           # 0-d float64: numpy treats it as a weak scalar
    (s * leaf(np.array([1.0, 2.0]), dtype="float32")).sum().backward()
    return s


def _float32_output_with_float64_tensor_seed():
    x = leaf(np.array([1.0, 2.0]), dtype="float32")
    (x * 2.0).backward(refad.tensor([1.0, 1.0]))
    return x


MIXED_DTYPES = [
    pytest.param(_float32_times_float64_array, np.float32, id="f32-array*f64-array"),
    pytest.param(_float64_scalar_times_float32_array, np.float64, id="f64-scalar*f32-array"),
    pytest.param(_float32_output_with_float64_tensor_seed, np.float32, id="f64-tensor-seed"),
]


@pytest.mark.parametrize(("run", "dtype"), MIXED_DTYPES)
def test_grad_has_the_dtype_of_its_leaf(run, dtype):
    assert run().grad.dtype == dtype


# -- higher order ----------------------------------------------------------------------------

SIN_X_TIMES_X = [                           # f = sin(x) * x and its derivatives
    lambda x: math.cos(x) * x + math.sin(x),
    lambda x: -math.sin(x) * x + 2 * math.cos(x),
    lambda x: -math.cos(x) * x - 3 * math.sin(x),
    lambda x: math.sin(x) * x - 4 * math.cos(x),
]


@pytest.mark.parametrize("x0", [0.7, -2.1])
def test_autograd_grad_create_graph_repeatedly(x0):
    x = leaf(x0)
    current = refad.sin(x) * x
    for order, analytic in enumerate(SIN_X_TIMES_X, start=1):
        (current,) = autograd.grad(current, x, create_graph=True)
        assert current.item() == pytest.approx(analytic(x0), rel=1e-14), f"order {order}"


def test_nested_refad_grad():
    def f(x):
        return refad.sin(x) * x

    first = refad.grad(f)
    second = refad.grad(first)
    third = refad.grad(second)
    for x0 in (0.7, -2.1):
        assert float(first(x0)) == pytest.approx(SIN_X_TIMES_X[0](x0), rel=1e-14)
        assert float(second(x0)) == pytest.approx(SIN_X_TIMES_X[1](x0), rel=1e-14)
        assert float(third(x0)) == pytest.approx(SIN_X_TIMES_X[2](x0), rel=1e-14)


def test_hessian_of_a_vector_function():
    a = np.array([[2.0, 0.5, -1.0], [0.3, 1.0, 0.0], [0.0, -0.7, 3.0]])
    x0 = np.array([0.2, -0.4, 1.1])

    def f(x):
        return x @ (a @ x) + refad.exp(x).sum() + (x * x).sum() * x[0]

    h = refad.hessian(f)(x0)
    expected = a + a.T + np.diag(np.exp(x0))
    expected += 2 * np.outer(x0, np.eye(3)[0]) + 2 * np.outer(np.eye(3)[0], x0)
    expected += 2 * x0[0] * np.eye(3)
    assert h.shape == (3, 3)
    np.testing.assert_allclose(h.numpy(), expected, rtol=1e-14, atol=1e-15)


def test_jacobian_of_a_vector_function():
    a = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, 1.0]])
    x0 = np.array([0.3, -0.8, 1.4])
    j = refad.jacobian(lambda x: a @ refad.tanh(x))(x0)
    np.testing.assert_allclose(j.numpy(), a * (1 - np.tanh(x0) ** 2), rtol=1e-15)

    j2 = refad.jacobian(lambda x: x * x.sum())(x0)
    expected = np.diag(np.full(3, x0.sum())) + x0[:, None]
    np.testing.assert_allclose(j2.numpy(), expected, rtol=1e-15)


def test_value_and_grad_with_argnums_tuple():
    def f(x, y):
        return x * y + refad.sin(x)

    value, (gx, gy) = refad.value_and_grad(f, argnums=(0, 1))(1.0, 2.0)
    assert value.item() == 2.0 + math.sin(1.0)
    assert gx.item() == 2.0 + math.cos(1.0)
    assert gy.item() == 1.0
    assert not value.requires_grad
    value, gy_only = refad.value_and_grad(f, argnums=1)(1.0, 2.0)
    assert gy_only.item() == 1.0


def test_grad_of_a_function_that_ignores_its_argument():
    assert refad.grad(lambda x, y: y * 2.0)(1.0, 3.0).item() == 0.0


def test_no_perturbation_confusion():
    """The inner grad holds the outer x fixed: d/dx [x * d/dy (x y)] = d/dx x^2 = 2x."""
    result = refad.grad(lambda x: x * refad.grad(lambda y: x * y)(1.0))(2.0)
    assert result.item() == 4.0


def test_inner_grad_evaluated_at_the_outer_variable():
    """d/dx [d/dy (x y^2) at y = x] = d/dx 2 x^2 = 4x (JAX gives 4 at x = 1)."""
    result = refad.grad(lambda x: refad.grad(lambda y: x * y * y)(x))(1.0)
    assert result.item() == 4.0


def test_backward_with_create_graph_gives_a_differentiable_grad():
    x = leaf(0.7)
    (refad.sin(x) * x).backward(create_graph=True)
    assert x.grad.requires_grad
    assert x.grad.item() == pytest.approx(SIN_X_TIMES_X[0](0.7), rel=1e-15)
    (second,) = autograd.grad(x.grad, x)
    assert second.item() == pytest.approx(SIN_X_TIMES_X[1](0.7), rel=1e-15)


# -- a PINN residual: reverse over reverse, then the parameter gradient -----------------------

C = 0.5                                     # wave speed in u_tt - c^2 u_xx


def pinn_loss_numpy(a: float, b: float, t: np.ndarray, x: np.ndarray) -> float:
    s = np.tanh(a * t + b * x)
    residual = -2 * (a * a - C * C * b * b) * s * (1 - s * s)
    return float(np.mean(residual ** 2))


def test_pinn_second_derivatives_and_parameter_gradient():
    t_points = np.linspace(0.1, 0.9, 5)
    x_points = np.linspace(-0.5, 0.5, 5)
    a, b = leaf(0.8), leaf(-0.6)
    t, x = leaf(t_points), leaf(x_points)

    u = refad.tanh(a * t + b * x)
    (u_t,) = autograd.grad(u.sum(), t, create_graph=True)
    (u_tt,) = autograd.grad(u_t.sum(), t, create_graph=True)
    (u_x,) = autograd.grad(u.sum(), x, create_graph=True)
    (u_xx,) = autograd.grad(u_x.sum(), x, create_graph=True)

    s = np.tanh(0.8 * t_points - 0.6 * x_points)
    np.testing.assert_allclose(u_t.numpy(), 0.8 * (1 - s * s), rtol=1e-14)
    np.testing.assert_allclose(u_tt.numpy(), -2 * 0.64 * s * (1 - s * s), rtol=1e-13)
    np.testing.assert_allclose(u_xx.numpy(), -2 * 0.36 * s * (1 - s * s), rtol=1e-13)

    residual = u_tt - C**2 * u_xx
    loss = (residual * residual).mean()
    assert loss.item() == pytest.approx(pinn_loss_numpy(0.8, -0.6, t_points, x_points),
                                        rel=1e-13)
    ga, gb = autograd.grad(loss, [a, b])
    expected_a = stencil(lambda v: pinn_loss_numpy(v, -0.6, t_points, x_points), 0.8)
    expected_b = stencil(lambda v: pinn_loss_numpy(0.8, v, t_points, x_points), -0.6)
    assert ga.item() == pytest.approx(expected_a, rel=1e-8)
    assert gb.item() == pytest.approx(expected_b, rel=1e-8)


# -- PyTorch's conventions at the kinks -------------------------------------------------------

NAN, INF = math.nan, math.inf


def _trap(np_or_refad):
    def f(x):
        return np_or_refad.where(x > 0, np_or_refad.sqrt(x), 0.0)
    return f


def _double_where(np_or_refad):
    def f(x):
        safe = np_or_refad.where(x > 0, x, 1.0)
        return np_or_refad.where(x > 0, np_or_refad.sqrt(safe), 0.0)
    return f


def _brief_fix(np_or_refad):
    def f(x):
        return np_or_refad.sqrt(np_or_refad.where(x > 0, x, 1.0))
    return f


def _torch():
    import torch
    return torch


# (id, function of the module refad or torch, inputs, expected gradients as PyTorch gives them)
CONVENTIONS = [
    ("relu(0)", lambda m: m.relu, [0.0], [0.0]),
    ("abs(0)", lambda m: m.abs, [0.0], [0.0]),
    ("maximum(1,1)", lambda m: m.maximum, [1.0, 1.0], [0.5, 0.5]),
    ("minimum(1,1)", lambda m: m.minimum, [1.0, 1.0], [0.5, 0.5]),
    ("maximum(nan,1)", lambda m: m.maximum, [NAN, 1.0], [1.0, 1.0]),
    ("sqrt(0)", lambda m: m.sqrt, [0.0], [INF]),
    ("pow(0,0)", lambda m: m.pow, [0.0, 0.0], [0.0, 0.0]),
    ("pow(0,0.5)", lambda m: m.pow, [0.0, 0.5], [INF, 0.0]),
    ("x**0.5 at 0", lambda m: (lambda x: x ** 0.5), [0.0], [INF]),
    ("pow(0,2)", lambda m: m.pow, [0.0, 2.0], [0.0, 0.0]),
    ("pow(0,-1)", lambda m: m.pow, [0.0, -1.0], [-INF, -INF]),
    ("pow(-1,2)", lambda m: m.pow, [-1.0, 2.0], [-2.0, NAN]),
    ("atan2(0,0)", lambda m: m.atan2, [0.0, 0.0], [0.0, -0.0]),
    ("where-trap(-1)", _trap, [-1.0], [NAN]),
    ("where-trap(0)", _trap, [0.0], [NAN]),
    ("double-where(-1)", _double_where, [-1.0], [0.0]),
    ("double-where(0)", _double_where, [0.0], [0.0]),
    ("sqrt(where)(-1)", _brief_fix, [-1.0], [0.0]),
    ("log(0)", lambda m: m.log, [0.0], [INF]),
    ("log1p(-1)", lambda m: m.log1p, [-1.0], [INF]),
    ("1/x at 0", lambda m: (lambda x: 1.0 / x), [0.0], [-INF]),
    ("x/y at y=0", lambda m: (lambda x, y: x / y), [1.0, 0.0], [INF, -INF]),
    ("0/0", lambda m: (lambda x, y: x / y), [0.0, 0.0], [INF, NAN]),
    ("sigmoid(-800)", lambda m: m.sigmoid, [-800.0], [0.0]),
    ("tanh(30)", lambda m: m.tanh, [30.0], [0.0]),
    ("abs(nan)", lambda m: m.abs, [NAN], [0.0]),
]

_SCALAR_DIVISION = ("engine bug: on 0-d float64 tensors (Python floats) the VJP divides with "
                    "Python's `/`, which raises ZeroDivisionError instead of giving inf/nan "
                    "as numpy and PyTorch do")
_ATAN2_ORIGIN = ("engine convention differs from PyTorch: refad gives nan, nan at the origin "
                 "(0/0, as JAX does); torch 2.13 gives 0, -0")
_ABS_NAN = ("engine convention differs from PyTorch: abs' = sign(x) and numpy's sign(nan) is "
            "nan; torch's sign(nan) is 0, so torch's abs'(nan) is 0")
# (case, storage) -> (why it fails, the exception it fails with)
KNOWN_CONVENTION_BUGS: dict = {}


def convention_params() -> list:
    params = []
    for case_id, make, inputs, expected in CONVENTIONS:
        for storage in ("scalar", "array"):
            marks = ()
            if (case_id, storage) in KNOWN_CONVENTION_BUGS:
                reason, error = KNOWN_CONVENTION_BUGS[case_id, storage]
                marks = (pytest.mark.xfail(strict=True, raises=error, reason=reason),)
            params.append(pytest.param(make, inputs, expected, storage,
                                       id=f"{case_id}-{storage}", marks=marks))
    return params


def refad_gradients(make, inputs, storage) -> list[float]:
    """Gradients from refad; `scalar` uses 0-d tensors (Python floats), `array` shape (1,)."""
    tensors = [leaf(v if storage == "scalar" else [v]) for v in inputs]
    out = make(refad)(*tensors)
    out.sum().backward()
    return [float(np.asarray(t.grad.numpy()).reshape(-1)[0]) for t in tensors]


def torch_gradients(make, inputs) -> list[float]:
    torch = _torch()
    tensors = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in inputs]
    make(torch)(*tensors).backward()
    return [t.grad.item() for t in tensors]


# inf and nan are the answers here. refad silences numpy's warnings about them with a filter
# installed when refad is imported, but pytest discards filters added during collection.
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(("make", "inputs", "expected", "storage"), convention_params())
def test_convention_matches_pytorch(make, inputs, expected, storage):
    got = refad_gradients(make, inputs, storage)
    try:
        torch = _torch()
    except ImportError:
        torch = None
    if torch is not None:
        theirs = torch_gradients(make, inputs)
        assert all(map(same_float, theirs, expected)), (
            f"the table is out of date: torch {torch.__version__} gives {theirs}, "
            f"the table says {expected}")
    assert all(map(same_float, got, expected)), f"refad gives {got}, PyTorch {expected}"


# -- errors name the thing -------------------------------------------------------------------

def test_backward_on_non_scalar_needs_a_gradient():
    y = leaf(np.ones(3)) * 2.0
    with pytest.raises(ValueError, match=r"\(3,\)"):
        y.backward()


def test_gradient_of_the_wrong_shape():
    y = leaf(np.ones(3)) * 2.0
    with pytest.raises(ValueError) as error:
        y.backward(np.ones(4))
    assert "(4,)" in str(error.value) and "(3,)" in str(error.value)


def test_gradient_of_the_right_shape_weights_the_backward():
    x = leaf(np.array([1.0, 2.0, 3.0]))
    (x * x).backward(np.array([1.0, 0.0, -1.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, -6.0])


@pytest.mark.parametrize("requires_grad", [False, True])
def test_shape_mismatch_names_both_shapes(requires_grad):
    x = refad.tensor(np.ones(3), requires_grad=requires_grad)
    y = refad.tensor(np.ones(4))
    with pytest.raises(ValueError) as error:
        x + y
    message = str(error.value)
    assert "add" in message and "(3,)" in message and "(4,)" in message


def test_grad_with_respect_to_a_tensor_without_requires_grad():
    x = refad.tensor(1.0, name="x")
    y = leaf(2.0)
    with pytest.raises(ValueError, match="does not require grad"):
        autograd.grad(x * y, x)


def test_unused_input():
    x, unused = leaf(1.0), leaf(2.0)
    with pytest.raises(ValueError, match="not used"):
        autograd.grad(x * 3.0, [x, unused])
    gx, gu = autograd.grad(x * 3.0, [x, unused], allow_unused=True)
    assert gx.item() == 3.0
    assert gu is None


def test_unknown_dtype_is_named():
    with pytest.raises(ValueError, match="int8"):
        refad.tensor(1.0, dtype="int8")


def test_requires_grad_on_a_non_leaf():
    y = leaf(1.0) * 2.0
    with pytest.raises(ValueError, match="leaf") as error:
        y.requires_grad_(True)
    assert "mul" in str(error.value)


def test_requires_grad_on_a_bool_tensor():
    with pytest.raises(ValueError, match="bool"):
        refad.tensor([True, False], requires_grad=True)


def test_backward_without_any_input_requiring_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (refad.tensor(1.0) * 2.0).backward()


def test_functional_errors():
    with pytest.raises(ValueError, match="scalar"):
        refad.grad(lambda x: x * 2.0)(np.ones(3))
    with pytest.raises(ValueError, match="argnums"):
        refad.grad(lambda x: x, argnums=2)(1.0)


# -- in a fresh interpreter: imports and warnings ------------------------------------------

def run_python(code: str, *options: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, *options, "-c", code], capture_output=True,
                          text=True, env=env, cwd=REPO)


def test_import_refad_does_not_import_heavy_frameworks():
    result = run_python("import sys, refad; print(','.join(m for m in "
                        "('torch', 'jax', 'pandas') if m in sys.modules))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"import refad loaded {result.stdout.strip()}"


INF_AND_NAN = """
import numpy as np
x = refad.tensor([0.0, -1.0], requires_grad=True)
(refad.log(x) + refad.sqrt(x) + refad.sigmoid(x * 1000.0)).sum().backward()
print(x.grad.numpy().tolist())
"""


def test_inf_and_nan_are_answers_not_warnings():
    """Like PyTorch, refad does not warn about log(0) = -inf or sqrt(-1) = nan."""
    result = run_python("import refad" + INF_AND_NAN, "-W", "error::RuntimeWarning")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[inf, nan]"     # log and sqrt at 0; both at -1


def test_no_warnings_when_imported_inside_catch_warnings():
    code = ("import warnings\nwith warnings.catch_warnings():\n    import refad\n"
            "warnings.simplefilter('error', RuntimeWarning)\n" + INF_AND_NAN)
    result = run_python(code)
    assert result.returncode == 0, result.stderr


def test_on_target_hands_each_gradient_over_once_complete_and_keeps_none():
    from refad.backward import run_backward, topological_order

    x = refad.tensor(np.array([0.5, -1.5]), requires_grad=True)
    y = refad.sin(x) * x
    out = (y + y * y).sum()                 # y is used twice: its gradient has two parts
    order = topological_order([out])
    targets = {id(node) for node in order}
    kept = run_backward([out], [1.0], targets=targets)
    handed: dict[int, np.ndarray] = {}

    def receive(node, gradient):
        assert id(node) not in handed       # once per node, when complete
        handed[id(node)] = np.array(gradient)

    assert run_backward([out], [1.0], targets=targets, on_target=receive) == {}
    assert handed.keys() == kept.keys() == targets
    for key, gradient in kept.items():
        np.testing.assert_array_equal(handed[key], gradient)
    y_data = np.sin(x.data) * x.data
    np.testing.assert_array_equal(handed[id(y)], 1.0 + 2.0 * y_data)
    assert x.grad is None                   # targets: no .grad is touched
