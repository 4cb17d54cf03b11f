"""The `jax` backend: `jax.value_and_grad` and `jax.hessian`, eagerly or under `jax.jit`.

float64 needs JAX's x64 mode. It is switched on with JAX's own context manager
(`jax.enable_x64(True)`, thread-local) only while a case is evaluated, so importing or
using this adapter never changes how other code's JAX behaves; float32 runs inside
`enable_x64(False)`, so they too do not depend on the caller's setting.

Modes: eager JAX compiles each primitive once per operand shape (0.3-1 s here) and then
dispatches it in about 0.3 ms; `jax.jit` compiles the whole evaluation (0.15 s for a tiny
case, growing with the graph) and then runs fast. `JaxBackend()` ("auto") measures the case's
graph with refad (nodes, and distinct non-scalar shapes), picks whichever the cost model
below says is cheaper (in practice: eager for scalar cases, jit for small tensor cases,
eager again for long tensor chains), and records the choice in `Result.mode`, the node count
in `Result.info["ops"]` and the shape count in `Result.info["shapes"]`.
`JaxBackend(mode="jit")` (also registered-able as `JaxJitBackend`, named `jax-jit`) always
compiles: that is what a "jax-jit" report column uses. Its answers may legitimately differ
from eager ones, because XLA rewrites the graph (it may fuse `log(exp(x))` into `x`, or
contract `a*b + c` into a fused multiply-add), so a jit-versus-eager difference is a finding
about XLA, not about JAX's derivatives. jax is imported inside the adapter (it costs ~1.4 s).
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

from .base import Backend, Result, as_numpy, hessian_pairs
from .namespace import from_table
from .refad_backend import run_case

INSTALL_HINT = "jax is not installed (pip install 'refad[jax]')"
MODES = ("auto", "eager", "jit")

# The auto-mode cost model, in seconds, measured on this project's 2-core CPU machine under
# load (jax 0.10.2); re-measure on other hardware. Eager JAX compiles each primitive once per
# operand shape and dtype, on first use, and then dispatches it in ~0.3 ms: scalar shapes
# recur from case to case, so scalar cases run warm, while a tensor case's shapes are
# usually new and each costs a compile. jit compiles the whole evaluation once, in a time
# that grows with the graph (faster than linearly for long chains).
EAGER_SECONDS_PER_OP = {1: 0.3e-3, 2: 1.0e-3}   # warm dispatch per node (order 2: jax.hessian)
EAGER_SECONDS_PER_SHAPE = {1: 0.3, 2: 1.0}      # first use of an (op, non-scalar shape) pair
COMPILE_SECONDS = {1: 0.15, 2: 0.3}             # trace and compile a tiny case
COMPILE_SECONDS_PER_OP = {1: 0.03, 2: 0.08}     # the growth of compile time with the graph


class JaxBackend(Backend):
    """JAX, in `mode` "auto" (per case, the cheaper of eager and jit), "eager" or "jit"."""

    name = "jax"

    def __init__(self, mode: str = "auto") -> None:
        if mode not in MODES:
            raise ValueError(f"JaxBackend mode {mode!r}; use one of {', '.join(MODES)}")
        self.mode = mode
        self.name = "jax" if mode == "auto" else f"jax-{mode}"
        self.description = (f"JAX ({mode}): jax.value_and_grad, jax.hessian for order 2, "
                            f"x64 enabled for float64")

    def available(self) -> tuple[bool, str]:
        return _importable()

    def versions(self) -> dict[str, str]:
        import jax
        import jaxlib
        return {"jax": jax.__version__, "jaxlib": jaxlib.__version__}

    def _evaluate(self, case, dtype: str, order: int) -> Result:
        import jax

        info: dict[str, Any] = {}
        mode = self.mode
        if mode == "auto":
            size = graph_size(case)
            if size is not None:
                info["ops"], info["shapes"] = size
            mode = choose_mode(size, order)
        with _x64(jax, dtype == "float64"):
            try:
                value, grads, hessian = _compute(case, dtype, order, jit=mode == "jit")
            except jax.errors.ConcretizationTypeError as error:
                if self.mode != "auto":
                    raise
                # Python control flow on a traced value cannot be compiled; eager can run it.
                info["jit_failed"] = str(error).strip().splitlines()[0]
                mode = "eager"
                value, grads, hessian = _compute(case, dtype, order, jit=False)
            result = Result(self.name, case.name, dtype, order, mode=mode, info=info,
                            value=as_numpy(value, dtype))
            names = case.differentiated
            if order >= 1:
                for name, g in zip(names, grads, strict=True):
                    result.grad[name] = as_numpy(g, dtype)
            if hessian is not None:
                position = {name: i for i, name in enumerate(names)}
                for a, b in hessian_pairs(names):
                    block = hessian[position[a]][position[b]]
                    result.hessian[(a, b)] = as_numpy(block, dtype)
        return result


class JaxJitBackend(JaxBackend):
    """`JaxBackend(mode="jit")` under the name `jax-jit`, constructible without arguments."""

    def __init__(self) -> None:
        super().__init__(mode="jit")


def _compute(case, dtype: str, order: int, jit: bool) -> tuple[Any, tuple, Any]:
    """(value, gradients, Hessian blocks or None) as numpy, eagerly or compiled."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    names = case.differentiated

    def convert(value):
        with np.errstate(over="ignore"):    # 1e300 in float32 is inf, as in the others
            return jnp.asarray(np.asarray(value, dtype=dtype))

    args = tuple(convert(case.inputs[name]) for name in names)
    # Inputs not differentiated and constants are arguments too (not closed over), so that
    # jit cannot fold them into the compiled program; they are simply not in `argnums`.
    fixed = {name: convert(value)
             for name, value in {**case.inputs, **case.constants}.items() if name not in names}
    ops = make_ops()

    def f(*all_args):
        *diff, rest = all_args
        return case.fn(ops, **dict(zip(names, diff, strict=True)), **rest)

    argnums = tuple(range(len(names)))

    def value_and_grad(*all_args):
        return jax.value_and_grad(f, argnums=argnums)(*all_args)

    def grad_with_aux(*all_args):
        value, grads = value_and_grad(*all_args)
        return grads, (value, grads)

    def compute(args, fixed):
        if order < 1 or not names:
            return f(*args, fixed), (), None
        if order < 2:
            return (*value_and_grad(*args, fixed), None)
        # jax.hessian is jacfwd(jacrev(f)); differentiating value_and_grad forward instead
        # gives the same numbers and the value and gradient on the way, in one pass.
        hessian, (value, grads) = jax.jacfwd(grad_with_aux, argnums=argnums,
                                             has_aux=True)(*args, fixed)
        return value, grads, hessian

    if jit:
        compute = jax.jit(compute)
    value, grads, hessian = compute(args, fixed)
    value = np.asarray(value)
    grads = tuple(np.asarray(g) for g in grads)
    if hessian is not None:
        hessian = [[np.asarray(block) for block in row] for row in hessian]
    return value, grads, hessian


