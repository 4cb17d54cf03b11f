"""A worker process: one group of engines times some cells, in a process of its own.

A fresh process gives every cell the same start: no heap shaped by another engine's
millions of nodes or by JAX's compiler (see suite._groups). The parent (spawn.py) sends the job as
JSON on standard input and reads the rows back from the last line of standard output;
progress goes to standard error, which the worker shares with the parent.

Run as: python -m reports.bench.worker < job.json
"""

from __future__ import annotations

import json
import sys

from refad.reports.writers import json_ready

from .engines import session
from .suite import time_cells
from .workloads import plan_for


def main() -> int:
    """The worker's side: read the job, time its cells, print the rows as one JSON line."""
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
