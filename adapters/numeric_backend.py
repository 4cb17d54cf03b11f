"""The `numeric` backend: derivatives without any autodiff rule, and the Taylor check.

Two ways to the numbers, tried in this order:
- `mpmath` (scalar cases): the case runs on mpmath numbers at 50 digits and `mpmath.diff`
  takes the derivatives (central differences with a step near 10**-54 at several hundred
  bits), with each input moved in steps scaled to it and extra digits for tiny inputs.
  Everything is computed again at 65 digits: numbers that agree to 30 digits are kept;
  a derivative that moves with the step (relu'' at 0 ~ 1/(4h)) is at a kink and is nan;
  one lost in f's last digits is recomputed at 200. Results are rounded once to float64.
- `finite-difference` (everything else, or when mpmath cannot run the case): the case runs
  in float64 with refad as the ops namespace, and central differences with the classic steps
  h = eps**(1/3) * max(1, |x_i|) (first derivatives, error ~ eps**(2/3) ~ 4e-11 relative)
  and h = eps**(1/4) * max(1, |x_i|) (second derivatives, error ~ eps**(1/2) ~ 1e-8, and an
  absolute noise of that size where the exact entry is 0).
Either way the numbers are float64 for every dtype: this backend is a reference.

`taylor_check` (also `NumericBackend.taylor`) tests a claimed gradient with no tolerance on
a step: a correct gradient leaves a remainder that shrinks like h**2, a wrong one like h.

This module holds the backend class, which picks the path; the paths live in
`adapters.high_precision` (mpmath) and `adapters.finite_difference` (float64), the check in
`adapters.taylor`. Their public names are re-exported here, so imports from this module
keep working.
"""

from __future__ import annotations

import math

import numpy as np

from .base import Backend, Result
from .finite_difference import (
    EPS,
    MAX_HESSIAN_ENTRIES,
    STEP_FIRST,
    STEP_SECOND,
    Flat,
    finite_differences,
    float_function,
)
from .high_precision import DIGITS, NotScalar, mpmath_derivatives, to_float64
from .taylor import (
    TAYLOR_FIT,
    TAYLOR_LOCAL,
    TAYLOR_MEASURED,
    TAYLOR_NOISE,
    TAYLOR_POWERS,
    TAYLOR_SLOPE,
    taylor_check,
)

__all__ = [
    "DIGITS", "EPS", "MAX_DIFFERENCED_ELEMENTS", "MAX_HESSIAN_ENTRIES", "STEP_FIRST", "STEP_SECOND",
    "TAYLOR_FIT", "TAYLOR_LOCAL", "TAYLOR_MEASURED", "TAYLOR_NOISE", "TAYLOR_POWERS",
    "TAYLOR_SLOPE",
    "Flat", "NotScalar", "NumericBackend", "flat_with_rounding_slope", "float_function",
    "linear_to_rounding", "quiet_at_small_steps",
    "taylor_check", "to_float64",
]


# Finite differences cost two evaluations of the case per input element (and the Hessian
# four per entry): beyond this many differentiated elements the oracle declines the case.
MAX_DIFFERENCED_ELEMENTS = 10_000


class NumericBackend(Backend):
    name = "numeric"
    description = "mpmath at 50 digits for scalar cases, else float64 central differences"

    def unsupported(self, case, dtype: str, order: int) -> str | None:
        size = sum(int(np.size(case.inputs[name])) for name in case.differentiated)
        if size > MAX_DIFFERENCED_ELEMENTS:
            return (f"numeric: case {case.name!r} has {size} input elements to differentiate; "
                    f"finite differences (2 evaluations each) stop at "
                    f"{MAX_DIFFERENCED_ELEMENTS}")
        return None

    def versions(self) -> dict[str, str]:
        import mpmath
        return {"mpmath": mpmath.__version__, "numpy": np.__version__}

    def _evaluate(self, case, dtype: str, order: int) -> Result:
        result = Result(self.name, case.name, dtype, order)
        reason = "array inputs or constants" if not case.is_scalar else None
        if reason is None:
            try:
                mpmath_derivatives(case, order, result)
            except Exception as error:  # noqa: BLE001 -- any failure falls back to float64
                reason = f"{type(error).__name__}: {error}"
        if reason is not None:
            result = Result(self.name, case.name, dtype, order)
            finite_differences(case, order, result)
            result.info["mpmath"] = f"not used: {reason}"
        if dtype != "float64":
            result.info["dtype"] = (f"{dtype} requested: the numbers are float64, the "
                                    "reference for every dtype")
        return result

    def taylor(self, case, grad: dict[str, np.ndarray], *, seed: int = 0) -> dict:
        """The Taylor-remainder test of a claimed gradient (see `taylor_check`), except that
        a jump of f within the probed steps (`quiet_at_small_steps`) and a rounding-level
        gradient of a flat f (`flat_with_rounding_slope`) are not taken for wrong ones."""
        check = taylor_check(case, grad, seed=seed)
        if not check["ok"] and quiet_at_small_steps(check):
            check = dict(check, ok=True, note=(
                f"{check['note']}; but the {TAYLOR_QUIET} smallest steps leave remainders at "
                "rounding level: f jumps or bends within the larger steps (a where switch, "
                "a branch cut), and near x the gradient is consistent"))
        elif not check["ok"] and flat_with_rounding_slope(check):
            check = dict(check, ok=True, note=(
                f"{check['note']}; but f is flat along v and <grad, v> = "
                f"{check['remainder'][0] / check['h'][0]:.2g} is rounding, within atol"))
        elif not check["ok"] and linear_to_rounding(check):
            check = dict(check, ok=True, note=(
                f"{check['note']}; but every remainder is below {TAYLOR_LINEAR:g} of "
                "h |<grad, v>|: f is linear along v, with no h^2 term to fit, and the "
                "remainders bound the gradient's relative error by that"))
        return check


