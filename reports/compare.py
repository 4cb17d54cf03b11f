"""`compare()`: one case's results from every backend, against one reference, as tidy rows.

The report runner and the pytest parity suite both call this function, so a CSV row and a
test result can never disagree.

The reference for each quantity (value, d/dx, d2/dxdy) is, in order of preference:
1. `exact`: the symbolic oracle (sympy), evaluated at high precision and rounded once;
2. `mpmath`: high-precision numerical differentiation;
3. `consensus`: the elementwise median of the float64 framework results (refad, torch, jax),
   the weaker kind: it tells whether frameworks agree, not whether they are right.
The reference is rounded to each row's dtype before comparing, so a float32 `exp(100)` that
overflows to inf agrees with a reference that is inf in float32.

A row is `ok` when |result - reference| <= tol at every element (NaN equals NaN, +inf
equals +inf); `nan-mismatch` when one side is NaN and the other is not; `mismatch` otherwise,
except at a kink (a case tagged `kink`, where the derivative does not exist and frameworks
legitimately choose), where it is a `convention`.

The allowed error `tol`: in float64, atol + rtol * |reference| (`TOLERANCES`, widened by a
case's `rtol`), or the same rounding-error model with float64's unit roundoff where that is
larger (only where terms cancel: a second derivative of 1e4-sized terms summing to 0). In
float32, the case's own rounding-error bound (`reports/tolerance.py`:
derived from float32's epsilon and the case's conditioning, per quantity and element) times
a calibrated safety factor, plus 2 ULPs; the row's `bound` column holds the bound, its `tol`
the allowance, and its `rtol`/`atol` re-express that allowance at the reported element
(rtol = tol / |reference|, atol = 0; at a zero reference rtol = 0, atol = tol). Where the
model cannot be evaluated a float32 row falls back to the flat rtol/atol, and says so.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import tolerance as model

# Tolerances per dtype. float64: a few hundred ULPs of slack for different libm's and
# formula orders, far below any real bug. float32 is judged by the rounding-error model of
# `reports/tolerance.py`; its flat rtol/atol (~800 ULPs) are the fallback where the model
# cannot be evaluated.
TOLERANCES: dict[str, dict[str, Any]] = {
    "float64": {"rtol": 1e-10, "atol": 1e-12},
    "float32": {"rtol": 1e-4, "atol": 1e-6, **model.describe()},
}
# A finite-difference estimate is itself only good to ~eps^(2/3) (central differences).
# Second differences are worse (eps^(1/2) relative to |f|): atol 1e-6 covers both.
FINITE_DIFFERENCE_TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}

FRAMEWORKS = ("refad", "torch", "jax", "jax-jit")
ORACLES = ("sympy", "numeric")
ORACLE_PREFERENCE = (("sympy", "exact"), ("numeric", "mpmath"))
STATUSES = ("ok", "mismatch", "nan-mismatch", "convention", "error", "unsupported")
COLUMNS = ("case", "family", "backend", "dtype", "order", "quantity", "index", "result",
           "reference", "reference_source", "abs_err", "rel_err", "ulp", "status", "known",
           "mode", "seconds", "rtol", "atol", "detail", "tol", "bound")
DISAGREEMENT = ("mismatch", "nan-mismatch", "error")


@dataclass
class Reference:
    """The reference value of each quantity and where it came from."""

    values: dict[str, np.ndarray]
    sources: dict[str, str]


def choose_reference(results: Iterable[Any]) -> Reference:
    """Pick, per quantity, the best available reference among `results` (see module doc)."""
    results = [r for r in results if r.status == "ok"]
    values: dict[str, np.ndarray] = {}
    sources: dict[str, str] = {}
    for backend, source in ORACLE_PREFERENCE:
        for result in results:
            if result.backend != backend or (source == "mpmath" and result.mode != "mpmath"):
                continue
            for quantity, value in result.quantities().items():
                if quantity not in values:
                    values[quantity] = np.asarray(value, dtype=np.float64)
                    sources[quantity] = source
    float64 = [r for r in results if r.backend in FRAMEWORKS and r.dtype == "float64"]
    for quantity in {q for r in float64 for q in r.quantities()}:
        if quantity in values:
            continue
        stack = [np.asarray(r.quantities()[quantity], dtype=np.float64)
                 for r in float64 if quantity in r.quantities()]
        values[quantity] = _median(stack)
        sources[quantity] = "consensus" if len(stack) > 1 else "single"
    return Reference(values, sources)


def _median(stack: list[np.ndarray]) -> np.ndarray:
    """Elementwise median of the results; NaN where most of them are NaN (NaN equals NaN)."""
    if len(stack) == 1:
        return stack[0]
    if len(stack) == 3:                     # refad, torch, jax: the usual consensus
        return _median_of_three(*stack)
    data = np.stack(stack)
    mostly_nan = np.isnan(data).sum(axis=0) * 2 > len(stack)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # all-NaN slices
        median = np.nanmedian(data, axis=0)
    return np.where(mostly_nan, np.nan, median)


def _median_of_three(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """`_median` of three arrays without stacking them (a 10^7-element gradient would need
    three more copies): min/max where none is NaN, the mean of the other two where one is."""
    with np.errstate(invalid="ignore", over="ignore"):
        median = np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))
        for nan, (x, y) in ((np.isnan(a), (b, c)), (np.isnan(b), (a, c)), (np.isnan(c), (a, b))):
            if nan.any():
                median = np.where(nan, x / 2 + y / 2, median)    # NaN if x or y is NaN too
    return median


def detected_kink(results: Iterable[Any]) -> str:
    """What the numerical oracle says when a derivative moves with its step (a kink)."""
    for result in results:
        if result.backend == "numeric" and result.status == "ok" and result.info.get("kink"):
            return f"numeric oracle: {result.info['kink']}"
    return ""


def compare(case: Any, results: Iterable[Any], reference: Reference | None = None,
            kink: str = "") -> list[dict]:
    """Rows (dicts with `COLUMNS`) comparing every result of `case` with the reference.

    Args:
        case: the Case (its name, family, tags, rtol are used).
        results: `adapters.Result` objects for this case, any backends and dtypes.
        reference: a precomputed reference; by default chosen from `results`.
        kink: why the point is a kink though the case is not tagged so (for instance
            `detected_kink(...)`), or "".
    """
    results = list(results)
    reference = reference or choose_reference(results)
    kink = kink or detected_kink(results)
    bounds = _bounds(case, results)
    rows = []
    for result in results:
        base = {"case": case.name, "family": case.family, "backend": result.backend,
                "dtype": result.dtype, "order": result.order, "mode": result.mode,
                "seconds": result.seconds}
        tolerance = tolerance_for(case, result)
        if result.status != "ok":
            rows.append(_empty_row(base, tolerance, result.status, result.error or ""))
            continue
        for quantity, value in result.quantities().items():
            row = dict(base, quantity=quantity, **tolerance)
            ref = reference.values.get(quantity)
            row["reference_source"] = reference.sources.get(quantity, "none")
            bound, why_not = None, ""
            if bounds is not None:
                bound = bounds.get(quantity, result.dtype)
                if bound is None and result.dtype == "float32":
                    why_not = bounds.why_not(quantity)
            row.update(compare_values(value, ref, result.dtype, tolerance, bound=bound))
            if why_not and (not row["detail"] or row["status"] == "nan-mismatch"):
                row["detail"] = f"flat float32 tolerance: {why_not}"
            rows.append(classify(case, row, kink))
    return rows


def _bounds(case: Any, results: list[Any]) -> model.Bounds | None:
    """The rounding-error bounds of the case's quantities, if a framework row needs them."""
    orders = [r.order for r in results if r.backend in FRAMEWORKS and r.status == "ok"]
    if not orders:
        return None
    return model.bounds_for(case, max(orders))


