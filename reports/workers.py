"""Cases spread over worker processes, each case with a deadline.

A worker evaluates a case by name (case functions are lambdas, which do not pickle; names
do): a catalogue name by default, or any name a `resolve` function can turn back into its
case (`refad fuzz` rebuilds "fuzz-s7-42" from its seed and index). Each backend evaluation
inside it has its own time limit (an alarm, see `adapters.limits`); but code stuck in
one C call never returns to the interpreter to feel the alarm. So the parent gives every
case a deadline (each evaluation's limit, times the evaluations, plus slack) and, when one
passes, terminates the pool's processes, records `error` rows for that case, and goes on
with a fresh pool: one hung backend costs one case, not the run. Cases that were in flight
beside it are simply run again.

Workers ignore SIGINT from the moment they start, so Ctrl-C at a terminal (which signals
the whole process group) interrupts only the parent, which stops the workers and exits
with one line instead of one traceback per worker.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing import resource_tracker
from typing import Any

from refad.adapters.base import Result

from refad import adapters

from .compare import ORACLES, Reference, compare
from .evaluate import CaseRun, evaluate_case

# Added to every case's deadline: starting a worker and importing torch and jax in it (the
# first case each worker runs pays that), the Taylor check and the comparison.
DEADLINE_SLACK = 30.0


def evaluate_in_workers(chosen: list[Any], names: Sequence[str], dtypes: Sequence[str],
                        order: int, jobs: int, timeout: float | None,
                        resolve: Callable[[str], Any] | None = None) -> Iterator[Any]:
    """Yield each case's CaseRun in the order of `chosen`, computed by `jobs` processes.

    At most `jobs` cases are in flight, so a case starts when it is submitted and its
    deadline can be counted from then. `resolve` (a module-level function, so that it
    pickles) turns a case's name back into the case in a worker; None: `cases.get`.
    """
    schedule = _Schedule(chosen, names, dtypes, order, jobs, timeout, resolve)
    emitted = 0
    try:
        while emitted < len(chosen):
            schedule.step()
            while emitted in schedule.finished:
                yield schedule.finished.pop(emitted)
                emitted += 1
    finally:
        schedule.close(interrupted=emitted < len(chosen))


class _Schedule:
    """The cases waiting, running (with their deadlines) and finished, and the pool."""

    def __init__(self, chosen, names, dtypes, order, jobs, timeout, resolve) -> None:
        self.names, self.dtypes, self.order = list(names), list(dtypes), order
        self.jobs, self.timeout, self.resolve = jobs, timeout, resolve
        self.budget = case_deadline(names, dtypes, timeout)
        self.waiting: list[tuple[int, Any]] = list(enumerate(chosen))
        self.running: dict[concurrent.futures.Future, tuple[int, Any, float]] = {}
        self.finished: dict[int, Any] = {}
        self.suspects: set[int] = set()     # in flight when a worker died by itself
        self.pool = None

    def step(self) -> None:
        """Submit what may run, wait for one case to finish or a deadline to pass."""
        if self.pool is None:
            self.pool = _start_pool(self.jobs)
        # After a worker died, its suspects run one at a time until the culprit is found.
        limit = 1 if self.suspects else self.jobs
        while self.waiting and len(self.running) < limit:
            index, case = self._next()
            try:
                # A submit may start a worker process (a spawn pool starts them as needed).
                with _sigint_ignored_by_children():
                    future = self.pool.submit(_evaluate_named, case.name, self.resolve,
                                              self.names, self.dtypes, self.order,
                                              self.timeout)
            except BrokenProcessPool:       # a worker died since the last look
                self.waiting.append((index, case))
                self._restart()
                return
            self.running[future] = (index, case, time.monotonic() + self.budget)
        wait = None
        if self.budget < float("inf"):
            first = min(deadline for _, _, deadline in self.running.values())
            wait = max(0.0, first - time.monotonic())
        done, _ = concurrent.futures.wait(self.running, timeout=wait,
                                          return_when=concurrent.futures.FIRST_COMPLETED)
        broken = False
        for future in done:
            broken |= self._collect(future)
        now = time.monotonic()
        expired = [f for f, (_, _, deadline) in self.running.items() if deadline <= now]
        for future in expired:
            index, case, _ = self.running.pop(future)
            self.finished[index] = failed_case(
                case, self.names, self.dtypes, self.order,
                f"no answer within the case's deadline of {self.budget:.1f} s (--timeout "
                f"{self.timeout} s per evaluation): the worker was terminated")
        if expired or broken:
            self._restart()

    def _collect(self, future) -> bool:
        """File a finished future's CaseRun; True when it says the pool broke."""
        index, case, _ = self.running.pop(future)
        try:
            self.finished[index] = future.result()
        except BrokenProcessPool:
            if index in self.suspects and not self.running:     # it ran alone: the culprit
                self.finished[index] = failed_case(case, self.names, self.dtypes, self.order,
                                                   "the worker process evaluating this case "
                                                   "died")
                self.suspects.discard(index)
            else:
                self.suspects.add(index)
                self.waiting.append((index, case))
            return True
        self.suspects.discard(index)
        return False

    def _next(self) -> tuple[int, Any]:
        """The next case to submit: a suspect first, else the earliest waiting."""
        for position, (index, _) in enumerate(self.waiting):
            if index in self.suspects:
                return self.waiting.pop(position)
        return self.waiting.pop(0)

    def _restart(self) -> None:
        """Stop the pool; what was in flight waits again (its work is lost with the pool)."""
        for index, case, _ in self.running.values():
            self.waiting.append((index, case))
        self.running.clear()
        self.waiting.sort(key=lambda item: item[0])
        _stop(self.pool)
        self.pool = None

    def close(self, interrupted: bool) -> None:
        if self.pool is None:
            return
        if interrupted:                     # Ctrl-C or an error: do not wait for the work
            _stop(self.pool)
        else:
            self.pool.shutdown()
        self.pool = None


