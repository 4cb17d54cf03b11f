"""`assert_parity`: the harness as an assertion for your own code.

    from refad.reports.parity import assert_parity
    assert_parity(lambda ops, x, w: ops.sum(ops.tanh(x @ w)), {"x": x, "w": w},
                  backends=["refad", "torch", "jax"], dtype="float64", order=2)

It builds a case from your function, runs it through the backends and the oracles, and calls
the same `compare()` as the report and the parity suite; if anything disagrees it raises an
AssertionError with a table of the numbers that differ.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from refad.cases.case import Case

from .compare import is_disagreement
from .runner import evaluate_case, resolve_backends, resolve_dtypes


def assert_parity(fn: Callable, inputs: Mapping[str, Any], *,
                  backends: Sequence[str] | None = None, dtype: str | Sequence[str] = "float64",
                  order: int = 1, constants: Mapping[str, Any] | None = None,
                  wrt: Sequence[str] | None = None, tags: Sequence[str] = (),
                  rtol: float | None = None, name: str | None = None) -> list[dict]:
    """Check that `fn(ops, **inputs)` has the same value and derivatives on every backend.

    Args:
        fn: the function, written with the ops vocabulary (`ops.sin`, `ops.sum`, `@`, ...).
        inputs: name -> number or array: the differentiable inputs.
        backends: backend names (default: every installed one).
        dtype: "float64", "float32" or both.
        order: 1 for gradients, 2 to add Hessians.
        constants: name -> array passed to `fn` and never differentiated.
        wrt: the inputs whose derivatives are compared (default: all).
        tags: case tags; "kink" marks a point where the derivative does not exist.
        rtol: a wider relative tolerance where the problem's conditioning demands it.
        name: a name for messages (default: the function's name).

    Returns:
        the comparison rows (dicts), when everything agrees.
    """
    case = Case(name=name or getattr(fn, "__name__", "fn"), fn=fn,
                inputs={k: v for k, v in inputs.items()}, family="user", tags=tuple(tags),
                constants=dict(constants or {}), wrt=tuple(wrt) if wrt else None,
                max_order=order, rtol=rtol)
    dtypes = resolve_dtypes([dtype] if isinstance(dtype, str) else dtype)
    done = evaluate_case(case, resolve_backends(backends), dtypes, order)
    bad = [row for row in done.rows if is_disagreement(row)]
    if bad:
        raise AssertionError(f"{case.name}: {len(bad)} disagreement(s)\n" + format_rows(bad))
    return done.rows


def format_rows(rows: Sequence[dict]) -> str:
    """A plain-text table of rows: backend, dtype, quantity, result, reference, errors."""
    header = ("backend", "dtype", "quantity", "index", "result", "reference", "abs_err",
              "ulp", "status", "detail")
    table = [header]
    for row in rows:
        table.append(tuple(_cell(row.get(column)) for column in header))
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
                     .rstrip() for line in table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.17g}"
    return "" if value is None else str(value)
