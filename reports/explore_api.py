"""What `refad explore`'s JSON endpoints compute, apart from HTTP.

Every function takes the decoded JSON body and returns a JSON-ready dict, or raises `ApiError`
with an HTTP status and a one-line message that the page shows as it is. Typed expressions go
through the same safe parser and checks as `refad grad` (`reports.grad_command._case`).
"""

from __future__ import annotations

import functools
import json
import re
import threading
import xml.etree.ElementTree as ElementTree
from typing import Any

from .graph_svg import AMBER_TEXT, graph_of, render_svg
from .writers import json_ready

MAX_BODY = 64 * 1024        # bytes in one request: an expression is at most 10,000 characters
SEEDS = ("seed-multivariate", "seed-neuron", "seed-composite")
FRAMEWORKS = ("torch", "jax")
PILL_FILL = "#fef3c7"       # graph_svg's pale amber behind an input's total gradient

# refad's grad mode is process-wide, not per thread, and the frameworks import slowly: one lock
# each, so a page that fires both requests gets refad's numbers while torch is still loading.
_REFAD_LOCK = threading.Lock()
_FRAMEWORK_LOCK = threading.Lock()


class ApiError(Exception):
    """A request the explorer cannot answer: `status` is the HTTP status, the text the reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def decode(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object; ApiError(400) naming what is wrong with it."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ApiError(400, f"the request body is not JSON: {error}") from None
    if not isinstance(payload, dict):
        raise ApiError(400, f"the request body must be a JSON object, not {type(payload).__name__}")
    return payload


@functools.lru_cache(maxsize=1)
def case_list() -> dict[str, Any]:
    """GET /api/cases: the seed's three expressions, then every scalar expression case."""
    from refad import cases

    chosen = [cases.get(name) for name in SEEDS]
    chosen += [case for case in cases.CATALOGUE
               if case.expr and case.is_scalar and case.name not in SEEDS]
    listed = []
    for case in chosen:
        listed.append({
            "name": case.name, "expr": case.expr, "family": case.family,
            "group": "the textbook's three expressions" if case.name in SEEDS
            else f"catalogue: {case.family}",
            "note": case.note, "values": json_ready(dict(case.inputs)),
            # repr keeps what JSON and JavaScript lose: -0.0, and every digit as written
            "text": {name: repr(float(value)) for name, value in case.inputs.items()}})
    return {"cases": listed}


def variables(payload: dict[str, Any]) -> dict[str, Any]:
    """POST /api/parse {"expr"}: the expression's variables, in order, for its sliders."""
    import refad

    text = _expression_text(payload)
    try:
        expression = refad.parse(text)
    except refad.ParseError as error:
        raise ApiError(400, f"bad expression: {error}") from None
    return {"expr": text, "variables": list(expression.variables)}


def evaluate(payload: dict[str, Any]) -> dict[str, Any]:
    """POST /api/evaluate {"expr", "values", "stage"}: refad's value, gradients and picture.

    `stage` "forward" draws the forward values only; "backward" adds the gradients in amber
    (and returns them). Both draw the same layout, so the picture does not jump.
    """
    stage = payload.get("stage", "backward")
    if stage not in ("forward", "backward"):
        raise ApiError(400, f"stage must be 'forward' or 'backward', not {stage!r}")
    case = _case(payload)
    with _REFAD_LOCK:
        try:
            graph = graph_of(case)
            svg = render_svg(graph)
        except Exception as error:  # noqa: BLE001 - the engine's message, never a traceback
            raise ApiError(400, f"refad could not evaluate {case.expr!r}: "
                                f"{type(error).__name__}: {error}") from None
    out = graph.nodes[graph.output]
    gradients = {}
    if stage == "backward":
        for node in graph.nodes:
            if node.is_input:
                gradients[node.label] = float(node.grad)
    else:
        svg = forward_only(svg)
    return json_ready({"expr": case.expr, "stage": stage, "variables": list(case.inputs),
                       "inputs": dict(case.inputs), "value": float(out.value),
                       "gradients": gradients, "svg": svg})


