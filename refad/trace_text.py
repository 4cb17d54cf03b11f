"""The teaching trace as text: the tables `refad trace` prints and `Trace.to_text()` returns.

Every number is printed with all its digits (Python's shortest round trip), so a reader can
check it against PyTorch or a calculator; only arrays of more than a few elements are cut
short in the tables, to their shape and first elements (`--json` has them whole).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .node import Tensor

# The tables take `refad.trace.Trace` and `Pass` objects by their attributes: this module is
# imported by trace.py, so it names neither (no import back).
Trace = Pass = Any

TABLE_ELEMENTS = 2      # arrays in a table: shown whole up to this many elements


def format_value(value: Any, elements: int = 6) -> str:
    """A value as text, every digit kept: `2.5403023058681398`.

    Arrays of more than `elements` elements are cut to their shape and first elements:
    `(3, 4) [0.5, 1.0, ...]`.
    """
    data = value.data if type(value) is Tensor else value
    if data is None:
        return ""
    if type(data) is float:
        return repr(data)
    array = np.asarray(data)
    if array.ndim == 0:
        return str(array[()])       # a numpy scalar prints its shortest round trip
    if array.size <= elements:
        return _nested(array)
    first = ", ".join(str(v) for v in array.ravel()[:max(elements, 1)])
    return f"{tuple(array.shape)} [{first}, ...]"


def _nested(array: np.ndarray) -> str:
    if array.ndim == 0:
        return str(array[()])
    return "[" + ", ".join(_nested(row) for row in array) + "]"


def render(t: Trace) -> str:
    """The whole trace as text: forward table, backward steps, gradients, order 2, NaNs."""
    at = ", ".join(f"{k} = {format_value(v)}" for k, v in t.inputs.items()) or "no inputs"
    lines = [f"trace of {t.expr} at {at} ({t.dtype})", ""]
    lines += _forward_text(t.first, "forward pass: the inputs, then each operation in the "
                                    "order it ran")
    lines += _backward_text(t.first)
    lines += _gradient_text(t.first, t.analytic.get("gradients", {}), "gradients")
    if t.analytic.get("unavailable"):
        lines.append(f"  analytic: {t.analytic['unavailable']}")
    if t.second:
        lines += ["", "second derivatives: the backward pass above ran with create_graph=True, "
                      "so every VJP", "was recorded as operations of a graph. Each d/dx is a "
                      "node of that graph, and", "differentiating it is one more backward "
                      "pass, through that graph."]
    for p in t.second:
        lines += ["", f"{p.of} = {format_value(p.value)}"
                  + (f", node {p.output}" if p.output else "")]
        if p.output:
            lines += _forward_text(p, "the graph behind it (made by: the backward step that "
                                      "recorded the node)")
            lines += _backward_text(p)
        a = p.of[3:]
        exact = t.analytic.get("hessian", {}).get(a, {})
        title = f"Hessian row {a}" if np.ndim(p.value) == 0 else f"d sum({p.of}) / d input"
        lines += _gradient_text(p, exact, title)
    if t.nan_origin:
        origin = t.nan_origin
        lines += ["", f"NaN origin: the {origin['pass']} pass, node {origin['node']}",
                  f"  {origin['message']}"]
        for key, label in (("pytorch", "PyTorch, detect_anomaly()"), ("jax", "JAX, debug_nans")):
            if key in origin:
                lines.append(f"  {label}: {origin[key]}")
    return "\n".join(lines)


def _forward_text(p: Pass, title: str) -> list[str]:
    made = any(n.made_by for n in p.forward)
    header = ["node", "operation", "inputs", "value"] + (["made by"] if made else [])
    rows = []
    for n in p.forward:
        value = format_value(n.value, TABLE_ELEMENTS)
        if n.name == p.output:
            value += "  <- output"
        rows.append([n.name, n.op, ", ".join(n.inputs), value]
                    + ([n.made_by or "the forward pass"] if made else []))
    if not p.output:
        rows.append(["", "constant", "", format_value(p.value, TABLE_ELEMENTS) + "  <- output"])
    return [title] + table(header, rows)


def _backward_text(p: Pass) -> list[str]:
    if not p.backward:
        return []
    lines = ["", f"backward pass, in the order the engine ran it: upstream = d {p.output} / d "
                 "node;", "contribution = upstream x local derivative, added to the input's "
                 "total"]
    header = ["step", "node", "upstream", "to", "local derivative", "local value",
              "contribution", "total"]
    rows = []
    for s in p.backward:
        total = format_value(s.total, TABLE_ELEMENTS) + ("  *" if s.shared else "")
        rows.append([str(s.number), f"{s.node} {s.op}", format_value(s.upstream, TABLE_ELEMENTS),
                     s.input, s.formula, format_value(s.local_value, TABLE_ELEMENTS),
                     format_value(s.contribution, TABLE_ELEMENTS), total])
    lines += table(header, rows)
    ops = {n.name: n.op for n in p.forward}
    last = {s.input: s for s in p.backward}         # each input's final step
    for s in last.values():
        if s.shared:
            parts = " + ".join(f"{format_value(c)} (from {n} {ops[n]})" for n, c in s.paths)
            lines.append(f"  * {s.input} feeds {len(s.paths)} consumers: its gradient is the "
                         f"sum over paths, {parts} = {format_value(s.total)}")
    return lines


def _gradient_text(p: Pass, exact: dict[str, Any], title: str) -> list[str]:
    of = f"d {p.output} / d input" if p.output else "every derivative is 0"
    lines = ["", f"{title} ({of}):"]
    width = max((len(f"d/d{name} = {format_value(v)}") for name, v in p.gradients.items()),
                default=0)
    for name, value in p.gradients.items():
        line = f"  d/d{name} = {format_value(value)}".ljust(width + 2)
        if name in exact:
            same = np.array_equal(np.asarray(exact[name]["value"], dtype=float),
                                  np.asarray(value, dtype=float), equal_nan=True)
            line += (f"    analytic (sympy): {exact[name]['formula']} = "
                     f"{format_value(exact[name]['value'])}" + ("" if same else "  (differs)"))
        lines.append(line)
    if p.note:
        lines.append(f"  {p.note}")
    return lines


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Left-aligned columns, two spaces apart, indented by two."""
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    lines = []
    for row in [header] + rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append(("  " + "  ".join(cells)).rstrip())
    return lines
