"""`refad report` and `refad list`."""

from __future__ import annotations

import sys
import time
from collections import Counter

from .compare import DISAGREEMENT, is_disagreement
from .usage import UsageError, require


def _select(families):
    from refad import cases
    if not families:
        return list(cases.CATALOGUE)
    selected = []
    for family in families:
        try:
            selected.extend(cases.select(family))
        except ValueError as error:
            raise UsageError(str(error)) from None
    return selected


def run_list(args) -> int:
    chosen = _select(args.family)
    width = max(len(case.name) for case in chosen)
    for case in chosen:
        what = case.expr or case.note.split(".")[0]
        tags = f" [{', '.join(case.tags)}]" if case.tags else ""
        print(f"{case.name.ljust(width)}  {case.family:12s} {what}{tags}")
    print(f"{len(chosen)} cases", file=sys.stderr)
    return 0


def verdict(rows) -> str:
    """One line: how many rows agree, and the count of every other status."""
    counts = Counter(row["status"] for row in rows)
    problems = sum(1 for row in rows if is_disagreement(row))
    known = sum(1 for row in rows if row["status"] in DISAGREEMENT and row.get("known"))
    parts = ", ".join(f"{counts[s]} {s}" for s in ("ok", "convention", "mismatch",
                                                   "nan-mismatch", "error", "unsupported")
                      if counts[s])
    head = "all backends agree" if problems == 0 else f"{problems} disagreements"
    if known:
        head += f", {known} known (documented in their cases)"
    return f"{head} ({parts})"


def run_report(args) -> int:
    from refad.reports.runner import resolve_backends, resolve_dtypes, run
    from refad.reports.writers import write_report

    if not args.timeout > 0:                # also refuses nan
        raise UsageError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    chosen = _select(args.family)
    try:
        backends = resolve_backends(args.backend)
        dtypes = resolve_dtypes(args.dtype)
    except ValueError as error:
        raise UsageError(str(error)) from None
    require("pandas", "jinja2")             # before minutes of work, not after
    start = time.perf_counter()
    if args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    done = run(chosen, backends, dtypes, order=args.order, progress=not args.no_progress,
               command="refad " + " ".join(sys.argv[1:]), jobs=args.jobs,
               timeout=args.timeout)
    paths = write_report(done, args.out)
    seconds = time.perf_counter() - start
    print(f"{len(chosen)} cases x {len(backends)} backends ({', '.join(backends)}) x "
          f"{len(dtypes)} dtypes in {seconds:.1f} s: {verdict(done.rows)}")
    for row in done.rows:
        if is_disagreement(row):
            print(f"  {row['status']:12s} {row['case']} {row['backend']} {row['dtype']} "
                  f"{row['quantity']}: {row['result']!r} vs {row['reference']!r} "
                  f"{row['detail']}".rstrip())
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 1 if any(is_disagreement(row) for row in done.rows) else 0
