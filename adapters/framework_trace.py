"""The frameworks' side of `refad trace`: the same expression as PyTorch and JAX see it.

- PyTorch: the `grad_fn` graph, walked from the output along `next_functions`, each node
  matched to the refad node in the same position (`MulBackward0` to refad's `mul`, each
  `AccumulateGrad` to its input by the variable it holds), with PyTorch's numbers.
- JAX: the jaxpr of the function and of its gradient (and at order 2 of each derivative,
  differentiated again), with JAX's
  numbers (float64 through JAX's own thread-local x64 switch, only while it runs).
- Where a NaN or infinity appears: what PyTorch's anomaly mode and JAX's debug_nans say.
- sympy: the analytic derivatives, as formulas and values (the textbook's pause-and-check).

The functions take a case (duck-typed: `fn`, `inputs`, `constants`, `differentiated`) and
refad's `Trace`; every framework is imported inside the function that uses it.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import Any

import numpy as np

from refad.optable import OPS

from .base import hessian_pairs

# Operations PyTorch records under another name than refad's (refad op -> torch's stems).


def analytic(case, order: int = 1) -> dict[str, Any]:
    """sympy's exact derivatives: {"gradients": {x: {"formula", "value"}}, "hessian": ...},
    or {"unavailable": why} (sympy missing, array inputs, too big)."""
    from .sympy_backend import SympyBackend

    result = SympyBackend().evaluate(case, "float64", order)
    if result.status != "ok":
        return {"unavailable": result.error}
    formula = result.info.get("formula", {})
    exact: dict[str, Any] = {"value": {"formula": formula.get("value"), "value": result.value},
                             "gradients": {}, "hessian": {}}
    for name, value in result.grad.items():
        exact["gradients"][name] = {"formula": formula.get(f"d/d{name}"), "value": value}
    for (a, b), value in result.hessian.items():
        entry = {"formula": formula.get(f"d2/d{a}d{b}"), "value": value}
        exact["hessian"].setdefault(a, {})[b] = entry
        exact["hessian"].setdefault(b, {})[a] = entry     # mixed partials agree
    return exact


def frameworks(case, trace, dtype: str = "float64") -> dict[str, Any]:
    """{"pytorch": torch_view(...), "jax": jax_view(...)}, each {"unavailable": why} if so."""
    views = {}
    for key, view in (("pytorch", torch_view), ("jax", jax_view)):
        try:
            views[key] = view(case, trace, dtype)
        except ImportError as error:
            views[key] = {"unavailable": f"{key} is not installed ({error})"}
        except Exception as error:  # noqa: BLE001 -- a framework failing is a finding
            views[key] = {"unavailable": f"{key} failed: {type(error).__name__}: "
                                         f"{_first_line(error)}"}
    return views


def torch_view(case, trace, dtype: str = "float64") -> dict[str, Any]:
    """PyTorch's grad_fn graph matched to refad's nodes, and PyTorch's numbers.

    At order 2 also the grad_fn graph of each first derivative (made with create_graph=True),
    matched to the graph refad's backward pass recorded.
    """
    import torch

    from .torch_backend import TorchBackend, run_case

    out, leaves = run_case(case, dtype)
    variables = {id(t): name for name, t in leaves.items()}
    view = {"version": torch.__version__, "graph": _grad_fn_graph(out, trace.first, variables)}
    view.update(_numbers(TorchBackend(), case, dtype, trace))
    if trace.order >= 2 and getattr(out, "requires_grad", False):
        grads = torch.autograd.grad(out, list(leaves.values()), create_graph=True,
                                    allow_unused=True)
        view["second"] = [{"of": p.of, "graph": _grad_fn_graph(g, p, variables)}
                          for p, g in zip(trace.second, grads, strict=True)]
    return view


def _grad_fn_graph(out, refad_pass, variables: dict[int, str]) -> list[dict[str, Any]]:
    """Walk `out.grad_fn` depth first (an explicit stack), pairing each node with refad's.

    Pairing is by position: the output with refad's output, then the i-th differentiable
    input of a paired node with the i-th parent of its refad node, as long as both record
    the same operation; an AccumulateGrad is paired by the variable it holds.
    """
    root = getattr(out, "grad_fn", None)
    if root is None:
        return []
    nodes = {n.name: n for n in refad_pass.forward}
    paired = {id(root): refad_pass.output}
    uses: dict[int, int] = {}
    entries, order, seen, stack = {}, [], set(), [root]
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        name = type(fn).__name__
        children = [child for child, _ in fn.next_functions if child is not None]
        for child in children:
            uses[id(child)] = uses.get(id(child), 0) + 1
        if name == "AccumulateGrad":
            ours = variables.get(id(fn.variable))
        else:
            ours = paired.get(id(fn))
            if ours in variables.values():     # torch has an operation where refad has x
                ours = None
        node = nodes.get(ours)
        same = node is not None and same_operation(name, node.op, node.torch_name)
        if same and node.op != "input" and len(node.parents) == len(children):
            for child, parent in zip(children, node.parents, strict=True):
                paired.setdefault(id(child), parent)
        entries[id(fn)] = {"torch": name, "refad": ours, "refad_op": node.op if node else None,
                           "refad_backward": node.torch_name if node else None,
                           "same_op": same, "next": [type(c).__name__ for c in children]}
        order.append(id(fn))
        stack.extend(reversed(children))
    for key in order:
        entries[key]["consumers"] = uses.get(key, 0)
    return [entries[key] for key in order]


def same_operation(torch_name: str, op: str, refad_backward: str) -> bool:
    """True when PyTorch's node records the operation refad's node does.

    `MulBackward0` and `MulBackward1` are overloads of one operation; the op table lists the
    names PyTorch gives each op's node (`grad_fn`: square is `PowBackward0`).
    """
    if op == "input":
        return torch_name == "AccumulateGrad"
    theirs = _stem(torch_name)
    names = OPS[op].grad_fn if op in OPS else (refad_backward,)
    return theirs in {_stem(name) for name in names} or theirs == _stem(refad_backward)


def _stem(name: str) -> str:
    return name.rstrip("0123456789").removesuffix("Backward").lower()


def jax_view(case, trace, dtype: str = "float64") -> dict[str, Any]:
    """The jaxprs of f, of its gradient and (order 2) of each d/dx differentiated again,
    with JAX's numbers."""
    import jax

    from .jax_backend import JaxBackend, _x64

    view: dict[str, Any] = {"version": jax.__version__}
    with _x64(jax, dtype == "float64"):
        f, args, names = _jax_function(case, dtype)     # inside: float64 arrays need x64
        argnums = tuple(range(len(names)))
        view["arguments"] = list(names)
        view["jaxpr"] = str(jax.make_jaxpr(f)(*args))
        if names:
            view["grad_jaxpr"] = str(jax.make_jaxpr(jax.grad(f, argnums=argnums))(*args))
            if trace.order >= 2:
                view["second_jaxprs"] = {f"d/d{name}": str(jax.make_jaxpr(
                    jax.grad(_summed_grad(jax, f, i), argnums=argnums))(*args))
                    for i, name in enumerate(names)}
    view.update(_numbers(JaxBackend(mode="eager"), case, dtype, trace))
    return view


