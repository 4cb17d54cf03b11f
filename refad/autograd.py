"""The PyTorch-style front door: `tensor.backward()` and `refad.autograd.grad(...)`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .backward import as_gradient_of, run_backward
from .node import Tensor, _wrap, normalise
from .primitives import astype
from .registry import ones_like


def _describe(t: Tensor, position: int) -> str:
    return f"input {position}" + (f" ({t.name})" if t.name else "")


def _seed(output: Tensor, gradient: Any, position: int, create_graph: bool) -> Any:
    """The gradient of `output` with respect to itself: 1 for a scalar, else `gradient`."""
    if gradient is None and type(output.data) is float:
        return 1.0
    if gradient is None:
        if output.size != 1:        # PyTorch: one element of any shape is a scalar too
            raise ValueError(
                f"output {position} has shape {output.shape}: a gradient can be created "
                f"implicitly only for a scalar output; pass gradient=/grad_outputs= of "
                f"that shape")
        return ones_like(output)
    if type(gradient) is Tensor and create_graph:
        value = gradient if gradient.dtype == output.dtype else astype(gradient,
                                                                      dtype=output.dtype)
    else:
        if type(gradient) is Tensor:
            gradient = gradient.data
        value = normalise(np.array(gradient, dtype=output.dtype))     # a copy, cast
    shape = value.shape if type(value) is Tensor else np.shape(value)
    if tuple(shape) != output.shape:
        raise ValueError(f"gradient for output {position} has shape {tuple(shape)} but the "
                         f"output has shape {output.shape}")
    return value


def backward(output: Tensor, gradient: Any = None, create_graph: bool = False,
             on_step=None) -> None:
    """Accumulate d(output)/d(leaf), weighted by `gradient`, into each leaf's `.grad`."""
    if not isinstance(output, Tensor) or not output.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad: no input it "
                           "was computed from has requires_grad=True")
    seed = _seed(output, gradient, 0, create_graph)
    run_backward([output], [seed], create_graph=create_graph, on_step=on_step)


def _as_list(value: Any, what: str) -> list:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise TypeError(f"{what} must be a tensor or a sequence of tensors, not "
                    f"{type(value).__name__}")


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False,
         on_step=None) -> tuple[Tensor | None, ...]:
    """d(outputs)/d(inputs), like `torch.autograd.grad`; leaves' `.grad` are left alone.

    Args:
        outputs: the tensor(s) to differentiate (scalars, or weighted by `grad_outputs`).
        inputs: the tensor(s) to differentiate with respect to (leaves or not).
        grad_outputs: one gradient per output (None for scalars).
        retain_graph: accepted for compatibility; refad graphs are never freed.
        create_graph: record the backward pass, so the result can be differentiated again.
        allow_unused: return None for an input the outputs do not depend on, else raise.
        on_step: a hook called with each `Step` of the backward loop.

    Returns:
        a tuple with one gradient per input, shaped like that input.
    """
    outputs = _as_list(outputs, "outputs")
    inputs = _as_list(inputs, "inputs")
    for position, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise ValueError(f"{_describe(t, position) if isinstance(t, Tensor) else position}"
                             f" does not require grad, so it has no gradient; "
                             f"create it with requires_grad=True")
    if not isinstance(grad_outputs, (list, tuple)):
        grad_outputs = [grad_outputs] * len(outputs)
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"{len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    roots, seeds = [], []
    for position, (output, weight) in enumerate(zip(outputs, grad_outputs, strict=True)):
        if not isinstance(output, Tensor) or not output.requires_grad:
            if allow_unused:
                continue
            raise ValueError(f"output {position} does not require grad: it was not computed "
                             f"from the inputs (pass allow_unused=True to get None)")
        roots.append(output)
        seeds.append(_seed(output, weight, position, create_graph))
    captured = run_backward(roots, seeds, targets={id(t) for t in inputs},
                            create_graph=create_graph, on_step=on_step)
    results: list[Tensor | None] = []
    for position, t in enumerate(inputs):
        g = captured.get(id(t))
        if g is None:
            if not allow_unused:
                raise ValueError(f"{_describe(t, position)} was not used to compute the "
                                 f"outputs; pass allow_unused=True to get None for it")
            results.append(None)
        else:
            g = as_gradient_of(g.data if type(g) is Tensor and not create_graph else g, t)
            results.append(g if type(g) is Tensor else _wrap(g))
    return tuple(results)
