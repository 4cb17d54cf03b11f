"""The registry, checked entry by entry: every primitive in `refad.REGISTRY` is tested the
moment it exists.

The parameter lists are built from the registry when the tests are collected. Test ids name
the primitive, the example (numbered from 1, in the order of `Primitive.examples`) and the
input (numbered from 0, like `Primitive.vjps`): `mul-ex2-input1` is the second example of
`mul`, differentiated with respect to its second input.

Numerical derivatives use the 4th-order central stencil
    f'(0) ~ (-f(2h) + 8 f(h) - 8 f(-h) + f(-2h)) / 12h
with h = 1e-3 * max(1, |x|): its truncation error (~h^4) and its rounding error (~eps/h)
are both far below the tolerances, which a plain central difference cannot promise.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import refad
from refad import REGISTRY, autograd
from refad.optable import ADAPTER, OPS, resolve
from refad.vocabulary import FUNCTIONS

STEP = 1e-3             # relative step of the finite-difference stencil
RTOL, ATOL = 1e-6, 1e-8             # first derivatives against finite differences
RTOL_SECOND, ATOL_SECOND = 1e-5, 1e-7
RTOL_F32, ATOL_F32 = 1e-4, 1e-5     # float32 against float64
RTOL_TORCH, ATOL_TORCH = 1e-12, 1e-15


# -- building the parameter lists from the registry -----------------------------------------

def is_float_input(value) -> bool:
    """A differentiable input value: a Python float or a float numpy array."""
    if isinstance(value, float):
        return True
    return isinstance(value, np.ndarray) and value.dtype.kind == "f"


def differentiable_inputs(prim, args) -> list[int]:
    """Positions of the inputs of an example that have a VJP and a float value."""
    return [i for i, vjp in enumerate(prim.vjps) if vjp is not None and is_float_input(args[i])]


DIFFERENTIABLE = sorted(name for name, prim in REGISTRY.items() if prim.vjps is not None)


# Registry examples known to be broken, by "name-exK": each is an engine bug to fix in
# refad/primitives.py; strict, so the test fails (XPASS) once it is fixed and this line is due.
BROKEN_EXAMPLES: dict[str, str] = {}


def marks_for(name: str, k: int | None = None) -> tuple:
    """The xfail mark for a known-broken example (for a whole entry when k is None)."""
    reasons = [reason for key, reason in BROKEN_EXAMPLES.items()
               if key == f"{name}-ex{k}" or (k is None and key.startswith(f"{name}-ex"))]
    return tuple(pytest.mark.xfail(strict=True, raises=ValueError, reason=reason)
                 for reason in reasons[:1])


def entry_params() -> list:
    return [pytest.param(name, id=name) for name in sorted(REGISTRY)]


def example_params() -> list:
    """One parameter per example of every differentiable primitive: `sin-ex1`."""
    params = []
    for name in DIFFERENTIABLE:
        for k in range(1, len(REGISTRY[name].examples) + 1):
            params.append(pytest.param(name, k, id=f"{name}-ex{k}", marks=marks_for(name, k)))
    return params


def input_params() -> list:
    """One parameter per differentiable input of every example: `mul-ex2-input1`."""
    params = []
    for name in DIFFERENTIABLE:
        prim = REGISTRY[name]
        for k, (args, _) in enumerate(prim.examples, start=1):
            for i in differentiable_inputs(prim, args):
                params.append(pytest.param(name, k, i, id=f"{name}-ex{k}-input{i}",
                                           marks=marks_for(name, k)))
    return params


EXAMPLES = example_params()
INPUTS = input_params()


# -- helpers ---------------------------------------------------------------------------------

def example_of(name: str, k: int):
    """The primitive, its k-th example's positional inputs and its parameters."""
    prim = REGISTRY[name]
    args, params = prim.examples[k - 1]
    return prim, list(args), params


