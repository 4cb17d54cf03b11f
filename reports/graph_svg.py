"""A case's computational graph as an inline SVG: forward values, and gradients in amber.

`render_svg` draws a `Graph` (see `reports.case_graph`) left to right, inputs first and the
output last (layout in `reports.graph_layout`): each node is a rounded box with its operation
and forward value, each edge an arrow labelled with the gradient that flowed back along it,
each input's total gradient in an amber pill beneath it, and a node used by several consumers
outlined in amber with a "Σ n paths" badge. `case_svg` does both steps and never raises, so
one odd case cannot break a report.
"""

from __future__ import annotations

from html import escape
from typing import Any

import numpy as np

from .case_graph import Edge, Graph, Node, graph_of, summarize
from .graph_layout import MARGIN, Box, fit_ports, layout, ports

__all__ = ["AMBER", "Edge", "Graph", "Node", "case_figure", "case_svg", "graph_of", "render_svg",
           "summarize"]

AMBER = "#f59e0b"           # gradients, as in the textbook widget
AMBER_TEXT = "#b45309"      # amber that stays readable as text on white
CHAR_W = 6.7                # width of one character of the 11px monospace font
LABEL_CHAR_W = 6.1          # the same at 10px
COLUMN_GAP = 72             # the least room between columns (labels widen it)
CURVE_ROOM = 48             # the least horizontal room for an edge's bend between columns
MAX_TERMS = 3               # a shared node lists its paths' contributions up to this many
FONT = "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace"


def case_svg(case: Any, dtype: str = "float64", max_nodes: int = 60) -> str:
    """The case's graph as SVG; on any failure a small SVG that says what went wrong."""
    return case_figure(case, dtype, max_nodes)[0]


def case_figure(case: Any, dtype: str = "float64", max_nodes: int = 60) -> tuple[str, int]:
    """(SVG, number of nodes) for `case`; never raises (0 nodes when it could not be drawn)."""
    try:
        graph = graph_of(case, dtype)
        return render_svg(graph, max_nodes=max_nodes), len(graph.nodes)
    except Exception as error:  # noqa: BLE001 - a picture must never stop a report
        name = getattr(case, "name", "?")
        return _note_svg(f"graph of {name!r} not drawn: {type(error).__name__}: {error}"), 0


def _note_svg(text: str) -> str:
    text = text if len(text) <= 160 else text[:157] + "…"
    width = int(len(text) * CHAR_W) + 24
    return (f'<svg class="graph-note" width="{width}" height="28" viewBox="0 0 {width} 28" '
            f'role="img"><text x="12" y="18" font-family="{FONT}" font-size="11" '
            f'fill="#6b7280">{escape(text)}</text></svg>')


def _lines(node: Node, terms: str = "") -> list[str]:
    if node.kind == "const":
        value = summarize(node.value)
        return [value if node.label == "const" else f"{node.label} = {value}"]
    lines = [node.label, "= " + summarize(node.value)]
    if node.kind == "op" and node.grad is not None:
        lines.append("grad " + _total(node, terms))
        if terms:
            lines.append("= " + terms)
    return lines


def _pill(node: Node, terms: str = "") -> list[str]:
    """The amber total under an input; a shared input's second line is its sum over paths."""
    lines = [f"∂f/∂{node.label} = {_total(node, terms)}"]
    if terms:
        lines.append("= " + terms)
    return lines


def _total(node: Node, terms: str) -> str:
    """The gradient at a node; one digit more where its terms are shown beside it.

    2 + 0.5403 is 2.5403, which 4 digits would show as 2.54: the extra digit lets a reader
    who adds the terms find the total shown.
    """
    return summarize(node.grad, 5 if terms else 4)


def _path_terms(graph: Graph) -> dict[int, str]:
    """For a node whose gradient adds 2 to 3 scalar contributions: `2 + 0.5403`."""
    sent: dict[int, list] = {}
    for edge in graph.edges:
        if edge.grad is not None:
            sent.setdefault(edge.source, []).append(edge.grad)
    terms = {}
    for node_id, grads in sent.items():
        if not 2 <= len(grads) <= MAX_TERMS or any(np.ndim(g) for g in grads):
            continue
        text = summarize(grads[0])
        for grad in grads[1:]:
            shown = summarize(grad)
            text += f" - {shown[1:]}" if shown.startswith("-") else f" + {shown}"
        terms[node_id] = text
    return terms


