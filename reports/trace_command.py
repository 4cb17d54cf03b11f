"""`refad trace EXPR NAME=VALUE ... [--order 1|2] [--frameworks] [--json]`.

The forward table and the backward pass step by step come from refad (`refad.trace`); the
analytic derivatives (sympy), what PyTorch's anomaly mode and JAX's debug_nans say about a
NaN, and with `--frameworks` PyTorch's grad_fn graph and JAX's jaxprs come from
`adapters.framework_trace`. This module parses, puts them together and prints them.
"""

from __future__ import annotations

import json
from typing import Any

from refad.trace_text import table as _table

from .usage import UsageError, parse_assignments

# Up to this many units in the last place, a framework's number is called a rounding
# difference (another order of operations, another libm); beyond, a difference.
ROUNDING_ULPS = 64


def run_trace(args) -> int:
    """Print the trace of `args.expr` at `args.values`; exit status 0 (2 on bad input)."""
    from refad.adapters import framework_trace

    from refad.trace import trace

    from .usage import checked_case

    case = checked_case(args.expr, parse_assignments(args.values), command="refad trace")
    try:
        result = trace(case.fn, case.inputs, order=args.order, expr=args.expr)
    except (ValueError, TypeError, IndexError) as error:
        raise UsageError(f"cannot trace {args.expr!r}: {error}") from None
    result.analytic = framework_trace.analytic(case, args.order)
    if result.nan_origin is not None:
        result.nan_origin.update(framework_trace.nan_reports(case))
    if args.frameworks:
        result.frameworks = framework_trace.frameworks(case, result)
    if args.json:
        from .writers import json_ready
        print(json.dumps(json_ready(result.to_dict()), allow_nan=False))
    else:
        text = result.to_text()
        if args.frameworks:
            text += "\n\n" + frameworks_text(result.frameworks)
        print(text)
    return 0


def frameworks_text(views: dict[str, Any]) -> str:
    """PyTorch's grad_fn graph and JAX's jaxprs, as `refad trace --frameworks` prints them."""
    lines = []
    torch_view = views.get("pytorch", {})
    if "unavailable" in torch_view:
        lines.append(f"PyTorch: {torch_view['unavailable']}")
    elif torch_view:
        lines += [f"PyTorch {torch_view['version']}: the grad_fn graph, from out.grad_fn along "
                  "next_functions,", "each node beside the refad node in the same place"]
        lines += _grad_fn_table(torch_view["graph"])
        for second in torch_view.get("second", []):
            lines += ["", f"PyTorch's graph of {second['of']} (torch.autograd.grad with "
                          "create_graph=True)"]
            lines += _grad_fn_table(second["graph"])
        lines += _numbers_text("PyTorch", torch_view)
    jax_view = views.get("jax", {})
    if lines:
        lines.append("")
    if "unavailable" in jax_view:
        lines.append(f"JAX: {jax_view['unavailable']}")
    elif jax_view:
        arguments = ", ".join(jax_view["arguments"])
        lines.append(f"JAX {jax_view['version']}: jaxprs (arguments in order: {arguments})")
        jaxprs = [("jax.make_jaxpr(f)", jax_view["jaxpr"])]
        if "grad_jaxpr" in jax_view:
            jaxprs.append(("jax.make_jaxpr(jax.grad(f, argnums))", jax_view["grad_jaxpr"]))
        for of, jaxpr in jax_view.get("second_jaxprs", {}).items():
            position = jax_view["arguments"].index(of[3:])
            jaxprs.append((f"{of} differentiated again, jax.make_jaxpr(jax.grad(jax.grad(f, "
                           f"{position}), argnums))", jaxpr))
        for title, jaxpr in jaxprs:
            lines += [f"  {title}:"] + ["    " + line for line in jaxpr.splitlines()]
        lines += _numbers_text("JAX", jax_view)
    return "\n".join(lines)


def _grad_fn_table(graph: list[dict[str, Any]]) -> list[str]:
    rows = []
    for entry in graph:
        ours = entry["refad"] or "-"
        if entry["refad_op"] and entry["refad_op"] != "input":
            ours += f" {entry['refad_op']} ({entry['refad_backward']})"
        elif entry["refad_op"] == "input":
            ours += " (input)"
        if entry["refad"] is None:
            match = "no refad node here"
        else:
            match = "same operation" if entry["same_op"] else "a different operation"
        paths = f"{entry['consumers']} consumers: sum over paths" if entry["consumers"] > 1 \
            else ""
        rows.append([entry["torch"], ours, match, ", ".join(entry["next"]) or "-", paths])
    return _table(["torch", "refad", "", "next_functions", ""], rows)


def _numbers_text(label: str, view: dict[str, Any]) -> list[str]:
    from refad.trace_text import format_value

    if "error" in view:
        return [f"  {label}'s numbers: {view['error']}"]
    ulps = view["ulps_from_refad"]
    rows = [["value", format_value(view["value"]), _verdict(ulps.get("value"))]]
    for name, g in view["gradients"].items():
        rows.append([f"d/d{name}", format_value(g), _verdict(ulps.get(f"d/d{name}"))])
    for a, row in view.get("hessian", {}).items():
        for b, h in row.items():
            key = f"d2/d{a}d{b}"
            rows.append([key, format_value(h), _verdict(ulps.get(key, "skip"))])
    return [f"  {label}'s numbers, against refad's:"] + ["  " + line for line in
                                                         _table(["", "", ""], rows)[1:]]


def _verdict(ulps: Any) -> str:
    if ulps == "skip":
        return ""
    if ulps is None:
        return "DIFFERS from refad (non-finite on one side, or another shape)"
    if ulps == 0:
        return "same as refad, to the last bit"
    if ulps <= ROUNDING_ULPS:
        return f"{ulps} ulp{'s' if ulps > 1 else ''} from refad (a different rounding)"
    return f"DIFFERS from refad ({ulps} ulps)"