def rng_for(*key) -> np.random.Generator:
    """A generator seeded by the test's identity, so every run draws the same numbers."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def random_like(shape, rng):
    return np.asarray(rng.uniform(-1.0, 1.0, size=shape))


def forward(prim, args, params) -> np.ndarray:
    """The primitive on raw values (no tensors), as a float64 array."""
    return np.asarray(prim(*args, **params), dtype=np.float64)


def with_input(args, i, value) -> list:
    changed = list(args)
    changed[i] = value
    return changed


def moved_input(x, offset):
    """`x + offset`, kept a Python float when `x` is one (that is a different code path)."""
    if isinstance(x, float):
        return float(x + offset)
    return np.asarray(x, dtype=np.float64) + offset


def stencil(fun, h):
    """The 4th-order central difference of a function of one real variable, at 0."""
    return (-fun(2 * h) + 8 * fun(h) - 8 * fun(-h) + fun(-2 * h)) / (12 * h)


def unit(shape, index) -> np.ndarray:
    e = np.zeros(shape)
    e[index] = 1.0
    return e


def make_tensors(args, wrt, dtype=None) -> list:
    """Tensors for an example's inputs; those at positions `wrt` require grad."""
    tensors = []
    for j, value in enumerate(args):
        chosen = dtype if is_float_input(value) else None
        tensors.append(refad.tensor(value, requires_grad=j in wrt, dtype=chosen))
    return tensors


def refad_vjps(prim, args, params, wrt, v, dtype=None) -> list[np.ndarray]:
    """refad's vector-Jacobian products <v, d f / d args[j]> for each j in `wrt`."""
    tensors = make_tensors(args, wrt, dtype)
    out = prim(*tensors, **params)
    grads = autograd.grad(out, [tensors[j] for j in wrt], grad_outputs=v)
    return [g.numpy() for g in grads]


def numerical_vjp(prim, args, params, i, v) -> np.ndarray:
    """d <v, f(args)> / d args[i], element by element, by finite differences."""
    x = np.asarray(args[i], dtype=np.float64)
    result = np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        direction = unit(x.shape, index)

        def inner(t, direction=direction):
            moved = with_input(args, i, moved_input(args[i], t * direction))
            return np.sum(v * forward(prim, moved, params))

        result[index] = stencil(inner, STEP * max(1.0, abs(x[index])))
    return result


