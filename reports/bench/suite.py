"""The run itself: every cell of the plan, timed, measured or skipped, as CSV rows.

Each row is one (workload, size, engine): `status` ok (median, min, max in seconds or bytes,
per node / call / step), failed (`reason`: the exception, e.g. micrograd's RecursionError)
or skipped (`kind` n/a, capped or skipped, and the `reason`).
"""

from __future__ import annotations

import dataclasses
import gc
import time
from collections.abc import Callable

from .memory import measure_peak
from .spawn import spawn
from .startup import startup_rows
from .timing import JAX_ENGINES, Outcome, agreement, describe, measure_cell
from .workloads import WORKLOADS, Plan, Workload, build, skip_reason

Progress = Callable[[str], None]


def _base(workload: str, case: str, size: int, engine: str, per: str, unit: str) -> dict:
    return {"workload": workload, "case": case, "size": size, "engine": engine, "per": per,
            "unit": unit}


def _skipped(row: dict, kind: str, reason: str) -> dict:
    return {**row, "status": "skipped", "kind": kind, "reason": reason}


def _from_outcome(row: dict, outcome: Outcome, count: int) -> dict:
    """Seconds per call -> per node (count = N) or per call (count = 1)."""
    if outcome.status != "ok":
        return {**row, "status": "failed", "reason": outcome.reason}
    samples = [s / count for s in outcome.samples]
    return {**row, "status": "ok", "median": outcome.median / count, "min": min(samples),
            "max": max(samples), "samples": len(samples), "inner": outcome.inner,
            "compile_s": outcome.compile_s, "first_call_s": outcome.first_s}


def _compare(rows: dict[str, dict], checks: dict) -> None:
    """Ratios to refad's median, and whether each engine computed refad's numbers."""
    mine = rows.get("refad")
    if mine is None or mine["status"] != "ok" or mine["median"] <= 0:
        return                              # (a peak too small to see has no ratio)
    for engine, row in rows.items():
        if row["status"] == "ok":
            row["ratio_to_refad"] = row["median"] / mine["median"]
            row["ratio_base"] = mine["median"]      # JAX's: the refad run beside it
            if engine != "refad" and checks.get(engine) is not None:
                same, worst = agreement(checks[engine], checks["refad"])
                row["agrees_with_refad"], row["max_rel_diff"] = same, worst


def _prediction(workload: Workload, engine: str, size: int, plan: Plan,
                seen: dict[str, tuple[int, float]]) -> str | None:
    """Why not to run W2 at `size`: the last size's time per node says it would take long."""
    if workload.per != "node" or engine not in seen:
        return None
    last_size, per_node = seen[engine]
    predicted = per_node * size
    if predicted <= plan.max_run_s:
        return None
    return (f"predicted {predicted:.0f} s per call (from N={last_size:,}), above the "
            f"{plan.max_run_s:g} s limit of {plan.mode} mode")


def time_cells(plan: Plan, keys: list[str], cells: list[tuple[str, int]],
               seen: dict[str, tuple[int, float]], progress: Progress) -> list[dict]:
    """Time `cells` ((workload, size) pairs) in this process, the engines interleaved.

    `seen` holds each engine's last W2 size and time per node, to skip a size predicted to
    take too long; it is updated here.
    """
    rows: list[dict] = []
    for key, size in cells:
        workload = WORKLOADS[key]
        start = time.perf_counter()
        cell, fns = {}, {}
        for engine in keys:
            row = _base(key, workload.case(size), size, engine, workload.per, "s")
            skip = skip_reason(workload, engine, size, plan)
            predicted = _prediction(workload, engine, size, plan, seen)
            if skip:
                cell[engine] = _skipped(row, *skip)
            elif predicted:
                cell[engine] = _skipped(row, "skipped", predicted)
            else:
                cell[engine] = row
                try:
                    fns[engine] = build(workload, engine, size)
                except Exception as error:
                    cell[engine] = {**row, "status": "failed", "reason": describe(error)}
        outcomes = measure_cell(fns, plan)
        fns.clear()
        gc.collect()                        # the last graphs go before the next cell
        checks = {}
        for engine, outcome in outcomes.items():
            cell[engine] = _from_outcome(cell[engine], outcome, workload.per_count(size))
            checks[engine] = outcome.check
            if outcome.status == "ok" and workload.per == "node":
                seen[engine] = (size, cell[engine]["median"])
        _compare(cell, checks)
        rows.extend(cell[engine] for engine in keys)
        progress(f"{key} {workload.case(size)} ({', '.join(keys)}): "
                 f"{time.perf_counter() - start:.1f} s")
    return rows