def _size(node: Node, terms: str = "") -> Box:
    lines = _lines(node, terms)
    pill = _pill(node, terms) if node.is_input else []
    width = max(56.0, max(len(t) for t in lines + pill) * CHAR_W + 18)
    if node.kind == "const":
        return Box(w=width, h=20, box_h=20)
    box_h = 14.0 * len(lines) + 12
    below = 14.0 * len(pill) + 10 if pill else 0.0
    return Box(w=width, h=box_h + below, box_h=box_h)


def render_svg(graph: Graph, *, max_nodes: int = 60) -> str:
    """Draw `graph` as one self-contained `<svg>` element (no ids, no external resources).

    Args:
        graph: from `graph_of`.
        max_nodes: above this many nodes, return a short note instead of a drawing.
    Returns:
        The SVG text; every label is escaped. It has no `xmlns` (inline HTML needs none);
        `reports.picture.standalone_svg` makes a file of it.
    """
    if len(graph.nodes) > max_nodes:
        return _note_svg(f"The graph has {len(graph.nodes)} nodes (more than {max_nodes}): "
                         f"not drawn.")
    terms = _path_terms(graph)
    sizes = {node.id: _size(node, terms.get(node.id, "")) for node in graph.nodes}
    fit_ports(graph, sizes)
    boxes, chains, column = layout(graph, sizes)
    labels = {k: "← " + summarize(e.grad) for k, e in enumerate(graph.edges) if e.grad is not None}
    runs = _runs(graph, labels)
    n_columns = max(column.values()) + 1
    widths = [40.0] * n_columns
    gaps = [float(COLUMN_GAP)] * n_columns
    for node in graph.nodes:
        widths[column[node.id]] = max(widths[column[node.id]], boxes[node.id].w)
    for target, run in runs.items():
        c = column[target] - 1                  # the gap just left of the target
        if c >= 0:
            gaps[c] = max(gaps[c], run + CURVE_ROOM)
    lefts = [float(MARGIN)]
    for c in range(n_columns - 1):
        lefts.append(lefts[c] + widths[c] + gaps[c])
    for item, box in boxes.items():
        c = column[item]
        if item < len(graph.nodes):
            box.x = lefts[c] + (widths[c] - box.w) / 2
        else:
            box.x, box.w = lefts[c], widths[c]
    parts = [_edges(graph, boxes, chains, labels, runs)]
    parts += [_node(node, boxes[node.id], node.id == graph.output, terms.get(node.id, ""))
              for node in graph.nodes]
    width = lefts[-1] + widths[-1] + MARGIN
    height = max(box.y + box.h for box in boxes.values()) + MARGIN
    return (f'<svg class="graph" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" font-family="{FONT}" '
            f'font-size="11">' + "".join(parts) + "</svg>")


def _runs(graph: Graph, labels: dict[int, str]) -> dict[int, float]:
    """Per target, the straight stretch its arrows end with: room for the longest label.

    Each gradient label sits above the straight end of its own arrow, where arrows into one
    box are 18 px apart (`fit_ports`), so labels never sit on a bend or on each other.
    """
    runs: dict[int, float] = {}
    for k, edge in enumerate(graph.edges):
        width = len(labels[k]) * LABEL_CHAR_W + 10 if k in labels else 0.0
        runs[edge.target] = max(runs.get(edge.target, 12.0), width)
    return runs


def _edges(graph: Graph, boxes: dict[int, Box], chains: list[list[int]],
           labels: dict[int, str], runs: dict[int, float]) -> str:
    ends = ports(boxes, chains)
    paths, texts = [], []
    for k, (edge, chain) in enumerate(zip(graph.edges, chains, strict=True)):
        source, target = boxes[chain[0]], boxes[chain[-1]]
        tip_x, tip_y = target.x, ends[(k, "in")]
        points = [(source.x + source.w, ends[(k, "out")])]
        for waypoint in chain[1:-1]:
            box = boxes[waypoint]
            points += [(box.x, box.mid), (box.x + box.w, box.mid)]
        points += [(tip_x - 8 - runs[edge.target], tip_y), (tip_x - 7, tip_y)]
        d = f"M{points[0][0]:.1f},{points[0][1]:.1f}"
        for i in range(1, len(points)):
            (x1, y1), (x2, y2) = points[i - 1], points[i]
            if i % 2:                           # across a gap: a smooth S
                half = (x2 - x1) / 2
                d += f" C{x1 + half:.1f},{y1:.1f} {x2 - half:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
            else:                               # through a column, or the labelled end
                d += f" L{x2:.1f},{y2:.1f}"
        flows = edge.grad is not None
        colour = "#64748b" if flows else "#cbd5e1"
        if flows and graph.nodes[edge.source].shared:
            colour = AMBER                      # one of the paths that add up at the source
        title = f"input {edge.index} of {graph.nodes[edge.target].label}"
        if edge.local:
            title += f": local derivative {edge.local}"
        if flows:
            title += f"; gradient sent back {summarize(edge.grad, 8)}"
            texts.append(f'<text x="{tip_x - 10:.1f}" y="{tip_y - 4:.1f}" text-anchor="end" '
                         f'font-size="10" fill="{AMBER_TEXT}" stroke="#ffffff" '
                         f'stroke-width="3" paint-order="stroke">{escape(labels[k])}</text>')
        dashes = "" if flows else ' stroke-dasharray="4 3"'
        paths.append(
            f'<g><title>{escape(title)}</title><path d="{d}" fill="none" stroke="{colour}" '
            f'stroke-width="1.4"{dashes}/>'
            f'<polygon points="{tip_x:.1f},{tip_y:.1f} {tip_x - 8:.1f},{tip_y - 4:.1f} '
            f'{tip_x - 8:.1f},{tip_y + 4:.1f}" fill="{colour}"/></g>')
    return "".join(paths) + "".join(texts)


