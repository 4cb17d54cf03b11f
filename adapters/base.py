"""The one interface every backend implements, and the result it returns.

A backend turns a `Case` at a dtype and derivative order into numpy numbers: the value, the
gradient with respect to each input, and (order 2) the blocks of the Hessian. Whatever goes
wrong inside a backend becomes a `Result` with status `error` and the message; nothing a
backend does stops a run: not an exception, not numbers of the wrong shape or type (checked
by `check_shapes` after every evaluation), not a hang past the time limit nor a growth past
the memory budget (`adapters.limits`).
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .limits import EvaluationOutOfMemory, EvaluationTimeout, limits, memory_budget

DTYPES = ("float64", "float32")


@dataclass
class Result:
    """What one backend computed for one case at one dtype and order.

    Attributes:
        value: the function's value (numpy).
        grad: input name -> d value / d input, shaped like the input.
        hessian: (a, b) -> d2 value / da db, shaped a.shape + b.shape, for a <= b in input
            order (the rest follows by symmetry).
        status: `ok`, `error` or `unsupported`.
        error: the message, for `error` and `unsupported`.
        mode: how it ran (`eager`, `jit`, `exact`, `finite-difference`, ...).
        seconds: wall time of the evaluation.
        info: backend extras (a formula, the Taylor-remainder slopes, the precision used).
    """

    backend: str
    case: str
    dtype: str
    order: int
    value: Any = None
    grad: dict[str, Any] = field(default_factory=dict)
    hessian: dict[tuple[str, str], Any] = field(default_factory=dict)
    status: str = "ok"
    error: str | None = None
    mode: str = "eager"
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    def quantities(self) -> dict[str, Any]:
        """Every number this result holds, by quantity name: value, d/dx, d2/dxdy."""
        found: dict[str, Any] = {}
        if self.value is not None:
            found["value"] = self.value
        for name, g in self.grad.items():
            found[f"d/d{name}"] = g
        for (a, b), h in self.hessian.items():
            found[f"d2/d{a}d{b}"] = h
        return found


class Backend:
    """Base class: subclasses set `name` and implement `_evaluate` (and maybe the rest)."""

    name = "backend"
    description = ""

    def available(self) -> tuple[bool, str]:
        """(True, "") when the backend can run here, else (False, the reason)."""
        return True, ""

    def versions(self) -> dict[str, str]:
        """Package name -> version of what this backend runs on."""
        return {}

    def unsupported(self, case, dtype: str, order: int) -> str | None:
        """A reason this backend cannot evaluate the case, or None when it can."""
        return None

    def evaluate(self, case, dtype: str = "float64", order: int = 1,
                 timeout: float | None = None) -> Result:
        """Evaluate `case`; never raises: failures come back as an `error` result.

        Args:
            case: the Case.
            dtype: "float64" or "float32".
            order: 1 for the gradient, 2 to add the Hessian blocks.
            timeout: seconds this evaluation may take (None: no limit). Enforced with an
                alarm signal, so only in the main thread; see `adapters.limits`. With it
                comes a memory budget: the process may grow by a third of the memory
                available when the evaluation starts (at least 1 GiB).
        """
        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
        ok, reason = self.available()
        if not ok:
            return Result(self.name, case.name, dtype, order, status="unsupported",
                          error=reason)
        reason = self.unsupported(case, dtype, order)
        if reason:
            return Result(self.name, case.name, dtype, order, status="unsupported",
                          error=reason)
        start = time.perf_counter()
        try:
            with limits(timeout, memory_budget() if timeout else None):
                result = self._evaluate(case, dtype, order)
        except EvaluationTimeout as error:
            result = self._failed(case, dtype, order, f"timed out after {error} s (--timeout)")
        except EvaluationOutOfMemory as error:
            result = self._failed(case, dtype, order, f"stopped: the process {error} (a "
                                                      "third of the memory available)")
        except Exception as error:  # noqa: BLE001 -- a backend failing is a finding, not a crash
            result = self._failed(case, dtype, order, _describe(error))
        if result.status == "ok":
            problem = check_shapes(result, case)
            if problem:
                result = self._failed(case, dtype, order, problem)
        result.seconds = time.perf_counter() - start
        return result

    def _evaluate(self, case, dtype: str, order: int) -> Result:
        raise NotImplementedError

    def _failed(self, case, dtype: str, order: int, message: str) -> Result:
        return Result(self.name, case.name, dtype, order, status="error", error=message,
                      mode=getattr(self, "mode", "eager"))


def check_shapes(result: Result, case) -> str | None:
    """Why `result` does not fit `case` (None when it does); converts its numbers to numpy.

    The value must be one real number (shape ()), `grad` must hold every differentiated input
    and only those, shaped like the input, and each Hessian block (a, b) present must be one of
    `hessian_pairs` with shape a.shape + b.shape (blocks may be missing: an oracle skips big
    ones). `np.asarray` does not copy an array that already is one, so a 10^7-element
    gradient costs nothing here.
    """
    who = f"case {case.name!r}: {result.backend} returned"
    names = case.differentiated
    shapes = {name: np.shape(case.inputs[name]) for name in names}
    try:
        result.value = _real(result.value, f"{who} the value")
        if result.value.shape != ():
            return (f"{who} the value with shape {result.value.shape} but a case's value "
                    "has shape ()")
        missing = [name for name in names if name not in result.grad] if result.order else []
        if missing:
            return f"{who} no d/d{missing[0]} but input {missing[0]} is differentiated"
        for name in list(result.grad):
            if name not in shapes:
                return (f"{who} d/d{name} but {name} is not a differentiated input "
                        f"({', '.join(names) or 'none'})")
            grad = _real(result.grad[name], f"{who} d/d{name}")
            if grad.shape != shapes[name]:
                return (f"{who} d/d{name} with shape {grad.shape} but input {name} has "
                        f"shape {shapes[name]}")
            result.grad[name] = grad
        pairs = hessian_pairs(names)
        for key in list(result.hessian):
            quantity = f"d2/d{key[0]}d{key[1]}" if len(key) == 2 else repr(key)
            if key not in pairs:
                return (f"{who} {quantity}, not one of the Hessian blocks "
                        f"{', '.join(f'd2/d{a}d{b}' for a, b in pairs) or '(none)'}")
            block = _real(result.hessian[key], f"{who} {quantity}")
            a, b = key
            expected = shapes[a] + shapes[b]
            if block.shape != expected:
                return (f"{who} {quantity} with shape {block.shape} but inputs {a} "
                        f"{shapes[a]} and {b} {shapes[b]} make {expected}")
            result.hessian[key] = block
    except _NotReal as error:
        return str(error)
    return None


class _NotReal(Exception):
    """A backend's number that is not a real numpy number (None, text, complex, ...)."""


