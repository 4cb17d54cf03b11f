"""Where each operation may be applied in a fuzzed DAG: domains, kinks and conditioning.

`check(node, args)` computes a node's float64 value from its arguments' values (numpy,
elementwise for arrays) and says whether the generator may use it there:
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

BOUND = 1e4             # largest |value| of any node
NEAR = 1e-3             # how far (relative) an argument keeps from a kink, a pole or a root
CONDITION = 1e3         # largest relative condition number of a unary function
SATURATION = 1e-3       # smallest 1 - tanh(x)^2, 1 - sigmoid(|x|) and exp(x) for expm1

# name -> (f, f') on float64 numpy arrays, for the condition number of the value.
_UNARY = {
    "neg": (np.negative, lambda a: -np.ones_like(a)),
    "sin": (np.sin, np.cos), "cos": (np.cos, lambda a: -np.sin(a)),
    "tan": (np.tan, lambda a: 1 / np.cos(a) ** 2),
    "exp": (np.exp, np.exp), "expm1": (np.expm1, np.exp),
    "log": (np.log, lambda a: 1 / a), "log1p": (np.log1p, lambda a: 1 / (1 + a)),
    "sqrt": (np.sqrt, lambda a: 0.5 / np.sqrt(a)),
    "square": (np.square, lambda a: 2 * a),
    "tanh": (np.tanh, lambda a: 1 - np.tanh(a) ** 2),
    "sigmoid": (lambda a: 1 / (1 + np.exp(-a)), lambda a: np.exp(-a) / (1 + np.exp(-a)) ** 2),
    "abs": (np.abs, np.sign), "relu": (lambda a: np.maximum(a, 0.0), lambda a: 1.0 * (a > 0)),
}
# The derivative's derivative where the derivative itself may sit near a root (cos at pi/2).
_SECOND = {"sin": lambda a: -np.sin(a), "cos": lambda a: -np.cos(a)}


def check(node: tuple, args: list[np.ndarray], exponent_is_constant: bool = False
          ) -> tuple[bool, np.ndarray, str]:
    """(allowed, value, kink) for `node` applied to `args` (see the module docstring)."""
    kind = node[0]
    with np.errstate(all="ignore"):
        if kind in _UNARY:
            ok, value, kink = _unary(kind, args[0])
        elif kind == "where":
            ok, value, kink = _where(node[1], *args)
        elif kind in ("sum", "mean", "matmul"):
            ok, value, kink = _reduction(node, args)
        else:
            ok, value, kink = _binary(kind, args[0], args[1], exponent_is_constant)
        value = np.asarray(value, dtype=np.float64)
        ok = ok and bool(np.all(np.isfinite(value)) and np.all(np.abs(value) <= BOUND))
    return ok, value, kink


def _unary(kind: str, a: np.ndarray) -> tuple[bool, np.ndarray, str]:
    f, derivative = _UNARY[kind]
    value = f(a)
    if kind in ("abs", "relu", "sqrt") and np.any(a == 0):
        ok = bool(np.all((a == 0) | (a >= NEAR) | ((a <= -NEAR) & (kind != "sqrt"))))
        return ok, value, f"{kind} at 0"
    domain = {
        "log": np.all(a >= NEAR), "sqrt": np.all(a >= NEAR), "log1p": np.all(a >= NEAR - 1),
        "tan": np.all(np.abs(np.cos(a)) >= 0.05), "exp": np.all(a <= 9),
        "expm1": np.all((a <= 9) & (np.exp(a) >= SATURATION)), "sin": np.all(np.abs(a) <= 100),
        "cos": np.all(np.abs(a) <= 100), "abs": np.all(np.abs(a) >= NEAR),
        "relu": np.all(np.abs(a) >= NEAR),
        "tanh": np.all(1 - np.tanh(a) ** 2 >= SATURATION),
        "sigmoid": np.all(np.exp(-np.abs(a)) >= SATURATION),
    }.get(kind, True)
    ok = bool(domain) and _conditioned(a, value, derivative(a))
    if ok and kind in _SECOND:
        ok = _conditioned(a, derivative(a), _SECOND[kind](a))
    return ok, value, ""


def _conditioned(a: np.ndarray, value: np.ndarray, slope: np.ndarray) -> bool:
    """|a f'(a)| <= CONDITION |f(a)| wherever f(a) != 0 (an exact zero is fine)."""
    nonzero = value != 0
    return bool(np.all(~nonzero | (np.abs(a * slope) <= CONDITION * np.abs(value))))


