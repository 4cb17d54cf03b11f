"""The node: `Tensor`'s storage and its record in the graph; its operators come later.

`Tensor`: a numpy value with, where it was computed from tensors that require grad, the
primitive that made it and the inputs it was made from. That record is the graph.

Storage: a 0-d float64 value is held as a plain Python `float` (numpy's per-call overhead on
0-d arrays is ~0.9 µs against ~50 ns for `math.sin`), everything else as a numpy array or a
numpy scalar. The dtype is always float64 or float32 (or bool, for comparison results).
A tensor never refers to the tensors computed from it, so graphs hold no reference cycles.

Like HIPS autograd's `Box`, the node is kept apart from its operators: `+`, `x.sin()` and
`.backward()` call the primitives and the backward pass, which are defined after this module
(`refad.tensor` attaches them), so the engine's modules import one way.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))
_DTYPE_NAMES = {
    "float64": np.float64, "double": np.float64, "f8": np.float64,
    "float32": np.float32, "float": np.float32, "f4": np.float32,
}
_BOOL = np.dtype(bool)
_F64 = np.dtype(np.float64)


def resolve_dtype(dtype: Any) -> np.dtype | None:
    """Return the numpy dtype for `dtype` (None, a name, a numpy type); reject all but floats."""
    if dtype is None:
        return None
    name = getattr(dtype, "name", dtype)
    if isinstance(name, str) and name.startswith("torch."):
        name = name[len("torch."):]
    chosen = _DTYPE_NAMES.get(name) if isinstance(name, str) else None
    if chosen is None:
        try:
            found = np.dtype(dtype)
        except TypeError:
            found = None
        if found not in FLOAT_DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; refad supports float64 and float32")
        return found
    return np.dtype(chosen)


class Tensor:
    """A value in a computation, and (when it requires grad) the node that computed it.

    Attributes:
        data: the value: a Python float (0-d float64), a numpy array or numpy scalar.
        requires_grad: whether gradients flow to this tensor.
        grad: for leaves, the accumulated gradient after `backward()` (a Tensor or None).
        prim: the primitive that produced this tensor, None for leaves and constants.
        inputs: the arguments the primitive was applied to (tensors and constants).
        params: the primitive's non-tensor parameters (axis, shape, ...).
        name: an optional label used by traces and pictures.
        seq: the creation number (see `_creation_order`); visit, pending: scratch for the
            backward pass (walk stamp, gradient in flight).
    """

    __slots__ = ("data", "requires_grad", "grad", "prim", "inputs", "params", "name", "seq",
                 "visit", "pending", "__weakref__")
    __array_ufunc__ = None          # numpy defers to our reflected operators
    __hash__ = object.__hash__      # __eq__ is elementwise, so hash by identity

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None,
                 name: str | None = None):
        self.data = _as_storage(data, None if dtype is None else resolve_dtype(dtype))
        self.requires_grad = False
        self.grad = None
        self.prim = None
        self.inputs = ()
        self.params = _NO_PARAMS
        self.name = name
        self.seq = next(_creation_order)
        self.visit = 0
        self.pending = None
        if requires_grad:
            if type(self.data) is not float and self.dtype not in FLOAT_DTYPES:
                raise ValueError(f"only float tensors can require grad; this one is "
                                 f"{self.dtype}")
            self.requires_grad = True

    # -- properties -------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        kind = type(self.data)
        return () if kind is float or kind is bool else self.data.shape

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> np.dtype:
        kind = type(self.data)
        if kind is float:
            return _F64
        if kind is bool:                    # a comparison of two floats (the math fast path)
            return _BOOL
        return self.data.dtype

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def is_leaf(self) -> bool:
        return self.prim is None

    @property
    def op(self) -> str | None:
        """The name of the primitive that produced this tensor (None for a leaf)."""
        return None if self.prim is None else self.prim.name

    def requires_grad_(self, flag: bool = True) -> Tensor:
        """Set `requires_grad` on a leaf (in place, like PyTorch); returns the tensor."""
        if flag and self.dtype not in FLOAT_DTYPES:
            raise ValueError(f"only float tensors can require grad; this one is {self.dtype}")
        if not self.is_leaf:
            raise ValueError(f"requires_grad can only be set on a leaf; this tensor comes "
                             f"from {self.op!r}")
        self.requires_grad = flag
        return self

    # -- conversions -------------------------------------------------------------------
    def item(self) -> float | bool:
        if type(self.data) is float:
            return self.data
        return np.asarray(self.data).item()

    def numpy(self) -> np.ndarray:
        return np.array(self.data, dtype=self.dtype)

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.data, dtype=dtype)

    def detach(self) -> Tensor:
        return _wrap(self.data)

    def __float__(self) -> float:
        return float(self.data)

    def __bool__(self) -> bool:
        return bool(self.data)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        body = np.array2string(np.asarray(self.data), precision=6, separator=", ")
        extras = []
        if self.dtype != _F64:
            extras.append(f"dtype={self.dtype}")
        if self.prim is not None:
            extras.append(f"op={self.prim.name!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return f"tensor({', '.join([body] + extras)})"


_NO_PARAMS: dict = {}
# Every tensor gets the next number at birth. A tensor's inputs exist before it does, so
# sorting by this number is a topological order (PyTorch's sequence_nr plays the same role).
_creation_order = itertools.count(1)
_new_tensor = object.__new__


def _make(data: Any, requires_grad: bool, prim: Any, inputs: tuple, params: dict) -> Tensor:
    """A tensor around already-normalised storage: the hot path of every operation, so no
    checks and every slot written exactly once."""
    t = _new_tensor(Tensor)
    t.data = data
    t.requires_grad = requires_grad
    t.grad = None
    t.prim = prim
    t.inputs = inputs
    t.params = params
    t.name = None
    t.seq = next(_creation_order)
    t.visit = 0
    t.pending = None
    return t


def _wrap(data: Any) -> Tensor:
    """A constant tensor around already-normalised storage."""
    return _make(data, False, None, (), _NO_PARAMS)


def normalise(value: Any) -> Any:
    """Bring a numpy result to tensor storage: 0-d float64 becomes a Python float."""
    kind = type(value)
    if kind is float:
        return value
    if kind is np.float64:
        return float(value)
    if kind is np.ndarray and value.ndim == 0 and value.dtype == _F64:
        return float(value)
    if kind is int:
        return float(value)
    return value


def _as_storage(data: Any, dtype: np.dtype | None) -> Any:
    if (type(data) is float or type(data) is int) and (dtype is None or dtype == _F64):
        return float(data)                     # the scalar fast path
    if isinstance(data, Tensor):
        data = data.data
    array = np.array(data)                     # a copy: the tensor never aliases user data
    if array.dtype == object:
        raise ValueError(f"cannot make a tensor from {type(data).__name__}: {data!r}")
    if dtype is None:
        if array.dtype in FLOAT_DTYPES or array.dtype == _BOOL:
            dtype = array.dtype
        elif np.issubdtype(array.dtype, np.number):
            dtype = _F64
        else:
            raise ValueError(f"cannot make a tensor of dtype {array.dtype} from {data!r}")
    with np.errstate(over="ignore"):          # 1e300 in float32 is inf, as in PyTorch
        array = array.astype(dtype, copy=False)
    if array.ndim == 0 and dtype == _F64:
        return float(array)
    return array


def _plain_index(index):
    """Replace tensors inside an index by their data (indices are never differentiated)."""
    if isinstance(index, tuple):
        return tuple(_plain_index(part) for part in index)
    if isinstance(index, Tensor):
        return np.asarray(index.data)
    return index


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None,
           name: str | None = None) -> Tensor:
    """Make a leaf tensor (float64 unless `dtype` says float32 or the data is float32).

    Args:
        data: a number, nested list, numpy array or tensor (always copied).
        requires_grad: whether `.backward()` should fill this tensor's `.grad`.
        dtype: None, "float64" or "float32" (numpy types and torch names work too).
        name: a label for traces and pictures.
    """
    if type(data) is float and dtype is None:      # a scalar: the common case, no checks
        t = _make(data, bool(requires_grad), None, (), _NO_PARAMS)
        t.name = name
        return t
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


def as_tensor(value: Any) -> Tensor:
    """Return `value` if it is a tensor, else a constant tensor holding it."""
    if isinstance(value, Tensor):
        return value
    return Tensor(value)
