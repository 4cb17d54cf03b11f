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

from .case_graph import Edge, Graph, Node, graph_of, summarize
from .graph_layout import MARGIN, Box, layout

__all__ = ["AMBER", "Edge", "Graph", "Node", "case_figure", "case_svg", "graph_of", "render_svg",
           "summarize"]

AMBER = "#f59e0b"           # gradients, as in the textbook widget
AMBER_TEXT = "#b45309"      # amber that stays readable as text on white
CHAR_W = 6.7                # width of one character of the 11px monospace font
LABEL_CHAR_W = 6.1          # the same at 10px
COLUMN_GAP = 72             # the least room between columns (labels widen it)
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


def _lines(node: Node) -> list[str]:
    if node.kind == "const":
        value = summarize(node.value)
        return [value if node.label == "const" else f"{node.label} = {value}"]
    lines = [node.label, "= " + summarize(node.value)]
    if node.kind == "op" and node.grad is not None:
        lines.append("grad " + summarize(node.grad))
    return lines


def _pill(node: Node) -> str:
    return f"∂f/∂{node.label} = {summarize(node.grad)}"


def _size(node: Node) -> Box:
    lines = _lines(node)
    texts = lines + ([_pill(node)] if node.is_input else [])
    width = max(56.0, max(len(t) for t in texts) * CHAR_W + 18)
    if node.kind == "const":
        return Box(w=width, h=20, box_h=20)
    box_h = 14.0 * len(lines) + 12
    return Box(w=width, h=box_h + (24 if node.is_input else 0), box_h=box_h)



def render_svg(graph: Graph, *, max_nodes: int = 60) -> str:
    """Draw `graph` as one self-contained `<svg>` element (no ids, no external resources).

    Args:
        graph: from `graph_of`.
        max_nodes: above this many nodes, return a short note instead of a drawing.
    Returns:
        The SVG text; every label is escaped.
    """
    if len(graph.nodes) > max_nodes:
        return _note_svg(f"The graph has {len(graph.nodes)} nodes (more than {max_nodes}): "
                         f"not drawn.")
    boxes, chains, column = layout(graph, {node.id: _size(node) for node in graph.nodes})
    labels = {k: "← " + summarize(e.grad) for k, e in enumerate(graph.edges) if e.grad is not None}
    n_columns = max(column.values()) + 1
    widths = [40.0] * n_columns
    gaps = [float(COLUMN_GAP)] * n_columns
    for node in graph.nodes:
        widths[column[node.id]] = max(widths[column[node.id]], boxes[node.id].w)
    for k, text in labels.items():
        c = column[graph.edges[k].source]
        gaps[c] = max(gaps[c], len(text) * LABEL_CHAR_W + 28)
    lefts = [float(MARGIN)]
    for c in range(n_columns - 1):
        lefts.append(lefts[c] + widths[c] + gaps[c])
    for item, box in boxes.items():
        c = column[item]
        if item < len(graph.nodes):
            box.x = lefts[c] + (widths[c] - box.w) / 2
        else:
            box.x, box.w = lefts[c], widths[c]
    parts = [_edges(graph, boxes, chains, labels)]
    parts += [_node(node, boxes[node.id], node.id == graph.output) for node in graph.nodes]
    width = lefts[-1] + widths[-1] + MARGIN
    height = max(box.y + box.h for box in boxes.values()) + MARGIN
    return (f'<svg class="graph" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" font-family="{FONT}" '
            f'font-size="11">' + "".join(parts) + "</svg>")


def _ports(graph: Graph, boxes: dict[int, Box], chains: list[list[int]]) -> dict:
    """Where each edge leaves its source and enters its target: spread along the box side."""
    ends: dict[tuple[int, str], list[tuple[float, int]]] = {}
    for k, chain in enumerate(chains):
        ends.setdefault((chain[0], "out"), []).append((boxes[chain[1]].mid, k))
        ends.setdefault((chain[-1], "in"), []).append((boxes[chain[-2]].mid, k))
    ports = {}
    for (item, side), found in ends.items():
        box = boxes[item]
        found.sort()
        for rank, (_, k) in enumerate(found):
            ports[(k, side)] = box.y + box.box_h * (rank + 1) / (len(found) + 1)
    return ports


