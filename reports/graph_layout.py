"""Where to draw a graph's boxes and edges: a small Sugiyama layout, without recursion.

1. Columns by longest path from the inputs, so inputs are on the left and the output alone on
   the right; a constant sits one column left of its (first) consumer.
2. An edge that skips columns gets an invisible waypoint in each column it crosses, so no
   edge is drawn through a box and the ordering below sees every crossing.
3. Rows: barycentre sweeps (each item moves to the mean rank of its neighbours), left to
   right and back, keeping the order with the fewest crossings.
4. Heights: each column's items are pulled towards their neighbours' heights, staying in
   order and apart (isotonic regression), so chains come out straight.
Sizes come from the caller (`Box.w`, `Box.h`); x positions are left to the drawing.
"""

from __future__ import annotations

from dataclasses import dataclass

from .case_graph import Graph

ROW_GAP = 26                # vertical room between boxes
WAYPOINT_GAP = 6            # between two edges passing through the same column
MARGIN = 24
PORT_IN_GAP = 18            # between two arrows entering a box: a label sits above each
PORT_OUT_GAP = 8            # between two edges leaving a box (a shared node fans out)


@dataclass
class Box:
    """An item's place: nodes have a size; waypoints get theirs from the column."""

    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0          # the whole footprint (an input's gradient pill included)
    box_h: float = 0.0      # the rounded box alone

    @property
    def mid(self) -> float:
        return self.y + self.box_h / 2


def fit_ports(graph: Graph, sizes: dict[int, Box]) -> None:
    """Make each box tall enough that its arrows, and the labels above them, stay apart."""
    arriving: dict[int, int] = {}
    leaving: dict[int, int] = {}
    for edge in graph.edges:
        arriving[edge.target] = arriving.get(edge.target, 0) + 1
        leaving[edge.source] = leaving.get(edge.source, 0) + 1
    for item, box in sizes.items():
        needed = max(PORT_IN_GAP * (arriving.get(item, 0) + 1),
                     PORT_OUT_GAP * (leaving.get(item, 0) + 1))
        if needed > box.box_h:
            box.h += needed - box.box_h
            box.box_h = needed


def ports(boxes: dict[int, Box], chains: list[list[int]]) -> dict[tuple[int, str], float]:
    """Heights where each edge leaves its source ("out") and enters its target ("in").

    The edges at one side of a box are spread evenly along it, in the order of the boxes
    at their other ends, so edges leaving or entering one box do not cross each other.
    """
    ends: dict[tuple[int, str], list[tuple[float, int]]] = {}
    for k, chain in enumerate(chains):
        ends.setdefault((chain[0], "out"), []).append((boxes[chain[1]].mid, k))
        ends.setdefault((chain[-1], "in"), []).append((boxes[chain[-2]].mid, k))
    found_ports = {}
    for (item, side), found in ends.items():
        box = boxes[item]
        found.sort()
        for rank, (_, k) in enumerate(found):
            found_ports[(k, side)] = box.y + box.box_h * (rank + 1) / (len(found) + 1)
    return found_ports


def _columns(graph: Graph) -> dict[int, int]:
    """Longest path from the inputs (Kahn's order); constants sit just left of a consumer."""
    ops = [n.id for n in graph.nodes if n.kind != "const"]
    preds: dict[int, list[int]] = {i: [] for i in ops}
    succs: dict[int, list[int]] = {i: [] for i in ops}
    for edge in graph.edges:
        if graph.nodes[edge.source].kind != "const":
            preds[edge.target].append(edge.source)
            succs[edge.source].append(edge.target)
    waiting = {i: len(preds[i]) for i in ops}
    ready = [i for i in ops if waiting[i] == 0]
    column = {i: 0 for i in ops}
    while ready:
        node = ready.pop()
        for nxt in succs[node]:
            column[nxt] = max(column[nxt], column[node] + 1)
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                ready.append(nxt)
    column[graph.output] = max(column.values(), default=0)
    for edge in graph.edges:
        if graph.nodes[edge.source].kind == "const":
            wanted = max(0, column[edge.target] - 1)
            column[edge.source] = min(column.get(edge.source, wanted), wanted)
    return column


