"""The Taylor-remainder check of a claimed gradient (`taylor_check`).

It needs no tolerance on a step: along a random direction, a correct gradient leaves a
remainder that shrinks like h**2, a wrong one like h, so the check reads the slope of the
remainder against h on a log-log scale. `NumericBackend.taylor` is the same check.
"""

from __future__ import annotations

import math

import numpy as np

from .finite_difference import EPS, float_function

TAYLOR_POWERS = range(4, 21)  # h = 2**-k, k = 4..20
TAYLOR_NOISE = 1e3  # a remainder counts when above TAYLOR_NOISE * eps * |f| ...
TAYLOR_MEASURED = 10  # ... and above 10 times the remainder measured at h = 2**-48..2**-52
TAYLOR_FIT = 6  # the fit uses at most this many of the smallest counted h
TAYLOR_SLOPE = 1.8  # a fitted slope above this passes ...
TAYLOR_LOCAL = 1.5  # ... when no step-to-step slope among the fitted points is below this


def taylor_check(case, grad: dict[str, np.ndarray], *, seed: int = 0) -> dict:
    """The Taylor-remainder test of a claimed gradient: no tolerance on any step.

    Along a random unit direction v (seeded; over all differentiated inputs at once),
    r(h) = |f(x + h v) - f(x) - h <grad, v>| for h = 2**-k, k = 4..20, with f evaluated in
    float64 through refad. Taylor's theorem makes r = O(h**2) when the gradient is right and
    ~ h |<error, v>| when it is wrong, so the slope of log r against log h is 2 or 1.

    Only remainders above rounding noise count: above 1e3 * eps * max(|f(x)|, |f(x + h v)|,
    |h <grad, v>|) and above 10 times the largest remainder at h = 2**-48..2**-52 (a
    few ulps of x, where any remainder is rounding: this catches an f that cancels, like
    log(1 + x) at x = 1e-10). The slope is a least-squares fit over the (at most 6) smallest
    counted h, the asymptotic end, where a wrong gradient shows slope 1 even when its error
    is small next to the curvature. `ok`: slope > 1.8 (pre-asymptotic terms may pull 2 down a
    little; a vanishing curvature along v gives 3) and no step-to-step slope below 1.5 (where
    the error and curvature terms cancel, r dips and a wrong gradient can fit slope > 2), or
    fewer than 3 remainders above noise (f linear along v, or a gradient right to rounding:
    nothing to fit).

    Steps of 2**-k are lost in the rounding of x = 1e30 and jump over the singularity next
    to x = 1e-300. So unless this absolute run passes with a fit, a second run scales v by
    |x_i| (1 where x_i = 0): relative steps. A fitted pass of either run passes; otherwise
    the run with a fit reports (both at rounding level: ok, nothing to fit). At a kink
    inside the probed range even a conventional gradient gives slope ~1; a non-finite f(x)
    or gradient cannot be checked; and an f that float64 computes with a large relative
    error (sqrt(x + 1) - sqrt(x) at 1e12) makes its float64 gradient fail, rightly.

    Args:
        case: the case (duck-typed `Case`); grad: input name -> claimed gradient, shaped
            like the input, for every name in `case.differentiated`; seed: of the direction.

    Returns:
        {"slope", "ok", "h", "remainder", "floor", "fitted" (the h used), "local_min"
        (the smallest step-to-step slope among them), "steps"
        ("absolute" or "relative"), "note"} of the deciding run; when a relative run was
        made, "first" holds the absolute run.
    """
    f, flat = float_function(case)
    x = flat.point
    g = flat.join(grad, "gradient")
    unit = np.random.default_rng(seed).standard_normal(x.size)
    unit /= max(np.linalg.norm(unit), np.finfo(float).tiny)
    absolute = _taylor_run(f, x, g, unit, "absolute")
    if absolute["ok"] and absolute["fitted"]:
        return absolute
    scale = np.where((x != 0) & np.isfinite(x), np.abs(x), 1.0)
    if np.all(scale == 1.0):
        return absolute
    relative = _taylor_run(f, x, g, unit * scale, "relative")
    relative["first"] = absolute
    if relative["ok"] and relative["fitted"]:
        return relative
    if absolute["ok"] and relative["ok"]:
        return absolute  # both at rounding level: nothing to fit either way
    return absolute if absolute["fitted"] or not relative["fitted"] else relative


def _taylor_run(f, x: np.ndarray, g: np.ndarray, direction: np.ndarray, steps: str) -> dict:
    """One Taylor-remainder run along `direction` (see `taylor_check`)."""
    f0 = f(x)
    with np.errstate(all="ignore"):
        slope_term = float(g @ direction)

    def remainder(step: float) -> tuple[float, float]:
        moved = f(x + step * direction)
        scale = max(abs(f0), abs(moved), abs(step * slope_term))
        return abs(moved - f0 - step * slope_term), TAYLOR_NOISE * EPS * scale

    report = {"slope": math.nan, "ok": False, "h": [], "remainder": [], "floor": [],
              "fitted": [], "steps": steps, "note": "", "directional": slope_term}
    if not (math.isfinite(f0) and math.isfinite(slope_term)):
        report["note"] = f"f(x) = {f0} and <grad, v> = {slope_term}: not finite"
        return report
    noise = max(remainder(sign * 2.0 ** -k)[0] for k in range(48, 53) for sign in (1, -1))
    for k in TAYLOR_POWERS:
        r, floor = remainder(2.0 ** -k)
        report["h"].append(2.0 ** -k)
        report["remainder"].append(r)
        report["floor"].append(max(floor, TAYLOR_MEASURED * noise))
    h, r = report["h"], report["remainder"]
    counted = [i for i, floor in enumerate(report["floor"]) if math.isfinite(r[i]) and r[i] > floor]
    if len(counted) < 3:
        report["ok"] = True
        report["note"] = (f"{len(counted)} of {len(h)} remainders above rounding noise: nothing "
                          "to fit (f linear along v, or a gradient right to rounding)")
        return report
    fitted = counted[-TAYLOR_FIT:]
    log_h, log_r = np.log([h[i] for i in fitted]), np.log([r[i] for i in fitted])
    slope = float(np.polyfit(log_h, log_r, 1)[0])
    # Where the error term h <error, v> and the curvature term cancel, r dips and the fitted
    # slope can exceed 2 for a wrong gradient: every step-to-step slope must be near 2 too.
    steepest_drop = float(np.min(np.diff(log_r) / np.diff(log_h)))
    report.update(slope=slope, ok=slope > TAYLOR_SLOPE and steepest_drop > TAYLOR_LOCAL,
                  fitted=[h[i] for i in fitted], local_min=steepest_drop)
    verdict = "second order: gradient consistent" if report["ok"] else "below 2: gradient wrong"
    report["note"] = f"slope {slope:.2f} over {len(fitted)} {steps} steps; {verdict}"
    return report
