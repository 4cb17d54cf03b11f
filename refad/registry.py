"""The machinery behind the registry of primitives: `Primitive`, `defprim`, `apply`.

A primitive is called like a function. Given tensors it records a graph node (when one of
them requires grad); given raw values (floats, numpy arrays) it just computes and returns a
raw value. That second mode is what makes the VJPs cheap: they are written with the same
primitives, so during an ordinary backward pass (raw values) they cost one arithmetic
operation each, and during `create_graph=True` (tensor values) they record the backward pass
as a graph of its own, which is how second and third derivatives come for free.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .mode import Quiet as Quiet
from .mode import _GradMode
from .node import _NO_PARAMS, Tensor, _make, normalise
from .optable import op

REGISTRY: dict[str, Primitive] = {}

# What a math-module fast path may raise where numpy would return inf or nan instead.
_SCALAR_FAILURES = (ArithmeticError, ValueError, TypeError)


class Primitive:
    """One differentiable operation: forward, one VJP per input, local derivative texts.

    Attributes:
        name: the numpy/torch spelling ("mul", "sin").
        forward: the numpy implementation, applied to raw values.
        scalar: an optional fast path for Python floats; on any error numpy decides.
        vjps: one function per input, `vjp(g, out, *inputs, **params)` -> contribution,
            or None for an input that is not differentiable (a `where` condition).
            None for the whole tuple marks a primitive whose output never has a gradient.
        local: per input, the local derivative as a formula, for readers and the trace.
        note: the convention at non-differentiable points, where there is one.
        examples: (args, params) pairs at ordinary points of the domain; the test suite
            checks every VJP there against finite differences, so a new entry is tested
            the moment it exists.
    """

    __slots__ = ("name", "forward", "scalar", "vjps", "local", "note", "examples")

    def __init__(self, name, forward, scalar, vjps, local, note, examples):
        self.name = name
        self.forward = forward
        self.scalar = scalar
        self.vjps = vjps
        self.local = local
        self.note = note
        self.examples = examples

    def __call__(self, *args, **params):
        if len(args) == 1 and type(args[0]) is float and self.scalar is not None \
                and not params:
            try:                    # the hot path of a VJP: cos(x) on a Python float
                return self.scalar(args[0])
            except _SCALAR_FAILURES:
                pass
        scalar = self.scalar is not None
        for arg in args:
            kind = type(arg)
            if kind is Tensor:
                return apply(self, args, params)
            if kind is not float and kind is not int and kind is not bool:
                scalar = False
        if scalar:
            try:
                return self.scalar(*args, **params)
            except _SCALAR_FAILURES:
                pass                # 1/0, log(0), exp(1000): let numpy give inf or nan
        return self.compute(args, params)

    def compute(self, values, params):
        """Evaluate on raw values: Python numbers take the math fast path, the rest numpy."""
        if self.scalar is not None:
            for value in values:
                kind = type(value)
                if kind is not float and kind is not int and kind is not bool:
                    break
            else:
                try:
                    if params:
                        result = self.scalar(*values, **params)
                    else:
                        result = self.scalar(*values)   # no empty **{}: the hot path
                except _SCALAR_FAILURES:
                    pass
                else:
                    # maximum(x, 0) may return the int 0: storage is a float (or a bool)
                    return result if type(result) is float else normalise(result)
        try:
            if Quiet.depth:
                result = self.forward(*values, **params)
            else:
                with np.errstate(all="ignore"):
                    result = self.forward(*values, **params)
        except ValueError as error:
            raise ShapeError(self.name, values, error) from None
        return normalise(result)

    @property
    def backward_name(self) -> str:
        """The name PyTorch gives this node's backward (`MulBackward0`), from the op table."""
        names = op(self.name).grad_fn
        return names[0] if names else ""

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


class ShapeError(ValueError):
    """Inputs whose shapes do not fit the primitive; the message names both shapes."""

    def __init__(self, name, values, error):
        shapes = " and ".join(str(shape_of(v)) for v in values)
        super().__init__(f"{name}: shapes {shapes} do not fit ({error})")


