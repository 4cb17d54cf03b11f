"""Differential fuzzing: random expressions through every backend, unexplained differences kept.

`fuzz(n, seed)` generates cases `fuzz_case(seed, 0..n-1)` (`cases.generate` with a
`RandomChooser` seeded by (seed, index), so any one case can be rebuilt alone, in a worker
process or years later), runs each through `reports.runner.evaluate_case` (the oracles
give the reference; the numeric oracle also detects kinks), and keeps every row that is a
`compare.is_disagreement` (a kink excuses derivatives, not values, unless the case is
tagged `value-convention`). Same seed, same cases, same verdict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .compare import is_disagreement

BACKENDS = ("refad", "torch", "jax", "sympy")
TIMEOUT = 120.0     # seconds one backend may spend on one case (past it: an `error` row)


def fuzz_case(seed: int, index: int):
    """The `index`-th case of the run seeded `seed` (the same case every time)."""
    from refad.cases.generate import RandomChooser, generate
    return generate(RandomChooser(f"{seed}-{index}"), name=f"fuzz-s{seed}-{index}")


def fuzz_case_named(name: str):
    """The case `fuzz_case` named `name` ("fuzz-s7-42"), rebuilt from its seed and index."""
    prefix, seed, index = name.split("-")
    if prefix != "fuzz" or not seed.startswith("s"):
        raise ValueError(f"{name!r} is not the name of a fuzz case (fuzz-sSEED-INDEX)")
    return fuzz_case(int(seed[1:]), int(index))


def signature(row: dict) -> str:
    """How disagreements are grouped for triage: status, backend, dtype, kind of quantity."""
    quantity = row.get("quantity") or "-"
    kind = ("value" if quantity == "value" else "gradient" if quantity.startswith("d/")
            else "hessian" if quantity.startswith("d2/") else quantity)
    return f"{row['status']} {row['backend']} {row['dtype']} {kind}"


@dataclass
class Finding:
    """One case with at least one unexplained row."""

    index: int
    case: Any
    rows: list[dict]
    all_rows: list[dict] = field(default_factory=list)

    def what_each_gave(self) -> str:
        """Each backend's number for every quantity that disagrees, and the reference."""
        quantities = dict.fromkeys(row["quantity"] for row in self.rows if row["quantity"])
        parts = []
        for quantity in quantities:
            given = [f"{row['backend']} {row['result']!r}" for row in self.all_rows
                     if row["quantity"] == quantity and row["dtype"] == self.rows[0]["dtype"]]
            reference = next(row for row in self.rows if row["quantity"] == quantity)
            parts.append(f"{quantity}: {', '.join(given)}; reference {reference['reference']!r} "
                         f"({reference['reference_source']})")
        errors = [f"{row['backend']}: {row['detail']}" for row in self.rows if not row["quantity"]]
        return "; ".join(parts + errors)


@dataclass
class FuzzRun:
    """What a fuzz run saw: counts, and every case with an unexplained disagreement."""

    seed: int
    cases: int = 0
    rows: int = 0
    statuses: Counter = field(default_factory=Counter)
    tags: Counter = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)

    def groups(self) -> dict[str, list[Finding]]:
        """Signature -> the findings with a row of that signature (most common first)."""
        grouped: dict[str, list[Finding]] = {}
        for finding in self.findings:
            for key in dict.fromkeys(signature(r) for r in finding.rows):
                grouped.setdefault(key, []).append(finding)
        return dict(sorted(grouped.items(), key=lambda item: -len(item[1])))

    def summary(self) -> str:
        """A few lines for a person: counts, statuses, and each group with an example."""
        statuses = ", ".join(f"{count} {status}" for status, count in
                             sorted(self.statuses.items(), key=lambda item: -item[1]))
        kinks = self.tags.get("kink", 0)
        lines = [f"{self.cases} expressions (seed {self.seed}; {kinks} at kinks, "
                 f"{self.tags.get('tensor', 0)} tensor, {self.tags.get('second-order', 0)} "
                 f"nested grad), {self.rows} rows: {statuses}",
                 f"{len(self.findings)} with unexplained disagreements"]
        for key, findings in self.groups().items():
            ops = Counter(op for f in findings for op in f.case.fn.dag.ops_used())
            example = findings[0]
            row = next(r for r in example.rows if signature(r) == key)
            lines.append(f"  {len(findings):4d} x {key}  (ops: "
                         f"{', '.join(op for op, _ in ops.most_common(5))})")
            lines.append(f"       e.g. {example.case.name}: {example.case.expr} at "
                         f"{_point(example.case.inputs)}: {row['quantity'] or row['detail']}"
                         f" {row['result']!r} vs {row['reference']!r} "
                         f"({row['reference_source']})")
        return "\n".join(lines)


