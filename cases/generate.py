"""Random expression DAGs over the ops vocabulary, with points inside their domains.

One grammar, two drivers. `generate(choose)` asks a *chooser* for every decision
(`choose.integer(lo, hi)`, `choose.pick(options)`, `choose.real(lo, hi)`), so the same code
runs on `RandomChooser(seed)` for `refad fuzz` and on hypothesis draws for the property
test (`strategy()`), where hypothesis shrinks a failing DAG and its point by shrinking the
choices: smaller integers, earlier options (simple ops first), fewer nodes.

The point is drawn first, then the DAG grows node by node while every node's float64 value
is tracked (numpy; refad for nested `grad`). An operation is only applied where its
argument is inside its domain and far from trouble (`cases.domains`): log of a positive
number, tan away from its poles, no cancellation that leaves a few bits, values below 1e4.
An argument exactly at a kink (abs/relu/sqrt at 0, a maximum tie, where at its switch, pow
at base 0, atan2 at the origin) is allowed and tags the case `kink`: some cases draw such
points on purpose (an input 0, two inputs equal, a constant equal to an input).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from refad.optable import fuzz_kinds

from .case import Case
from .dag import Dag, DagFunction, arguments, evaluate, prune, render
from .domains import BOUND, check

NAMES = ("x", "y", "z")
MAX_DEPTH = 5
MAX_OPS = 16                    # operation nodes (inputs and constants come on top)
# From the op table, in its order, simplest first: hypothesis shrinks a pick towards the start
# of its list.
UNARY = fuzz_kinds(1)
BINARY = fuzz_kinds(2)
NICE = (0.5, 1.0, 2.0, 1.5, 0.25, 3.0, 0.75, 4.0, 0.125, 2.5)
CONSTANTS = (2.0, 0.5, 1.0, 3.0, 0.25, 1.5, -1.0, -0.5, 0.1, 10.0)
EXPONENTS = (2.0, 3.0, 0.5, 1.5, -1.0, 2.5, -0.5, 4.0, -2.0)
SHAPES = ((3,), (2, 3))
MATRICES = {(3,): np.array([0.5, -1.0, 2.0]), (3, 2): np.array([[1.0, -0.5], [0.25, 2.0],
                                                                  [-1.5, 0.75]])}


class Chooser(Protocol):
    """Every random decision the generator makes goes through one of these."""

    def integer(self, lo: int, hi: int) -> int: ...      # lo <= n <= hi
    def pick(self, options: Sequence[Any]) -> Any: ...
    def real(self, lo: float, hi: float) -> float: ...


class RandomChooser:
    """A chooser on `random.Random(seed)`: the same seed, the same DAGs."""

    def __init__(self, seed: int | str) -> None:
        self.random = random.Random(seed)

    def integer(self, lo: int, hi: int) -> int:
        return self.random.randint(lo, hi)

    def pick(self, options: Sequence[Any]) -> Any:
        return options[self.random.randrange(len(options))]

    def real(self, lo: float, hi: float) -> float:
        return self.random.uniform(lo, hi)


def chance(choose: Chooser, p: float) -> bool:
    """True with probability p (shrinks towards False: the plain case)."""
    return choose.integer(0, 999) >= 1000 - round(p * 1000)


def generate(choose: Chooser, name: str = "fuzz", tensor: float = 0.15, nested: float = 0.05,
             kink: float = 0.2) -> Case:
    """One random case: a DAG of up to MAX_OPS operations and a point in its domain.

    Args:
        choose: the source of every decision (`RandomChooser`, or hypothesis draws).
        name: the case name.
        tensor, nested, kink: the probabilities of array inputs, of a nested `grad`, and
            of a point drawn to sit on kinks (an input 0, equal inputs).
    """
    builder = _Builder(choose, chance(choose, kink))
    shape = choose.pick(SHAPES) if chance(choose, tensor) else ()
    builder.add_inputs(choose.integer(1, 3), shape)
    allow_grad = shape == () and chance(choose, nested)
    for _ in range(choose.integer(1, MAX_OPS)):
        builder.grow(allow_grad)
    while builder.nodes[-1][0] in ("input", "const", "constant"):
        builder.grow(allow_grad)            # the output is an operation, not an input
    builder.finish()
    return builder.case(name)


def strategy(**options: Any):
    """A hypothesis strategy of cases (hypothesis is imported here, not at module import)."""
    from hypothesis import strategies as st

    @st.composite
    def cases(draw):
        return generate(_DrawChooser(draw, st), **options)

    return cases()


class _DrawChooser:
    def __init__(self, draw, st) -> None:
        self.draw, self.st = draw, st

    def integer(self, lo: int, hi: int) -> int:
        return self.draw(self.st.integers(lo, hi))

    def pick(self, options: Sequence[Any]) -> Any:
        return options[self.draw(self.st.integers(0, len(options) - 1))]

    def real(self, lo: float, hi: float) -> float:
        return self.draw(self.st.floats(lo, hi, allow_nan=False, allow_infinity=False))


class _Builder:
    """Grows a DAG node by node, keeping each node's float64 value and depth."""

    def __init__(self, choose: Chooser, kink_mode: bool) -> None:
        self.choose, self.kink_mode = choose, kink_mode
        self.nodes: list[tuple] = []
        self.values: list[np.ndarray] = []
        self.depths: list[int] = []
        self.inputs: dict[str, Any] = {}
        self.constants: dict[str, np.ndarray] = {}
        self.kinks: list[tuple[int, str]] = []      # (node, what kink it sits on)

    # -- the point ------------------------------------------------------------------------
    def add_inputs(self, count: int, shape: tuple) -> None:
        for name in NAMES[:count]:
            size = int(np.prod(shape)) if shape else 1
            numbers = [self._number() for _ in range(size)]
            value = np.array(numbers).reshape(shape)
            self.inputs[name] = float(value) if shape == () else value
            self._append(("input", name), value, 0)

    def _number(self) -> float:
        choose = self.choose
        earlier = [float(v) for value in self.inputs.values() for v in np.ravel(value)]
        if self.kink_mode and chance(choose, 0.4):
            options = [0.0, -0.0] + earlier
            return choose.pick(options)
        if chance(choose, 0.5):
            return choose.pick((1.0, -1.0)) * choose.pick(NICE)
        magnitude = 10.0 ** choose.real(-3.0, 1.0)
        return float(np.float64(choose.pick((1.0, -1.0)) * magnitude))

    # -- growing --------------------------------------------------------------------------
    def grow(self, allow_grad: bool) -> None:
        """Add one operation node (up to 12 tries for an op whose domain the point fits)."""
        for _ in range(12):
            kind = self.choose.integer(0, 9)
            if kind <= 3:
                added = self._unary()
            elif kind <= 7:
                added = self._binary()
            elif kind == 8:
                added = self._where()
            else:
                added = self._special(allow_grad)
            if added:
                return

    def _operand(self) -> int | None:
        """An earlier node below the depth limit, mostly a recent one (that builds depth)."""
        usable = [i for i, d in enumerate(self.depths)
                  if d < MAX_DEPTH and self.nodes[i][0] not in ("const", "constant")]
        if not usable:
            return None
        if chance(self.choose, 0.3):
            return self.choose.pick(usable)
        return usable[-1 - self.choose.integer(0, min(2, len(usable) - 1))]

    def _constant(self, pool: Sequence[float]) -> int:
        if self.kink_mode:
            pool = tuple(pool) + tuple(float(v) for v in self.inputs.values() if np.ndim(v) == 0)
        value = float(self.choose.pick(pool))
        self._append(("const", value), np.float64(value), 0)
        return len(self.nodes) - 1

    def _unary(self) -> bool:
        op = self.choose.pick(UNARY)
        a = self._operand()
        return a is not None and self._try((op, a))

    def _binary(self) -> bool:
        op = self.choose.pick(BINARY)
        a = self._operand()
        if a is None:
            return False
        mark = len(self.nodes)
        if op in ("**", "pow") and chance(self.choose, 0.6):
            b = self._constant(EXPONENTS)
        elif chance(self.choose, 0.25):
            b = self._constant(CONSTANTS)
        else:
            b = self._operand()
        if chance(self.choose, 0.2) and op not in ("**", "pow"):
            a, b = b, a                                 # the constant on the left, sometimes
        if self._try((op, a, b)):
            return True
        self._drop(mark)
        return False

    def _where(self) -> bool:
        comparison = self.choose.pick(("<", ">", "<=", ">="))
        mark = len(self.nodes)
        a = self._operand()
        b = self._constant(CONSTANTS) if chance(self.choose, 0.5) else self._operand()
        then, otherwise = self._operand(), self._operand()
        if None not in (a, b, then, otherwise):
            if self._try(("where", comparison, a, b, then, otherwise)):
                return True
        self._drop(mark)
        return False

    def _special(self, allow_grad: bool) -> bool:
        """A reduction or matmul of an array node, or a nested grad of a scalar one."""
        a = self._operand()
        if a is None:
            return False
        shape = np.shape(self.values[a])
        if shape:
            if shape[-1] == 3 and chance(self.choose, 0.5):
                return self._matmul(a, shape)
            op = self.choose.pick(("sum", "mean"))
            if len(shape) == 2 and chance(self.choose, 0.5):
                return self._try((op, a, self.choose.pick((0, 1, -1))))
            return self._try((op, a))
        if allow_grad and self.nodes[a][0] not in ("input", "const"):
            name = self.choose.pick(sorted(self._depends_on(a)) or [None])
            return name is not None and self._try(("grad", a, name))
        return False

    def _matmul(self, a: int, shape: tuple) -> bool:
        matrix_shape = self.choose.pick(tuple(MATRICES))
        name = "W" if matrix_shape == (3,) else "M"
        self.constants[name] = MATRICES[matrix_shape]
        if not any(node == ("constant", name) for node in self.nodes):
            self._append(("constant", name), MATRICES[matrix_shape], 0)
        w = self.nodes.index(("constant", name))
        return self._try(("matmul", a, w))

    def _depends_on(self, index: int) -> set[str]:
        node = self.nodes[index]
        if node[0] == "input":
            return {node[1]}
        found: set[str] = set()
        for arg in arguments(node):
            found |= self._depends_on(arg)
        return found

    def _try(self, node: tuple) -> bool:
        """Append `node` if its arguments are in its domain (and note a kink)."""
        args = [self.values[i] for i in arguments(node)]
        if node[0] not in ("matmul", "sum", "mean", "grad"):
            try:
                np.broadcast_shapes(*(np.shape(arg) for arg in args))
            except ValueError:
                return False
        if node[0] == "grad":
            value, kink = self._grad_value(node), ""
            ok = value is not None and np.all(np.isfinite(value)) and np.all(abs(value) <= BOUND)
        else:
            exponent_is_constant = node[0] in ("**", "pow") and self.nodes[node[2]][0] == "const"
            ok, value, kink = check(node, args, exponent_is_constant)
        if not ok:
            return False
        if kink:
            self.kinks.append((len(self.nodes), kink))
        depth = 1 + max((self.depths[i] for i in arguments(node)), default=0)
        self._append(node, value, depth)
        return True

    def _grad_value(self, node: tuple) -> np.ndarray | None:
        import refad

        dag = Dag(tuple(self.nodes) + (node,))
        try:
            value = evaluate(dag, refad, {**self.inputs, **self.constants})
        except Exception:  # noqa: BLE001 -- a grad the engine cannot take is not generated
            return None
        return np.asarray(value.data if isinstance(value, refad.Tensor) else value, dtype=float)

    def _append(self, node: tuple, value: Any, depth: int) -> None:
        self.nodes.append(node)
        self.values.append(np.asarray(value, dtype=np.float64))
        self.depths.append(depth)

    def _drop(self, mark: int) -> None:
        del self.nodes[mark:], self.values[mark:], self.depths[mark:]

    # -- the case -------------------------------------------------------------------------
    def finish(self) -> None:
        """A scalar output (reduce an array one), then keep only the nodes it reads."""
        last = len(self.nodes) - 1
        if np.shape(self.values[last]):
            node = (self.choose.pick(("sum", "mean")), last)
            if not self._try(node):
                # Its terms cancel, but the output must be a scalar: reduce all the same.
                value = getattr(np, node[0])(self.values[last])
                self._append(node, value, self.depths[last] + 1)
        self.nodes, new = prune(self.nodes)
        self.kinks = [(new[i], text) for i, text in self.kinks if i in new]
        used = {node[1] for node in self.nodes if node[0] == "constant"}
        self.constants = {k: v for k, v in self.constants.items() if k in used}
        # The inputs the output reads, in the order the expression text first uses them
        # (the order refad.parse gives its variables).
        text = render(Dag(tuple(self.nodes)))
        read = {node[1] for node in self.nodes if node[0] == "input"}
        first = sorted(read, key=lambda name: re.search(rf"\b{name}\b", text).start())
        self.inputs = {name: self.inputs[name] for name in first}

    def case(self, name: str) -> Case:
        dag = Dag(tuple(self.nodes))
        tags = ["fuzz"]
        if self.kinks:
            tags += ["kink", "nonsmooth"]
        nested = any(node[0] == "grad" for node in self.nodes)
        if any(text.startswith("atan2") for _, text in self.kinks) or (self.kinks and nested):
            # The value itself is a convention: atan2(0, 0) = 0 and atan2(-0.0, -1) = -pi
            # are IEEE's choices (signed zeros), undefined or pi in exact arithmetic; and a
            # value that contains grad() at a kink is a derivative there (grad(relu(y), y) at
            # y = 0: 0 in every framework, Heaviside(0) = 1/2 for sympy).
            tags.append("value-convention")
        if any(np.ndim(v) for v in self.inputs.values()):
            tags.append("tensor")
        if any(node[0] == "grad" for node in dag.nodes):
            tags.append("second-order")
        note = "; ".join(f"{text} (node {i}: {dag.nodes[i][0]})" for i, text in self.kinks)
        return Case(name=name, fn=DagFunction(dag), inputs=dict(self.inputs), family="fuzz",
                    tags=tuple(tags), note=note, expr=render(dag),
                    constants=dict(self.constants))