def _summed_grad(jax, f, i: int):
    """d f / d (argument i), summed over its elements if it has several: reverse over
    reverse, as refad's own second passes (jax.hessian is forward over reverse, and its
    jaxpr is far longer)."""
    import jax.numpy as jnp

    def derivative(*values):
        g = jax.grad(f, argnums=i)(*values)
        return jnp.sum(g) if jnp.ndim(g) else g
    return derivative


def _jax_function(case, dtype: str):
    """(f of the differentiated inputs, their values as jax arrays, their names).

    Call it inside the x64 switch: a float64 array made outside it is cut to float32.
    """
    import jax.numpy as jnp

    from .jax_backend import make_ops

    names = tuple(case.differentiated)
    fixed = {name: value for name, value in {**case.inputs, **case.constants}.items()
             if name not in names}

    def f(*values):
        held = {name: jnp.asarray(np.asarray(v, dtype=dtype)) for name, v in fixed.items()}
        return case.fn(make_ops(), **dict(zip(names, values, strict=True)), **held)

    args = tuple(jnp.asarray(np.asarray(case.inputs[name], dtype=dtype)) for name in names)
    return f, args, names


def _numbers(backend, case, dtype: str, trace) -> dict[str, Any]:
    """The backend's value, gradients (and Hessian), each with its distance from refad's.

    `ulps_from_refad` maps each quantity to the largest distance in units in the last place
    (0: identical to the last bit; None: a NaN or an infinity on one side only, or shapes
    that differ). Hessian entries are compared where refad's trace has the row (a scalar a).
    """
    result = backend.evaluate(case, dtype, trace.order)
    if result.status != "ok":
        return {"error": result.error}
    numbers = {"value": result.value, "gradients": dict(result.grad)}
    ulps = {"value": ulp_distance(result.value, trace.value)}
    for name, g in result.grad.items():
        ulps[f"d/d{name}"] = ulp_distance(g, trace.gradients[name])
    if trace.order >= 2:
        numbers["hessian"] = {}
        rows = trace.hessian
        for a, b in hessian_pairs(tuple(case.differentiated)):
            block = result.hessian[(a, b)]
            numbers["hessian"].setdefault(a, {})[b] = block
            if a in rows:
                ulps[f"d2/d{a}d{b}"] = ulp_distance(block, rows[a][b])
    numbers["ulps_from_refad"] = ulps
    return numbers


