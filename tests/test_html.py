"""The graph pictures and the HTML report: values, gradients, layout, safety, section order."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from extras import needs
from refad.cases.case import Case, expression_case
from refad.reports.graph_svg import AMBER, case_svg, graph_of, render_svg, summarize
from refad.reports.html import render_html

pytestmark = needs("pandas", "jinja2")

SEED = expression_case("seed-multivariate", "x*y + sin(x)", {"x": 1.0, "y": 2.0},
                       family="seed", note="x feeds two nodes: its gradient sums two paths")
SHARED = expression_case("seed-composite", "x*x + sin(x)*x", {"x": 0.5}, family="seed")
WHERE = expression_case("where-abs", "where(x > 0, x, -x)", {"x": 0.0}, family="nonsmooth",
                        tags=("nonsmooth", "kink"),
                        note="<script>alert(1)</script> torch picks -1 at 0")
TENSOR = expression_case("tensor-matvec", "sum(tanh(W @ v))",
                         {"W": np.arange(12.0).reshape(3, 4) / 10, "v": np.ones(4)},
                         family="tensors", tags=("tensor",))


def _chain(ops, x, y):
    """Ten rounds of sin, multiply by y, add a constant: 30 operations, y used 10 times."""
    v = x
    for _ in range(10):
        v = ops.sin(v) * y + 0.25
    return v


CHAIN = Case("chain-30", _chain, {"x": 0.3, "y": 0.9}, family="graphs")
CASES = [SEED, SHARED, WHERE, TENSOR, CHAIN]


def _svg_root(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def _rects(root: ET.Element) -> list[tuple[float, float, float, float]]:
    """The rounded node boxes (rx 6 or 8), as (x, y, w, h)."""
    return [tuple(float(r.get(k)) for k in ("x", "y", "width", "height"))
            for r in root.iter("rect") if r.get("rx") in ("6", "8")]


# -- graph_of ----------------------------------------------------------------------------------

def test_seed_graph_values_and_gradients():
    graph = graph_of(SEED)
    assert [n.label for n in graph.nodes if n.is_input] == ["x", "y"]
    assert len(graph.nodes) == 5
    x, y = graph.find("x"), graph.find("y")
    assert graph.nodes[graph.output].label == "add"
    assert graph.nodes[graph.output].value == pytest.approx(2 + math.sin(1))
    assert graph.find("mul").value == 2.0
    assert graph.find("sin").value == pytest.approx(math.sin(1))
    assert x.grad == pytest.approx(2 + math.cos(1))
    assert y.grad == pytest.approx(1.0)
    into_x = sorted(e.grad for e in graph.edges_from(x.id))
    assert into_x == pytest.approx(sorted([2.0, math.cos(1)]))
    assert sum(into_x) == pytest.approx(x.grad)        # the sum over paths
    assert x.shared and x.uses == 2 and not y.shared


def test_shared_input_used_four_times():
    graph = graph_of(SHARED)
    x = graph.find("x")
    assert x.uses == 4 and x.shared
    expected = 2 * 0.5 + math.sin(0.5) + 0.5 * math.cos(0.5)
    assert x.grad == pytest.approx(expected)
    assert sum(e.grad for e in graph.edges_from(x.id)) == pytest.approx(expected)


def test_where_condition_and_constants_are_grey_nodes():
    graph = graph_of(WHERE)
    kinds = {n.label: n.kind for n in graph.nodes}
    assert kinds["x"] == "input" and "const" in kinds.values()
    where = graph.find("where")
    condition = [e for e in graph.edges if e.target == where.id and e.index == 0]
    assert condition and condition[0].grad is None    # no gradient through a condition


def test_tensor_values_are_summarised():
    graph = graph_of(TENSOR)
    assert summarize(graph.find("W").value).startswith("(3,4) [0, 0.1")
    assert graph.find("v").grad.shape == (4,)
    assert summarize(np.nan) == "nan" and summarize(-np.inf) == "-inf"


# -- render_svg --------------------------------------------------------------------------------

def test_seed_svg_is_xml_with_amber_gradients_and_shared_mark():
    svg = render_svg(graph_of(SEED))
    root = _svg_root(svg)
    assert root.tag == "svg"
    assert AMBER in svg
    assert summarize(2 + math.cos(1)) in svg                # d/dx under the input
    assert "Σ 2 paths" in svg and 'class="node input shared"' in svg
    assert summarize(math.cos(1)) in svg                    # an edge label
    assert "href" not in svg and "http" not in svg


def test_inputs_left_output_right():
    graph = graph_of(SEED)
    root = _svg_root(render_svg(graph))
    groups = {g.findtext("title"): g for g in root.iter("g") if g.get("class")}
    centre = {title: float(g.find("rect").get("x")) + float(g.find("rect").get("width")) / 2
              for title, g in groups.items()}
    assert centre["input x"] < centre["MulBackward0"] < centre["AddBackward0"]
    assert centre["input x"] == pytest.approx(centre["input y"], abs=0.2)   # one column


def test_thirty_node_chain_has_no_overlapping_boxes():
    graph = graph_of(CHAIN)
    assert 30 <= len(graph.nodes) <= 60
    root = _svg_root(render_svg(graph))
    boxes = _rects(root)
    assert len(boxes) == len(graph.nodes)
    for i, (x1, y1, w1, h1) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1:]:
            apart = x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1
            assert apart, f"boxes overlap: {(x1, y1, w1, h1)} and {(x2, y2, w2, h2)}"
    assert graph.find("y").uses == 10


def test_large_graph_is_not_drawn():
    svg = render_svg(graph_of(CHAIN), max_nodes=10)
    assert "not drawn" in svg and str(len(graph_of(CHAIN).nodes)) in svg
    _svg_root(svg)


def test_case_svg_never_raises_and_escapes():
    broken = Case("<b>broken</b>", lambda ops, x: ops.nonexistent(x), {"x": 1.0}, family="x")
    svg = case_svg(broken)
    _svg_root(svg)
    assert "not drawn" in svg and "<b>" not in svg
    assert "∂f/∂x = 2.54" in case_svg(SEED, dtype="float32")    # float32 draws too


# -- render_html -------------------------------------------------------------------------------

def _rows():
    base = {"family": "seed", "order": 1, "index": "", "reference_source": "exact",
            "mode": "eager", "seconds": 0.001, "rtol": 1e-10, "atol": 1e-12, "detail": ""}
    rows = []
    for backend in ("refad", "torch", "jax", "sympy"):
        for dtype in ("float64", "float32"):
            rows.append(dict(base, case="seed-multivariate", backend=backend, dtype=dtype,
                             quantity="d/dx", result=2 + math.cos(1),
                             reference=2 + math.cos(1), abs_err=0.0, rel_err=0.0, ulp=0.0,
                             status="ok"))
    rows.append(dict(base, case="seed-composite", backend="jax", dtype="float32",
                     quantity="d/dx", result=1.5, reference=1.9177, abs_err=0.41,
                     rel_err=0.21, ulp=3.0e6, status="mismatch", detail="off by 0.41"))
    rows.append(dict(base, case="tensor-matvec", backend="torch", dtype="float64",
                     quantity="d/dW", index="(1, 2)", result=math.nan, reference=0.5,
                     abs_err=math.nan, rel_err=math.nan, ulp=math.nan,
                     status="nan-mismatch"))
    rows.append(dict(base, case="chain-30", backend="jax", dtype="float64", quantity="",
                     result=math.nan, reference=math.nan, reference_source="",
                     abs_err=math.nan, rel_err=math.nan, ulp=math.nan, status="error",
                     detail="RuntimeError: <boom>"))
    for backend, picked in (("refad", 0.0), ("torch", 0.0), ("jax", 1.0), ("sympy", 0.0)):
        rows.append(dict(base, case="where-abs", family="nonsmooth", backend=backend,
                         dtype="float64", quantity="d/dx", result=picked, reference=0.0,
                         abs_err=picked, rel_err=math.inf, ulp=1.0,
                         status="ok" if picked == 0.0 else "convention",
                         detail="" if picked == 0.0 else WHERE.note))
    return rows


METADATA = {"created": "2025-01-01T00:00:00+00:00", "command": "refad report --out r",
            "versions": {"python": "3.11", "numpy": "2.4"}, "platform": "linux",
            "tolerances": {"float64": {"rtol": 1e-10, "atol": 1e-12}}, "seed": 0,
            "seconds_per_backend": {"refad": 0.1, "torch": 0.5}}


@pytest.fixture(scope="module")
def page() -> str:
    import pandas as pd
    return render_html(pd.DataFrame(_rows()), METADATA, CASES)


def test_sections_in_design_order(page):
    positions = [page.index(f'id="{section}"')
                 for section in ("verdict", "disagreements", "conventions", "cases", "metadata")]
    assert positions == sorted(positions)
    verdict = re.search(r'class="verdict[^"]*">([^<]*)<', page).group(1)
    assert verdict == "5 cases × 4 backends × 2 dtypes: 3 disagreements in 3 cases"


def test_page_is_self_contained_and_escaped(page):
    lowered = page.lower()
    assert "http://" not in lowered and "https://" not in lowered
    assert "<script" not in lowered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;boom&gt;" in page


def test_every_case_and_numbers_at_full_precision(page):
    for case in CASES:
        assert f'id="case-{case.name}"' in page
    assert f"{2 + math.cos(1):.17g}" in page
    assert ">nan<" in page.replace(" ", "")
    assert page.count("<svg") >= len(CASES)
    assert 'id="case-seed-multivariate" open' in page          # small graphs start open
    assert 'id="case-chain-30" open' in page                     # and troubled ones


def test_conventions_table_lists_each_framework(page):
    conventions = page[page.index('id="conventions"'):page.index('id="cases"')]
    assert "where-abs" in conventions and "exact (sympy)" in conventions
    for backend in ("refad", "torch", "jax"):
        assert f"<th>{backend}</th>" in conventions


def test_all_agree_verdict_from_list_of_dicts():
    rows = [r for r in _rows() if r["status"] in ("ok", "convention")]
    page = render_html(rows, {}, [SEED, CHAIN])
    assert "all agree" in page and "Disagreements (0)" in page
    assert 'id="case-chain-30">' in page                         # a big graph starts folded
