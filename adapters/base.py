"""The one interface every backend implements, and the result it returns.

A backend turns a `Case` at a dtype and derivative order into numpy numbers: the value, the
gradient with respect to each input, and (order 2) the blocks of the Hessian. Whatever goes
wrong inside a backend becomes a `Result` with status `error` and the message; nothing a
backend does stops a run.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np

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

    def evaluate(self, case, dtype: str = "float64", order: int = 1) -> Result:
        """Evaluate `case`; never raises: failures come back as an `error` result."""
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
            result = self._evaluate(case, dtype, order)
        except Exception as error:  # noqa: BLE001 -- a backend failing is a finding, not a crash
            result = Result(self.name, case.name, dtype, order, status="error",
                            error=_describe(error), mode=getattr(self, "mode", "eager"))
        result.seconds = time.perf_counter() - start
        return result

    def _evaluate(self, case, dtype: str, order: int) -> Result:
        raise NotImplementedError


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
