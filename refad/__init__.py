"""refad: a small reverse-mode automatic differentiation engine over numpy.

Two front doors over one registry of primitives:
- PyTorch style: `x = refad.tensor(1.0, requires_grad=True)`, `y.backward()`, `x.grad`,
  `refad.autograd.grad(outputs, inputs, create_graph=True)`;
- JAX style: `refad.grad(f)`, `refad.value_and_grad`, `refad.jacobian`, `refad.hessian`.
"""

# The tensor module goes first: it loads the registry and the primitives in the one order
# that resolves their mutual imports (operators on tensors call primitives, which make tensors).
from . import tensor as _tensor  # noqa: I001, F401
from . import autograd
from .backward import Step, topological_order
from .functional import grad, hessian, jacobian, value_and_grad
from .functions import (
                        abs,
                        atan2,
                        cos,
                        exp,
                        expm1,
                        log,
                        log1p,
                        matmul,
                        maximum,
                        mean,
                        minimum,
                        pow,
                        relu,
                        reshape,
                        sigmoid,
                        sign,
                        sin,
                        sqrt,
                        square,
                        sum,
                        tan,
                        tanh,
                        transpose,
                        where,
)
from .parse import Expression, ParseError, parse
from .registry import REGISTRY, Primitive
from .tensor import Tensor, as_tensor, enable_grad, is_grad_enabled, no_grad, tensor

__version__ = "0.1.0"
float64 = "float64"
float32 = "float32"

__all__ = [
    "Expression", "ParseError", "Primitive", "REGISTRY", "Step", "Tensor", "abs", "as_tensor",
    "atan2", "autograd", "cos", "enable_grad", "exp", "expm1", "float32", "float64", "grad",
    "hessian", "is_grad_enabled", "jacobian", "log", "log1p", "matmul", "maximum", "mean",
    "minimum", "no_grad", "parse", "pow", "relu", "reshape", "sigmoid", "sign", "sin", "sqrt",
    "square", "sum", "tan", "tanh", "tensor", "topological_order", "transpose",
    "value_and_grad",
    "where",
]
