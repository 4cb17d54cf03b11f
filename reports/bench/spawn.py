"""The parent's side of a worker process: send it a job, read its rows back (worker.py).

Apart from worker.py, which imports the suite it runs, so that the suite can start workers
without importing a module that imports it back.
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
    done = subprocess.run([sys.executable, "-m", "refad.reports.bench.worker"], cwd=ROOT,
                          env=environment(), input=json.dumps(job), text=True,
                          stdout=subprocess.PIPE, stderr=None)
    if done.returncode != 0:
        raise RuntimeError(f"the worker process for {', '.join(keys)} died with exit status "
                           f"{done.returncode} (its error is printed above)")
    return json.loads(done.stdout.strip().splitlines()[-1])