TAYLOR_FLAT_SLOPE = 1e-12  # a directional derivative this small is rounding (float64 atol)


def flat_with_rounding_slope(check: dict) -> bool:
    """True when every remainder is h times one tiny constant: f does not move along v at
    all, and the claimed directional derivative <grad, v> is a rounding residue.

    Found by fuzzing: mean(log(t / t)) with t = tanh(0.25 + sigmoid(z)) is exactly 0, but the
    backward pass of t / t (1/t - t/t**2) leaves +-8e-18 in the gradient; the remainder is
    then h |<grad, v>| at every h, slope 1, and the floor (relative to |f| = 0) is 0.
    """
    steps, remainders = check.get("h", []), check.get("remainder", [])
    if not steps or not all(np.isfinite(remainders)):
        return False
    ratios = np.asarray(remainders) / np.asarray(steps)
    flat = np.allclose(ratios, ratios[0], rtol=1e-6, atol=0.0)
    return bool(flat and ratios[0] <= TAYLOR_FLAT_SLOPE)


TAYLOR_LINEAR = 1e-10  # remainders below this fraction of h |<grad, v>| confirm a gradient


def linear_to_rounding(check: dict) -> bool:
    """True when every remainder is below TAYLOR_LINEAR times the first-order term
    h |<grad, v>|: f is linear along v, so there is no h^2 to see, and a gradient wrong by a
    relative error above TAYLOR_LINEAR would leave at least that at every step.

    Found by fuzzing (fuzz-s23-790): log(exp(x)) at x = 0 is x, but exp(x) near 1 rounds by
    u absolutely, so the remainders are 7e-17 at every small step, above a rounding floor
    that is relative to |f| ~ h, and the fit gives slope 1.1.
    """
    steps, remainders = check.get("h", []), check.get("remainder", [])
    directional = abs(check.get("directional", math.nan))
    if not steps or not math.isfinite(directional) or directional == 0.0:
        return False
    ratios = np.asarray(remainders) / (np.asarray(steps) * directional)
    return bool(np.all(np.isfinite(ratios)) and np.max(ratios) <= TAYLOR_LINEAR)


TAYLOR_QUIET = 3  # smallest steps whose remainders must all be at rounding level


def quiet_at_small_steps(check: dict) -> bool:
    """True when the remainders counted by a failed Taylor run are all at the large steps
    and the TAYLOR_QUIET smallest steps are at rounding level.

    Found by fuzzing: sum(atan2(y, y)) at y = (0.25, 0.0017, 0.24) is pi/4 per element, flat,
    with gradient 0; but the steps 2**-4 .. 2**-8 move y[1] below 0, where atan2(y, y) jumps
    to -3 pi / 4, so those remainders are pi whatever the gradient, and the fit over them
    has slope 0. A wrong gradient leaves r ~ h |<error, v>| down to the smallest step
    (2**-20): quiet there, its error would be below 1e-7 of |f|, which the comparison with
    the reference catches.
    """
    remainders, floors = check.get("remainder", []), check.get("floor", [])
    tail = list(zip(remainders, floors, strict=False))[-TAYLOR_QUIET:]
    if len(tail) < TAYLOR_QUIET or not check.get("fitted"):
        return False
    return all(np.isfinite(r) and r <= floor for r, floor in tail)
