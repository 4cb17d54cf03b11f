"""Peak memory of one workload, measured in a fresh process.

The operating system keeps each process's high-water mark of resident memory (VmHWM).
A fresh process imports the engine, runs the workload once at a small size (so that lazy
imports and caches are paid for), lowers the mark to the current size where Linux allows
it, runs the workload once at the size asked for, and reports how far the mark rose: the
memory that run needed at its peak, in whatever allocator (Python's, numpy's, torch's,
XLA's). A process of its own is the only way to get a mark that another engine's peak has
not set already.

Run as: python -m reports.bench.memory WORKLOAD ENGINE SIZE (prints one JSON line)
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WARM_SIZES = {"W2": 100, "W4": 8}       # small enough that the mark they leave is low


def _status_kib(field: str) -> int | None:
    """A "VmHWM:  1234 kB" line of /proc/self/status, in KiB (None off Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as stream:
            for line in stream:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> int | None:
    """Lower the high-water mark to the current resident size; that size, in bytes.

    Linux's /proc/self/clear_refs accepts "5" for this. None where it cannot be done; then
    the mark left by the imports and the warm-up is the baseline.
    """
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as stream:
            stream.write("5")
    except OSError:
        return None
    rss = _status_kib("VmRSS")
    return None if rss is None else rss * 1024


def _peak_bytes() -> int:
    """This process's peak resident memory. VmHWM first: ru_maxrss may carry the mark of
    the parent that started this process, when that was larger (Linux keeps it across exec).
    """
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024     # macOS counts bytes


def measure_here(workload_key: str, engine: str, size: int) -> dict[str, float]:
    """Run one cell once in this process; the rise of the peak (bytes) and the time."""
    from .engines import session
    from .workloads import WORKLOADS, build

    workload = WORKLOADS[workload_key]
    with session([engine]):
        build(workload, engine, WARM_SIZES.get(workload_key, size))()
        fn = build(workload, engine, size)
        before = _reset_peak() or _peak_bytes()
        start = time.perf_counter()
        fn()
        seconds = time.perf_counter() - start
        after = _peak_bytes()
    return {"baseline_bytes": before, "peak_bytes": after, "delta_bytes": after - before,
            "seconds": seconds}


def environment() -> dict[str, str]:
    """This environment, with the repository root first on PYTHONPATH (for a checkout)."""
    env = dict(os.environ)
    paths = [str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def measure_peak(workload_key: str, engine: str, size: int, timeout: float = 300.0
                 ) -> dict[str, float]:
    """Run `measure_here` in a fresh Python process and return its numbers.

    Raises:
        RuntimeError: naming the cell and the child's last line of error output.
    """
    command = [sys.executable, "-m", "refad.reports.bench.memory", workload_key, engine, str(size)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env=environment(), cwd=ROOT)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{workload_key} {engine} N={size:,}: no answer within "
                           f"{timeout:.0f} s") from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise RuntimeError(lines[-1])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    workload_key, engine, size = argv
    print(json.dumps(measure_here(workload_key, engine, int(size))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