def _edges(graph: Graph, boxes: dict[int, Box], chains: list[list[int]],
           labels: dict[int, str]) -> str:
    ports = _ports(graph, boxes, chains)
    paths, placed = [], []
    for k, (edge, chain) in enumerate(zip(graph.edges, chains, strict=True)):
        source, target = boxes[chain[0]], boxes[chain[-1]]
        points = [(source.x + source.w, ports[(k, "out")])]
        for waypoint in chain[1:-1]:
            box = boxes[waypoint]
            points += [(box.x, box.mid), (box.x + box.w, box.mid)]
        points.append((target.x - 7, ports[(k, "in")]))
        d = f"M{points[0][0]:.1f},{points[0][1]:.1f}"
        for i in range(1, len(points)):
            (x1, y1), (x2, y2) = points[i - 1], points[i]
            if i % 2:                           # across a gap: a smooth S
                half = (x2 - x1) / 2
                d += f" C{x1 + half:.1f},{y1:.1f} {x2 - half:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
            else:                               # through a column, past the boxes
                d += f" L{x2:.1f},{y2:.1f}"
        flows = edge.grad is not None
        colour = "#64748b" if flows else "#cbd5e1"
        tip_x, tip_y = target.x, ports[(k, "in")]
        title = f"input {edge.index} of {graph.nodes[edge.target].label}"
        if edge.local:
            title += f": local derivative {edge.local}"
        if flows:
            title += f"; gradient sent back {summarize(edge.grad, 8)}"
            (x1, y1), (x2, y2) = points[0], points[1]
            placed.append([(x1 + x2) / 2, (y1 + y2) / 2 - 4, labels[k], x1])
        dashes = "" if flows else ' stroke-dasharray="4 3"'
        paths.append(
            f'<g><title>{escape(title)}</title><path d="{d}" fill="none" stroke="{colour}" '
            f'stroke-width="1.4"{dashes}/>'
            f'<polygon points="{tip_x:.1f},{tip_y:.1f} {tip_x - 8:.1f},{tip_y - 4:.1f} '
            f'{tip_x - 8:.1f},{tip_y + 4:.1f}" fill="{colour}"/></g>')
    return "".join(paths) + _edge_labels(placed)


def _edge_labels(placed: list[list]) -> str:
    """Gradient labels in amber, pushed apart where they would overlap within one gap."""
    placed.sort(key=lambda p: (p[3], p[1]))
    for previous, current in zip(placed, placed[1:], strict=False):
        if previous[3] == current[3] and current[1] < previous[1] + 13:
            current[1] = previous[1] + 13
    return "".join(
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" font-size="10" '
        f'fill="{AMBER_TEXT}" stroke="#ffffff" stroke-width="3" paint-order="stroke">'
        f"{escape(text)}</text>" for x, y, text, _ in placed)


def _node(node: Node, box: Box, is_output: bool) -> str:
    """One rounded box: label, forward value, gradient; inputs get the amber total below."""
    lines = _lines(node)
    x, y, w, h = box.x, box.y, box.w, box.box_h
    if node.kind == "const":
        return (f'<g><title>{escape(node.title)}</title><rect x="{x:.1f}" y="{y:.1f}" '
                f'width="{w:.1f}" height="{h:.1f}" rx="6" fill="#f3f4f6" stroke="#9ca3af"/>'
                f'<text x="{x + w / 2:.1f}" y="{y + 14:.1f}" text-anchor="middle" '
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
    for i, text in enumerate(lines):
        style = ' font-weight="bold" fill="#111827"' if i == 0 else ' fill="#374151"'
        if text.startswith("grad "):
            style = f' fill="{AMBER_TEXT}"'
        out.append(f'<text x="{x + w / 2:.1f}" y="{y + 18 + 14 * i:.1f}" '
                   f'text-anchor="middle"{style}>{escape(text)}</text>')
    if node.is_input:
        out.append(f'<rect x="{x:.1f}" y="{y + h + 4:.1f}" width="{w:.1f}" height="18" rx="9" '
                   f'fill="#fef3c7" stroke="{AMBER}"/>'
                   f'<text x="{x + w / 2:.1f}" y="{y + h + 17:.1f}" text-anchor="middle" '
                   f'font-weight="bold" fill="{AMBER_TEXT}">{escape(_pill(node))}</text>')
    if node.shared:
        badge = f"Σ {node.uses} paths"
        bw = len(badge) * LABEL_CHAR_W + 10
        out.append(f'<rect x="{x + w - bw + 6:.1f}" y="{y - 9:.1f}" width="{bw:.1f}" '
                   f'height="15" rx="7" fill="{AMBER}"/><text x="{x + w - bw / 2 + 6:.1f}" '
                   f'y="{y + 2:.1f}" text-anchor="middle" font-size="10" font-weight="bold" '
                   f'fill="#ffffff">{escape(badge)}</text>')
    if is_output:
        out.append(f'<text x="{x + w / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
                   f'font-size="9" fill="#312e81">output</text>')
    out.append("</g>")
    return "".join(out)

