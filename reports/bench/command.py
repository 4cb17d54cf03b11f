"""`refad bench`: run the workloads through every engine, side by side, and report.

    refad bench [--quick] [--out DIR] [--engine E ...] [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from .engines import KEYS  # reports/cli.py imports this module: keep it light


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's options, for reports/cli.py and `python -m reports.bench`."""
    parser.add_argument("--quick", action="store_true",
                        help="under a minute: fewer repeats, N up to 10,000, no peak memory")
    parser.add_argument("--out", default="bench", metavar="DIR",
                        help="where bench.md, bench.csv, bench.json and the plot go")
    parser.add_argument("--engine", action="append", metavar="E",
                        help=f"an engine to run (repeatable; default: all of {', '.join(KEYS)};"
                             f" refad always runs)")
    parser.add_argument("--repeats", type=int, metavar="N",
                        help="round-robin samples per engine and cell (default: 21, quick 5)")


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _command_line(args: argparse.Namespace, mode: str) -> str:
    words = ["refad", "bench"]
    if mode != "full":
        words.append(f"--{mode}")
    words += ["--out", str(args.out)]
    for engine in getattr(args, "engine", None) or ():
        words += ["--engine", engine]
    if getattr(args, "repeats", None) is not None:
        words += ["--repeats", str(args.repeats)]
    return " ".join(words)


def _busy(before: tuple[float, ...], after: tuple[float, ...]) -> list[str]:
    """A warning when other work shared the machine (the run itself adds about 1 to the
    load average). PyTorch's thread pool suffers most: on a busy 2-core machine one step of
    W4 took 75 ms instead of 0.45 ms."""
    if before[0] <= 0.5 and after[0] <= 1.5:
        return []
    return [f"the machine was busy (load average {before[0]:.1f} before the run, "
            f"{after[0]:.1f} after it, on {os.cpu_count()} CPUs): other work slows the "
            f"engines unevenly, threaded ones most; run again on a quiet machine"]


def run_bench(args: argparse.Namespace) -> int:
    """Run the benchmark described by `args`; print the table and the targets; return 0.

    `args` has quick, out, engine (a list or None) and repeats (int or None); a hidden
    `tiny=True` runs the test's smallest plan.
    """
    import datetime
    from pathlib import Path

    from refad.reports.usage import UsageError

    from . import engines, output, suite, targets
    from .workloads import plan_for

    mode = "tiny" if getattr(args, "tiny", False) else "quick" if args.quick else "full"
    try:
        plan = plan_for(mode, getattr(args, "repeats", None))
        keys = engines.resolve(getattr(args, "engine", None))
    except ValueError as error:
        raise UsageError(str(error)) from None
    started = datetime.datetime.now(datetime.timezone.utc)
    clock = time.perf_counter()
    load_before = os.getloadavg()           # other work on the machine skews every engine
    missing = {key: engines.unavailable(key) for key in keys}
    missing = {key: reason for key, reason in missing.items() if reason}
    for key, reason in missing.items():
        _progress(f"skipping {key}: {reason}")
    rows, settings = suite.time_workloads(plan, keys, missing, _progress)
    settings["isolation"] = (
        f"one process per {'cell' if plan.isolate == 'cell' else 'run'} and engine group; "
        f"JAX apart, its ratios to a refad run beside it")
    rows += suite.memory_rows(plan, keys, missing, _progress)
    _progress("start-up: refad --help and refad grad, each in a fresh process")
    rows += suite.startup(plan)
    checked = targets.evaluate(rows)
    metadata = {"command": _command_line(args, mode), "mode": mode,
                "started": started.isoformat(timespec="seconds"),
                "duration_s": round(time.perf_counter() - clock, 1),
                "versions": engines.versions(),
                "machine": {**engines.machine(), "load_average_before": load_before,
                            "load_average_after": os.getloadavg()},
                "warnings": _busy(load_before, os.getloadavg()),
                "settings": settings, "plan": suite.describe_plan(plan),
                "engines": {key: {"label": engines.ENGINES[key].label,
                                  "note": engines.ENGINES[key].note,
                                  "unavailable": missing.get(key)} for key in keys}}
    paths, no_plot = output.write_all(Path(args.out), rows, metadata, checked)
    print(output.markdown(rows))
    print("Targets for refad:")
    for result in checked:
        print(f"  {result['line']}")
    print()
    if no_plot:
        print(no_plot)
    for warning in metadata["warnings"]:
        print(f"warning: {warning}")
    print(f"wrote {', '.join(str(p) for p in paths.values())} "
          f"in {metadata['duration_s']:.0f} s")
    return 0