def layout(graph: Graph, sizes: dict[int, Box]) -> tuple[dict[int, Box], list[list[int]],
                                                         dict[int, int]]:
    """Place every node; route every edge through waypoints in the columns it crosses.

    Args:
        graph: the graph to place.
        sizes: node id -> Box with `w`, `h` and `box_h` set (the drawing knows its text).
    Returns:
        (boxes, chains, column): a Box per item (node ids first, then waypoints) with `y`
        set; per edge, the items it passes through from source to target; item -> column.
    """
    column = _columns(graph)
    boxes = dict(sizes)
    chains = []
    for edge in graph.edges:
        chain = [edge.source]
        for c in range(column[edge.source] + 1, column[edge.target]):
            waypoint = len(boxes)
            boxes[waypoint] = Box(h=10, box_h=10)
            column[waypoint] = c
            chain.append(waypoint)
        chains.append(chain + [edge.target])
    order: list[list[int]] = [[] for _ in range(max(column.values()) + 1)]
    for item in sorted(column):
        order[column[item]].append(item)
    links = [(a, b) for chain in chains for a, b in zip(chain, chain[1:], strict=False)]
    order = _order_rows(order, links)
    _place_rows(order, boxes, links, n_nodes=len(graph.nodes))
    return boxes, chains, column


def _order_rows(order: list[list[int]], links: list[tuple[int, int]]) -> list[list[int]]:
    """Barycentre sweeps, left to right then back; keep the order with fewest crossings."""
    left: dict[int, list[int]] = {}
    right: dict[int, list[int]] = {}
    for a, b in links:
        right.setdefault(a, []).append(b)
        left.setdefault(b, []).append(a)
    best, fewest = [list(c) for c in order], _crossings(order, links)
    for sweep in range(8):
        forward = sweep % 2 == 0
        columns = range(1, len(order)) if forward else range(len(order) - 2, -1, -1)
        for c in columns:
            neighbours = left if forward else right
            rank = {item: i for i, item in enumerate(order[c - 1] if forward else order[c + 1])}

            def barycentre(pair: tuple[int, int]) -> tuple[float, int]:
                i, item = pair
                near = neighbours.get(item, [])
                return (sum(rank[n] for n in near) / len(near) if near else i), i

            order[c] = [item for _, item in sorted(enumerate(order[c]), key=barycentre)]
        count = _crossings(order, links)
        if count < fewest:
            best, fewest = [list(c) for c in order], count
    return best


def _crossings(order: list[list[int]], links: list[tuple[int, int]]) -> int:
    """Pairs of links between the same two columns that cross."""
    rank = {item: (c, i) for c, items in enumerate(order) for i, item in enumerate(items)}
    between: dict[int, list[tuple[int, int]]] = {}
    for a, b in links:
        between.setdefault(rank[a][0], []).append((rank[a][1], rank[b][1]))
    count = 0
    for pairs in between.values():
        for k, (a1, b1) in enumerate(pairs):
            count += sum((a1 - a2) * (b1 - b2) < 0 for a2, b2 in pairs[k + 1:])
    return count


def _place_rows(order: list[list[int]], boxes: dict[int, Box], links: list[tuple[int, int]],
                n_nodes: int) -> None:
    """Heights: each item is pulled towards the mean height of its neighbours, in order."""
    near: dict[int, list[int]] = {}
    for a, b in links:
        near.setdefault(a, []).append(b)
        near.setdefault(b, []).append(a)

    def gap(a: int, b: int) -> float:
        return WAYPOINT_GAP if a >= n_nodes and b >= n_nodes else ROW_GAP

    for items in order:                         # start stacked
        y = 0.0
        for k, item in enumerate(items):
            boxes[item].y = y
            y += boxes[item].h + (gap(item, items[k + 1]) if k + 1 < len(items) else 0)
    for sweep in range(12):
        for items in (order if sweep % 2 == 0 else order[::-1]):
            targets, offsets, offset = [], [], 0.0
            for k, item in enumerate(items):
                linked = near.get(item, [])
                wanted = boxes[item].mid
                if linked:
                    wanted = sum(boxes[n].mid for n in linked) / len(linked)
                targets.append(wanted - boxes[item].box_h / 2 - offset)
                offsets.append(offset)
                offset += boxes[item].h + (gap(item, items[k + 1]) if k + 1 < len(items) else 0)
            for item, z, off in zip(items, _isotonic(targets), offsets, strict=True):
                boxes[item].y = z + off
    top = min(box.y for box in boxes.values())
    for box in boxes.values():
        box.y += MARGIN + 4 - top


def _isotonic(targets: list[float]) -> list[float]:
    """The non-decreasing sequence nearest to `targets` (pool adjacent violators)."""
    blocks: list[list[float]] = []              # [sum, count]
    for t in targets:
        blocks.append([t, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    fitted: list[float] = []
    for total, count in blocks:
        fitted.extend([total / count] * int(count))
    return fitted