def _groups(available: list[str]) -> list[list[str]]:
    """The engines that share a process: JAX apart, with refad beside it as the yardstick.

    JAX's tracing and compiling leave the process slower for the allocation-heavy scalar
    engines (micrograd's W2 per node 1.4-2x slower after a jit compile, in 3 of 3 tries),
    so they never share a process with it.
    """
    rest = [key for key in available if key not in JAX_ENGINES]
    jax = [key for key in available if key in JAX_ENGINES]
    return [rest] + ([["refad", *jax]] if jax else [])


def time_workloads(plan: Plan, keys: list[str], missing: dict[str, str],
                   progress: Progress) -> tuple[list[dict], dict]:
    """Time every cell of the plan in fresh worker processes; rows in table order.

    Each group of engines (`_groups`) runs in a process of its own: one per cell where
    `plan.isolate` is "cell" (no cell inherits another's heap), else one for the whole run.
    Returns the rows and the settings the workers ran under.
    """

    cells = [(w.key, size) for w in WORKLOADS.values() for size in plan.sizes.get(w.key, ())]
    batches = [[cell] for cell in cells] if plan.isolate == "cell" else [cells]
    groups = _groups([key for key in keys if key not in missing])
    seen: dict[str, tuple[int, float]] = {}
    settings: dict = {}
    rows: list[dict] = []
    for batch in batches:
        found: dict[tuple, dict] = {}
        for number, group in enumerate(groups):
            if number > 0:                  # JAX: only where one of its engines runs
                batch_here = [(key, size) for key, size in batch if any(
                    skip_reason(WORKLOADS[key], engine, size, plan) is None
                    for engine in group[1:])]
            else:
                batch_here = batch
            if not batch_here:
                continue
            keep = group if number == 0 else group[1:]      # refad's own row comes from
            try:                                            # the first group
                answer = spawn(plan, group, batch_here, seen)
            except RuntimeError as error:   # a crashed engine (a segfault, say) is a row too
                answer = {"settings": {}, "rows": [
                    {**_base(key, WORKLOADS[key].case(size), size, engine,
                             WORKLOADS[key].per, "s"), "status": "failed", "reason": str(error)}
                    for key, size in batch_here for engine in keep]}
            settings.update(answer["settings"])
            for row in answer["rows"]:
                if row["engine"] in keep:
                    found[(row["workload"], row["size"], row["engine"])] = row
                    if row["status"] == "ok" and row["per"] == "node":
                        seen[row["engine"]] = (row["size"], row["median"])
        for key, size in batch:
            workload = WORKLOADS[key]
            for engine in keys:
                row = found.get((key, size, engine))
                if row is None:             # not installed, or a cell no worker was sent
                    base = _base(key, workload.case(size), size, engine, workload.per, "s")
                    skip = skip_reason(workload, engine, size, plan)
                    row = _skipped(base, *(skip or ("skipped", missing[engine])))
                rows.append(row)
    return rows, settings


def memory_rows(plan: Plan, keys: list[str], missing: dict[str, str],
                progress: Progress) -> list[dict]:
    """Peak memory of the plan's memory cells, one fresh process per engine and cell."""
    rows: list[dict] = []
    for key, size in plan.memory:
        workload = WORKLOADS[key]
        start = time.perf_counter()
        cell = {}
        for engine in keys:
            if plan.memory_engines is not None and engine not in plan.memory_engines:
                continue
            row = _base(f"{key}-memory", workload.case(size), size, engine, "run", "bytes")
            skip = skip_reason(workload, engine, size, plan)
            if engine in missing:
                cell[engine] = _skipped(row, "skipped", missing[engine])
            elif engine == "micrograd-default":
                cell[engine] = _skipped(row, "n/a", "fails from ~1,000 nodes (see W2)")
            elif skip:
                cell[engine] = _skipped(row, *skip)
            else:
                try:
                    peak = measure_peak(key, engine, size)
                except Exception as error:
                    cell[engine] = {**row, "status": "failed", "reason": describe(error)}
                    continue
                cell[engine] = {**row, "status": "ok", "median": peak["delta_bytes"],
                                "min": peak["delta_bytes"], "max": peak["delta_bytes"],
                                "samples": 1, "first_call_s": peak["seconds"]}
        _compare(cell, {})
        rows.extend(cell.values())
        progress(f"{key} peak memory {workload.case(size)}: "
                 f"{time.perf_counter() - start:.1f} s")
    return rows


def startup(plan: Plan) -> list[dict]:
    return startup_rows(plan.startup_backends, plan.startup_runs)


def describe_plan(plan: Plan) -> dict:
    """The plan as plain data, for bench.json."""
    return dataclasses.asdict(plan)
