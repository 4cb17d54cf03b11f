"""Interleaved timing: every engine of a cell is sampled in turn, round after round.

Why round-robin: a shared machine slows down and speeds up over seconds (other processes,
frequency scaling). Sampling engine A ten times and then engine B ten times puts such a
drift into the ratio A/B; taking one sample of each in turn lets the drift hit both alike,
and the median of each drops the rounds a burst spoiled. The order rotates every round so
that no engine always runs right after the same neighbour.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# A first call this slow counts as a sample (its one-off costs are lost in the noise), except
# where it compiles: JAX eager compiles each primitive for each new shape on first use (1 s
# on W4's first call, 10 ms on the next), jit the whole function.
SLOW_WARMUP_S = 1.0
JAX_ENGINES = frozenset({"jax", "jax-jit"})
FIRST_CALL_COMPILES = JAX_ENGINES
JIT = frozenset({"jax-jit"})            # their compile time is reported apart


@dataclass
class Outcome:
    """What one engine did in one cell: seconds per call, or why there is no number."""

    engine: str
    status: str = "ok"                  # ok | failed | skipped
    kind: str = ""                      # for skipped: "n/a" | "capped" | "skipped"
    reason: str = ""
    samples: list[float] = field(default_factory=list)
    inner: int = 1                      # calls per sample
    first_s: float | None = None        # the first call: imports, caches, compilation
    per_call: float = 0.0               # a steady call, to plan the samples
    compile_s: float | None = None      # jit only: first call minus a steady call
    check: np.ndarray | None = None     # the numbers it computed, for the agreement check

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def describe(error: BaseException) -> str:
    """One line for a failure: the exception's type and the first line of its message."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def numbers(result: Any) -> np.ndarray:
    """Everything a workload returned (values, gradients), flattened into float64.

    Understands tuples, lists and dicts (in key order), Python and numpy numbers, and the
    engines' tensors (torch, JAX, refad, micrograd's Value).
    """
    parts: list[np.ndarray] = []

    def collect(item: Any) -> None:
        if isinstance(item, dict):
            for key in sorted(item):
                collect(item[key])
        elif isinstance(item, (tuple, list)):
            for part in item:
                collect(part)
        else:
            if hasattr(item, "detach"):             # torch: leave the graph first
                item = item.detach()
            if hasattr(item, "data") and isinstance(item.data, float):   # micrograd Value
                item = item.data
            parts.append(np.ravel(np.asarray(item, dtype=np.float64)))

    collect(result)
    return np.concatenate(parts) if parts else np.zeros(0)


def agreement(check: np.ndarray, reference: np.ndarray) -> tuple[bool, float]:
    """Whether two engines computed the same numbers (float64 rounding aside); worst gap."""
    if check.shape != reference.shape:
        return False, float("inf")
    scale = max(1.0, float(np.max(np.abs(reference), initial=0.0)))
    gap = np.abs(check - reference)
    worst = float(np.max(gap / np.maximum(np.abs(reference), 1e-300), initial=0.0))
    return bool(np.all(gap <= 1e-7 * np.abs(reference) + 1e-12 * scale)), worst


def _timed(fn: Callable[[], Any], calls: int) -> tuple[float, Any]:
    """Seconds per call over `calls` calls, the collector paused, one collection to end.

    A full collection first, untimed: the garbage of the previous sample, perhaps another
    engine's, is not this one's to pay for. During the calls the automatic collector is
    paused, because when it runs depends on what else the process holds (torch and jax
    bring ~10^5 objects), not on the engine: with it on, micrograd's time per node at
    N=1,000 doubled from 4 to 12 calls per sample. A collection of the youngest generation
    last, timed: an engine whose graphs hold reference cycles (micrograd's closures) pays
    for freeing them, as an engine whose graphs are freed by reference counting pays at
    once. With the collector paused, that generation holds exactly what this sample's calls
    left, so the collection costs ~2 µs for an engine without cycles, where a full one
    costs ~1 ms (it scans everything the imports left); and it runs without `gc.callbacks`,
    which jaxlib hooks into every collection.
    """
    gc.collect()
    collecting = gc.isenabled()
    callbacks = list(gc.callbacks)
    gc.disable()
    try:
        result = None
        start = time.perf_counter()
        for _ in range(calls):
            result = fn()
        gc.callbacks.clear()
        gc.collect(0)
        seconds = time.perf_counter() - start
    finally:
        gc.callbacks[:] = callbacks
        if collecting:
            gc.enable()
    return seconds / calls, result


def _warm_up(engine: str, fn: Callable[[], Any], plan) -> Outcome:
    """Call once (the check, the compilation), then decide the calls per sample."""
    outcome = Outcome(engine)
    try:
        outcome.first_s, result = _timed(fn, 1)
        outcome.check = numbers(result)
        outcome.per_call = outcome.first_s
        if engine in FIRST_CALL_COMPILES or outcome.first_s < SLOW_WARMUP_S:
            # The first call paid for imports, caches or compilation: time a steady one.
            outcome.per_call, _ = _timed(fn, 1)
        else:
            outcome.samples.append(outcome.first_s)
    except Exception as error:             # a failing engine is a row, never a crash
        return Outcome(engine, "failed", reason=describe(error))
    outcome.inner = max(1, min(100_000, round(plan.sample_s / max(outcome.per_call, 1e-9))))
    return outcome


def measure_cell(fns: dict[str, Callable[[], Any]], plan) -> dict[str, Outcome]:
    """Warm up each engine, then sample all of them round-robin.

    Args:
        fns: engine -> the cell's timed function.
        plan: the run's Plan (repeats, min_repeats, sample_s, cell_budget_s).
    Returns:
        engine -> Outcome, with seconds per call in `samples` (and compile_s for jit).
    """
    outcomes = {e: _warm_up(e, fn, plan) for e, fn in fns.items()}
    wanted = {}
    for engine, outcome in outcomes.items():
        if outcome.status == "ok":
            per_sample = max(outcome.per_call * outcome.inner, 1e-9)
            fits = int(plan.cell_budget_s / per_sample)
            wanted[engine] = max(plan.min_repeats, min(plan.repeats, fits))
    for round_ in range(max(wanted.values(), default=0)):
        order = list(wanted)
        order = order[round_ % len(order):] + order[:round_ % len(order)]
        for engine in order:
            outcome = outcomes[engine]
            if outcome.status != "ok" or len(outcome.samples) >= wanted[engine]:
                continue
            try:
                seconds, _ = _timed(fns[engine], outcome.inner)
            except Exception as error:
                outcome.status, outcome.reason = "failed", describe(error)
                continue
            outcome.samples.append(seconds)
    for engine in JIT & set(outcomes):
        outcome = outcomes[engine]
        if outcome.status == "ok" and outcome.samples:
            outcome.compile_s = max(0.0, outcome.first_s - outcome.median)
    return outcomes