def _far_or_tied(a: np.ndarray, b: np.ndarray) -> tuple[bool, bool]:
    """(allowed, tied): every element pair equal or NEAR apart (relative to its size)."""
    tied = a == b
    scale = np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))
    far = np.abs(a - b) >= NEAR * scale
    return bool(np.all(tied | far)), bool(np.any(tied))


def _binary(kind: str, a: np.ndarray, b: np.ndarray, exponent_is_constant: bool
            ) -> tuple[bool, np.ndarray, str]:
    if kind in ("+", "-"):
        value = a + b if kind == "+" else a - b
        kept = (value == 0) | (np.abs(value) >= NEAR * (np.abs(a) + np.abs(b)))
        return bool(np.all(kept)), value, ""
    if kind == "*":
        return True, a * b, ""
    if kind == "/":
        return bool(np.all(np.abs(b) >= 1e-2)), a / b, ""
    if kind in ("maximum", "minimum"):
        ok, tied = _far_or_tied(a, b)
        value = np.maximum(a, b) if kind == "maximum" else np.minimum(a, b)
        return ok, value, f"{kind} tie" if tied else ""
    if kind == "atan2":
        return _atan2(a, b)
    return _power(a, b, exponent_is_constant)


def _power(a: np.ndarray, b: np.ndarray, constant: bool) -> tuple[bool, np.ndarray, str]:
    value = np.power(a, b)
    integer = constant and float(b) == round(float(b))
    if integer:
        return bool(float(b) > 0 or np.all(np.abs(a) >= 1e-2)), value, ""
    if np.any(a == 0):
        ok = bool(np.all((a == 0) | (a >= NEAR)) and np.all(b > 0))
        return ok and (constant or bool(np.all(np.abs(b) <= 6))), value, "pow at base 0"
    ok = bool(np.all(a >= NEAR)) and (constant or bool(np.all(np.abs(b) <= 6)))
    return ok, value, ""


def _atan2(a: np.ndarray, b: np.ndarray) -> tuple[bool, np.ndarray, str]:
    value = np.arctan2(a, b)
    origin = (a == 0) & (b == 0)
    cut = (a == 0) & (b < 0)
    kink = "atan2 at the origin" if np.any(origin) else ("atan2 on its branch cut"
                                                        if np.any(cut) else "")
    radius = np.hypot(a, b)
    near_cut = (b < 0) & (np.abs(a) < NEAR * np.abs(b))
    ok = np.all(origin | cut | ((radius >= NEAR) & ~near_cut))
    return bool(ok), value, kink


def _where(comparison: str, a, b, then, otherwise) -> tuple[bool, np.ndarray, str]:
    ok, tied = _far_or_tied(a, b)
    condition = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[comparison]
    value = np.where(condition, then, otherwise)
    return ok, value, "where at its switch" if tied else ""


def _reduction(node: tuple, args: list[np.ndarray]) -> tuple[bool, np.ndarray, str]:
    kind, a = node[0], args[0]
    if kind == "matmul":
        value, size = np.matmul(a, args[1]), np.matmul(np.abs(a), np.abs(args[1]))
    else:
        axis = node[2] if len(node) > 2 else None
        value = getattr(np, kind)(a, axis=axis)
        size = getattr(np, kind)(np.abs(a), axis=axis)
    kept = (value == 0) | (np.abs(value) >= NEAR * size)
    return bool(np.all(kept)), value, ""
