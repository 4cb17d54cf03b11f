"""`refad grad EXPR NAME=VALUE ...`: one expression through the backends, compared."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .usage import UsageError, checked_case, parse_assignments


def run_grad(args) -> int:
    from refad.reports.compare import is_disagreement, worst_status
    from refad.reports.runner import evaluate_case, resolve_backends

    values = parse_assignments(args.values)
    case = checked_case(args.expr, values)
    try:
        backends = resolve_backends(args.backend)
    except ValueError as error:
        raise UsageError(str(error)) from None
    done = evaluate_case(case, backends, [args.dtype], args.order)
    statuses = {}
    for result in done.results:
        rows = [r for r in done.rows if r["backend"] == result.backend
                and r["dtype"] == result.dtype]
        statuses[(result.backend, result.dtype)] = worst_status(rows)
    if args.json:
        print(json.dumps(_as_json(args, case, done, statuses), allow_nan=False))
    else:
        print(_as_table(args, case, done, statuses))
    return 1 if any(is_disagreement(row) for row in done.rows) else 0


def _quantities_json(case, quantities: dict[str, Any]) -> dict[str, Any]:
    """value / grad / hessian (symmetric, nested by input) from a quantity mapping."""
    from refad.reports.writers import json_ready

    names = list(case.differentiated)
    out: dict[str, Any] = {"value": json_ready(quantities.get("value")), "grad": {},
                           "hessian": {}}
    for name in names:
        if f"d/d{name}" in quantities:
            out["grad"][name] = json_ready(quantities[f"d/d{name}"])
    for i, a in enumerate(names):
        for b in names[i:]:
            block = quantities.get(f"d2/d{a}d{b}")
            if block is None:
                continue
            out["hessian"].setdefault(a, {})[b] = json_ready(block)
            if a != b:                  # the lower triangle, by symmetry
                mirrored = _transpose_block(np.asarray(block), np.shape(case.inputs[a]),
                                            np.shape(case.inputs[b]))
                out["hessian"].setdefault(b, {})[a] = json_ready(mirrored)
    if not out["hessian"]:
        del out["hessian"]
    return out


def _transpose_block(block: np.ndarray, a_shape: tuple, b_shape: tuple) -> np.ndarray:
    """d2/dadb (a_shape + b_shape) -> d2/dbda (b_shape + a_shape)."""
    na, nb = len(a_shape), len(b_shape)
    return np.transpose(block, list(range(na, na + nb)) + list(range(na)))


def _as_json(args, case, done, statuses) -> dict[str, Any]:
    from refad.reports.writers import json_ready

    results = []
    for result in done.results:
        entry = {"backend": result.backend, "dtype": result.dtype,
                 "status": statuses[(result.backend, result.dtype)], "mode": result.mode}
        entry.update(_quantities_json(case, result.quantities()))
        entry["error"] = result.error
        if result.info.get("formula"):
            entry["formula"] = result.info["formula"]
        results.append(entry)
    reference = _quantities_json(case, done.reference.values)
    reference["source"] = done.reference.sources
    return {"expr": args.expr, "inputs": json_ready(dict(case.inputs)), "dtype": args.dtype,
            "order": args.order, "results": results, "reference": reference}


def _format(value: Any) -> str:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        return repr(float(array))
    return np.array2string(array, precision=17, separator=", ", max_line_width=200)


def _as_table(args, case, done, statuses) -> str:
    quantities = ["value"] + [f"d/d{n}" for n in case.differentiated]
    if args.order >= 2:
        names = case.differentiated
        quantities += [f"d2/d{a}d{b}" for i, a in enumerate(names) for b in names[i:]]
    header = ["backend", "status"] + quantities
    table = [header]
    for result in done.results:
        found = result.quantities()
        status = statuses[(result.backend, result.dtype)]
        if result.status != "ok":
            table.append([result.backend, status, result.error or ""])
            continue
        table.append([result.backend, status] + [_format(found[q]) if q in found else "-"
                                                 for q in quantities])
    ref = done.reference
    table.append(["reference", "/".join(sorted(set(ref.sources.values())))]
                 + [_format(ref.values[q]) if q in ref.values else "-" for q in quantities])
    widths = [max(len(row[i]) for row in table if i < len(row)) for i in range(len(header))]
    inputs = ", ".join(f"{k}={_format(v)}" for k, v in case.inputs.items())
    lines = [f"{args.expr}   at {inputs}   ({args.dtype}, order {args.order})", ""]
    for row in table:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    for result in done.results:
        for quantity, formula in (result.info.get("formula") or {}).items():
            if quantity != "value":
                lines.append(f"{result.backend}: {quantity} = {formula}")
    return "\n".join(lines)
