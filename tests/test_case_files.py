"""Case files: JSON round trips (nan, inf, -0.0, arrays, DAGs) and the catalogue's cases/found."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from refad.cases.case import Case
from refad.cases.case_files import load_case_file, load_cases, write_case_file
from refad.cases.dag import Dag, DagFunction, render
from refad.reports.fuzz import fuzz_case

import refad
from refad import cases


def _dag_case(name: str = "file-case", **inputs) -> Case:
    dag = Dag((("input", "x"), ("input", "y"), ("const", -0.0), ("sin", 0), ("*", 3, 3),
               ("maximum", 4, 1), ("+", 5, 2)))
    return Case(name=name, fn=DagFunction(dag), inputs=inputs or {"x": 0.5, "y": 2.0},
                family="fuzz", tags=("fuzz", "kink"), note="a note", expr=render(dag),
                known={"jax": "a documented reason"})


def test_special_numbers_round_trip(tmp_path):
    case = _dag_case(x=-0.0, y=math.nan)
    case = Case(**{**case.__dict__, "inputs": {"x": -0.0, "y": math.nan,
                                              "z": np.array([math.inf, -math.inf, -0.0])}})
    path = write_case_file(case, tmp_path / "special.json", found_by={"seed": 3})
    text = path.read_text()
    assert '"nan"' in text and '"-inf"' in text and "NaN" not in text   # strict JSON
    json.loads(text)
    loaded = load_case_file(path)
    assert math.copysign(1.0, loaded.inputs["x"]) == -1.0 and loaded.inputs["x"] == 0.0
    assert math.isnan(loaded.inputs["y"])
    z = loaded.inputs["z"]
    assert z[0] == math.inf and z[1] == -math.inf and z[2] == 0.0 and np.signbit(z[2])
    assert loaded.fn.dag == case.fn.dag                     # the -0.0 constant included
    assert np.signbit(loaded.fn.dag.nodes[2][1])
    assert (loaded.tags, loaded.note, dict(loaded.known)) == (case.tags, case.note,
                                                               dict(case.known))


@pytest.mark.parametrize("index", range(8))
def test_generated_cases_round_trip_to_the_same_numbers(tmp_path, index):
    case = fuzz_case(5, index)
    loaded = load_case_file(write_case_file(case, tmp_path / "c.json"))
    assert loaded.fn.dag == case.fn.dag and loaded.expr == case.expr
    values = {**case.inputs, **case.constants}
    again = {**loaded.inputs, **loaded.constants}
    before = case.fn(refad, **values).data
    after = loaded.fn(refad, **again).data
    assert np.array_equal(before, after), f"{case.expr}: {before} then {after}"


def test_expression_case_files_are_compiled_by_the_parser(tmp_path):
    path = tmp_path / "expr.json"
    path.write_text(json.dumps({"name": "e", "expr": "max(x, 0.5)", "inputs": {"x": 0.5}}))
    case = load_case_file(path)
    assert case.family == "fuzz" and case.expr == "max(x, 0.5)"
    assert float(case.fn(refad, x=2.0).data) == 2.0


def test_a_bad_file_is_named_in_the_error(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"name": "b", "inputs": {"x": "one"}, "expr": "x"}')
    with pytest.raises(ValueError, match="broken.json.*input 'x'"):
        load_case_file(path)
    path.write_text('{"name": "b", "inputs": {}, "dag": [["sin", 3]]}')
    with pytest.raises(ValueError, match="broken.json.*not an earlier node"):
        load_case_file(path)


def test_load_cases_rejects_two_files_with_one_name(tmp_path):
    write_case_file(_dag_case("same"), tmp_path / "a.json")
    write_case_file(_dag_case("same"), tmp_path / "b.json")
    with pytest.raises(ValueError, match="b.json.*'same'.*a.json"):
        load_cases(tmp_path)


def test_writing_is_atomic_and_leaves_no_temporary_file(tmp_path):
    write_case_file(_dag_case(), tmp_path / "one.json")
    assert [p.name for p in tmp_path.iterdir()] == ["one.json"]


def test_the_catalogue_loads_cases_found_as_family_fuzz(tmp_path, monkeypatch):
    write_case_file(_dag_case("fuzz-extra"), tmp_path / "fuzz-extra.json")
    monkeypatch.setattr(cases, "FOUND", tmp_path)
    collected = {case.name: case for case in cases._collect()}
    assert collected["fuzz-extra"].family == "fuzz"
    assert list(collected)[-1] == "fuzz-extra"              # after the hand-written ones
    write_case_file(_dag_case("seed-multivariate"), tmp_path / "clash.json")
    with pytest.raises(ValueError, match="clash.json.*seed-multivariate"):
        cases._collect()


def test_every_file_in_cases_found_is_in_the_catalogue():
    files = load_cases(cases.FOUND)
    for case in files:
        assert cases.get(case.name).family == "fuzz"
        assert case.note, f"{case.name}: a regression case needs a note"