def frameworks(payload: dict[str, Any]) -> dict[str, Any]:
    """POST /api/frameworks {"expr", "values"}: PyTorch's and JAX's value and gradients.

    Each framework is imported on the first request (seconds); one that is not installed
    comes back with status "unavailable", one that fails with status "error" and its message.
    """
    from refad import adapters

    case = _case(payload)
    with _REFAD_LOCK:
        mine = adapters.get("refad").evaluate(case, "float64", 1).quantities()
    found: dict[str, Any] = {}
    with _FRAMEWORK_LOCK:
        for name in FRAMEWORKS:
            backend = adapters.get(name)
            ok, reason = backend.available()
            if not ok:
                found[name] = {"status": "unavailable", "message": reason}
                continue
            result = backend.evaluate(case, "float64", 1)
            entry: dict[str, Any] = {"status": result.status, "version": backend.versions()}
            if result.status == "ok":
                entry["value"] = float(result.value)
                entry["gradients"] = {k: float(g) for k, g in result.grad.items()}
                entry["compared"] = _compared(result.quantities(), mine)
            else:
                entry["message"] = result.error
            found[name] = entry
    return json_ready({"expr": case.expr, "inputs": dict(case.inputs), "frameworks": found})


def _compared(theirs: dict[str, Any], mine: dict[str, Any]) -> dict[str, Any]:
    """Quantity -> how far a framework's number is from refad's: ULPs and the report's status.

    The same `compare_values` and float64 tolerance as `refad report`, so the page and the
    report cannot disagree about what "agrees" means.
    """
    from .compare import TOLERANCES, compare_values

    compared = {}
    for quantity, value in theirs.items():
        row = compare_values(value, mine.get(quantity), "float64", TOLERANCES["float64"])
        compared[quantity] = {"ulp": row["ulp"], "abs_err": row["abs_err"],
                              "status": row["status"]}
    return compared


def forward_only(svg: str) -> str:
    """The picture before the backward pass: every gradient removed, each input's total a "?".

    The layout is kept, so pressing Backward fills the gaps in place.
    """
    root = ElementTree.fromstring(svg)
    for group in [root, *root.iter("g")]:
        for child in list(group):
            if child.tag == "text" and child.get("fill") == AMBER_TEXT:
                if child.text and child.text.startswith("∂f/∂"):
                    child.text = child.text.split("=")[0] + "= ?"
                    child.set("fill", "#6b7280")
                else:
                    group.remove(child)
            elif child.tag == "rect" and child.get("fill") == PILL_FILL:
                child.set("height", "18")           # one line: "∂f/∂x = ?"
                child.set("fill", "#f9fafb")
                child.set("stroke", "#d1d5db")
                child.set("stroke-dasharray", "3 2")
            elif child.tag == "title" and child.text:     # "...; gradient sent back 2"
                parts = child.text.split("; ")
                child.text = "; ".join(p for p in parts if "gradient" not in p)
    return ElementTree.tostring(root, encoding="unicode")


def _expression_text(payload: dict[str, Any]) -> str:
    text = payload.get("expr")
    if not isinstance(text, str):
        raise ApiError(400, f"expr must be a string, not {type(text).__name__}")
    return text


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|nan|inf|infinity)",
                     re.IGNORECASE)


def _values(payload: dict[str, Any]) -> dict[str, float]:
    """`values`: name -> a number, or a number's text ("-0.0", "1e-310", "nan", "inf")."""
    given = payload.get("values", {})
    if not isinstance(given, dict):
        raise ApiError(400, f"values must be an object of name: number, not "
                            f"{type(given).__name__}")
    values = {}
    for name, value in given.items():
        if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            values[name] = float(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            values[name] = float(value)
        elif isinstance(value, list):
            raise ApiError(400, f"{name} is a list: the explorer takes one number per input "
                                f"(use `refad grad` for arrays)")
        else:
            shown = value if isinstance(value, str) else json.dumps(value)
            raise ApiError(400, f"the value of {name} is not a number: {shown[:40]!r}")
    return values


def _case(payload: dict[str, Any]):
    """The expression and values as a Case, checked like `refad grad` does (ApiError 400)."""
    from .usage import UsageError, checked_case

    text = _expression_text(payload)
    values = _values(payload)
    with _REFAD_LOCK:
        try:
            case = checked_case(text, values)
        except UsageError as error:
            raise ApiError(400, str(error)) from None
    return case
