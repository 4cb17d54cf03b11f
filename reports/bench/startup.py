"""Start-up cost: wall time of `refad --help` and of a one-case `refad grad` per backend.

Each command runs in a fresh interpreter, as a user runs it; the commands take turns, round
after round, like the engines in timing.py.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from .memory import ROOT, environment

SEED_ARGS = ("grad", "x*y + sin(x)", "x=1", "y=2")


def commands(backends: tuple[str, ...] | None) -> tuple[dict[str, list[str]], dict[str, str]]:
    """{label: argv} to time, and {label: reason} for backends that cannot run here."""
    from refad import adapters

    runnable = {"refad --help": ["--help"]}
    skipped = {}
    for name in backends or adapters.NAMES:
        label = f"refad grad --backend {name}"
        usable, reason = adapters.get(name).available()
        if usable:
            runnable[label] = [*SEED_ARGS, "--backend", name]
        else:
            skipped[label] = reason
    return runnable, skipped


def time_commands(runnable: dict[str, list[str]], runs: int, timeout: float = 120.0
                  ) -> dict[str, dict]:
    """label -> {"samples": [seconds], "reason": why it failed or ""}, run round-robin."""
    results = {label: {"samples": [], "reason": ""} for label in runnable}
    env = environment()
    for _ in range(runs):
        for label, argv in runnable.items():
            if results[label]["reason"]:
                continue
            start = time.perf_counter()
            try:
                done = subprocess.run([sys.executable, "-m", "refad", *argv], cwd=ROOT,
                                      env=env, capture_output=True, text=True,
                                      timeout=timeout)
            except subprocess.TimeoutExpired:
                results[label]["reason"] = f"no answer within {timeout:.0f} s"
                continue
            seconds = time.perf_counter() - start
            if done.returncode not in (0, 1):        # 1: backends disagree, still a run
                lines = done.stderr.strip().splitlines() or [f"exit {done.returncode}"]
                results[label]["reason"] = lines[-1]
            else:
                results[label]["samples"].append(seconds)
    return results


def startup_rows(backends: tuple[str, ...] | None, runs: int) -> list[dict]:
    """CSV rows (workload "startup", engine "refad") for every command, timed or skipped."""
    runnable, skipped = commands(backends)
    rows = []
    for label, result in time_commands(runnable, runs).items():
        row = {"workload": "startup", "case": label, "size": "", "engine": "refad",
               "per": "run", "unit": "s"}
        samples = result["samples"]
        if result["reason"] or not samples:
            row.update(status="failed", reason=result["reason"] or "no run completed")
        else:
            row.update(status="ok", median=statistics.median(samples), min=min(samples),
                       max=max(samples), samples=len(samples), inner=1)
        rows.append(row)
    for label, reason in skipped.items():
        rows.append({"workload": "startup", "case": label, "size": "", "engine": "refad",
                     "per": "run", "unit": "s", "status": "skipped", "kind": "skipped",
                     "reason": reason})
    return rows
