"""A time limit on one backend evaluation: an alarm signal that raises inside it.

`with time_limit(2.0): work()` arms a real-time interval timer (`setitimer(ITIMER_REAL)`);
when it rings, the SIGALRM handler raises `EvaluationTimeout` in the code that is running,
so a backend stuck in a Python loop or in `time.sleep` is stopped and the run goes on.

Limits, stated plainly:
- Signal handlers run only in the main thread, so elsewhere the limit is not enforced (the
  block just runs). Worker processes evaluate in their main thread, so it holds there.
- Python runs the handler between bytecodes: code stuck inside one C call that never returns
  to the interpreter is not interrupted. The report runner's worker processes cover that
  case with a deadline per case, after which the parent terminates the worker.
- Where the handler happens to run inside a garbage-collector callback or a `__del__`
  (JAX registers one of the former), Python prints the exception and carries on, so the
  timer is re-armed before each raise and rings again every `RING_AGAIN` seconds until the
  block has ended. (Found by `refad fuzz`: a 120 s limit swallowed in `_xla_gc_callback`.)
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

RING_AGAIN = 0.5    # seconds between rings, should one be swallowed


class EvaluationTimeout(BaseException):
    """Raised inside an evaluation that ran past its time limit; str() is the limit in s.

    A BaseException, like KeyboardInterrupt, so that a backend's own `except Exception`
    (a fallback path, say) cannot swallow it and carry on past the limit.
    """


@contextmanager
def time_limit(seconds: float | None) -> Iterator[bool]:
    """Raise `EvaluationTimeout` in the block if it runs longer than `seconds`.

    Yields whether the limit is enforced: False for no limit (None or 0), outside the main
    thread, or on a platform without `setitimer`. The previous SIGALRM handler and timer are
    restored afterwards.
    """
    if not seconds or threading.current_thread() is not threading.main_thread() \
            or not hasattr(signal, "setitimer"):
        yield False
        return
    armed = [True]

    def ring(signum, frame):
        if armed[0]:                        # a late ring after the block ended is dropped
            signal.setitimer(signal.ITIMER_REAL, RING_AGAIN)    # in case this one is lost
            raise EvaluationTimeout(float(seconds))

    previous = signal.signal(signal.SIGALRM, ring)
    start = time.monotonic()
    earlier, interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield True
    finally:
        try:
            armed[0] = False
        except EvaluationTimeout:           # it rang as the block finished: the work is done
            pass
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if earlier:                         # someone else's timer was running: resume it
            left = max(earlier - (time.monotonic() - start), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, interval)