def assert_close(actual, expected, *, rtol, atol, what: str, names=("refad", "expected")):
    """Elementwise closeness; the message names the element and both numbers."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (
        f"{what}: {names[0]} has shape {actual.shape}, {names[1]} {expected.shape}")
    bad = ~np.isclose(actual, expected, rtol=rtol, atol=atol)
    if bad.any():
        index = tuple(int(n) for n in np.argwhere(bad)[0])
        pytest.fail(f"{what}, element {index}: {names[0]} {actual[index]!r}, "
                    f"{names[1]} {expected[index]!r} (rtol {rtol}, atol {atol}; "
                    f"{int(bad.sum())} of {bad.size} elements differ)")


# -- 1. every entry is complete -----------------------------------------------------------

@pytest.mark.parametrize("name", entry_params())
def test_entry_is_complete(name):
    prim = REGISTRY[name]
    assert prim.name == name
    assert callable(prim.forward)
    if prim.vjps is None:
        return
    assert len(prim.local) == len(prim.vjps), f"{name}: one local text per VJP"
    for i, text in enumerate(prim.local):
        assert isinstance(text, str) and text.strip(), f"{name}: local text {i} is empty"
    assert prim.examples, f"{name}: a differentiable primitive needs at least one example"
    for i, vjp in enumerate(prim.vjps):
        if vjp is None:
            continue
        covered = [k for k, (args, _) in enumerate(prim.examples, start=1)
                   if is_float_input(args[i])]
        assert covered, f"{name}: no example has a float value at input {i}, so its VJP " \
                        f"is never checked"


def signature_params() -> list:
    return [pytest.param(name, id=name, marks=marks_for(name)) for name in sorted(REGISTRY)]


@pytest.mark.parametrize("name", signature_params())
def test_examples_fit_the_signature(name):
    prim = REGISTRY[name]
    for k, (args, params) in enumerate(prim.examples, start=1):
        assert isinstance(params, dict), f"{name} example {k}: params must be a dict"
        if prim.vjps is not None:
            assert len(args) == len(prim.vjps), (
                f"{name} example {k}: {len(args)} inputs but {len(prim.vjps)} VJPs")
        forward(prim, args, params)         # runs without error


def test_parameter_lists_cover_the_registry():
    """Nothing differentiable slips through the collection (ids are unique, too)."""
    covered = {param.values[0] for param in INPUTS}
    assert covered == set(DIFFERENTIABLE)
    ids = [param.id for param in INPUTS]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("name", "k"), EXAMPLES)
def test_raw_values_compute_and_tensors_record(name, k):
    """On raw values a primitive returns a raw value; on tensors that require grad it records
    a node naming itself and its inputs; on constant tensors it records nothing."""
    prim, args, params = example_of(name, k)
    raw = prim(*args, **params)
    assert not isinstance(raw, refad.Tensor)

    wrt = differentiable_inputs(prim, args)
    tensors = make_tensors(args, wrt)
    out = prim(*tensors, **params)
    assert out.requires_grad and out.op == name
    assert all(a is b for a, b in zip(out.inputs, tensors, strict=True))
    np.testing.assert_array_equal(out.numpy(), np.asarray(raw))

    constant = prim(*make_tensors(args, []), **params)
    assert not constant.requires_grad and constant.op is None


def scalar_example_params() -> list:
    """Examples whose inputs are all Python numbers, for primitives with a math fast path."""
    return [param for param in EXAMPLES
            if REGISTRY[param.values[0]].scalar is not None
            and all(isinstance(a, float) for a in example_of(*param.values)[1])]


@pytest.mark.parametrize(("name", "k"), scalar_example_params())
def test_scalar_fast_path_agrees_with_numpy(name, k):
    """Python floats take the `math` fast path, arrays numpy: the two must agree."""
    prim, args, params = example_of(name, k)
    fast = prim.scalar(*args, **params)
    assert type(fast) is float
    slow = float(prim.forward(*[np.float64(a) for a in args], **params))
    assert fast == pytest.approx(slow, rel=4e-16, abs=0), (
        f"{name} example {k}: math gives {fast!r}, numpy {slow!r}")


# -- 2. VJPs against finite differences, element by element ----------------------------

@pytest.mark.parametrize(("name", "k", "i"), INPUTS)
def test_vjp_matches_finite_differences(name, k, i):
    prim, args, params = example_of(name, k)
    v = random_like(forward(prim, args, params).shape, rng_for(name, k, "v"))
    (got,) = refad_vjps(prim, args, params, [i], v)
    expected = numerical_vjp(prim, args, params, i, v)
    assert got.shape == np.shape(args[i]), (
        f"{name} example {k}: the gradient of input {i} has shape {got.shape}, "
        f"the input {np.shape(args[i])}")
    assert_close(got, expected, rtol=RTOL, atol=ATOL,
                 what=f"{name} example {k} input {i}", names=("refad", "numerical"))


# -- 3. <u, vjp(v)> = <v, jvp(u)> along random directions --------------------------------

@pytest.mark.parametrize(("name", "k", "i"), INPUTS)
def test_vjp_agrees_with_directional_derivative(name, k, i):
    prim, args, params = example_of(name, k)
    rng = rng_for(name, k, i, "directions")
    v = random_like(forward(prim, args, params).shape, rng)
    u = random_like(np.shape(args[i]), rng)
    (vjp,) = refad_vjps(prim, args, params, [i], v)

    def along_u(t):
        moved = with_input(args, i, moved_input(args[i], t * u))
        return np.sum(v * forward(prim, moved, params))

    scale = max(1.0, float(np.max(np.abs(args[i]))))
    reverse = float(np.sum(u * vjp))
    numerical = float(stencil(along_u, STEP * scale))
    assert np.isclose(reverse, numerical, rtol=RTOL, atol=ATOL), (
        f"{name} example {k} input {i}: <u, vjp(v)> = {reverse!r} but <v, jvp(u)> = "
        f"{numerical!r}")


# -- 4. second derivatives through create_graph=True ----------------------------------

def first_derivative_dot(prim, args, params, wrt, v, w) -> float:
    """<w, grad <v, f>> at `args`, without create_graph: the function we difference."""
    grads = refad_vjps(prim, args, params, wrt, v)
    return float(sum(np.sum(wj * g) for wj, g in zip(w, grads, strict=True)))


def refad_hessian_product(prim, args, params, wrt, i, v, w) -> np.ndarray:
    """d <w, d<v, f>/d args> / d args[i], by reverse over reverse."""
    tensors = make_tensors(args, wrt)
    out = prim(*tensors, **params)
    s = (out * v).sum()
    grads = autograd.grad(s, [tensors[j] for j in wrt], create_graph=True)
    q = None
    for g, wj in zip(grads, w, strict=True):
        term = (g * wj).sum()
        q = term if q is None else q + term
    (hv,) = autograd.grad(q, tensors[i], allow_unused=True)
    if hv is None:                  # q does not depend on args[i]: that block is zero
        return np.zeros(np.shape(args[i]))
    return hv.numpy()


@pytest.mark.parametrize(("name", "k", "i"), INPUTS)
def test_second_derivative_through_create_graph(name, k, i):
    """Each Hessian block row d/dx_i, including the zero ones (linear ops), which must come
    out exactly as the finite differences of the first derivative say."""
    prim, args, params = example_of(name, k)
    wrt = differentiable_inputs(prim, args)
    rng = rng_for(name, k, i, "second")
    v = random_like(forward(prim, args, params).shape, rng)
    w = [random_like(np.shape(args[j]), rng) for j in wrt]
    got = refad_hessian_product(prim, args, params, wrt, i, v, w)

    x = np.asarray(args[i], dtype=np.float64)
    expected = np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        direction = unit(x.shape, index)

        def inner(t, direction=direction):
            moved = with_input(args, i, moved_input(args[i], t * direction))
            return first_derivative_dot(prim, moved, params, wrt, v, w)

        expected[index] = stencil(inner, STEP * max(1.0, abs(x[index])))
    assert_close(got, expected, rtol=RTOL_SECOND, atol=ATOL_SECOND,
                 what=f"{name} example {k}: second derivative along input {i}",
                 names=("refad", "numerical"))


# -- 5. float32 stays float32 ----------------------------------------------------------

@pytest.mark.parametrize(("name", "k"), EXAMPLES)
def test_float32_forward_and_vjp(name, k):
    prim, args, params = example_of(name, k)
    if "dtype" in params:
        params = dict(params, dtype=np.float32)     # a cast: ask it for float32 too
    wrt = differentiable_inputs(prim, args)
    v = random_like(forward(prim, args, params).shape, rng_for(name, k, "f32"))

    tensors = make_tensors(args, wrt, dtype="float32")
    out = prim(*tensors, **params)
    assert out.dtype == np.float32, f"{name} example {k}: float32 inputs gave {out.dtype}"
    grads = autograd.grad(out, [tensors[j] for j in wrt], grad_outputs=v.astype(np.float32))
    for j, g in zip(wrt, grads, strict=True):
        assert g.dtype == np.float32, f"{name} example {k}: input {j} gradient is {g.dtype}"

    assert_close(out.numpy(), forward(prim, args, params), rtol=RTOL_F32, atol=ATOL_F32,
                 what=f"{name} example {k} value", names=("float32", "float64"))
    expected = refad_vjps(prim, args, params, wrt, v)
    for j, g, g64 in zip(wrt, grads, expected, strict=True):
        assert_close(g.numpy(), g64, rtol=RTOL_F32, atol=ATOL_F32,
                     what=f"{name} example {k} input {j} gradient",
                     names=("float32", "float64"))


# -- 6. the public vocabulary -----------------------------------------------------------

_VECTOR = np.array([0.3, 1.2, 2.5])
_MATRIX = np.array([[0.5, -0.4], [0.9, 0.2]])
SAMPLE_ARGS = {              # plain inputs for the vocabulary functions that need special ones
    "where": (np.array([True, False, True]), _VECTOR, 2.0),
    "matmul": (_MATRIX, _MATRIX.T),
    "sum": (_MATRIX,),
    "mean": (_MATRIX,),
}
VOCABULARY = sorted(name for name in FUNCTIONS if name != "grad")


def sample_args(name: str) -> list[tuple]:
    """A numbers-only call and an arrays-only call (or the special inputs above)."""
    if name in SAMPLE_ARGS:
        return [SAMPLE_ARGS[name]]
    arity = FUNCTIONS[name][0]
    numbers = (0.5, 1.5)[:arity]
    arrays = (_VECTOR, _VECTOR[::-1].copy())[:arity]
    return [numbers, arrays]


@pytest.mark.parametrize("name", VOCABULARY)
def test_public_function_exists_and_returns_a_tensor(name):
    function = getattr(refad, name, None)
    assert callable(function), f"refad.{name} is missing"
    assert function.__doc__, f"refad.{name} has no docstring"
    for args in sample_args(name):
        result = function(*args)
        assert isinstance(result, refad.Tensor), f"refad.{name}{args!r} gave {type(result)}"
        expected = REGISTRY[name](*args)            # the primitive on raw values
        np.testing.assert_array_equal(result.numpy(), np.asarray(expected))


# -- 7. against PyTorch ----------------------------------------------------------------

def _torch_index(index):
    import torch

    if isinstance(index, tuple):
        return tuple(_torch_index(part) for part in index)
    if isinstance(index, np.ndarray):
        return torch.as_tensor(index)
    return index


def _torch_reduction(function):
    def reduce(x, axis=None, keepdims=False):
        if axis is None:
            return function(x) if not keepdims else function(x, dim=tuple(range(x.ndim)),
                                                              keepdim=True)
        return function(x, dim=axis, keepdim=keepdims)
    return reduce


def _torch_transpose(x, axes=None):
    return x.permute(tuple(reversed(range(x.ndim))) if axes is None else axes)


def _torch_scatter(x, index, shape):
    import torch

    result = torch.zeros(shape, dtype=x.dtype)
    result[_torch_index(index)] = result[_torch_index(index)] + x
    return result


def torch_ops() -> dict:
    """refad primitive name -> the same operation in PyTorch (same arguments): the op
    table's torch spelling where it is a name, else written here."""
    import torch

    from_table = {name: resolve(torch, entry.torch) for name, entry in OPS.items()
                  if isinstance(entry.torch, str) and entry.torch != ADAPTER
                  and "axis" not in entry.keywords}
    return from_table | {
        "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
        "neg": torch.neg, "pow": torch.pow, "square": torch.square,
        "sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "tanh": torch.tanh,
        "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "log1p": torch.log1p,
        "expm1": torch.expm1, "sigmoid": torch.sigmoid, "atan2": torch.atan2,
        "sign": torch.sign, "abs": torch.abs, "relu": torch.relu,
        "maximum": torch.maximum, "minimum": torch.minimum, "where": torch.where,
        "sum": _torch_reduction(torch.sum), "mean": _torch_reduction(torch.mean),
        "reshape": lambda x, shape: torch.reshape(x, shape),
        "broadcast_to": lambda x, shape: torch.broadcast_to(x, shape),
        "transpose": _torch_transpose,
        "getitem": lambda x, index: x[_torch_index(index)],
        "scatter": _torch_scatter,
        "matmul": torch.matmul,
        "identity": torch.clone,
    }


