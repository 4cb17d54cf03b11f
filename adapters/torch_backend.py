"""The `torch` backend: PyTorch autograd, written the way its users write it.

Every input is a leaf `torch.tensor(value, dtype=..., requires_grad=True)`, constants are
plain tensors, the gradient comes from `torch.autograd.grad` (with `create_graph=True` at
order 2) and each Hessian row from one more `torch.autograd.grad` of one element of a
gradient. torch is imported inside the adapter, so `import adapters.torch_backend` is instant.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

from .base import Backend, Result, as_numpy, hessian_pairs
from .namespace import from_table

INSTALL_HINT = "torch is not installed (pip install 'refad[torch]')"


class TorchBackend(Backend):
    name = "torch"
    description = "PyTorch autograd (torch.autograd.grad, create_graph for order 2)"

    def available(self) -> tuple[bool, str]:
        try:
            import torch  # noqa: F401
        except ImportError:
            return False, INSTALL_HINT
        return True, ""

    def versions(self) -> dict[str, str]:
        import torch
        return {"torch": torch.__version__}

    def _evaluate(self, case, dtype: str, order: int) -> Result:
        import torch

        torch_dtype = getattr(torch, dtype)
        out, inputs = run_case(case, dtype)
        if not isinstance(out, torch.Tensor):     # a case that returns a plain number
            out = torch.tensor(out, dtype=torch_dtype)
        result = Result(self.name, case.name, dtype, order,
                        value=as_numpy(_numpy(out), dtype))
        if order < 1:
            return result
        names = case.differentiated
        wrt = [inputs[name] for name in names]
        grads = _first_order(out, wrt, create_graph=order >= 2)
        for name, g in zip(names, grads, strict=True):
            result.grad[name] = as_numpy(_numpy(g), dtype)
        if order >= 2:
            position = {name: i for i, name in enumerate(names)}
            for a, b in hessian_pairs(names):
                block = _hessian_block(grads[position[a]], wrt[position[b]])
                result.hessian[(a, b)] = as_numpy(_numpy(block), dtype)
        return result


def _numpy(tensor):
    """A tensor's numbers as numpy. `force=True` because a gradient may be one of torch's
    ZeroTensors (sign's derivative, and so abs's second), which `.numpy()` refuses."""
    return tensor.detach().numpy(force=True)


def _first_order(out, wrt: list, create_graph: bool) -> list:
    """d out / d each of `wrt`; zeros (never None) for inputs the output does not use."""
    import torch

    if not out.requires_grad:       # the value depends on no input at all
        return [torch.zeros_like(x) for x in wrt]
    grads = torch.autograd.grad(out, wrt, create_graph=create_graph, allow_unused=True)
    return [torch.zeros_like(x) if g is None else g for g, x in zip(grads, wrt, strict=True)]


def _hessian_block(g, x):
    """d g / d x with one backward pass per element of g: shape g.shape + x.shape."""
    import torch

    if not g.requires_grad:         # g is constant in every input: a zero block
        return torch.zeros(tuple(g.shape) + tuple(x.shape), dtype=x.dtype)
    rows = []
    flat = g.reshape(-1)
    for k in range(flat.numel()):
        one_hot = torch.zeros_like(flat)
        one_hot[k] = 1
        (row,) = torch.autograd.grad(g, [x], grad_outputs=one_hot.reshape(g.shape),
                                     retain_graph=True, allow_unused=True)
        rows.append(torch.zeros_like(x) if row is None else row.detach())
    return torch.stack(rows).reshape(tuple(g.shape) + tuple(x.shape))


@functools.cache
def make_ops(dtype) -> SimpleNamespace:
    """The ops vocabulary over torch for one dtype (Python numbers become that dtype).

    Most names are torch's own functions; small wrappers cover the places where torch's
    signature differs from the vocabulary (numbers where torch wants tensors, `axis` and
    `keepdims` spelled `dim` and `keepdim`, JAX-style `grad`).

    Args:
        dtype: `torch.float64` or `torch.float32`, the dtype given to Python numbers that
            meet no tensor.

    Returns:
        a namespace with every name in `refad.vocabulary.FUNCTIONS`.
    """
    import torch

    def tensor(value: Any, like: Any = None):
        """`value` as a tensor: of `like`'s dtype when given, else of the evaluation dtype."""
        if isinstance(value, torch.Tensor):
            return value
        target = like.dtype if isinstance(like, torch.Tensor) else dtype
        return torch.tensor(value, dtype=target)

    def unary(function):
        def call(x):
            return function(tensor(x))
        call.__name__ = function.__name__
        return call

    def binary(function):
        # torch.maximum, minimum and atan2 accept tensors only: a Python number takes the
        # dtype of the other operand, as it would in an arithmetic operator.
        def call(a, b):
            return function(tensor(a, like=b), tensor(b, like=a))
        call.__name__ = function.__name__
        return call

    def pow(a, b):
        # torch.pow takes a number on either side natively (as `x ** 2.0` does); only two
        # numbers need a tensor.
        if not isinstance(a, torch.Tensor) and not isinstance(b, torch.Tensor):
            a = tensor(a)
        return torch.pow(a, b)

    def where(cond, a, b):
        if not isinstance(cond, torch.Tensor):
            cond = torch.tensor(cond)
        return torch.where(cond, tensor(a, like=b), tensor(b, like=a))

    def reduce(function):
        def call(x, axis=None, keepdims: bool = False):
            x = tensor(x)
            if axis is None:
                total = function(x)
                return total.reshape((1,) * x.dim()) if keepdims else total
            return function(x, dim=axis, keepdim=keepdims)
        call.__name__ = function.__name__
        return call

    def matmul(a, b):
        a, b = tensor(a, like=b), tensor(b, like=a)
        try:
            return torch.matmul(a, b)
        except RuntimeError as error:       # torch says "mat1 and mat2": name the op
            raise ValueError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} do not "
                             f"fit ({error})") from error

    def grad(f):
        """d f / d v of a scalar `f` at `v`, itself differentiable; outer values held fixed."""
        def derivative(v):
            v = tensor(v)
            # A clone keeps x connected to v's graph (so the result can be differentiated
            # again with respect to the outer input) while being a new node, so that a
            # closure using v itself is held fixed, as in JAX.
            x = v.clone() if v.requires_grad else v.detach().requires_grad_(True)
            out = tensor(f(x))
            if not out.requires_grad:
                return torch.zeros_like(x)
            (g,) = torch.autograd.grad(out, x, create_graph=True, allow_unused=True)
            return torch.zeros_like(x) if g is None else g
        return derivative

    def wrap(entry, function):
        if "axis" in entry.keywords:
            return reduce(function)
        return unary(function) if entry.arity == (1, 1) else binary(function)

    own = {"pow": pow, "where": where, "matmul": matmul, "grad": grad}
    return from_table("torch", torch, wrap, own)


def run_case(case, dtype: str):
    """(output, leaves by name): the case evaluated as PyTorch users write it, every input a
    leaf with requires_grad=True and every constant a plain tensor."""
    import torch

    torch_dtype = getattr(torch, dtype)
    leaves = {name: torch.tensor(value, dtype=torch_dtype, requires_grad=True)
              for name, value in case.inputs.items()}
    constants = {name: torch.tensor(value, dtype=torch_dtype)
                 for name, value in case.constants.items()}
    return case.fn(make_ops(torch_dtype), **leaves, **constants), leaves
