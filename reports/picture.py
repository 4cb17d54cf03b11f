"""The computational graph as a picture: for Jupyter, for files, for `refad graph`.

In a notebook, the last line of a cell draws the graph, with each node's operation and
forward value, the gradient that flowed back along each edge, and each input's total in amber:

    from refad.reports.picture import picture
    picture("x*y + sin(x)", x=1, y=2)           # or picture("seed-multivariate")

`Picture.save("graph.svg")` writes a standalone SVG file. The display object lives here, in
`reports`, because the `refad` library must not import the layers above it: `import refad`
stays light, and a notebook that wants pictures imports this module.
"""

from __future__ import annotations

import dataclasses
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from .case_graph import Graph, graph_of, summarize
from .graph_svg import render_svg

MAX_NODES = 400             # asked for one graph by name: draw big ones too
SVG_NAMESPACE = "http://www.w3.org/2000/svg"


def standalone_svg(svg: str, title: str = "") -> str:
    """Make an inline `<svg>` from `render_svg` a document of its own.

    A browser or an image viewer opening the file needs the SVG namespace, which inline
    HTML does without; a white ground keeps the picture readable on a dark viewer.

    Args:
        svg: the text of one `<svg ...>...</svg>` element without `xmlns`.
        title: what the picture shows (becomes its `<title>`).
    Returns:
        The element with `xmlns`, a `<title>` and a white background.
    """
    if not svg.startswith("<svg "):
        raise ValueError(f"expected an <svg> element, got {svg[:20]!r}")
    opening, rest = svg.split(">", 1)
    opening = f'<svg xmlns="{SVG_NAMESPACE}"' + opening[len("<svg"):] + ">"
    parts = [opening]
    if title:
        parts.append(f"<title>{escape(title)}</title>")
    parts.append('<rect width="100%" height="100%" fill="#ffffff"/>')
    return "".join(parts) + rest


def svg_document(svg: str, title: str = "") -> str:
    """A complete SVG file: the XML declaration, then `standalone_svg(svg, title)`."""
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + standalone_svg(svg, title) + "\n"


class Picture:
    """One case's graph, drawn once; Jupyter shows it through `_repr_html_` / `_repr_svg_`.

    Args:
        expr_or_case: an expression (`"x*y + sin(x)"`), a catalogue name
            (`"seed-multivariate"`) or a Case.
        **values: a value for each variable of the expression (for a Case or a catalogue
            name: values that replace some of its inputs).
    Raises:
        ValueError: a bad expression, a missing or unknown variable, a value that is not a
            number; the message says which.
    """

    def __init__(self, expr_or_case: Any, **values: Any) -> None:
        self.case = _resolve(expr_or_case, values)
        self.graph: Graph = graph_of(self.case)
        self.svg: str = render_svg(self.graph, max_nodes=MAX_NODES)

    @property
    def title(self) -> str:
        """`x*y + sin(x) at x=1.0, y=2.0: forward values, gradients in amber`."""
        text = self.case.expr or self.case.name
        at = ", ".join(f"{name}={_value(v)}" for name, v in self.case.inputs.items())
        return f"{text} at {at}: forward values, gradients in amber"

    def document(self) -> str:
        """The standalone SVG file's text."""
        return svg_document(self.svg, self.title)

    def save(self, path: str | Path) -> Path:
        """Write the standalone SVG to `path` atomically (folders created); return the path."""
        from .writers import atomic_write

        path = Path(path)
        atomic_write(path, self.document())
        return path

    def _repr_svg_(self) -> str:
        return standalone_svg(self.svg, self.title)

    def _repr_html_(self) -> str:
        return f'<div class="refad-picture" title="{escape(self.title)}">{self.svg}</div>'

    def __repr__(self) -> str:
        """Outside a notebook: the value and each input's gradient, as text."""
        nodes = self.graph.nodes
        shown = [f"f = {summarize(nodes[self.graph.output].value)}"]
        shown += [f"∂f/∂{n.label} = {summarize(n.grad)}" for n in nodes if n.is_input]
        text = self.case.expr or self.case.name
        return f"<Picture of {text}: {', '.join(shown)} ({len(nodes)} nodes)>"


def picture(expr_or_case: Any, **values: Any) -> Picture:
    """`Picture(expr_or_case, **values)`: `picture("x*y + sin(x)", x=1, y=2)` in a notebook."""
    return Picture(expr_or_case, **values)


def _resolve(expr_or_case: Any, values: dict[str, Any]):
    """A Case from an expression, a catalogue name or a Case (with values replaced)."""
    from .usage import UsageError, checked_case

    if isinstance(expr_or_case, str):
        named = _catalogue_case(expr_or_case)
        if named is None:
            numbers = {name: _number(name, value) for name, value in values.items()}
            try:
                return checked_case(expr_or_case, numbers)
            except UsageError as error:
                raise ValueError(str(error)) from None
        expr_or_case = named
    if not hasattr(expr_or_case, "fn") or not hasattr(expr_or_case, "inputs"):
        raise ValueError(f"expected an expression, a case name or a Case, got "
                         f"{type(expr_or_case).__name__}")
    unknown = [name for name in values if name not in expr_or_case.inputs]
    if unknown:
        raise ValueError(f"case {expr_or_case.name!r} has no input {unknown[0]!r}; its inputs "
                         f"are {', '.join(expr_or_case.inputs)}")
    if not values:
        return expr_or_case
    inputs = dict(expr_or_case.inputs)
    for name, value in values.items():
        inputs[name] = _number(name, value)
    return dataclasses.replace(expr_or_case, inputs=inputs)


def _catalogue_case(name: str):
    """The catalogue case called `name`, or None (then it is read as an expression)."""
    from refad import cases

    try:
        return cases.get(name)
    except ValueError:
        return None


def _number(name: str, value: Any) -> Any:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is not a number or an array of numbers") from None
    return float(array) if array.ndim == 0 else array


def _value(value: Any) -> str:
    if np.ndim(value) == 0:
        return repr(float(value))
    return summarize(value)
