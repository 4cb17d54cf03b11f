"""Non-smooth functions, at their kinks and away from them, and the where-NaN trap.

At a kink (tag `kink`) the derivative does not exist and each framework picks a convention;
refad follows PyTorch. The notes record what PyTorch 2.13 and JAX 0.10 (x64) returned when
measured directly (float64), gradient first and, where it differs, the second derivative.
"""

from __future__ import annotations

from .case import expression_case

FAMILY = "nonsmooth"

# (name, expression, inputs, note): cases exactly at a point where a derivative does not exist
_KINKS = (
    ("relu-at-0", "relu(x)", {"x": 0.0},
     "relu'(0): torch 0, jax 0 (both take the left derivative); refad 0"),
    ("abs-at-0", "abs(x)", {"x": 0.0},
     "abs'(0): torch 0 (sign(0)), jax 1 (it picks the x >= 0 side); refad 0"),
    ("abs-at-negative-zero", "abs(x)", {"x": -0.0},
     "abs'(-0.0): torch 0, jax 1 (-0.0 >= 0 is true); the sign bit of zero changes nothing"),
    ("abs-of-sin-at-0", "abs(sin(x))", {"x": 0.0},
     "the kink of abs reached through sin: torch 0, jax 1 (abs'(0) times cos(0) = 1)"),
    ("maximum-tie", "maximum(x, y)", {"x": 1.0, "y": 1.0},
     "a tie x == y: torch (0.5, 0.5), jax (0.5, 0.5): both split the gradient in halves"),
    ("minimum-tie", "minimum(x, y)", {"x": 1.0, "y": 1.0},
     "a tie: torch (0.5, 0.5), jax (0.5, 0.5)"),
    ("maximum-self", "maximum(x, x)", {"x": 1.0},
     "max(x, x) = x: the two halves of the tie meet again in x, so torch 1, jax 1 (correct)"),
    ("maximum-with-zero-at-0", "max(x, 0.0)", {"x": 0.0},
     "max(x, 0) is relu, but at 0 torch 0.5 and jax 0.5 (a tie) against relu'(0) = 0: same "
     "function, different gradient"),
    ("minimum-with-zero-at-0", "min(x, 0.0)", {"x": 0.0},
     "a tie with a constant: torch 0.5, jax 0.5"),
    ("relu-shifted-at-kink", "relu(x - 1)", {"x": 1.0},
     "the pre-activation is exactly 0: torch 0, jax 0"),
    ("where-at-switch", "where(x > 0, x, -x)", {"x": 0.0},
     "|x| written with where: at 0 the condition is false, so the -x branch: torch -1, jax -1. "
     "With abs'(0) (torch 0, jax 1) that is three answers for one function"),
    ("where-ge-at-switch", "where(x >= 0, x, -x)", {"x": 0.0},
     ">= picks the first branch at 0: torch 1, jax 1"),
    ("sqrt-at-0", "sqrt(x)", {"x": 0.0},
     "sqrt'(0) = 1/(2*sqrt(0)): torch inf, jax inf; sqrt''(0): torch -inf, jax -inf"),
    ("pow-half-at-0", "x ** 0.5", {"x": 0.0},
     "x^0.5 at 0: torch inf, jax inf (second derivative -inf in both), like sqrt"),
    ("pow-at-origin", "pow(x, y)", {"x": 0.0, "y": 0.0},
     "0^0 = 1; d/dx: torch 0 (its formula has where(y == 0, 0, ...)), jax nan (0 * 0^-1); "
     "d/dy: torch 0, jax 0; the Hessian is nan in both"),
    ("pow-zero-exponent-at-0", "x ** 0", {"x": 0.0},
     "x^0 with a float exponent 0.0 (the parser reads 0 as 0.0): torch 0, jax nan; JAX's "
     "integer power x ** 0 would give 0"),
    ("atan2-at-origin", "atan2(y, x)", {"y": 0.0, "x": 0.0},
     "atan2 at the origin: torch (0, -0) because its backward masks x^2 + y^2 == 0 to 0; "
     "jax (nan, nan) from 0/0; the Hessian is nan in both. The value is a convention too: "
     "0 in IEEE arithmetic, undefined (nan) for sympy"),
    ("atan2-on-branch-cut", "atan2(y, x)", {"y": 0.0, "x": -2.0},
     "on the negative x axis atan2 jumps from pi (y = +0) to -pi (y < 0): no two-sided "
     "derivative in y, and a central difference straddling the cut is meaningless. torch and "
     "jax both return the formula x/(x^2+y^2) = -0.5 for d/dy (the upper branch's, where "
     "atan2(+0, -2) = pi lives) and d/dx = 0"),
    ("sqrt-of-square-at-0", "sqrt(x * x)", {"x": 0.0},
     "|x| written as sqrt(x^2): sqrt' = inf meets d(x*x) = 0, inf * 0 = nan in torch and jax"),
    ("x-abs-x-at-0", "x * abs(x)", {"x": 0.0},
     "differentiable once (d/dx = 2|x| = 0 in both) but not twice: second derivative torch 0 "
     "(sign(0) = 0), jax 2 (abs'(0) = 1 counted on both paths)"),
    ("relu-squared-at-0", "relu(x) ** 2", {"x": 0.0},
     "differentiable once (d/dx = 2 relu(x) relu'(x) = 0) but not twice: second derivative "
     "torch 0, jax 0"),
)

