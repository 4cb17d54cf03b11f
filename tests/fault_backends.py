"""Backends that misbehave on purpose, for the fault tests (not a test module itself).

Each one is refad's backend with one fault. They live in an importable module, not in a
test file, so that a worker process can import them by module path after the parent
registers them (`adapters.register(name, "fault_backends", class name)`).

The hanging ones hang only on the cases named in `HANG_ON` (elsewhere they are refad), so
a test can check that the other cases still run; and they give up by themselves after
`GIVE_UP` seconds and then return refad's correct answer: if a time limit ever fails to
stop them, a test sees an `ok` row where it expects an `error` and fails, instead of hanging
the test run.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
from refad.adapters.refad_backend import RefadBackend

GIVE_UP = 20.0
# More names can come through the environment, which spawned worker processes inherit.
HANG_ON = ("seed-multivariate", *filter(None, os.environ.get("REFAD_TEST_HANG_ON", "").split(",")))


class Raising(RefadBackend):
    """Raises on every case."""

    name = "fault-raise"

    def _evaluate(self, case, dtype, order):
        raise RuntimeError(f"fault-raise broke on {case.name} on purpose")


class NanEverywhere(RefadBackend):
    """NaN for every number, in the right shapes."""

    name = "fault-nan"

    def _evaluate(self, case, dtype, order):
        result = super()._evaluate(case, dtype, order)
        result.value = np.full_like(result.value, np.nan)
        result.grad = {name: np.full_like(g, np.nan) for name, g in result.grad.items()}
        result.hessian = {key: np.full_like(h, np.nan) for key, h in result.hessian.items()}
        return result


class WrongShape(RefadBackend):
    """Every gradient comes back with three elements, whatever the input's shape."""

    name = "fault-shape"

    def _evaluate(self, case, dtype, order):
        result = super()._evaluate(case, dtype, order)
        result.grad = {name: np.full(3, float(np.ravel(g)[0])) for name, g in result.grad.items()}
        return result


class Sleeping(RefadBackend):
    """Sleeps on `HANG_ON` cases (in short naps, like a backend waiting on I/O)."""

    name = "fault-sleep"

    def _evaluate(self, case, dtype, order):
        start = time.monotonic()
        while case.name in HANG_ON and time.monotonic() - start < GIVE_UP:
            time.sleep(0.05)
        return super()._evaluate(case, dtype, order)


class Spinning(RefadBackend):
    """Spins in a pure-Python loop on `HANG_ON` cases."""

    name = "fault-spin"

    def _evaluate(self, case, dtype, order):
        start, total = time.monotonic(), 0
        while case.name in HANG_ON and time.monotonic() - start < GIVE_UP:
            total += 1
        return super()._evaluate(case, dtype, order)


class Stuck(RefadBackend):
    """On `HANG_ON` cases, like a backend stuck in one C call: the alarm never gets through.

    It sets SIGALRM to be ignored, so the alarm's handler never runs, which is what
    happens while C code that never returns to the interpreter holds the main thread
    (blocking the signal for one thread is not enough: the kernel hands a process signal to
    any other thread, and Python then runs the handler in the main thread). Only the
    parent's per-case deadline, which terminates the worker, stops it. (`limits` puts
    its own handler back afterwards, should it ever return.)
    """

    name = "fault-stuck"

    def _evaluate(self, case, dtype, order):
        if case.name not in HANG_ON:
            return super()._evaluate(case, dtype, order)
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        start = time.monotonic()
        while time.monotonic() - start < GIVE_UP:
            time.sleep(0.05)
        return super()._evaluate(case, dtype, order)


class Crashing(RefadBackend):
    """On `HANG_ON` cases the whole process dies at once, as in a segfault (worker use only:
    in-process it would end the test run)."""

    name = "fault-crash"

    def _evaluate(self, case, dtype, order):
        if case.name in HANG_ON:
            os._exit(70)
        return super()._evaluate(case, dtype, order)


class Hogging(RefadBackend):
    """On `HANG_ON` cases, takes memory 64 MB at a time (written, so resident), like the
    exact oracle on an expression that blows up; it stops by itself at `HOG_CAP` bytes and
    then answers, so a memory budget that fails shows up as an `ok` row."""

    name = "fault-hog"

    def _evaluate(self, case, dtype, order):
        kept = []
        start = time.monotonic()
        while case.name in HANG_ON and len(kept) * 2**26 < HOG_CAP \
                and time.monotonic() - start < GIVE_UP:
            kept.append(np.ones(2**23))     # 64 MB
            time.sleep(0.05)                # at most 1.3 GB/s: the cap is 1.2 s away
        del kept
        return super()._evaluate(case, dtype, order)


HOG_CAP = 1.5 * 2**30


FAULTS = {cls.name: cls.__name__ for cls in (Raising, NanEverywhere, WrongShape, Sleeping,
                                             Spinning, Stuck, Crashing, Hogging)}


def register_all() -> None:
    """Register every fault backend with `adapters` under its name (for a subprocess)."""
    from refad import adapters

    for name, cls in FAULTS.items():
        adapters.register(name, __name__, cls)
