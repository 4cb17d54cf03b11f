"""The self-contained HTML report: verdict, disagreements, conventions, then every case.

`render_html` turns the tidy rows into what the template shows, in the design's order: the
verdict first, then every disagreement, then the conventions at kinks side by side, then each
case with its graph (forward values, gradients in amber) and its rows, then the metadata.
The page has inline CSS only: no script, no font, no link to anything, so it opens from disk.
Numbers are printed with enough digits to round-trip (17 for float64, 9 for float32).
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from .compare import COLUMNS, DISAGREEMENT, FRAMEWORKS, ORACLES, STATUSES, is_disagreement
from .graph_svg import case_figure

TEMPLATES = Path(__file__).parent / "templates"
SMALL_GRAPH = 10                # a case whose graph has at most this many nodes starts open


def render_html(rows: Any, metadata: dict[str, Any], cases: list[Any]) -> str:
    """Render the report page.

    Args:
        rows: a pandas DataFrame or a list of dicts with the columns of `reports.compare`.
        metadata: created, command, versions, platform, tolerances, seconds_per_backend, ...
        cases: the Case objects the rows are about (for graphs, notes, expressions, inputs).
    Returns:
        The whole HTML document as a string.
    """
    import jinja2
    from markupsafe import Markup

    records = _records(rows)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=format_number, err=format_error, ulp=format_ulp)
    sections = _case_sections(records, cases)
    for family in sections:
        for section in family["cases"]:
            if section["case"] is None:
                continue
            svg, size = case_figure(section["case"])
            section["svg"] = Markup(svg)            # every text in it was escaped when drawn
            section["open"] = section["troubled"] or 0 < size <= SMALL_GRAPH
    return env.get_template("report.html.j2").render(
        verdict=_verdict(records, cases),
        disagreements=_disagreements(records),
        known=_known(records),
        conventions=_conventions(records, cases),
        families=sections,
        metadata=metadata,
        statuses=STATUSES,
    )


def _records(rows: Any) -> list[dict[str, Any]]:
    """Rows as plain dicts with every column present (numpy scalars made Python)."""
    if hasattr(rows, "to_dict"):
        rows = rows.to_dict("records")
    records = []
    for row in rows:
        record = {column: row.get(column, "") for column in COLUMNS}
        for key, value in record.items():
            if isinstance(value, np.generic):
                record[key] = value.item()
            if key in _TEXT_COLUMNS and not isinstance(record[key], str):
                record[key] = "" if _missing(record[key]) else str(record[key])
        records.append(record)
    return records


_TEXT_COLUMNS = ("case", "family", "backend", "dtype", "quantity", "index", "reference_source",
                 "status", "known", "mode", "detail")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_number(value: Any, dtype: str = "float64") -> str:
    """A result or reference with round-trip precision; NaN and infinities as nan, inf, -inf."""
    if value is None or value == "":
        return ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number) or math.isinf(number):
        return _non_finite(number)
    digits = 9 if dtype == "float32" else 17
    return f"{number:.{digits}g}"


def format_error(value: Any) -> str:
    """An error measure: three significant digits ("" when it was not measured)."""
    if value is None or value == "":
        return ""
    number = float(value)
    if math.isnan(number):
        return ""
    return _non_finite(number) if math.isinf(number) else f"{number:.3g}"


def format_ulp(value: Any) -> str:
    """A distance in ULPs: an integer while it is one, else three significant digits."""
    text = format_error(value)
    if text and not math.isinf(float(value)) and float(value) < 1e15:
        return f"{float(value):.0f}"
    return text


def _non_finite(number: float) -> str:
    if math.isnan(number):
        return "nan"
    return "inf" if number > 0 else "-inf"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _verdict(records: list[dict], cases: list[Any]) -> dict[str, Any]:
    """The first line of the page, and the count of rows per status."""
    names = {r["case"] for r in records} | {c.name for c in cases}
    backends = {r["backend"] for r in records}
    dtypes = {r["dtype"] for r in records}
    counts = Counter(r["status"] for r in records)
    bad = [r for r in records if is_disagreement(r)]
    known = [r for r in records if r["status"] in DISAGREEMENT and r.get("known")]
    scope = (f"{_plural(len(names), 'case')} × {_plural(len(backends), 'backend')} × "
             f"{_plural(len(dtypes), 'dtype')}")
    outcome = "all agree" if not bad else _plural(len(bad), "disagreement")
    if bad:
        outcome += f" in {_plural(len({r['case'] for r in bad}), 'case')}"
    if known:
        outcome += (f"; {_plural(len(known), 'known disagreement')} (documented in "
                    f"{_plural(len({r['case'] for r in known}), 'case')})")
    ordered = [(s, counts[s]) for s in STATUSES if counts[s]]
    ordered += [(s, n) for s, n in counts.items() if s not in STATUSES]
    return {"line": f"{scope}: {outcome}", "agree": not bad, "counts": ordered,
            "rows": len(records)}


def _backend_rank(backend: str) -> tuple[int, str]:
    order = FRAMEWORKS + ORACLES
    return (order.index(backend) if backend in order else len(order), backend)


def _row_key(row: dict) -> tuple:
    return (_backend_rank(row["backend"]), row["dtype"] != "float64", row["dtype"],
            _quantity_rank(row["quantity"]))


def _quantity_rank(quantity: str) -> tuple[int, str]:
    if quantity == "value":
        return (0, "")
    return (2 if str(quantity).startswith("d2") else 1, str(quantity))


def _disagreements(records: list[dict]) -> list[dict]:
    """Every disagreement that fails the verdict."""
    bad = [r for r in records if is_disagreement(r)]
    return sorted(bad, key=lambda r: (r["case"], _row_key(r)))


def _known(records: list[dict]) -> list[dict]:
    """Known disagreements, one line per case and reason: which backends, how many rows."""
    groups: dict[tuple[str, str], dict] = {}
    for r in records:
        if r["status"] in DISAGREEMENT and r.get("known"):
            group = groups.setdefault((r["case"], r["known"]),
                                      {"case": r["case"], "reason": r["known"], "rows": 0,
                                       "backends": []})
            group["rows"] += 1
            if r["backend"] not in group["backends"]:
                group["backends"].append(r["backend"])
    return list(groups.values())


def _conventions(records: list[dict], cases: list[Any]) -> dict[str, Any]:
    """One row per (kink case, quantity): each framework's value and the exact one."""
    kinks = [c.name for c in cases if "kink" in getattr(c, "tags", ())]
    kinks += [r["case"] for r in records if r["status"] == "convention"]
    kinks = list(dict.fromkeys(kinks))
    notes = {c.name: c.note for c in cases}
    chosen = [r for r in records if r["case"] in kinks and r["quantity"]]
    backends = sorted({r["backend"] for r in chosen if r["backend"] not in ORACLES},
                      key=_backend_rank)
    lines = []
    for name in kinks:
        own = [r for r in chosen if r["case"] == name]
        dtypes = [r["dtype"] for r in own]
        dtype = "float64" if "float64" in dtypes else (dtypes[0] if dtypes else "")
        own = [r for r in own if r["dtype"] == dtype]
        quantities = sorted({r["quantity"] for r in own}, key=_quantity_rank)
        for quantity in quantities:
            here = [r for r in own if r["quantity"] == quantity]
            if not quantity.startswith("d") and all(r["status"] != "convention" for r in here):
                continue                    # conventions are about derivatives
            cells = {}
            for r in here:
                cells.setdefault(r["backend"], r)
            exact = cells.get("sympy")
            if exact is None:
                exact = next((r for r in here if r["reference_source"] == "exact"), None)
                exact = exact and dict(exact, result=exact["reference"], status="")
            lines.append({"case": name, "quantity": quantity, "dtype": dtype, "note":
                          notes.get(name, ""), "cells": cells, "exact": exact})
    return {"backends": backends, "lines": lines}