def defprim(name: str, forward: Callable, scalar: Callable | None = None, *,
            vjps: tuple | None, local: tuple[str, ...] = (), note: str = "",
            examples: tuple = ()) -> Primitive:
    """Register a primitive. Every entry must carry a local-derivative text per VJP.

    Args:
        name: the numpy/torch spelling.
        forward: the numpy implementation.
        scalar: an optional fast path on Python floats (numpy decides on any error).
        vjps: one `vjp(g, out, *inputs, **params)` per input (None: not differentiable).
        local: the local derivative of each input as a formula.
        note: the convention at points where the derivative does not exist.
        examples: `example(...)` points where the tests check the VJPs numerically.
    """
    if name in REGISTRY:
        raise ValueError(f"primitive {name!r} is registered twice")
    op(name)            # every primitive has an entry in the op table (KeyError naming it)
    if vjps is not None and len(local) != len(vjps):
        raise ValueError(f"primitive {name!r}: {len(vjps)} VJPs but {len(local)} local texts")
    prim = Primitive(name, forward, scalar, vjps, local, note, examples)
    REGISTRY[name] = prim
    return prim


def example(*args, **params) -> tuple[tuple, dict]:
    """One example point of a primitive: its positional inputs and its parameters."""
    return args, params


def apply(prim: Primitive, args: tuple, params: dict) -> Tensor:
    """Run `prim` on tensors (and constants); record a node if any input requires grad."""
    record = False
    scalar = prim.scalar
    if len(args) == 1:                      # the common unary case, without a list
        x = args[0].data
        record = args[0].requires_grad
        if type(x) is float and scalar is not None and not params:
            try:                            # the scalar hot path, without compute()
                return _node(scalar(x), record, prim, args, params)
            except _SCALAR_FAILURES:
                pass
        values = (x,)
    elif len(args) == 2:                    # binary, unrolled for speed
        a, b = args
        if type(a) is Tensor:
            record = a.requires_grad
            a = a.data
        if type(b) is Tensor:
            record = record or b.requires_grad
            b = b.data
        if type(a) is float and type(b) is float and scalar is not None and not params:
            try:
                return _node(scalar(a, b), record, prim, args, params)
            except _SCALAR_FAILURES:
                pass
        values = (a, b)
    else:
        values = []
        for arg in args:
            if type(arg) is Tensor:
                values.append(arg.data)
                if arg.requires_grad:
                    record = True
            else:
                values.append(arg)
    return _node(prim.compute(values, params), record, prim, args, params)


def _node(data: Any, record: bool, prim: Primitive, args: tuple, params: dict) -> Tensor:
    """The result tensor: a graph node when recording, else a constant."""
    if record and prim.vjps is not None and _GradMode.enabled:
        return _make(data, True, prim, args, params)
    return _make(data, False, None, (), _NO_PARAMS)


# -- shapes -----------------------------------------------------------------------------------

def shape_of(value: Any) -> tuple[int, ...]:
    """The shape of a tensor, numpy value or Python number (numbers are 0-d)."""
    if type(value) is float or type(value) is int or type(value) is bool:
        return ()
    return np.shape(value.data if type(value) is Tensor else value)


def dtype_of(value: Any) -> np.dtype:
    if type(value) is Tensor:
        return value.dtype
    if type(value) is float:
        return np.dtype(np.float64)
    return np.asarray(value).dtype


def zeros_like(value: Any) -> Any:
    """Raw zeros of `value`'s shape and dtype (never recorded: a zero has no gradient)."""
    data = value.data if type(value) is Tensor else value
    if type(data) is float or type(data) is int:
        return 0.0
    return normalise(np.zeros(np.shape(data), dtype=dtype_of(data)))


def ones_like(value: Any) -> Any:
    data = value.data if type(value) is Tensor else value
    if type(data) is float or type(data) is int:
        return 1.0
    return normalise(np.ones(np.shape(data), dtype=dtype_of(data)))