def classify(case: Any, row: dict, kink: str = "") -> dict:
    """Refine a disagreement: a `convention` at a kink, or `known` where the case says so.

    A kink excuses derivatives, which do not exist there, not the value: max(x, y) at a tie
    has one value whatever is done with its gradient. Only a case tagged `value-convention`
    (atan2(0, 0): 0 in IEEE arithmetic, undefined for the exact oracle) excuses its value.
    """
    row.setdefault("known", "")
    if row["status"] not in ("mismatch", "nan-mismatch"):
        return row
    known = known_reason(case, row["backend"])
    if row.get("quantity") == "value" and "value-convention" not in getattr(case, "tags", ()):
        kink = ""
        if case_is_kink(case):
            row["known"] = known
            return row
    if case_is_kink(case) or (kink and not known):
        row["status"] = "convention"
        row["detail"] = case.note if case_is_kink(case) else kink
    else:
        row["known"] = known
    return row


def case_is_kink(case: Any) -> bool:
    return "kink" in getattr(case, "tags", ())


def known_reason(case: Any, backend: str) -> str:
    """Why `backend` is known to disagree on `case` ("" when it is not)."""
    known = getattr(case, "known", None) or {}
    if backend in known:
        return known[backend]
    if "*" in known and backend in FRAMEWORKS:
        return known["*"]
    return ""