@pytest.mark.parametrize(("name", "k"), EXAMPLES)
def test_matches_torch(name, k):
    torch = pytest.importorskip("torch")
    ops = torch_ops()
    if name not in ops:
        pytest.skip(f"no PyTorch counterpart is mapped for {name!r}")
    prim, args, params = example_of(name, k)
    wrt = differentiable_inputs(prim, args)
    v = random_like(forward(prim, args, params).shape, rng_for(name, k, "torch"))

    inputs = [torch.tensor(a, dtype=torch.float64, requires_grad=j in wrt)
              if is_float_input(a) else torch.tensor(a) for j, a in enumerate(args)]
    out = ops[name](*inputs, **params)
    grads = torch.autograd.grad(out, [inputs[j] for j in wrt], grad_outputs=torch.tensor(v))

    assert_close(forward(prim, args, params), out.detach().numpy(), rtol=RTOL_TORCH,
                 atol=ATOL_TORCH, what=f"{name} example {k} value", names=("refad", "torch"))
    ours = refad_vjps(prim, args, params, wrt, v)
    for j, g, theirs in zip(wrt, ours, grads, strict=True):
        assert_close(g, theirs.numpy(), rtol=RTOL_TORCH, atol=ATOL_TORCH,
                     what=f"{name} example {k} input {j} gradient", names=("refad", "torch"))
