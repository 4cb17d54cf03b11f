"""Tests for the catalogue in cases/: its size and shape, its lookups, and that every case is
well-formed and runs on refad (the parity suite compares it against the other backends)."""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import numpy as np
import pytest
from refad.adapters.refad_backend import RefadBackend
from refad.cases import CATALOGUE, Case, families, get, select

import refad
from refad import cases
from refad.parse import parse
from refad.vocabulary import FUNCTIONS

# family -> the fewest cases it should hold
MINIMUM_PER_FAMILY = {
    "seed": 9, "primitives": 25, "graphs": 8, "nonsmooth": 12, "numerics": 12,
    "tensors": 8, "second-order": 6, "pinn": 2, "fuzz": 1,
}
# A case may produce inf or nan only if one of these tags says why.
NON_FINITE_TAGS = {"kink", "overflow", "nan-trap", "formula-artifact"}
NAME = re.compile(r"^[a-z0-9][a-z0-9.\-]*[a-z0-9]$")
BACKEND = RefadBackend()


def ids(case: Case) -> str:
    return case.name


# -- the catalogue as a whole --------------------------------------------------------------

def test_catalogue_has_at_least_80_unique_names():
    names = [case.name for case in CATALOGUE]
    assert len(names) >= 80, f"only {len(names)} cases"
    duplicates = sorted({name for name in names if names.count(name) > 1})
    assert not duplicates, f"duplicate case names: {duplicates}"


@pytest.mark.parametrize("family, minimum", sorted(MINIMUM_PER_FAMILY.items()))
def test_family_has_its_minimum(family, minimum):
    count = len(select(family=family))
    assert count >= minimum, f"family {family!r} has {count} cases, wants >= {minimum}"


def test_families_are_listed_in_catalogue_order():
    assert families() == tuple(MINIMUM_PER_FAMILY)
    order = [families().index(case.family) for case in CATALOGUE]
    assert order == sorted(order), "CATALOGUE is not in family order"


def test_duplicate_names_are_refused_at_import(monkeypatch):
    twice = SimpleNamespace(CASES=(get("relu-at-0"),))
    monkeypatch.setattr(cases, "_MODULES", (twice, twice))
    with pytest.raises(ValueError, match="duplicate case name 'relu-at-0'"):
        cases._collect()


def test_every_vocabulary_function_has_a_case():
    used = set()
    for case in CATALOGUE:
        if case.expr is not None:
            used.update(re.findall(r"[a-z_0-9]+(?=\()", case.expr))
            if "@" in case.expr:
                used.add("matmul")
    aliases = {"max": "maximum", "min": "minimum"}
    used = {aliases.get(name, name) for name in used}
    missing = sorted(set(FUNCTIONS) - used)
    assert not missing, f"no expression case calls {missing}"


# -- lookups --------------------------------------------------------------------------------

def test_get_returns_the_case():
    case = get("seed-multivariate")
    assert case.expr == "x*y + sin(x)"
    assert case.inputs == {"x": 1.0, "y": 2.0}


def test_get_suggests_close_names():
    with pytest.raises(ValueError, match="seed-multivariate") as error:
        get("seed-multivariat")
    assert "did you mean" in str(error.value)


def test_select_without_family_is_everything():
    assert select() == list(CATALOGUE)


def test_select_unknown_family_lists_the_families():
    with pytest.raises(ValueError) as error:
        select(family="nope")
    message = str(error.value)
    assert "'nope'" in message
    for family in families():
        assert family in message


@pytest.mark.parametrize("family", sorted(MINIMUM_PER_FAMILY))
def test_select_returns_only_that_family(family):
    assert all(case.family == family for case in select(family=family))


# -- each case is well-formed -------------------------------------------------------------

@pytest.mark.parametrize("case", CATALOGUE, ids=ids)
def test_case_is_well_formed(case):
    assert NAME.match(case.name), f"case name {case.name!r} is not a readable id"
    assert case.family in MINIMUM_PER_FAMILY, f"case {case.name!r}: family {case.family!r}"
    assert case.tags, f"case {case.name!r} has no tags"
    assert set(case.differentiated) <= set(case.inputs), (
        f"case {case.name!r}: wrt {case.differentiated} not all in inputs {tuple(case.inputs)}")
    assert case.max_order in (1, 2), f"case {case.name!r}: max_order {case.max_order}"
    if case.rtol is not None:
        assert case.note, f"case {case.name!r} widens rtol to {case.rtol} without a note"
    for name, value in {**case.inputs, **case.constants}.items():
        assert isinstance(value, (float, np.ndarray)), (
            f"case {case.name!r}: input {name!r} is a {type(value).__name__}")


