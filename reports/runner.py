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

from refad.adapters.base import DTYPES

from refad import adapters

from .compare import COLUMNS, TOLERANCES
from .evaluate import evaluate_case
from .workers import evaluate_in_workers


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


def _in_catalogue(chosen: list[Any]) -> bool:
    from refad import cases
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
