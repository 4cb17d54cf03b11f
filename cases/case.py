"""`Case`: one expression with its inputs, written once and run through every backend."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from refad import parse


@dataclass(frozen=True)
class Case:
    """An expression to differentiate, backend-neutral.

    Attributes:
        name: unique, readable id (`seed-multivariate`).
        fn: `fn(ops, **inputs, **constants)` -> a scalar, written with the ops vocabulary
            (`ops.sin`, `ops.where`, ..., `ops.grad`) and Python operators.
        inputs: input name -> value (float or float64 array); derivatives are taken with
            respect to the names in `wrt` (all inputs by default).
        family: seed, primitives, graphs, nonsmooth, numerics, tensors, second-order, pinn.
        tags: free labels (`nonsmooth`, `kink`, `second-order`, `tensor`, ...).
        note: what a reader should know; at a kink, what each framework is expected to do.
        expr: the source text when the case was written as an expression string.
        constants: name -> array passed to `fn` as a backend constant (never differentiated).
        wrt: the inputs whose derivatives are reported (None: all of them).
        max_order: the highest derivative order worth computing (Hessians of big parameter
            vectors are not).
        rtol: a per-case tolerance where the conditioning of the problem demands it.
        known: backend name (or "*" for every AD framework) -> why it is known to disagree
            with the reference here (a formula artifact, a documented flush to zero). The
            rows still say `mismatch`; they are marked known and do not fail the verdict.
    """

    name: str
    fn: Callable[..., Any]
    inputs: Mapping[str, Any]
    family: str
    tags: tuple[str, ...] = ()
    note: str = ""
    expr: str | None = None
    constants: Mapping[str, Any] = field(default_factory=dict)
    wrt: tuple[str, ...] | None = None
    max_order: int = 2
    rtol: float | None = None
    known: Mapping[str, str] = field(default_factory=dict)

    @property
    def differentiated(self) -> tuple[str, ...]:
        """The inputs whose derivatives are reported."""
        return tuple(self.inputs) if self.wrt is None else self.wrt

    @property
    def is_scalar(self) -> bool:
        """True when every input is a single number (the symbolic oracle needs that)."""
        return all(np.ndim(v) == 0 for v in self.inputs.values()) and not self.constants

    @property
    def is_kink(self) -> bool:
        """True at a point where some derivative does not exist (conventions may differ)."""
        return "kink" in self.tags

    def __call__(self, ops: Any, **values: Any) -> Any:
        return self.fn(ops, **values)


def expression_case(name: str, text: str, inputs: Mapping[str, Any], family: str,
                    **options: Any) -> Case:
    """A case from an expression string, compiled by refad's safe parser.

    The inputs must name exactly the expression's variables.
    """
    expression = parse(text)
    missing = set(expression.variables) - set(inputs)
    extra = set(inputs) - set(expression.variables)
    if missing or extra:
        raise ValueError(f"case {name!r}: expression {text!r} uses "
                         f"{', '.join(expression.variables)} but inputs are "
                         f"{', '.join(inputs)}")
    ordered = {var: _as_input(inputs[var]) for var in expression.variables}
    return Case(name=name, fn=expression, inputs=ordered, family=family, expr=text, **options)


def _as_input(value: Any) -> Any:
    array = np.asarray(value, dtype=np.float64)
    return float(array) if array.ndim == 0 else array
