"""The comparison runner: every case through every backend, compared, as a pandas table.

`run(...)` is the Python API behind `refad report`; `evaluate_case(...)` is the per-case step
the pytest parity suite shares, so both reach the same `compare()`.
"""

from __future__ import annotations

import datetime
import platform
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import adapters
from adapters.base import DTYPES

from .compare import (
    COLUMNS,
    ORACLES,
    TOLERANCES,
    Reference,
    choose_reference,
    compare,
    detected_kink,
    known_reason,
)


@dataclass
class Run:
    """What a run produced: the tidy rows, the raw results and the metadata."""

    rows: list[dict]
    results: list[Any]
    metadata: dict[str, Any]
    cases: list[Any] = field(default_factory=list)

    def frame(self):
        """The rows as a pandas DataFrame, one row per case x backend x dtype x quantity."""
        import pandas as pd
        return pd.DataFrame(self.rows, columns=list(COLUMNS))


def resolve_backends(names: Sequence[str] | None) -> list[str]:
    """Validate backend names (ValueError naming the known ones); default: all installed."""
    if not names:
        return adapters.available()
    for name in names:
        adapters.get(name)                  # raises for an unknown name
    return list(dict.fromkeys(names))


def resolve_dtypes(dtypes: Sequence[str] | None) -> list[str]:
    if not dtypes:
        return list(DTYPES)
    for dtype in dtypes:
        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    return list(dict.fromkeys(dtypes))


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


def _in_catalogue(chosen: list[Any]) -> bool:
    import cases
    try:
        return all(cases.get(case.name) is case for case in chosen)
    except ValueError:
        return False


def _evaluate_all(chosen: list[Any], names: list[str], dtypes: list[str], order: int,
                  progress: bool, jobs: int, timeout: float | None):
    """Each case's CaseRun, in order; catalogue cases spread over `jobs` processes."""
    if jobs <= 1 or len(chosen) < 2 or not _in_catalogue(chosen):
        for case in progress_bar(chosen, progress):
            yield evaluate_case(case, names, dtypes, order, timeout=timeout)
        return
    from .workers import evaluate_in_workers

    bar = progress_bar(None, progress, total=len(chosen))
    try:
        for done in evaluate_in_workers(chosen, names, dtypes, order, jobs, timeout):
            if bar is not None:
                bar.update()
            yield done
    finally:
        if bar is not None:
            bar.close()


def run(cases: Iterable[Any], backends: Sequence[str] | None = None,
        dtypes: Sequence[str] | None = None, order: int = 2, progress: bool = True,
        command: str = "", jobs: int = 1, timeout: float | None = None) -> Run:
    """Run `cases` through `backends` at `dtypes` and compare everything.

    Args:
        cases: Case objects (e.g. `cases.select(family)`).
        backends: backend names; None for every installed backend.
        dtypes: "float64" and/or "float32"; None for both.
        order: 1 for gradients, 2 to add Hessians (capped by each case's max_order).
        progress: show a progress bar on stderr.
        command: the command line, recorded in the metadata.
        jobs: worker processes for catalogue cases (1: everything in this process).
        timeout: seconds each backend evaluation of one case may take (None: no limit);
            one past it becomes an `error` row and the run goes on.

    Returns:
        a `Run`; `run(...).frame()` is the tidy pandas DataFrame.
    """
    cases = list(cases)
    names = resolve_backends(backends)
    dtypes = resolve_dtypes(dtypes)
    start = time.perf_counter()
    rows, results = [], []
    for done in _evaluate_all(cases, names, dtypes, order, progress, jobs, timeout):
        rows.extend(done.rows)
        results.extend(done.results)
    seconds: dict[str, float] = {}
    for result in results:
        seconds[result.backend] = seconds.get(result.backend, 0.0) + result.seconds
    metadata = {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "backends": names,
        "dtypes": dtypes,
        "order": order,
        "cases": len(cases),
        "jobs": jobs,
        "timeout": timeout,
        "versions": versions(names),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "tolerances": TOLERANCES,
        "seconds_total": time.perf_counter() - start,
        "seconds_per_backend": seconds,
        "unavailable": {name: adapters.get(name).available()[1]
                        for name in adapters.NAMES if not adapters.get(name).available()[0]},
    }
    return Run(rows, results, metadata, cases)


def versions(names: Sequence[str]) -> dict[str, str]:
    """Versions of python, numpy, refad and of what each backend ran on."""
    import numpy

    import refad
    found = {"python": sys.version.split()[0], "numpy": numpy.__version__,
             "refad": refad.__version__}
    for name in names:
        backend = adapters.get(name)
        if backend.available()[0]:
            found.update(backend.versions())
    return found


def progress_bar(items: Any, enabled: bool, total: int | None = None, desc: str = "cases",
                 unit: str = "case", **options: Any) -> Any:
    """`items` wrapped in a progress bar on stderr (when enabled and tqdm is installed); with
    `items` None, a bar to `update()` by hand, or None."""
    if not enabled:
        return items
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, total=total, desc=desc, unit=unit, file=sys.stderr, leave=False,
                **options)