@pytest.mark.parametrize("case", [c for c in CATALOGUE if c.is_kink], ids=ids)
def test_kink_case_says_what_frameworks_do(case):
    assert "nonsmooth" in case.tags, f"kink case {case.name!r} is not tagged nonsmooth"
    assert "torch" in case.note and "jax" in case.note, (
        f"kink case {case.name!r}: the note must say what torch and jax do: {case.note!r}")


@pytest.mark.parametrize("case", [c for c in CATALOGUE if c.expr is not None], ids=ids)
def test_expression_case_reparses(case):
    expression = parse(case.expr)
    names = tuple(case.inputs) + tuple(case.constants)      # a fuzz case's matrix constant
    assert set(expression.variables) == set(names), (
        f"case {case.name!r}: {case.expr!r} uses {expression.variables}, "
        f"inputs and constants are {names}")


def test_scalar_expression_cases_avoid_matmul():
    # the exact (sympy) oracle handles scalar cases; matmul is only meaningful on arrays
    for case in CATALOGUE:
        if case.is_scalar and case.expr is not None:
            assert "@" not in case.expr and "matmul" not in case.expr, case.name


# -- each case runs on refad --------------------------------------------------------------

class _VocabularyOnly:
    """refad's functions, but only the names of the ops vocabulary."""

    def __getattr__(self, name):
        if name not in FUNCTIONS:
            raise AttributeError(f"{name!r} is not in the ops vocabulary")
        return getattr(refad, name)


@pytest.mark.parametrize("case", CATALOGUE, ids=ids)
def test_case_uses_only_the_vocabulary(case):
    inputs = {name: refad.tensor(value) for name, value in case.inputs.items()}
    constants = {name: refad.tensor(value) for name, value in case.constants.items()}
    with np.errstate(all="ignore"):
        out = case.fn(_VocabularyOnly(), **inputs, **constants)
    assert np.shape(refad.as_tensor(out).data) == (), f"case {case.name!r} is not scalar"


@pytest.mark.parametrize("case", CATALOGUE, ids=ids)
def test_case_evaluates_on_refad(case):
    with np.errstate(all="ignore"):
        result = BACKEND.evaluate(case, "float64", 1)
    assert result.status == "ok", f"case {case.name!r}: refad: {result.error}"
    assert np.shape(result.value) == ()
    for name in case.differentiated:
        assert np.shape(result.grad[name]) == np.shape(case.inputs[name]), (
            f"case {case.name!r}: d/d{name} has shape {np.shape(result.grad[name])}")
    finite = all(np.all(np.isfinite(v)) for v in result.quantities().values())
    if not finite:
        assert NON_FINITE_TAGS & set(case.tags), (
            f"case {case.name!r}: refad gives inf or nan {result.quantities()} but no tag "
            f"from {sorted(NON_FINITE_TAGS)} explains it")


def test_seed_pause_and_check():
    result = BACKEND.evaluate(get("seed-multivariate"), "float64", 1)
    assert math.isclose(float(result.grad["x"]), 2.0 + math.cos(1.0), rel_tol=1e-15)
    assert math.isclose(float(result.grad["y"]), 1.0, rel_tol=1e-15)


def test_pinn_combined_input_equals_separate_inputs_and_the_mistake_does_not():
    separate = BACKEND.evaluate(get("pinn-wave-residual"), "float64", 0).value
    combined = BACKEND.evaluate(get("pinn-wave-residual-combined-input"), "float64", 0).value
    mistake = BACKEND.evaluate(get("pinn-wave-residual-mixed-columns-mistake"),
                               "float64", 0).value
    assert math.isclose(float(combined), float(separate), rel_tol=1e-12), (combined, separate)
    assert not math.isclose(float(mistake), float(separate), rel_tol=0.1), (mistake, separate)
