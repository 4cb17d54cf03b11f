"""The op table is complete: every op has every fact, and every backend agrees with it.

Each test walks the table (refad/optable.py), so a new op is checked the moment its entry
exists; a failure names the op and the fact it lacks.
"""

from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import pytest

import refad
from refad.optable import (
    ADAPTER,
    OPS,
    REDUCTION,
    REQUIRED_BACKENDS,
    Fuzz,
    missing_facts,
    resolve,
    vocabulary,
)
from refad.registry import REGISTRY
from refad.vocabulary import FUNCTIONS

NAMES = sorted(OPS)
VOCABULARY = sorted(vocabulary())


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_has_every_fact(name):
    missing = missing_facts(OPS[name])
    assert not missing, f"op {name!r} lacks: {', '.join(missing)} (refad/optable.py)"


def test_every_primitive_has_an_entry_and_every_entry_a_primitive():
    no_entry = sorted(set(REGISTRY) - set(OPS))
    no_primitive = sorted(set(OPS) - set(REGISTRY))
    assert not no_entry, f"primitives without an op-table entry: {no_entry}"
    assert not no_primitive, f"op-table entries without a defprim: {no_primitive}"


@pytest.mark.parametrize("fact", ["cost", "samples", "torch", "fuzz", "method"])
def test_a_missing_fact_is_named(fact):
    """The check itself can fail: remove one fact from sin's entry and it is named."""
    blank = {"cost": None, "samples": (), "torch": None, "fuzz": None, "method": None}[fact]
    broken = dataclasses.replace(OPS["sin"], **{fact: blank})
    missing = " ".join(missing_facts(broken))
    assert fact in missing, (fact, missing)


def test_defprim_refuses_an_op_without_an_entry():
    with pytest.raises(KeyError, match="'sinn' has no entry in the op table"):
        refad.registry.defprim("sinn", np.sin, vjps=(lambda g, out, x: g,), local=("1",))
    assert "sinn" not in REGISTRY


@pytest.mark.parametrize("name", NAMES)
def test_cost_is_a_number_or_a_reduction(name):
    cost = OPS[name].cost
    assert cost == REDUCTION or (isinstance(cost, float) and cost >= 0), (name, cost)


def test_the_float32_model_has_no_default_cost():
    from refad.reports.tolerance import node_error

    node = refad.tensor(0.5, requires_grad=True).sin()
    node.prim = refad.registry.Primitive("unknown", np.sin, None, None, (), "", ())
    with pytest.raises(KeyError, match="'unknown' has no entry in the op table"):
        node_error(node, np.float64(1.0))


def test_the_vocabulary_is_the_table():
    assert set(FUNCTIONS) == set(VOCABULARY) | {"grad"}
    for name in VOCABULARY:
        fewest, most, keywords = FUNCTIONS[name]
        assert (fewest, most) == OPS[name].arity and keywords == OPS[name].keywords, name


@pytest.mark.parametrize("name", NAMES)
def test_every_method_and_public_function_exists(name):
    entry = OPS[name]
    method = entry.method or (name if name in ("where",) else None)
    if method is not None:
        assert callable(getattr(refad.Tensor, method, None)), f"Tensor.{method} ({name})"
    if entry.in_vocabulary:
        assert callable(getattr(refad, name, None)), f"refad.{name}"


ROOTS = {"torch": "torch", "jax": "jax", "sympy": "sympy", "mpmath": "mpmath",
         "tensorflow": "tensorflow"}


def _root(backend: str):
    module = ROOTS[backend]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install 'refad[all]')")
    root = importlib.import_module(module)
    if backend == "jax":
        importlib.import_module("jax.numpy")
    return root


@pytest.mark.parametrize("backend", REQUIRED_BACKENDS)
@pytest.mark.parametrize("name", VOCABULARY)
def test_string_spellings_resolve(backend, name):
    spelling = OPS[name].spelling(backend)
    if not isinstance(spelling, str) or spelling == ADAPTER:
        return
    root = _root(backend)
    try:
        function = resolve(root, spelling)
    except AttributeError as error:
        pytest.fail(f"op {name!r}: {backend} spelling {spelling!r} does not exist ({error})")
    assert callable(function), (name, backend, spelling)


def _namespace(backend: str):
    _root(backend)
    if backend == "torch":
        import torch
        from refad.adapters.torch_backend import make_ops
        return make_ops(torch.float64)
    if backend == "jax":
        from refad.adapters.jax_backend import make_ops
        return make_ops()
    if backend == "sympy":
        from refad.adapters.sympy_ops import namespace
        return namespace()
    from refad.adapters.high_precision import _mpmath_namespace
    return _mpmath_namespace()


@pytest.mark.parametrize("backend", REQUIRED_BACKENDS)
def test_each_backend_namespace_is_the_table(backend):
    ops = vars(_namespace(backend))
    assert set(ops) == set(FUNCTIONS), (
        f"{backend}: missing {sorted(set(FUNCTIONS) - set(ops))}, "
        f"extra {sorted(set(ops) - set(FUNCTIONS))}")


@pytest.mark.parametrize("name", [n for n in VOCABULARY
                                  if isinstance(OPS[n].fuzz, Fuzz) and OPS[n].fuzz.drawn])
def test_drawn_ops_are_in_the_fuzz_generator(name):
    from refad.cases.generate import BINARY, UNARY

    kinds = OPS[name].fuzz.kinds or (name,)
    assert set(kinds) <= set(UNARY) | set(BINARY), (name, kinds)


@pytest.mark.parametrize("name", VOCABULARY)
def test_every_sample_is_a_catalogue_case(name):
    from refad.cases import select

    names = {case.name for case in select()}
    for sample in OPS[name].samples:
        assert f"{name}-{sample.where}" in names, (name, sample.where)