def is_disagreement(row: dict) -> bool:
    """A row that fails the verdict: a mismatch, a NaN mismatch or an error, not known."""
    return row["status"] in DISAGREEMENT and not row.get("known")


def tolerance_for(case: Any, result: Any) -> dict[str, float]:
    """The flat tolerance of a row: per dtype, widened for finite differences or by the case.

    A float32 row judged by the rounding-error model replaces it (and ignores the case's
    `rtol`, which the model's conditioning makes unnecessary).
    """
    tolerance = {key: TOLERANCES[result.dtype][key] for key in ("rtol", "atol")}
    if result.mode == "finite-difference":
        tolerance = {k: max(tolerance[k], v) for k, v in FINITE_DIFFERENCE_TOLERANCE.items()}
    if getattr(case, "rtol", None):
        tolerance["rtol"] = max(tolerance["rtol"], case.rtol)
    return tolerance


def _empty_row(base: dict, tolerance: dict, status: str, detail: str) -> dict:
    row = dict(base, quantity="", index="", result=np.nan, reference=np.nan,
               reference_source="", abs_err=np.nan, rel_err=np.nan, ulp=np.nan,
               status=status, known="", detail=detail, tol=np.nan, bound=np.nan)
    row.update(tolerance)
    return row


def compare_values(value: Any, reference: Any, dtype: str, tolerance: dict[str, float],
                   bound: Any = None) -> dict[str, Any]:
    """Compare one quantity elementwise; report the worst element.

    Args:
        tolerance: the flat rule, {"rtol", "atol"}.
        bound: the rounding-error bound per element (`reports/tolerance.py`), shaped like
            the reference: in float32 it replaces the flat rule; in float64 it widens the
            flat rule where rounding alone can exceed it (terms cancelling to 0).

    Returns the row fields: index, result, reference, abs_err, rel_err, ulp, status, detail,
    tol and bound (and, under the model, rtol and atol re-expressing tol).
    """
    result = np.asarray(value, dtype=np.float64)
    missing = {"abs_err": np.nan, "rel_err": np.nan, "ulp": np.nan, "tol": np.nan,
               "bound": np.nan}
    if reference is None:
        return {"index": "", "result": _scalar(result), "reference": np.nan, **missing,
                "status": "ok", "detail": "no reference"}
    ref = np.asarray(reference, dtype=np.float64)
    if ref.shape != result.shape:
        return {"index": "", "result": _scalar(result), "reference": _scalar(ref), **missing,
                "status": "mismatch",
                "detail": f"shape {result.shape} but the reference has shape {ref.shape}"}
    if bound is not None and np.shape(bound) != ref.shape:
        bound = None                        # cannot happen for catalogue cases; be safe
    with np.errstate(all="ignore"):
        ref = ref.astype(dtype).astype(np.float64)      # the reference in the row's dtype
        same = (result == ref) | (np.isnan(result) & np.isnan(ref))
        abs_err = np.where(same, 0.0, np.abs(result - ref))
        rel_err = np.where(same, 0.0, abs_err / np.abs(ref))
        allowed = tolerance["atol"] + tolerance["rtol"] * np.abs(ref)
        if bound is not None and dtype == "float32":
            allowed = model.allowed_error(bound, ref, dtype)
        elif bound is not None:
            allowed = np.maximum(allowed, model.allowed_error(bound, ref, dtype))
        nan_mismatch = np.isnan(result) != np.isnan(ref)
        # inf vs -inf: the error is inf, and so is the allowance inf * rtol: not close.
        close = same | (np.isfinite(abs_err) & (abs_err <= allowed))
        # How far outside its tolerance each element is; the worst one is reported.
        score = np.where(same, 0.0, abs_err / allowed)
    score = np.where(nan_mismatch | np.isnan(score), np.inf, score)
    worst = np.unravel_index(int(np.argmax(score)), result.shape) if result.ndim else ()
    if nan_mismatch.any():
        status = "nan-mismatch"
    elif close.all():
        status = "ok"
    else:
        status = "mismatch"
    fields = {"index": _index_text(worst, result.ndim), "result": float(result[worst]),
              "reference": float(ref[worst]), "abs_err": float(np.max(abs_err)),
              "rel_err": float(np.max(rel_err)) if not np.isnan(rel_err).all() else np.nan,
              "ulp": ulp_distance(result[worst], ref[worst], dtype), "status": status,
              "detail": "", "tol": float(allowed[worst]), "bound": np.nan}
    if status == "nan-mismatch":            # which side is NaN, and what the other holds
        where = f" at {fields['index']}" if fields["index"] else ""
        fields["detail"] = (f"{fields['result']!r}{where} where the reference is "
                            f"{fields['reference']!r}")
    if bound is not None:
        fields["bound"] = float(np.asarray(bound)[worst])
        flat = tolerance["atol"] + tolerance["rtol"] * abs(fields["reference"])
        if dtype == "float32" or fields["tol"] > flat:      # the model decided this row
            fields.update(model.as_rtol_atol(fields["bound"], fields["tol"],
                                             fields["reference"]))
    return fields


