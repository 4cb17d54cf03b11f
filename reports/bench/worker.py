"""A worker process: one group of engines times some cells, in a process of its own.

A fresh process gives every cell the same start: no heap shaped by another engine's
millions of nodes or by JAX's compiler (see suite._groups). The parent sends the job as
JSON on standard input and reads the rows back from the last line of standard output;
progress goes to standard error, which the worker shares with the parent.

Run as: python -m reports.bench.worker < job.json
"""

from __future__ import annotations

import json
import subprocess
import sys

from .memory import ROOT, environment


def spawn(plan, keys: list[str], cells: list[tuple[str, int]],
          seen: dict[str, tuple[int, float]]) -> dict:
    """Time `cells` with engines `keys` in a fresh process; {"rows": [...], "settings": {}}.

    Raises:
        RuntimeError: naming the engines and the worker's last line of error output.
    """
    job = {"mode": plan.mode, "repeats": plan.repeats, "keys": keys,
           "cells": [list(cell) for cell in cells],
           "seen": {engine: list(last) for engine, last in seen.items()}}
    done = subprocess.run([sys.executable, "-m", "reports.bench.worker"], cwd=ROOT,
                          env=environment(), input=json.dumps(job), text=True,
                          stdout=subprocess.PIPE, stderr=None)
    if done.returncode != 0:
        raise RuntimeError(f"the worker process for {', '.join(keys)} died with exit status "
                           f"{done.returncode} (its error is printed above)")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    from reports.writers import json_ready

    from .engines import session
    from .suite import time_cells
    from .workloads import plan_for

    job = json.loads(sys.stdin.read())
    plan = plan_for(job["mode"])
    if job["repeats"] != plan.repeats:
        plan = plan_for(job["mode"], job["repeats"])
    seen = {engine: tuple(last) for engine, last in job["seen"].items()}
    cells = [(key, size) for key, size in job["cells"]]

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    with session(job["keys"]) as settings:
        rows = time_cells(plan, job["keys"], cells, seen, progress)
    print(json.dumps(json_ready({"rows": rows, "settings": settings}), allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
