"""One case through the chosen backends and the oracles, compared: the rows of the report.

`evaluate_case` is what the runner and the worker processes run for each case (and `refad
grad` and `refad fuzz` for theirs); it lives apart from both so neither imports the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from refad import adapters

from .compare import ORACLES, Reference, choose_reference, compare, detected_kink, known_reason


@dataclass
class CaseRun:
    """One case's rows, raw results and the reference they were compared with."""

    rows: list[dict]
    results: list[Any]
    reference: Reference


def evaluate_case(case: Any, backends: Sequence[str], dtypes: Sequence[str], order: int,
                  reference_from: Sequence[str] = ORACLES,
                  timeout: float | None = None) -> CaseRun:
    """Run one case: each backend at each dtype, the oracles once, then compare.

    The oracles in `reference_from` that are installed are evaluated (in float64) even when
    not listed in `backends`, so that the reference is the best one available; only the
    listed backends get rows. `timeout` limits each evaluation (seconds; None: no limit):
    one past it becomes an `error` row.
    """
    order = min(order, case.max_order)
    results, extra = [], []
    for name in backends:
        backend = adapters.get(name)
        for dtype in (("float64",) if name in ORACLES else dtypes):
            results.append(backend.evaluate(case, dtype, order, timeout=timeout))
    for name in reference_from:
        if name not in backends and adapters.get(name).available()[0]:
            extra.append(adapters.get(name).evaluate(case, "float64", order, timeout=timeout))
    reference = choose_reference(results + extra)
    kink = detected_kink(results + extra)
    rows = compare(case, results, reference, kink=kink)
    if not kink:                            # no gradient exists at a kink to be checked
        rows.extend(_taylor_rows(case, results))
    return CaseRun(rows, results, reference)


# Where the Taylor test cannot speak: no derivative (kinks), or f itself is at the edge of
# float64 (inf, subnormal, huge arguments, cancellation), so h^2 drowns in rounding.
NO_TAYLOR_TAGS = ("kink", "nonsmooth", "overflow", "underflow", "subnormal", "cancellation",
                  "large-argument", "nan-trap", "formula-artifact")


def _finite(result: Any) -> bool:
    """A Taylor check needs a finite value and gradient to expand around."""
    numbers = [result.value, *result.grad.values()]
    return all(np.isfinite(np.asarray(n, dtype=float)).all() for n in numbers)


# The Taylor check evaluates the case some 30 to 60 times per framework: past this many
# differentiated input elements (a 10^7-element case: minutes), it is skipped.
TAYLOR_MAX_ELEMENTS = 10**6


def _taylor_rows(case: Any, results: list[Any]) -> list[dict]:
    """The Taylor-remainder check of each framework's float64 gradient (slope ~2 if right)."""
    numeric = adapters.get("numeric")
    if not numeric.available()[0] or any(tag in case.tags for tag in NO_TAYLOR_TAGS):
        return []
    if sum(np.size(case.inputs[name]) for name in case.differentiated) > TAYLOR_MAX_ELEMENTS:
        return []
    rows = []
    for result in results:
        if result.status != "ok" or result.dtype != "float64" or not result.grad \
                or result.backend in ORACLES or not _finite(result):
            continue
        try:
            check = numeric.taylor(case, result.grad)
        except Exception as error:  # noqa: BLE001 -- a failed check is reported, not fatal
            check = {"slope": float("nan"), "ok": False, "note": f"{type(error).__name__}: "
                                                                 f"{error}"}
        rows.append({"case": case.name, "family": case.family, "backend": result.backend,
                     "dtype": "float64", "order": 1, "quantity": "taylor-slope", "index": "",
                     "result": check.get("slope"), "reference": 2.0,
                     "reference_source": "taylor", "abs_err": float("nan"),
                     "rel_err": float("nan"), "ulp": float("nan"),
                     "status": "ok" if check.get("ok") else "mismatch",
                     "known": "" if check.get("ok") else known_reason(case, result.backend),
                     "mode": result.mode, "seconds": 0.0, "rtol": float("nan"),
                     "atol": float("nan"), "detail": check.get("note", "")})
    return rows