def graph_size(case) -> tuple[int, int] | None:
    """The size of refad's graph of the case (inner `grad`s included), or None.

    Args:
        case: the case, evaluated once by refad with every input requiring grad.

    Returns:
        (nodes, distinct (op, shape) pairs of non-scalar nodes), or None when refad cannot
        evaluate the case.
    """
    import refad

    try:
        out, _ = run_case(case)
    except Exception:  # noqa: BLE001 -- the real evaluation will report the problem
        return None
    if not isinstance(out, refad.Tensor) or not out.requires_grad:
        return 1, 0
    nodes = refad.topological_order([out])
    shapes = {(node.op, node.shape) for node in nodes if node.op and node.shape != ()}
    return len(nodes), len(shapes)


def estimate_seconds(ops: int, shapes: int, order: int) -> dict[str, float]:
    """The cost model: estimated seconds of one evaluation, eagerly and under jit.

    Args:
        ops: the number of nodes of the case's graph.
        shapes: its distinct (op, non-scalar shape) pairs (each an eager compile).
        order: the derivative order (0 is costed like 1).

    Returns:
        {"eager": seconds, "jit": seconds}.
    """
    order = min(max(order, 1), 2)
    eager = ops * EAGER_SECONDS_PER_OP[order] + shapes * EAGER_SECONDS_PER_SHAPE[order]
    jit = COMPILE_SECONDS[order] + ops * COMPILE_SECONDS_PER_OP[order]
    return {"eager": eager, "jit": jit}


def choose_mode(size: tuple[int, int] | None, order: int) -> str:
    """"jit" when the cost model says jit is cheaper for a case of this size, else "eager".

    Args:
        size: `graph_size(case)` (None: unknown, run eagerly).
        order: the derivative order.

    Returns:
        "eager" or "jit".
    """
    if size is None:
        return "eager"
    estimate = estimate_seconds(*size, order)
    return "jit" if estimate["jit"] < estimate["eager"] else "eager"


@functools.cache
def _importable() -> tuple[bool, str]:
    try:
        import jax  # noqa: F401
        import jaxlib  # noqa: F401
    except ImportError:
        return False, INSTALL_HINT
    return True, ""


def _x64(jax, enabled: bool):
    """JAX's thread-local x64 switch as a context manager (newer and older spellings)."""
    if hasattr(jax, "enable_x64"):              # newer jax; older only has the experimental one
        return jax.enable_x64(enabled)
    from jax.experimental import disable_x64, enable_x64
    return enable_x64() if enabled else disable_x64()


@functools.cache
def make_ops() -> SimpleNamespace:
    """The ops vocabulary over jax.numpy (jnp accepts Python numbers everywhere).

    Returns:
        a namespace with every name in `refad.vocabulary.FUNCTIONS`.
    """
    import jax
    import jax.numpy as jnp

    def matmul(a, b):
        try:
            return jnp.matmul(a, b)
        except (TypeError, ValueError) as error:    # jax speaks of dot_general: name the op
            raise ValueError(f"matmul: shapes {jnp.shape(a)} and {jnp.shape(b)} do not fit "
                             f"({str(error).strip().splitlines()[0]})") from error

    def grad(f):
        return jax.grad(f)

    return from_table("jax", jax, lambda entry, function: function,
                      {"matmul": matmul, "grad": grad})
