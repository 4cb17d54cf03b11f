"""Limits on one backend evaluation, time and memory: an alarm signal that raises inside it.

`with limits(2.0, memory=10**9): work()` arms a real-time interval timer
(`setitimer(ITIMER_REAL)`). When it rings, the SIGALRM handler raises `EvaluationTimeout`
in the code that is running, so a backend stuck in a Python loop or in `time.sleep` is
stopped and the run goes on. With a memory budget the timer also rings every second to
compare the resident set with what it was when the block began, and raises
`EvaluationOutOfMemory` past the budget: found by fuzzing, the exact oracle can grow by
170 MB a second, which is 20 GB and the machine's OOM killer long before a time limit.

Limits, stated plainly:
- Signal handlers run only in the main thread, so elsewhere nothing is enforced (the block
  just runs). Worker processes evaluate in their main thread, so the limits hold there.
- Python runs the handler between bytecodes: code stuck inside one C call that never returns
  to the interpreter is not interrupted. The report runner's worker processes cover that
  case with a deadline per case, after which the parent terminates the worker. One C call
  that allocates gigabytes at once is not stopped either.
- Where the handler happens to run inside a garbage-collector callback or a `__del__`
  (JAX registers one of the former), Python prints the exception and carries on, so the
  timer is re-armed before each raise and rings again every `RING_AGAIN` seconds until the
  block has ended. (Found by `refad fuzz`: a 120 s limit swallowed in `_xla_gc_callback`.)
- The resident set is read from /proc/self/statm: without it (not Linux) only the time
  limit is enforced.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

RING_AGAIN = 0.5    # seconds between rings, should one be swallowed
CHECK_EVERY = 1.0   # seconds between two looks at the resident set, under a memory budget


class EvaluationLimit(BaseException):
    """Raised inside an evaluation that ran past one of its limits.

    A BaseException, like KeyboardInterrupt, so that a backend's own `except Exception`
    (a fallback path, say) cannot swallow it and carry on past the limit.
    """


class EvaluationTimeout(EvaluationLimit):
    """The evaluation ran past its time limit; str() is the limit in seconds."""


class EvaluationOutOfMemory(EvaluationLimit):
    """The evaluation's resident set grew past its budget; str() says by how much."""


@contextmanager
def limits(seconds: float | None, memory: float | None = None) -> Iterator[bool]:
    """Raise `EvaluationTimeout` in the block if it runs longer than `seconds`, and
    `EvaluationOutOfMemory` if the process grows by more than `memory` bytes meanwhile.

    Yields whether the limits are enforced: False for no time limit (None or 0: then no
    memory budget either), outside the main thread, or on a platform without `setitimer`.
    The previous SIGALRM handler and timer are restored afterwards.
    """
    if not seconds or threading.current_thread() is not threading.main_thread() \
            or not hasattr(signal, "setitimer"):
        yield False
        return
    start = time.monotonic()
    base = resident_bytes() if memory else None
    armed = [True]

    def ring(signum, frame):
        if not armed[0]:                    # a late ring after the block ended is dropped
            return
        left = seconds - (time.monotonic() - start)
        if base is None or left <= 1e-3:
            signal.setitimer(signal.ITIMER_REAL, RING_AGAIN)    # in case this one is lost
            raise EvaluationTimeout(float(seconds))
        grown = (resident_bytes() or base) - base
        if grown > memory:
            signal.setitimer(signal.ITIMER_REAL, RING_AGAIN)
            raise EvaluationOutOfMemory(f"grew by {grown / 2**30:.1f} GiB, past its budget "
                                        f"of {memory / 2**30:.1f} GiB")
        signal.setitimer(signal.ITIMER_REAL, min(CHECK_EVERY, left))

    previous = signal.signal(signal.SIGALRM, ring)
    first = seconds if base is None else min(CHECK_EVERY, seconds)
    earlier, interval = signal.setitimer(signal.ITIMER_REAL, first)
    try:
        yield True
    finally:
        try:
            armed[0] = False
        except EvaluationLimit:             # it rang as the block finished: the work is done
            pass
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if earlier:                         # someone else's timer was running: resume it
            left = max(earlier - (time.monotonic() - start), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, interval)


def resident_bytes() -> int | None:
    """This process's resident set in bytes (Linux), else None."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def memory_budget(share: float = 1 / 3) -> float | None:
    """`share` of the memory the machine has available now (MemAvailable), at least 1 GiB;
    None where /proc/meminfo or /proc/self/statm cannot be read."""
    if resident_bytes() is None:
        return None
    try:
        with open("/proc/meminfo", "rb") as meminfo:
            for line in meminfo:
                if line.startswith(b"MemAvailable:"):
                    return max(share * int(line.split()[1]) * 1024, float(2**30))
    except (OSError, ValueError, IndexError):
        pass
    return None