# (name, expression, inputs, note, tags): the trap and the non-kink points
_OTHERS = (
    ("where-nan-trap", "where(x > 0, sqrt(x), 0.0)", {"x": -1.0},
     "the where-NaN trap: the true derivative is 0 (the constant branch), but sqrt(-1) = nan is "
     "still computed, and where's backward sends 0 to it: 0 * sqrt'(-1) = 0 * nan = nan. torch "
     "nan, jax nan (second derivative nan in both). Every AD backend disagrees with the exact "
     "answer here, by construction",
     ("nan-trap", "formula-artifact")),
    ("where-nan-trap-fixed", "where(x > 0, sqrt(where(x > 0, x, 1.0)), 0.0)", {"x": -1.0},
     "the double-where fix: the inner where feeds sqrt a safe 1.0 on the unused side, so no "
     "nan is ever computed: torch 0, jax 0 (the exact answer)",
     ("nan-trap",)),
    ("where-nan-trap-log", "where(x > 0, log(x), 0.0)", {"x": 0.0},
     "the same trap with log at 0: log(0) = -inf, log'(0) = inf, 0 * inf = nan: torch nan, "
     "jax nan, although the function is constant 0 to the left",
     ("nan-trap", "formula-artifact", "discontinuous")),
    ("where-nan-trap-positive", "where(x > 0, sqrt(x), 0.0)", {"x": 4.0},
     "on the sqrt side the trap is harmless: d/dx = 1/(2*sqrt(4)) = 0.25",
     ("nan-trap",)),
    ("where-nan-trap-fixed-positive", "where(x > 0, sqrt(where(x > 0, x, 1.0)), 0.0)",
     {"x": 4.0}, "the double-where fix changes nothing where x > 0: 0.25",
     ("nan-trap",)),
    ("relu-at-0.5", "relu(x)", {"x": 0.5}, "away from the kink: relu' = 1", ()),
    ("relu-at-minus-0.5", "relu(x)", {"x": -0.5}, "away from the kink: relu' = 0", ()),
    ("abs-at-minus-0.5", "abs(x)", {"x": -0.5}, "away from the kink: abs' = -1", ()),
    ("maximum-near-tie", "maximum(x, y)", {"x": 1.0, "y": 1.0 + 2.0 ** -20},
     "y exceeds x by 2^-20 (8 float32 ulps; a gap below float32's 2^-23 would round to a "
     "tie there): no tie, the whole gradient goes to y", ()),
    ("where-near-switch", "where(x > 0, x, -x)", {"x": 1e-30},
     "just right of the switch: the x branch, d/dx = 1", ()),
)


# A kink excuses derivatives, not values; here the value itself is a convention: atan2(0, 0)
# is 0 in IEEE arithmetic (C99 Annex F) and undefined (nan) for the exact oracle.
_VALUE_CONVENTIONS = ("atan2-at-origin",)


def _kink_cases() -> list:
    cases = []
    for name, text, inputs, note in _KINKS:
        tags = ("nonsmooth", "kink")
        if name in _VALUE_CONVENTIONS:
            tags += ("value-convention",)
        cases.append(expression_case(name, text, inputs, FAMILY, tags=tags, note=note))
    return cases


def _other_cases() -> list:
    return [expression_case(name, text, inputs, FAMILY, tags=("nonsmooth",) + tags, note=note,
                            known=_known(tags, note))
            for name, text, inputs, note, tags in _OTHERS]


def _known(tags: tuple[str, ...], note: str) -> dict[str, str]:
    """A formula artifact (the where-NaN trap) is computed alike by every AD framework; at a
    jump a central difference straddles it, so the numerical oracle cannot answer either."""
    known = {"*": note} if "formula-artifact" in tags else {}
    if "discontinuous" in tags:
        known["numeric"] = "f jumps here (log(0+) = -inf): a central difference straddles it"
    return known


CASES = (*_kink_cases(), *_other_cases())