def case_deadline(names: Sequence[str], dtypes: Sequence[str], timeout: float | None) -> float:
    """Seconds one case may take in a worker: every evaluation at its limit, plus slack."""
    if not timeout:
        return float("inf")
    evaluations = sum(1 if name in ORACLES else len(dtypes) for name in names)
    evaluations += sum(1 for name in ORACLES if name not in names)  # the reference
    return evaluations * timeout + DEADLINE_SLACK


def failed_case(case: Any, names: Sequence[str], dtypes: Sequence[str], order: int,
                reason: str) -> Any:
    """The CaseRun of a case with no answer: an `error` row per backend and dtype."""
    order = min(order, case.max_order)
    results = [Result(name, case.name, dtype, order, status="error", error=reason)
               for name in names for dtype in (("float64",) if name in ORACLES else dtypes)]
    return CaseRun(compare(case, results, Reference({}, {})), results, Reference({}, {}))


def _evaluate_named(name: str, resolve: Callable[[str], Any] | None, backends: list[str],
                    dtypes: list[str], order: int, timeout: float | None) -> Any:
    """In a worker: `evaluate_case` for the case called `name` (`resolve` finds it)."""
    from refad import cases

    case = cases.get(name) if resolve is None else resolve(name)
    return evaluate_case(case, backends, dtypes, order, timeout=timeout)


def _start_worker(registrations: dict[str, tuple[str, str]]) -> None:
    """A worker's first step: ignore Ctrl-C, learn the backends the parent registered."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name, (module, cls) in registrations.items():
        adapters.register(name, module, cls)


def _start_pool(jobs: int) -> concurrent.futures.ProcessPoolExecutor:
    """A pool of up to `jobs` spawned workers; each submit must start them in
    `_sigint_ignored_by_children`."""
    # Processes, not threads: the work is Python-bound (JAX's eager dispatch above all).
    # "spawn" because forking a process that has started JAX's threads can deadlock.
    context = multiprocessing.get_context("spawn")
    return concurrent.futures.ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_start_worker,
        initargs=(adapters.registered(),))


@contextmanager
def _sigint_ignored_by_children() -> Iterator[None]:
    """Start processes in this block and they ignore SIGINT from their first instruction.

    An ignored signal stays ignored across exec, and Python leaves an ignored SIGINT alone,
    so the children never raise KeyboardInterrupt while importing (the pool's initializer
    comes too late for that). The parent blocks SIGINT meanwhile: on Linux a blocked signal
    stays pending even while ignored, and arrives once the handler is back. One gap is left:
    the kernel may hand a Ctrl-C to another thread (torch and jax start some), which does
    not block it and so drops it as ignored. The block lasts the few milliseconds of
    starting a process, a handful of times per run; a Ctrl-C lost there needs repeating.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        # The first process started also starts multiprocessing's resource tracker (born
        # ignoring SIGINT too, now), which unblocks SIGINT when it is up: block it again. A
        # Ctrl-C in those few milliseconds, once per run, is lost.
        resource_tracker.ensure_running()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _stop(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Terminate the pool's processes now (work in flight is lost) and release the pool."""
    # Python 3.14 has pool.terminate_workers(); before it, the processes are only in
    # the private `_processes` (pid -> Process).
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(5)
        if process.is_alive():
            process.kill()
