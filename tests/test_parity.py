"""The parity suite: every case of the catalogue through every installed backend, both dtypes.

Each test id reads `case-backend-dtype` (`seed-multivariate-torch-float64`). A case is
evaluated once per test process by `reports.runner.evaluate_case` (all backends, so the
reference is the report's), and each test checks its own rows: a CSV row and a test result
come from the same `compare()` and cannot disagree.
"""

from __future__ import annotations

import functools

import pytest
from refad.reports.compare import DISAGREEMENT, ORACLES, is_disagreement
from refad.reports.evaluate import evaluate_case
from refad.reports.parity import format_rows

from refad import adapters, cases

ORDER = 2
DTYPES = ("float64", "float32")


@functools.cache
def _evaluated(case_name: str):
    installed = tuple(adapters.available())
    return evaluate_case(cases.get(case_name), installed, DTYPES, ORDER)


def _params():
    for case in cases.CATALOGUE:
        for backend in adapters.DEFAULT:
            for dtype in DTYPES:
                marks = [pytest.mark.xdist_group(case.name)]
                yield pytest.param(case.name, backend, dtype, marks=marks,
                                   id=f"{case.name}-{backend}-{dtype}")


@pytest.mark.parametrize(("case_name", "backend", "dtype"), list(_params()))
def test_parity(case_name: str, backend: str, dtype: str) -> None:
    ok, reason = adapters.get(backend).available()
    if not ok:
        pytest.skip(f"{backend}: {reason}")
    if backend in ORACLES and dtype != "float64":
        pytest.skip(f"{backend} is an oracle: it runs once, in float64")
    rows = [row for row in _evaluated(case_name).rows
            if row["backend"] == backend and row["dtype"] == dtype]
    assert rows, f"{case_name}: no rows for {backend} {dtype}"
    if all(row["status"] == "unsupported" for row in rows):
        pytest.skip(f"{backend}: {rows[0]['detail']}")
    bad = [row for row in rows if is_disagreement(row)]
    assert not bad, f"{case_name} on {backend} {dtype}:\n{format_rows(bad)}"
    known = [row for row in rows if row["status"] in DISAGREEMENT]
    if known:
        pytest.xfail(f"known: {known[0]['known']}")