def _node(node: Node, box: Box, is_output: bool, terms: str = "") -> str:
    """One rounded box: label, forward value, gradient; inputs get the amber total below."""
    lines = _lines(node, terms)
    x, y, w, h = box.x, box.y, box.w, box.box_h
    if node.kind == "const":
        return (f'<g><title>{escape(node.title)}</title><rect x="{x:.1f}" y="{y:.1f}" '
                f'width="{w:.1f}" height="{h:.1f}" rx="6" fill="#f3f4f6" stroke="#9ca3af"/>'
                f'<text x="{x + w / 2:.1f}" y="{y + h / 2 + 4:.1f}" text-anchor="middle" '
                f'font-size="10" fill="#6b7280">{escape(lines[0])}</text></g>')
    fill = {"input": "#ecfdf5", "op": "#eef2ff"}[node.kind]
    stroke = {"input": "#059669", "op": "#6366f1"}[node.kind]
    width = 1.5
    if is_output:
        stroke, width = "#312e81", 2.5
    if node.shared:
        stroke, width = AMBER, 3.0
    title = node.title or ("input " + node.label)
    out = [f'<g class="node {node.kind}{" shared" if node.shared else ""}">'
           f'<title>{escape(title)}</title>'
           f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="8" '
           f'fill="{fill}" stroke="{stroke}" stroke-width="{width}"/>']
    top = y + (h - 14.0 * len(lines) - 12) / 2  # text centred in a box made taller for ports
    for i, text in enumerate(lines):
        style = ' font-weight="bold" fill="#111827"' if i == 0 else ' fill="#374151"'
        if text.startswith("grad ") or (i == 3 and terms):
            style = f' fill="{AMBER_TEXT}"'
        out.append(f'<text x="{x + w / 2:.1f}" y="{top + 18 + 14 * i:.1f}" '
                   f'text-anchor="middle"{style}>{escape(text)}</text>')
    if node.is_input:
        pill = _pill(node, terms)
        out.append(f'<rect x="{x:.1f}" y="{y + h + 4:.1f}" width="{w:.1f}" '
                   f'height="{14 * len(pill) + 4}" rx="9" fill="#fef3c7" stroke="{AMBER}"/>')
        for i, text in enumerate(pill):
            out.append(f'<text x="{x + w / 2:.1f}" y="{y + h + 17 + 14 * i:.1f}" '
                       f'text-anchor="middle" font-weight="bold" fill="{AMBER_TEXT}">'
                       f'{escape(text)}</text>')
    if node.shared:
        badge = f"Σ {node.uses} paths"
        bw = len(badge) * LABEL_CHAR_W + 10
        out.append(f'<rect x="{x + w - bw + 6:.1f}" y="{y - 9:.1f}" width="{bw:.1f}" '
                   f'height="15" rx="7" fill="{AMBER}"/><text x="{x + w - bw / 2 + 6:.1f}" '
                   f'y="{y + 2:.1f}" text-anchor="middle" font-size="10" font-weight="bold" '
                   f'fill="#ffffff">{escape(badge)}</text>')
    if is_output:
        place = f'x="{x + w / 2:.1f}" text-anchor="middle"'
        if node.shared:                         # the badge holds the top right corner
            place = f'x="{x + 2:.1f}" text-anchor="start"'
        out.append(f'<text {place} y="{y - 4:.1f}" font-size="9" fill="#312e81">output</text>')
    out.append("</g>")
    return "".join(out)