def _case_sections(records: list[dict], cases: list[Any]) -> list[dict]:
    """Cases grouped by family (catalogue order), each with its sorted rows."""
    by_case: dict[str, list[dict]] = {}
    for r in records:
        by_case.setdefault(r["case"], []).append(r)
    known = {c.name for c in cases}
    entries = [(c.name, c.family, c) for c in cases]
    entries += [(name, rows[0]["family"], None) for name, rows in by_case.items()
                if name not in known]
    families: dict[str, list[dict]] = {}
    for name, family, case in entries:
        rows = sorted(by_case.get(name, []), key=_row_key)
        troubled = any(r["status"] in DISAGREEMENT for r in rows)
        families.setdefault(family, []).append({
            "name": name, "case": case, "rows": rows, "svg": "",
            "open": troubled, "troubled": troubled,
            "statuses": sorted(Counter(r["status"] for r in rows).items()),
            "inputs": _inputs(case), "tags": ", ".join(getattr(case, "tags", ()) or ()),
        })
    return [{"name": family, "cases": members} for family, members in families.items()]


def _inputs(case: Any) -> list[tuple[str, str]]:
    """Each input as (name, text): a float with full precision, an array's shape and start."""
    if case is None:
        return []
    shown = []
    for name, value in {**case.inputs, **getattr(case, "constants", {})}.items():
        array = np.asarray(value, dtype=np.float64)
        if array.ndim == 0:
            shown.append((name, format_number(float(array))))
            continue
        flat = ", ".join(format_number(v) for v in array.ravel()[:4].tolist())
        more = ", …" if array.size > 4 else ""
        shown.append((name, f"array{array.shape}: [{flat}{more}]"))
    return shown
