"""`refad graph` and `reports.picture`: standalone SVG files, Jupyter display, readable layout."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from refad.reports.case_graph import summarize
from refad.reports.graph_svg import AMBER, AMBER_TEXT, LABEL_CHAR_W
from refad.reports.picture import Picture, picture

ROOT = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}"
SEEDS = ["seed-multivariate", "seed-neuron", "seed-composite"]
# 7 terms sin(k*x), a product y*x, and the adds between them: 31 nodes, x used 8 times
THIRTY = " + ".join(f"sin(x*{k})" for k in range(1, 8)) + " + y*x"


def _refad(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "refad", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=60)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _texts(root: ET.Element) -> list[str]:
    return [el.text or "" for el in root.iter() if _local(el.tag) == "text"]


def _node_boxes(root: ET.Element) -> list[tuple[float, float, float, float]]:
    """The rounded node boxes (rx 6 for constants, 8 for the rest) as (x, y, w, h)."""
    return [tuple(float(r.get(k)) for k in ("x", "y", "width", "height"))
            for r in root.iter() if _local(r.tag) == "rect" and r.get("rx") in ("6", "8")]


def _label_boxes(root: ET.Element) -> list[tuple[float, float, float, float]]:
    """The gradient labels on edges (amber, right-aligned), as estimated (x, y, w, h)."""
    boxes = []
    for el in root.iter():
        if _local(el.tag) == "text" and el.get("text-anchor") == "end":
            assert el.get("fill") == AMBER_TEXT
            width = len(el.text) * LABEL_CHAR_W
            boxes.append((float(el.get("x")) - width, float(el.get("y")) - 9, width, 11))
    return boxes


def _overlaps(boxes: list[tuple[float, float, float, float]]) -> list[tuple]:
    found = []
    for i, (x1, y1, w1, h1) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1:]:
            if x1 < x2 + w2 and x2 < x1 + w1 and y1 < y2 + h2 and y2 < y1 + h1:
                found.append(((x1, y1, w1, h1), (x2, y2, w2, h2)))
    return found


def _assert_readable(drawn: Picture) -> ET.Element:
    """Parses; a box per node; no two boxes, no two edge labels, no label and box overlap."""
    root = ET.fromstring(drawn._repr_svg_())
    nodes = _node_boxes(root)
    labels = _label_boxes(root)
    assert len(nodes) == len(drawn.graph.nodes)
    assert len(labels) == sum(e.grad is not None for e in drawn.graph.edges)
    assert not _overlaps(nodes), f"{drawn.title}: node boxes overlap"
    assert not _overlaps(labels), f"{drawn.title}: edge labels overlap"
    assert not _overlaps(nodes + labels), f"{drawn.title}: an edge label covers a node"
    return root


# -- refad graph -------------------------------------------------------------------------------

def test_graph_command_writes_a_standalone_svg(tmp_path):
    out = tmp_path / "new" / "folder" / "seed.svg"      # a missing folder is created
    done = _refad("graph", "x*y + sin(x)", "x=1", "y=2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<?xml") and 'xmlns="http://www.w3.org/2000/svg"' in text
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == SVG + "svg"
    texts = _texts(root)
    assert "= 2.841" in texts                            # the output's forward value
    assert "Σ 2 paths" in texts                          # x feeds two nodes
    # the two contributions on x's edges, and their sum at x: y + cos(x) = 2 + 0.5403
    assert {"← 2", "← " + summarize(math.cos(1))} <= set(texts)
    assert "∂f/∂x = " + summarize(2 + math.cos(1), 5) in texts
    assert "= 2 + 0.5403" in texts and "∂f/∂x = 2.5403" in texts
    assert "∂f/∂y = 1" in texts
    assert not list(tmp_path.rglob(".*.tmp"))            # the atomic write left nothing behind


@pytest.mark.parametrize("args, message", [
    (["x*y +", "x=1"], "bad expression"),
    (["x*y", "x=1"], "missing value for y"),
    (["sin(x)", "x=1", "z=2"], "unexpected variable z"),
    (["sin(x)", "x=one"], "x='one' is not a number"),
])
def test_graph_command_bad_input_is_one_line(tmp_path, args, message):
    out = tmp_path / "bad.svg"
    done = _refad("graph", *args, "--out", str(out))
    assert done.returncode == 2
    assert message in done.stderr and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr and not out.exists()


def test_graph_command_refuses_a_folder(tmp_path):
    done = _refad("graph", "x", "x=1", "--out", str(tmp_path))
    assert done.returncode == 2 and "is a folder" in done.stderr


def test_refad_does_not_import_reports():
    code = ("import sys, refad; "
            "assert not [m for m in sys.modules if m.split('.')[0] in ('reports', 'cases')]")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert done.returncode == 0, done.stderr


# -- the Jupyter display object ----------------------------------------------------------------

def test_picture_displays_in_jupyter(tmp_path):
    drawn = picture("x*y + sin(x)", x=1, y=2)
    svg = drawn._repr_svg_()
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert ET.fromstring(svg).tag == SVG + "svg"
    assert "= 2.841" in svg and AMBER in svg
    html = drawn._repr_html_()
    assert html.startswith('<div class="refad-picture"') and html.endswith("</svg></div>")
    assert "= 2.841" in html and "xmlns" not in html     # inline SVG needs no namespace
    saved = drawn.save(tmp_path / "sub" / "seed.svg")
    assert saved.read_text(encoding="utf-8") == drawn.document()
    assert "2.841" in repr(drawn) and "5 nodes" in repr(drawn)


def test_picture_of_a_catalogue_case_with_a_value_replaced():
    drawn = Picture("seed-neuron", w=2.0)
    assert drawn.case.inputs["w"] == 2.0 and drawn.case.inputs["b"] == -0.25
    tanh = math.tanh(2.0 * 1.5 - 0.25)
    assert "= " + summarize(tanh) in drawn.svg
    assert "∂f/∂w = " + summarize((1 - tanh ** 2) * 1.5) in drawn.svg


@pytest.mark.parametrize("expr, values, message", [
    ("x*", {}, "bad expression"),
    ("x + y", {"x": 1.0}, "missing value for y"),
    ("x", {"x": "a"}, "x='a' is not a number"),
    ("seed-neuron", {"q": 1.0}, "has no input 'q'"),
    (3.0, {}, "expected an expression"),
])
def test_picture_bad_input_is_a_value_error(expr, values, message):
    with pytest.raises(ValueError, match=message):
        Picture(expr, **values)


def test_picture_numbers_match_pytorch():
    torch = pytest.importorskip("torch")
    x = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    out = x * y + torch.sin(x)
    out.backward()
    texts = _texts(ET.fromstring(picture("x*y + sin(x)", x=1, y=2)._repr_svg_()))
    assert "= " + summarize(out.item()) in texts
    assert "∂f/∂x = " + summarize(x.grad.item(), 5) in texts
    assert "∂f/∂y = " + summarize(y.grad.item()) in texts


# -- layout ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SEEDS)
def test_seed_pictures_are_readable(name):
    drawn = Picture(name)
    _assert_readable(drawn)
    shared = [n for n in drawn.graph.nodes if n.shared]
    assert [n.label for n in shared] == ([] if name == "seed-neuron" else ["x"])


def test_thirty_node_graph_is_readable_and_fits():
    drawn = picture(THIRTY, x=0.5, y=2.0)
    assert 30 <= len(drawn.graph.nodes) <= 35
    root = _assert_readable(drawn)
    assert float(root.get("width")) < 1800 and float(root.get("height")) < 900
    x = drawn.graph.find("x")
    assert x.uses == 8 and "Σ 8 paths" in _texts(root)
    assert x.grad == pytest.approx(2 + sum(k * math.cos(k * 0.5) for k in range(1, 8)))


def test_shared_operation_lists_its_paths():
    """An intermediate used three times: its gradient line shows the three contributions."""
    from refad.cases.case import Case

    def shared(ops, w, x, b):
        u = w * x + b
        return u * u + ops.sin(u)

    drawn = Picture(Case("shared-op", shared, {"w": 0.5, "x": 1.5, "b": -0.25}, family="x"))
    _assert_readable(drawn)
    u = 0.5 * 1.5 - 0.25
    texts = _texts(ET.fromstring(drawn._repr_svg_()))
    assert "grad " + summarize(2 * u + math.cos(u), 5) in texts
    assert f"= {summarize(u)} + {summarize(u)} + {summarize(math.cos(u))}" in texts
