"""refad: a small reverse-mode automatic differentiation engine over numpy.

Two front doors over one registry of primitives:
- PyTorch style: `x = refad.tensor(1.0, requires_grad=True)`, `y.backward()`, `x.grad`,
  `x.sin()`, `refad.autograd.grad(outputs, inputs, create_graph=True)`;
- JAX style: `refad.grad(f)`, `refad.value_and_grad`, `refad.jacobian`, `refad.hessian`.

The engine's modules import one way, each only the ones above it in this list: the grad mode
and numpy state (`mode`), the node (`node`), the op table (`optable`), the primitive machinery
(`registry`), the primitives (`primitives`), the backward pass (`backward`, `autograd`), the
tensor's operators and methods (`tensor`), the front doors (`functional`, `functions`), and
the teaching tools (`parse`, `trace`).
"""

from . import autograd, functions
from .backward import Step, topological_order
from .functional import grad, hessian, jacobian, value_and_grad
from .functions import reshape, transpose
from .mode import enable_grad, is_grad_enabled, no_grad
from .node import Tensor, as_tensor, tensor
from .optable import OPS
from .parse import Expression, ParseError, parse
from .registry import REGISTRY, Primitive

__version__ = "0.1.0"
float64 = "float64"
float32 = "float32"

# One public function per op of the table (refad.sin, refad.sum, refad.maximum, ...).
globals().update({name: getattr(functions, name) for name in functions.PUBLIC})

__all__ = [
    *functions.PUBLIC, "Expression", "OPS", "ParseError", "Primitive", "REGISTRY", "Step",
    "Tensor", "as_tensor", "autograd", "enable_grad", "float32", "float64", "grad", "hessian",
    "is_grad_enabled", "jacobian", "no_grad", "parse", "reshape", "tensor",
    "topological_order", "transpose", "value_and_grad",
]
