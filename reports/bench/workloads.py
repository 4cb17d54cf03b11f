"""The workloads of issue 5, the sizes each mode runs, and why a cell is skipped.

A cell is one (workload, size, engine). A cell is "n/a" when the engine cannot express the
workload (micrograd has no arrays), "capped" when the issue's figures say it would take far
too long (JAX eager at ~460 µs per node; jit compile time that grows faster than N).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

from . import arrays, pinn, scalar

JAX_EAGER_CHAIN_CAP = 1_000


@dataclass(frozen=True)
class Workload:
    """One workload: `per` is what a time is divided by ("node": the size; else per call)."""

    key: str
    title: str
    per: str
    size_format: str            # how a size reads: "N={:,}", "batch {:,}"; "" for none
    builders: dict[str, Callable]

    def per_count(self, size: int) -> int:
        return size if self.per == "node" else 1

    def case(self, size: int) -> str:
        return self.size_format.format(size)


def _jit(builder: Callable) -> Callable:
    return partial(builder, jit=True)


WORKLOADS: dict[str, Workload] = {w.key: w for w in (
    Workload("W1", "seed x*y + sin(x), value and gradient", "call", "", {
        "refad": scalar.seed_refad, "micrograd": scalar.seed_micrograd,
        "torch": scalar.seed_torch, "jax": scalar.seed_jax, "jax-jit": _jit(scalar.seed_jax),
        "autograd": scalar.seed_autograd}),
    Workload("W2", "chain of N ops (sin, *1.0001, tanh, +1e-4)", "node", "N={:,}", {
        "refad": scalar.chain_refad, "micrograd": scalar.chain_micrograd,
        "micrograd-default": scalar.chain_micrograd_default, "torch": scalar.chain_torch,
        "jax": scalar.chain_jax, "jax-jit": _jit(scalar.chain_jax),
        "autograd": scalar.chain_autograd}),
    Workload("W3-scalar", "sum of N terms x_i*y_i + sin(x_i), scalar graph", "call",
             "N={:,}", {
        "refad": scalar.wide_refad, "micrograd": scalar.wide_micrograd,
        "torch": scalar.wide_torch, "jax": scalar.wide_jax, "jax-jit": _jit(scalar.wide_jax),
        "autograd": scalar.wide_autograd}),
    Workload("W3-vector", "sum of N terms x_i*y_i + sin(x_i), vectorised", "call",
             "N={:,}", {
        "refad": arrays.vector_refad, "torch": arrays.vector_torch,
        "jax": arrays.vector_jax, "jax-jit": _jit(arrays.vector_jax),
        "autograd": arrays.vector_autograd, "numpy": arrays.vector_numpy}),
    Workload("W4", "tanh MLP 2-64-64-1, loss and gradient", "step", "batch {:,}", {
        "refad": arrays.mlp_refad, "torch": arrays.mlp_torch, "jax": arrays.mlp_jax,
        "jax-jit": _jit(arrays.mlp_jax), "autograd": arrays.mlp_autograd,
        "numpy": arrays.mlp_numpy}),
    Workload("W5", f"PINN wave step, width {pinn.WIDTH}", "step", "{:,} points", {
        "refad": pinn.step_refad, "torch": pinn.step_torch, "jax": pinn.step_jax,
        "jax-jit": _jit(pinn.step_jax), "autograd": pinn.step_autograd}),
)}

_NOT_WRITTEN = {
    "micrograd": "micrograd is a scalar engine (no arrays)",
    "micrograd-default": "runs W2 only: the recursion limit matters for deep graphs",
    "numpy": "written by hand for W3-vector and W4 only",
}


@dataclass(frozen=True)
class Plan:
    """How much a run measures: sizes per workload, repeats, and time limits (seconds)."""

    mode: str
    sizes: dict[str, tuple[int, ...]]
    repeats: int                # round-robin samples per engine, at most
    min_repeats: int            # ... and at least, however slow the engine
    sample_s: float             # calls are batched so that one sample lasts about this long
                                # (the same in every mode: micrograd's garbage lingers until
                                # a sample ends, so its time per call grows with the batch)
    cell_budget_s: float        # time one engine may spend on one cell (beyond min_repeats)
    max_run_s: float            # W2: skip a size predicted to take longer than this per call
    jit_chain_cap: int          # W2: largest N compiled by jax.jit
    memory: tuple[tuple[str, int], ...] = ()
    memory_engines: tuple[str, ...] | None = None       # None: every engine
    isolate: str = "cell"       # a fresh process per "cell", or one per engine group ("run")
    startup_runs: int = 3
    startup_backends: tuple[str, ...] | None = None     # None: every refad backend
    notes: tuple[str, ...] = field(default_factory=tuple)


PLANS: dict[str, Plan] = {
    "full": Plan("full", {"W1": (1,), "W2": (100, 1_000, 10_000, 100_000, 1_000_000),
                          "W3-scalar": (500,), "W3-vector": (1_000_000,),
                          "W4": (64, 1024), "W5": (256,)},
                 repeats=21, min_repeats=3, sample_s=0.01, cell_budget_s=2.0,
                 max_run_s=60.0, jit_chain_cap=10_000,
                 memory=(("W2", 100_000), ("W2", 1_000_000), ("W4", 1024))),
    "quick": Plan("quick", {"W1": (1,), "W2": (100, 1_000, 10_000), "W3-scalar": (500,),
                            "W3-vector": (100_000,), "W4": (64, 1024), "W5": (256,)},
                  repeats=5, min_repeats=2, sample_s=0.01, cell_budget_s=0.3,
                  max_run_s=5.0, jit_chain_cap=1_000, isolate="run", startup_runs=1,
                  notes=("--quick: W2 up to N=10,000, W3 vectorised at N=100,000, "
                         "no peak memory, one start-up run each",)),
    # For the test: every code path, in seconds.
    "tiny": Plan("tiny", {"W1": (1,), "W2": (100, 1_000), "W3-scalar": (20,),
                          "W3-vector": (1_000,), "W4": (8,), "W5": (16,)},
                 repeats=2, min_repeats=1, sample_s=0.002, cell_budget_s=0.05,
                 max_run_s=5.0, jit_chain_cap=1_000, memory=(("W2", 1_000), ("W4", 8)),
                 memory_engines=("refad", "micrograd", "numpy"), isolate="run",
                 startup_runs=1,
                 startup_backends=("refad",)),
}


def plan_for(mode: str, repeats: int | None = None) -> Plan:
    """The plan of `mode` ("full", "quick", "tiny"), with `repeats` overriding its own."""
    plan = PLANS[mode]
    if repeats is not None:
        if repeats < 1:
            raise ValueError(f"--repeats must be at least 1, got {repeats}")
        plan = replace(plan, repeats=repeats, min_repeats=min(plan.min_repeats, repeats))
    return plan


def skip_reason(workload: Workload, engine: str, size: int, plan: Plan) -> tuple[str, str] | None:
    """(kind, reason) when the cell is not run, kind "n/a" or "capped"; None when it runs."""
    if engine not in workload.builders:
        return "n/a", _NOT_WRITTEN.get(engine, f"{engine} has no {workload.key} builder")
    if workload.key == "W2" and engine == "jax" and size > JAX_EAGER_CHAIN_CAP:
        return "capped", (f"JAX eager dispatches every op (~460 µs per node in the issue's "
                          f"figures): W2 is capped at N={JAX_EAGER_CHAIN_CAP:,}")
    if workload.key == "W2" and engine == "jax-jit" and size > plan.jit_chain_cap:
        return "capped", (f"jit compile time grows faster than N: W2 is capped at "
                          f"N={plan.jit_chain_cap:,} in {plan.mode} mode")
    return None


def build(workload: Workload, engine: str, size: int):
    """The timed function of one cell (the builder's imports and data done first)."""
    return workload.builders[engine](size)