def _scalar(array: np.ndarray) -> float:
    return float(array) if array.ndim == 0 else float(array.flat[0])


def _index_text(index: tuple, ndim: int) -> str:
    return "" if ndim == 0 else str(tuple(int(i) for i in index))


def ulp_distance(a: float, b: float, dtype: str) -> float:
    """How many representable numbers of `dtype` lie between a and b (NaN if either is NaN).

    Floats of one sign are ordered like their bit patterns read as integers, so the
    distance is a difference of integers once negative numbers are mirrored below zero.
    """
    kind = np.dtype(dtype)
    a, b = np.asarray(a, dtype=kind), np.asarray(b, dtype=kind)
    if np.isnan(a) or np.isnan(b):
        return np.nan
    if a == b:
        return 0.0
    unsigned = np.uint64 if kind == np.float64 else np.uint32
    sign = 1 << (kind.itemsize * 8 - 1)
    ordered = []
    for x in (a, b):
        bits = int(x.view(unsigned))
        ordered.append(-(bits - sign) if bits >= sign else bits)    # mirror negatives
    return float(abs(ordered[0] - ordered[1]))


def worst_status(rows: Iterable[dict]) -> str:
    """The most serious status among rows (for verdicts and exit codes)."""
    order = ("error", "nan-mismatch", "mismatch", "convention", "unsupported", "ok")
    found = {row["status"] for row in rows}
    for status in order:
        if status in found:
            return status
    return "ok"
