"""Where a NaN or an infinity is born: the first node of the forward pass whose inputs were
all finite, or the first backward step whose upstream was finite (0 x inf in a `mul`).

Used by `refad.trace`; `names` maps tensors to the trace's node names.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .node import Tensor
from .trace_text import format_value


def forward_origin(out: Tensor, names: Any) -> dict[str, Any] | None:
    """Follow a non-finite output back to the first node whose inputs were all finite."""
    if is_finite(out.data):
        return None
    node = out
    while node.prim is not None:
        bad = [a for a in node.inputs if not is_finite(a)]
        if not bad:
            break
        if type(bad[0]) is not Tensor or bad[0].prim is None:
            what = names.text(bad[0]) if type(bad[0]) is Tensor else "a constant"
            return {"pass": "forward", "node": names(node), "op": node.op,
                    "value": node.data, "message": f"{names(node)} = {node.op}(...) receives "
                    f"{what} = {format_value(bad[0])}, given rather than computed"}
        node = bad[0]
    name = names(node)
    if node.prim is None:
        message = f"the input {name} is {format_value(node.data)}, given rather than computed"
    else:
        args = ", ".join(f"{names.text(a)} = {format_value(a)}" if type(a) is Tensor
                         else format_value(a) for a in node.inputs)
        message = (f"{name} = {node.op}({args}) = {format_value(node.data)}: its inputs are "
                   f"finite, so the {_kind(node.data)} is born here, in the forward pass")
    return {"pass": "forward", "node": name, "op": node.op or "input", "value": node.data,
            "message": message}


def backward_origin(passes: list) -> dict[str, Any] | None:
    """The first backward step whose contribution (or sum over paths) is not finite."""
    for p in passes:
        values = {n.name: n.value for n in p.forward}
        for s in p.backward:
            if is_finite(s.contribution) and is_finite(s.total):
                continue
            where = f"step {s.number}" + ("" if p.of == "out" else f" of the pass of {p.of}")
            origin = {"pass": "backward", "of": p.of, "step": s.number, "node": s.node,
                      "op": s.op, "input": s.input, "upstream": s.upstream,
                      "local_value": s.local_value, "contribution": s.contribution}
            if not is_finite(s.contribution):
                message = (f"{where}: {s.node} ({s.op}) sends upstream "
                           f"{format_value(s.upstream)} x local {s.formula} = "
                           f"{format_value(s.local_value)}, giving "
                           f"{format_value(s.contribution)} for {s.input}; the upstream is "
                           f"finite, so the {_kind(s.contribution)} is born here")
                if not is_finite(values.get(s.node, 0.0)):
                    message += (f" (the forward value of {s.node} was "
                                f"{format_value(values[s.node])}, hidden from the output)")
            else:
                parts = " + ".join(format_value(c) for _, c in s.paths)
                message = (f"{where}: the sum over paths at {s.input} overflows: {parts} = "
                           f"{format_value(s.total)}")
            origin["message"] = message
            return origin
    return None


def is_finite(value: Any) -> bool:
    """True when every element of `value` (a tensor, array or number) is finite."""
    data = raw(value)
    if type(data) is float:
        return math.isfinite(data)
    array = np.asarray(data)
    return array.dtype.kind not in "fc" or bool(np.all(np.isfinite(array)))


def _kind(value: Any) -> str:
    return "NaN" if np.any(np.isnan(np.asarray(raw(value), dtype=float))) else "infinity"


def raw(value: Any) -> Any:
    """The data of a tensor, or the value itself."""
    return value.data if type(value) is Tensor else value
