"""The runner, the writers and assert_parity: faults become rows, writes are atomic."""

from __future__ import annotations

import json

import numpy as np
import pytest
from extras import needs
from refad.adapters.refad_backend import RefadBackend
from refad.cases.case import Case, expression_case
from refad.reports import writers
from refad.reports.compare import TOLERANCES, compare_values, ulp_distance
from refad.reports.runner import run
from refad.testing import assert_parity

from refad import adapters

pytestmark = needs("pandas", "jinja2")

SEED = expression_case("seed-multivariate-test", "x*y + sin(x)", {"x": 1.0, "y": 2.0}, "seed")


class Wrong(RefadBackend):
    """refad with a gradient off by one part in a thousand: a backend with a bug."""

    def _evaluate(self, case, dtype, order):
        result = super()._evaluate(case, dtype, order)
        for name in result.grad:
            result.grad[name] = result.grad[name] * 1.001
        return result


def test_run_gives_a_tidy_frame_with_every_backend_and_dtype():
    frame = run([SEED], backends=["refad", "numeric"], order=2, progress=False).frame()
    assert set(frame.backend) == {"refad", "numeric"}
    assert set(frame[frame.backend == "refad"].dtype) == {"float64", "float32"}
    x = frame[(frame.backend == "refad") & (frame.dtype == "float64")
              & (frame.quantity == "d/dx")].iloc[0]
    assert x.result == 2.0 + np.cos(1.0) and x.status == "ok"
    assert {"value", "d/dx", "d/dy", "d2/dxdx", "d2/dxdy", "d2/dydy"} <= set(frame.quantity)


def test_a_case_that_raises_in_one_backend_is_an_error_row_and_the_run_goes_on():
    def picky(ops, x):
        if ops.__class__.__name__ == "module":       # refad passes its module as ops
            raise RuntimeError("refad cannot do this one")
        return ops.sin(x)

    case = Case("picky", picky, {"x": 0.5}, family="test")
    frame = run([case, SEED], backends=["refad", "numeric"], dtypes=["float64"],
                progress=False).frame()
    errors = frame[frame.status == "error"]
    assert list(errors.backend) == ["refad"]
    assert "refad cannot do this one" in errors.iloc[0].detail
    assert (frame[frame.case == SEED.name].status == "ok").all()


def test_a_wrong_backend_is_a_mismatch_naming_both_numbers(monkeypatch):
    monkeypatch.setitem(adapters._instances, "refad", Wrong())
    with pytest.raises(AssertionError) as caught:
        assert_parity(lambda ops, x, y: x * y + ops.sin(x), {"x": 1.0, "y": 2.0},
                      backends=["refad", "sympy"], name="seed")
    message = str(caught.value)
    assert "seed: " in message and "mismatch" in message
    assert repr(2.0 + np.cos(1.0)) in message or f"{2.0 + np.cos(1.0):.17g}" in message


def test_assert_parity_returns_the_rows_when_everything_agrees():
    w = np.array([[0.5, -0.3], [0.2, 0.8]])
    x = np.array([0.1, -0.7])
    rows = assert_parity(lambda ops, w, x: ops.sum(ops.tanh(w @ x)), {"w": w, "x": x},
                         backends=["refad", "numeric"], order=2)
    assert rows and all(row["status"] == "ok" for row in rows)


def test_write_report_is_atomic(tmp_path, monkeypatch):
    done = run([SEED], backends=["refad"], dtypes=["float64"], progress=False)
    paths = writers.write_report(done, tmp_path)
    before = {name: path.read_text() for name, path in paths.items()}
    assert json.loads(before["report.json"])["rows"]

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("refad.reports.html.render_html", broken)
    with pytest.raises(RuntimeError):
        writers.write_report(done, tmp_path)
    after = {name: path.read_text() for name, path in paths.items()}
    assert after == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_json_writes_non_finite_numbers_as_strings():
    text = json.dumps(writers.json_ready({"a": float("nan"), "b": [np.inf, -np.inf, 1.5]}),
                      allow_nan=False)
    assert json.loads(text) == {"a": "nan", "b": ["inf", "-inf", 1.5]}


@pytest.mark.parametrize(("value", "reference", "status"), [
    (1.0, 1.0 + 1e-15, "ok"),
    (np.nan, np.nan, "ok"),
    (np.inf, np.inf, "ok"),
    (np.inf, -np.inf, "mismatch"),
    (1.0, np.nan, "nan-mismatch"),
    (1.0, 1.0 + 1e-6, "mismatch"),
    ([1.0, 2.0], [1.0, 2.0 + 1e-3], "mismatch"),
])
def test_compare_values(value, reference, status):
    assert compare_values(value, reference, "float64", TOLERANCES["float64"])["status"] == status


def test_compare_reports_the_worst_element():
    row = compare_values([1.0, 2.0, 3.0], [1.0, 2.5, 3.0], "float64", TOLERANCES["float64"])
    assert row["index"] == "(1,)" and row["result"] == 2.0 and row["reference"] == 2.5


def test_ulp_distance():
    assert ulp_distance(1.0, np.nextafter(1.0, 2.0), "float64") == 1
    assert ulp_distance(-0.0, 0.0, "float64") == 0
    assert ulp_distance(-5e-324, 5e-324, "float64") == 2
    assert ulp_distance(np.float32(1), np.nextafter(np.float32(1), np.float32(2)), "float32") == 1
    assert np.isnan(ulp_distance(np.nan, 1.0, "float64"))


@pytest.mark.parametrize("tags, status", [
    (("kink",), "mismatch"),                        # a kink excuses derivatives, not values
    (("kink", "value-convention"), "convention"),   # atan2(0, 0): the value is a convention
])
def test_a_kink_excuses_a_value_only_when_the_value_is_a_convention(tags, status):
    from refad.reports.compare import classify, is_disagreement
    case = expression_case("tie", "maximum(x, y)", {"x": 1.0, "y": 1.0}, "test", tags=tags)
    value = classify(case, {"backend": "torch", "quantity": "value", "status": "mismatch",
                            "detail": ""})
    gradient = classify(case, {"backend": "torch", "quantity": "d/dx", "status": "mismatch",
                               "detail": ""})
    assert value["status"] == status and is_disagreement(value) == (status == "mismatch")
    assert gradient["status"] == "convention"