def _real(value: Any, what: str) -> np.ndarray:
    """`value` as a numpy array of real numbers, or _NotReal saying what it is instead."""
    if value is None:
        raise _NotReal(f"{what} as None, not a number")
    try:
        array = np.asarray(value)
    except Exception as error:  # noqa: BLE001 -- ragged lists, objects that refuse
        raise _NotReal(f"{what} as {type(value).__name__}, which numpy cannot convert "
                       f"({_describe(error)})") from None
    if array.dtype.kind == "c":
        raise _NotReal(f"{what} as a complex number ({array.dtype}), not a real one")
    if array.dtype.kind not in "fiub":      # float, int, unsigned, bool
        raise _NotReal(f"{what} as {type(value).__name__} (numpy dtype {array.dtype}), "
                       "not a real number")
    return array


def _describe(error: BaseException) -> str:
    """`TypeName: message (file:line)` for the innermost frame: enough to find the cause."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" ({frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {message}{where}"


def as_numpy(value: Any, dtype: str) -> Any:
    """A backend's number as a numpy array of the requested dtype (0-d for scalars)."""
    return np.asarray(value, dtype=np.dtype(dtype))


def hessian_pairs(names: tuple[str, ...]) -> list[tuple[str, str]]:
    """The (a, b) blocks reported for a Hessian: a <= b in input order."""
    return [(a, b) for i, a in enumerate(names) for b in names[i:]]
