"""`refad fuzz`: differential fuzzing from the command line, and `--replay` of its case files.

    refad fuzz --n N [--seed S] [--start I] [--out DIR] [--jobs J] [--dtype D ...]
               [--backend B ...] [--order 1|2] [--timeout SECONDS] [--no-progress]
    refad fuzz --replay DIR

Exit status: 0 when every expression is explained (agreement, or a convention at a kink),
1 when some are not (one case file each is written to DIR), 2 on bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import sys
import time

from .usage import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `refad fuzz` options (argparse only: nothing heavy is imported here)."""
    parser.add_argument("--n", type=int, default=100, metavar="N",
                        help="how many random expressions (default 100)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="default 0")
    parser.add_argument("--start", type=int, default=0, metavar="I",
                        help="first expression index (to fuzz one seed in chunks)")
    parser.add_argument("--out", default="fuzz-found", metavar="DIR",
                        help="where case files of unexplained disagreements go")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="J",
                        help="worker processes (default: one per CPU; 1 runs in-process)")
    parser.add_argument("--backend", action="append", metavar="B",
                        help="backend to compare (repeatable; default refad, torch, jax, "
                             "sympy)")
    parser.add_argument("--dtype", action="append", metavar="D",
                        choices=("float64", "float32"), help="default float64")
    parser.add_argument("--order", type=int, default=2, choices=(1, 2))
    parser.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                        help="time limit of one backend on one expression (default 120)")
    parser.add_argument("--replay", metavar="DIR",
                        help="run the case files in DIR instead of fuzzing")
    parser.add_argument("--no-progress", action="store_true")


def run_fuzz(args: argparse.Namespace) -> int:
    from .fuzz import BACKENDS
    from .runner import resolve_backends, resolve_dtypes

    try:
        backends = resolve_backends(args.backend or list(BACKENDS))
        dtypes = resolve_dtypes(args.dtype or ["float64"])
    except ValueError as error:
        raise UsageError(str(error)) from None
    if not args.timeout > 0:                # also refuses nan
        raise UsageError(f"--timeout must be positive, got {args.timeout}")
    if args.replay:
        return _replay(args.replay, backends, dtypes, args.order, args.timeout)
    if args.n < 0 or args.start < 0:
        raise UsageError(f"--n and --start must not be negative, got {args.n} and "
                         f"{args.start}")
    if args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    return _fuzz(args, backends, dtypes)


def _fuzz(args, backends: list[str], dtypes: list[str]) -> int:
    import refad

    from .fuzz import fuzz, signature

    started = time.perf_counter()
    run = fuzz(args.n, args.seed, backends, dtypes, order=args.order, jobs=args.jobs,
               progress=not args.no_progress, start=args.start, timeout=args.timeout)
    seconds = time.perf_counter() - started
    print(run.summary())
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    written = []
    for finding in run.findings:
        from refad.cases.case_files import write_case_file
        found_by = {"seed": args.seed, "index": finding.index,
                    "refad version": refad.__version__, "date": date,
                    "command": "refad " + " ".join(sys.argv[1:])}
        rows = [_row_summary(row, signature(row)) for row in finding.rows]
        path = os.path.join(args.out, f"{finding.case.name}.json")
        # The note says what each backend gave, so the file reads on its own (and a kink case
        # moved into cases/found already says what torch and jax do there).
        note = "; ".join(filter(None, [finding.case.note,
                                       f"fuzz found: {finding.what_each_gave()}"]))
        case = dataclasses.replace(finding.case, note=note)
        written.append(write_case_file(case, path, found_by, disagreements=rows))
    rate = args.n / seconds if seconds else 0.0
    print(f"{args.n} expressions in {seconds:.1f} s ({rate:.1f} per second, "
          f"{args.jobs} jobs)")
    if written:
        print(f"wrote {len(written)} case files to {args.out}")
    return 1 if run.findings else 0


def _row_summary(row: dict, key: str) -> dict:
    """The fields of a row a person needs to read a case file's disagreement."""
    fields = ("backend", "dtype", "quantity", "index", "result", "reference",
              "reference_source", "abs_err", "rel_err", "status", "detail")
    return {"signature": key, **{name: row.get(name) for name in fields}}


def _replay(directory: str, backends: list[str], dtypes: list[str], order: int,
            timeout: float | None) -> int:
    from refad.cases.case_files import load_cases

    from .compare import is_disagreement
    from .report_command import verdict
    from .runner import evaluate_case

    if not os.path.isdir(directory):
        raise UsageError(f"--replay: {directory!r} is not a directory")
    try:
        chosen = load_cases(directory)
    except ValueError as error:
        raise UsageError(str(error)) from None
    every, failing = [], 0
    for case in chosen:
        rows = evaluate_case(case, backends, dtypes, order, timeout=timeout).rows
        every.extend(rows)
        bad = [row for row in rows if is_disagreement(row)]
        failing += bool(bad)
        print(f"{case.name}: {'UNEXPLAINED' if bad else 'explained'}: {case.expr}")
        for row in bad:
            print(f"  {row['status']:12s} {row['backend']} {row['dtype']} {row['quantity']}: "
                  f"{row['result']!r} vs {row['reference']!r} {row['detail']}".rstrip())
    print(f"{len(chosen)} case files in {directory}: {failing} unexplained; {verdict(every)}")
    return 1 if failing else 0