def _point(inputs: dict) -> str:
    import numpy as np
    return ", ".join(f"{k}={np.asarray(v).tolist()!r}" for k, v in inputs.items())


def fuzz(n: int, seed: int = 0, backends: Sequence[str] = BACKENDS,
         dtypes: Sequence[str] = ("float64",), order: int = 2, jobs: int = 1,
         progress: bool = True, start: int = 0, timeout: float | None = TIMEOUT) -> FuzzRun:
    """Fuzz `n` cases (indices start..start+n-1) of the run seeded `seed`.

    Args:
        n: how many expressions.
        seed: the run's seed; case i is `fuzz_case(seed, i)`.
        backends: the backends that get rows (the oracles run anyway, for the reference).
        dtypes: "float64" and/or "float32".
        order: 1 for gradients, 2 to add Hessians.
        jobs: worker processes (1: everything in this process).
        progress: a tqdm bar on stderr.
        start: the first index (to run a long fuzz in chunks).
        timeout: seconds per backend evaluation (None: no limit); a random DAG can send
            sympy into a formula that takes minutes and gigabytes.

    Returns:
        a FuzzRun; `.findings` holds every case with an unexplained row.
    """
    from .runner import progress_bar

    run = FuzzRun(seed)
    indices = range(start, start + n)
    evaluations = _evaluate_all(seed, indices, backends, dtypes, order, jobs, timeout)
    for index, case, rows in progress_bar(evaluations, progress, total=n, desc="fuzz",
                                          unit="expr", mininterval=2.0):
        run.cases += 1
        run.rows += len(rows)
        run.statuses.update(row["status"] for row in rows)
        run.tags.update(case.tags)
        bad = [row for row in rows if is_disagreement(row)]
        if bad:
            run.findings.append(Finding(index, case, bad, rows))
    run.findings.sort(key=lambda finding: finding.index)
    return run


def _evaluate_all(seed: int, indices: range, backends, dtypes, order: int, jobs: int,
                  timeout: float | None) -> Iterator[tuple[int, Any, list[dict]]]:
    """(index, case, rows) of each fuzz case, in order."""
    from .runner import evaluate_case

    chosen = [fuzz_case(seed, index) for index in indices]
    if jobs <= 1:
        for index, case in zip(indices, chosen, strict=True):
            yield index, case, evaluate_case(case, list(backends), list(dtypes), order,
                                             timeout=timeout).rows
        return
    # The report's worker pool: spawned processes, each case with a deadline past which its
    # worker is terminated (sympy stuck in one C call never feels the per-evaluation
    # alarm), a crashed worker costing only its own case. A worker rebuilds each case from
    # its name: case functions are not sent, only "fuzz-sSEED-INDEX".
    from .workers import evaluate_in_workers

    done = evaluate_in_workers(chosen, list(backends), list(dtypes), order, jobs, timeout,
                               resolve=fuzz_case_named)
    for index, case, case_run in zip(indices, chosen, done, strict=True):
        yield index, case, case_run.rows
