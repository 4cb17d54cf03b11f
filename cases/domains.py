"""Where each operation may be applied in a fuzzed DAG: domains, kinks and conditioning.

Each op's rules are facts of its op-table entry (`Fuzz`: its slope, safe region, kinks, or a
check of its own); this module applies them. `check(node, args)` computes a node's float64
value from its arguments' values (numpy, elementwise for arrays) and says whether the
generator may use it there:
- inside the domain (log and sqrt of positive numbers, tan away from its poles, pow of a
  negative base only to a constant integer power, no division by a near-zero number);
- well conditioned, so that float64 frameworks which round differently in the last place
  still agree to the comparison's tolerance: no sum that cancels all but a few bits, no
  function evaluated where its relative condition number |x f'(x) / f(x)| exceeds 1e3
  (sin near a root, log near 1), and no saturated tanh, sigmoid or expm1, whose derivatives
  1 - tanh(x)^2, s (1 - s) and expm1(x) + 1 are formulas that lose digits there in every
  framework (found by fuzzing: cases/found/fuzz-expm1-derivative-cancels.json);
- either exactly at a kink or clearly away from it (never 1e-12 from a tie, where float32
  and float64 could take different sides); exactly at a kink, the third value names it;
- moderate: |value| <= BOUND, so that a disagreement is not just an overflow.
"""

from __future__ import annotations

import numpy as np

from refad.optable import BOUND, CONDITION, NEAR, SATURATION, Fuzz, by_fuzz_kind
from refad.registry import REGISTRY

__all__ = ["BOUND", "CONDITION", "NEAR", "SATURATION", "check"]


def check(node: tuple, args: list[np.ndarray], exponent_is_constant: bool = False
          ) -> tuple[bool, np.ndarray, str]:
    """(allowed, value, kink) for `node` applied to `args` (see the module docstring)."""
    kind = node[0]
    fuzz = _rules(kind)
    with np.errstate(all="ignore"):
        if fuzz.check is None:
            ok, value, kink = _unary(kind, fuzz, args[0])
        elif kind == "where":
            ok, value, kink = fuzz.check(args, node[1])
        elif kind in ("sum", "mean"):
            ok, value, kink = fuzz.check(args, node[2] if len(node) > 2 else None)
        else:
            ok, value, kink = fuzz.check(args, exponent_is_constant)
        value = np.asarray(value, dtype=np.float64)
        ok = ok and bool(np.all(np.isfinite(value)) and np.all(np.abs(value) <= BOUND))
    return ok, value, kink


def _rules(kind: str) -> Fuzz:
    """The op table's fuzz rules for a DAG node kind ("sin", "+", "**")."""
    entry = by_fuzz_kind(kind)
    return entry.fuzz


def _unary(kind: str, fuzz: Fuzz, a: np.ndarray) -> tuple[bool, np.ndarray, str]:
    entry = by_fuzz_kind(kind)
    value = REGISTRY[entry.name].forward(a)
    if fuzz.kinks:
        at_kink = np.isin(a, fuzz.kinks)
        if np.any(at_kink):
            return bool(np.all(at_kink | fuzz.safe(a))), value, f"{kind} at {fuzz.kinks[0]:g}"
    ok = bool(np.all(fuzz.safe(a))) and _conditioned(a, value, fuzz.slope(a))
    if ok and fuzz.second is not None:
        ok = _conditioned(a, fuzz.slope(a), fuzz.second(a))
    return ok, value, ""


def _conditioned(a: np.ndarray, value: np.ndarray, slope: np.ndarray) -> bool:
    """|a f'(a)| <= CONDITION |f(a)| wherever f(a) != 0 (an exact zero is fine)."""
    nonzero = value != 0
    return bool(np.all(~nonzero | (np.abs(a * slope) <= CONDITION * np.abs(value))))