def ulp_distance(a: Any, b: Any) -> int | None:
    """The largest distance between `a` and `b`, element by element, in float64 ulps.

    NaN against NaN and an infinity against the same infinity count as 0; a non-finite
    number against anything else, or arrays of different shapes, give None.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return None
    both_nan = np.isnan(a) & np.isnan(b)
    finite = np.isfinite(a) & np.isfinite(b)
    if not np.all(both_nan | finite | (a == b)):
        return None
    keys = []
    for x in (a[finite], b[finite]):
        bits = x.view(np.int64).astype(object)      # Python ints: no overflow below
        # Order the bit patterns like the numbers: negatives count down from zero.
        keys.append([-(k + 2**63) if k < 0 else k for k in bits.tolist()])
    return max((abs(p - q) for p, q in zip(*keys, strict=True)), default=0)


def nan_reports(case, dtype: str = "float64") -> dict[str, str]:
    """What PyTorch's anomaly mode and JAX's debug_nans say about the same expression.

    Returns:
        {"pytorch": the first line of its error, or why there was none, "jax": the same}.
    """
    reports = {}
    for key, check in (("pytorch", _torch_anomaly), ("jax", _jax_debug_nans)):
        try:
            reports[key] = check(case, dtype)
        except ImportError as error:
            reports[key] = f"not installed ({error})"
        except Exception as error:  # noqa: BLE001 -- say what happened, never stop the trace
            reports[key] = f"failed: {type(error).__name__}: {_first_line(error)}"
    return reports


def _torch_anomaly(case, dtype: str) -> str:
    import torch

    from .torch_backend import make_ops

    torch_dtype = getattr(torch, dtype)
    with warnings.catch_warnings():         # anomaly mode warns that it is on, and where
        warnings.simplefilter("ignore")
        try:
            with torch.autograd.detect_anomaly():
                leaves = [torch.tensor(v, dtype=torch_dtype, requires_grad=True)
                          for v in case.inputs.values()]
                out = case.fn(make_ops(torch_dtype), **dict(zip(case.inputs, leaves,
                                                                 strict=True)))
                if getattr(out, "requires_grad", False):
                    torch.autograd.grad(out, leaves, allow_unused=True)
        except RuntimeError as error:
            return _first_line(error)
    return ("no error: anomaly mode checks what each backward function returns for NaN; "
            "it does not flag infinities, nor a NaN made in the forward pass")


def _jax_debug_nans(case, dtype: str) -> str:
    import jax

    from .jax_backend import _x64

    found = {}
    for flag in ("debug_nans", "debug_infs"):
        # JAX prints "Invalid nan value encountered ... Calling the de-optimized version."
        # to stdout before raising: keep it out of our output (and out of --json).
        with _x64(jax, dtype == "float64"), contextlib.redirect_stdout(io.StringIO()):
            f, args, names = _jax_function(case, dtype)
            try:
                with _jax_flag(jax, flag):
                    if names:
                        jax.value_and_grad(f, argnums=tuple(range(len(names))))(*args)
                    else:
                        f()
                found[flag] = "no error"
            except (FloatingPointError, ZeroDivisionError) as error:
                found[flag] = _first_line(error)
        if flag == "debug_nans" and found[flag] != "no error":
            return found[flag]
    return (f"no error (debug_nans checks for NaN only); with debug_infs: "
            f"{found['debug_infs']}")


@contextlib.contextmanager
def _jax_flag(jax, flag: str):
    """`with jax.debug_nans(True)` where JAX has it, else the config flag, restored after."""
    state = getattr(jax, flag, None)
    if state is not None and callable(state):
        with state(True):
            yield
        return
    previous = getattr(jax.config, f"jax_{flag}")
    jax.config.update(f"jax_{flag}", True)
    try:
        yield
    finally:
        jax.config.update(f"jax_{flag}", previous)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
