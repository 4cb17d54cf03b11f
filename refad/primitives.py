"""The registry: every primitive refad knows, with its forward, its VJPs and the local
derivative of each input, one entry each. Read top to bottom, this is every derivative the
engine knows.

A VJP has the signature `vjp(g, out, *inputs, **params)`: `g` is the upstream gradient
(shaped like `out`), `out` the forward result, `inputs` the forward inputs. It is written with
the primitives of this table, so the backward pass can itself be differentiated.

Conventions at points where the derivative does not exist follow PyTorch's formulas
(`tools/autograd/derivatives.yaml`) operation for operation, so that refad is the readable
answer to "what does PyTorch do here"; each such entry says so in its `note`.

Note that inside this module `sum`, `abs` and `pow` are the primitives, not Python's builtins.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from .node import Tensor
from .registry import defprim, dtype_of, example, shape_of, zeros_like

# -- broadcasting: reduced back in exactly one place ---------------------------------------


def unbroadcast(g, like):
    """Sum `g` over the axes that broadcasting added, so it has the shape of `like`.

    If `x` of shape (3, 1) met `y` of shape (1, 4), the output and its gradient have shape
    (3, 4); x's share of the gradient is the sum over the axis x was stretched along.
    """
    if type(g) is float:                    # a 0-d float64 gradient: every input was 0-d
        return g
    target = shape_of(like)
    shape = shape_of(g)
    if shape == target:
        return g
    extra = len(shape) - len(target)
    stretched = tuple(extra + i for i, n in enumerate(target) if n == 1 and shape[extra + i] != 1)
    if extra:
        g = sum(g, axis=tuple(range(extra)))            # axes that broadcasting prepended
    if stretched:
        g = sum(g, axis=tuple(i - extra for i in stretched), keepdims=True)  # 1s stretched
    return g


def _scalar_maximum(x, y):
    if x != x or y != y:
        return math.nan
    return x if x >= y else y


def _scalar_minimum(x, y):
    if x != x or y != y:
        return math.nan
    return x if x <= y else y


def _scalar_sign(x):
    return float((x > 0) - (x < 0))         # sign(nan) = 0, as in PyTorch


def _np_sign(x):
    return (x > 0).astype(np.asarray(x).dtype) - (x < 0)


def _np_relu(x):
    return np.where(x <= 0, np.zeros_like(x), x)


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _np_where(cond, a, b):
    return np.where(cond, a, b)


# Example points used by the tests (arrays exercise broadcasting and reductions).
_A = np.array([0.3, -1.2, 2.1])
_M = np.array([[0.5, -0.4, 1.3], [0.9, 0.2, -0.7]])
_COL = np.array([[0.4], [-1.1], [0.8]])
_ROW = np.array([[0.6, -0.3, 1.7, 0.25]])
_POS = np.array([0.4, 1.3, 2.6])


def _unary(*points):
    return tuple(example(p) for p in points)


def _binary(*pairs):
    return tuple(example(a, b) for a, b in pairs)


_BINARY = _binary((0.7, -1.3), (_COL, _ROW), (_M, 0.8), (1.5, _A))

# -- arithmetic --------------------------------------------------------------------------------

add = defprim("add", np.add, operator.add,
              vjps=(lambda g, out, x, y: unbroadcast(g, x),
                    lambda g, out, x, y: unbroadcast(g, y)),
              local=("1", "1"),
              examples=_BINARY)
sub = defprim("sub", np.subtract, operator.sub,
              vjps=(lambda g, out, x, y: unbroadcast(g, x),
                    lambda g, out, x, y: unbroadcast(-g, y)),
              local=("1", "-1"),
              examples=_BINARY)
mul = defprim("mul", np.multiply, operator.mul,
              vjps=(lambda g, out, x, y: unbroadcast(g * y, x),
                    lambda g, out, x, y: unbroadcast(g * x, y)),
              local=("y", "x"),
              examples=_BINARY)
div = defprim("div", np.true_divide, operator.truediv,
              vjps=(lambda g, out, x, y: unbroadcast(g / y, x),
                    lambda g, out, x, y: unbroadcast(-g * ((x / y) / y), y)),
              local=("1/y", "-x/y^2"),
              examples=_binary((0.7, -1.3), (_COL, _ROW), (_M, 0.8), (1.5, _POS)))
neg = defprim("neg", np.negative, operator.neg,
              vjps=(lambda g, out, x: -g,),
              local=("-1",),
              examples=_unary(0.7, _M))


def _pow_vjp_base(g, out, x, y):
    # PyTorch: d/dx x^0 is 0 even at x = 0, where 0 * 0^-1 would be nan. For a number
    # exponent it decides in Python (no graph, so higher derivatives stay 0 as well). For a
    # tensor exponent PyTorch uses where(exponent == 0, 0, ...) at every x, which loses the
    # mixed derivative d2/dxdy = 1/x at smooth points (x = 0.5, y = 0: torch 0, exact 2;
    # found by `refad fuzz`). refad masks only the point that needs it, x = 0 and y = 0, so
    # first derivatives equal PyTorch's everywhere and second derivatives are right.
    if type(y) is not Tensor and np.ndim(y) == 0:
        return zeros_like(g) if y == 0 else unbroadcast(g * (y * pow(x, y - 1)), x)
    return unbroadcast(where((y == 0) & (x == 0), 0.0, g * (y * pow(x, y - 1))), x)


def _pow_vjp_exponent(g, out, x, y):
    # PyTorch: where((exponent >= 0) & (self == 0), 0, grad * result * log(self)).
    return unbroadcast(g * where((y >= 0) & (x == 0), 0.0, out * log(x)), y)


pow = defprim("pow", np.power, math.pow,
              vjps=(_pow_vjp_base, _pow_vjp_exponent),
              local=("y * x^(y-1)", "x^y * log(x)"),
              examples=_binary((1.3, 2.2), (0.7, 3.0), (2.0, -1.5), (_POS, 1.7), (1.4, _A)),
              note="d/dx x^0 = 0 everywhere; d/dy x^y = 0 at x = 0 for y >= 0 (PyTorch); "
                   "x^0.5 at 0 has derivative +inf; unlike PyTorch, d2/dxdy x^y at y = 0 "
                   "is 1/x, not 0, away from x = 0")
square = defprim("square", np.square, lambda x: x * x,
                 vjps=(lambda g, out, x: g * (2 * x),),
                 local=("2*x",),
                 examples=_unary(-0.8, _M))

# -- elementary functions ------------------------------------------------------------------

sin = defprim("sin", np.sin, math.sin,
              vjps=(lambda g, out, x: g * cos(x),),
              local=("cos(x)",),
              examples=_unary(0.3, -2.2, _M))
cos = defprim("cos", np.cos, math.cos,
              vjps=(lambda g, out, x: g * -sin(x),),
              local=("-sin(x)",),
              examples=_unary(0.3, -2.2, _M))
tan = defprim("tan", np.tan, math.tan,
              vjps=(lambda g, out, x: g * (1 + out * out),),
              local=("1 + tan(x)^2",),
              examples=_unary(0.4, -1.0, _A * 0.5))
tanh = defprim("tanh", np.tanh, math.tanh,
               vjps=(lambda g, out, x: g * (1 - out * out),),
               local=("1 - tanh(x)^2",),
               examples=_unary(0.3, -1.7, _M))
exp = defprim("exp", np.exp, math.exp,
              vjps=(lambda g, out, x: g * out,),
              local=("exp(x)",),
              examples=_unary(0.3, -1.7, _M))
log = defprim("log", np.log, math.log,
              vjps=(lambda g, out, x: g / x,),
              local=("1/x",),
              examples=_unary(0.5, 2.3, _POS))
sqrt = defprim("sqrt", np.sqrt, math.sqrt,
               vjps=(lambda g, out, x: g / (2 * out),),
               local=("1/(2*sqrt(x))",),
               examples=_unary(0.7, 3.1, _POS),
               note="sqrt'(0) = +inf (PyTorch: grad / (2 * result))")
log1p = defprim("log1p", np.log1p, math.log1p,
                vjps=(lambda g, out, x: g / (x + 1),),
                local=("1/(1+x)",),
                examples=_unary(-0.3, 1.5, _POS))
expm1 = defprim("expm1", np.expm1, math.expm1,
                vjps=(lambda g, out, x: g * (out + 1),),
                local=("exp(x)",),
                examples=_unary(-0.7, 0.4, _M))
sinh = defprim("sinh", np.sinh, math.sinh,
               vjps=(lambda g, out, x: g * cosh(x),),       # PyTorch: grad * self.cosh()
               local=("cosh(x)",),
               examples=_unary(0.3, -1.7, _M))
cosh = defprim("cosh", np.cosh, math.cosh,
               vjps=(lambda g, out, x: g * sinh(x),),       # PyTorch: grad * self.sinh()
               local=("sinh(x)",),
               examples=_unary(0.3, -1.7, _M))
sigmoid = defprim("sigmoid", _np_sigmoid, lambda x: 1 / (1 + math.exp(-x)),
                  vjps=(lambda g, out, x: g * (1 - out) * out,),
                  local=("sigmoid(x) * (1 - sigmoid(x))",),
                  examples=_unary(-1.2, 0.8, _M))
def _atan2_scale(y, x):
    # PyTorch: 1 / (y^2 + x^2), with the infinity at the origin masked to 0.
    squares = y * y + x * x
    return where(squares == 0, 0.0, 1 / squares)


atan2 = defprim("atan2", np.arctan2, math.atan2,
                vjps=(lambda g, out, y, x: unbroadcast(g * x * _atan2_scale(y, x), y),
                      lambda g, out, y, x: unbroadcast(g * -y * _atan2_scale(y, x), x)),
                local=("x/(x^2+y^2)", "-y/(x^2+y^2)"),
                examples=_binary((0.5, 1.2), (-0.7, -0.3), (_COL, _ROW), (_A, 0.9)),
                note="atan2(y, x): at the origin both derivatives are 0 (PyTorch masks "
                     "1/(x^2+y^2) there); JAX gives nan")

# -- non-smooth functions: PyTorch's choices at the kinks ---------------------------------

sign = defprim("sign", _np_sign, _scalar_sign,
               vjps=(lambda g, out, x: zeros_like(g),),
               local=("0",),
               examples=_unary(0.5, -1.3, _M))
abs = defprim("abs", np.abs, math.fabs,
              vjps=(lambda g, out, x: g * sign(x),),
              local=("sign(x)",),
              examples=_unary(-0.8, 1.4, _M),
              note="abs'(0) = sign(0) = 0 (PyTorch)")
relu = defprim("relu", _np_relu, lambda x: 0.0 if x <= 0 else x,
               vjps=(lambda g, out, x: where(out <= 0, 0.0, g),),
               local=("1 if x > 0 else 0",),
               examples=_unary(-0.8, 1.4, _M),
               note="relu'(0) = 0 (PyTorch's threshold_backward: result <= 0 gives 0)")
maximum = defprim("maximum", np.maximum, _scalar_maximum,
                  vjps=(lambda g, out, x, y: unbroadcast(
                            where(x == y, g / 2, where(x < y, 0.0, g)), x),
                        lambda g, out, x, y: unbroadcast(
                            where(x == y, g / 2, where(x > y, 0.0, g)), y)),
                  local=("1 if x > y, 1/2 if x == y, else 0",
                         "1 if y > x, 1/2 if x == y, else 0"),
                  examples=_binary((0.3, 0.9), (1.2, -0.4), (_COL, _ROW), (_A, 0.5)),
                  note="a tie splits the gradient in halves (PyTorch)")
minimum = defprim("minimum", np.minimum, _scalar_minimum,
                  vjps=(lambda g, out, x, y: unbroadcast(
                            where(x == y, g / 2, where(x > y, 0.0, g)), x),
                        lambda g, out, x, y: unbroadcast(
                            where(x == y, g / 2, where(x < y, 0.0, g)), y)),
                  local=("1 if x < y, 1/2 if x == y, else 0",
                         "1 if y < x, 1/2 if x == y, else 0"),
                  examples=_binary((0.3, 0.9), (1.2, -0.4), (_COL, _ROW), (_A, 0.5)),
                  note="a tie splits the gradient in halves (PyTorch)")
where = defprim("where", _np_where, lambda c, a, b: a if c else b,
                vjps=(None,
                      lambda g, out, c, a, b: unbroadcast(where(c, g, 0.0), a),
                      lambda g, out, c, a, b: unbroadcast(where(c, 0.0, g), b)),
                local=("not differentiable", "1 where c", "1 where not c"),
                examples=(example(_A > 0, _A, 0.5 * _A),
                          example(np.array([[True], [False], [True]]), _ROW, _COL)),
                note="the gradient goes only to the branch chosen; the other branch's "
                     "0 * inf or 0 * nan still poisons its own inputs (the where-NaN trap)")

# -- reductions, shapes, indexing, matmul -------------------------------------------------


def _kept_shape(x_shape, axis):
    """The shape of a reduction over `axis` of an array of `x_shape` with keepdims=True."""
    if axis is None:
        return (1,) * len(x_shape)
    if not x_shape:                         # a 0-d value reduced over axis 0 or -1 stays 0-d
        return ()
    axes = axis if isinstance(axis, tuple) else (axis,)
    axes = {a % len(x_shape) for a in axes}
    return tuple(1 if i in axes else n for i, n in enumerate(x_shape))


def _sum_vjp(g, out, x, axis=None, keepdims=False):
    shape = shape_of(x)
    if not keepdims:
        g = reshape(g, shape=_kept_shape(shape, axis))
    return broadcast_to(g, shape=shape)


def _count(x, axis):
    shape = shape_of(x)
    kept = _kept_shape(shape, axis)
    return int(np.prod(shape)) // int(np.prod(kept))


def _np_sum(x, axis=None, keepdims=False):
    return np.sum(x, axis=axis, keepdims=keepdims)


def _np_mean(x, axis=None, keepdims=False):
    if np.ndim(x) == 0 and axis in (0, -1):
        axis = None                         # as np.sum and PyTorch: a 0-d value is its mean
    return np.mean(x, axis=axis, keepdims=keepdims)


def _scalar_reduce(x, axis=None, keepdims=False):
    if axis not in (None, ()) or keepdims:
        raise TypeError("let numpy check the axis")
    return float(x)


sum = defprim("sum", _np_sum, _scalar_reduce,
              vjps=(_sum_vjp,),
              local=("1",),
              examples=(example(_M), example(_M, axis=0), example(_M, axis=-1, keepdims=True),
                        example(_M, axis=(0, 1))))
mean = defprim("mean", _np_mean, _scalar_reduce,
               vjps=(lambda g, out, x, axis=None, keepdims=False:
                     _sum_vjp(g, out, x, axis, keepdims) / _count(x, axis),),
               local=("1/n",),
               examples=(example(_M), example(_M, axis=1), example(_M, axis=0, keepdims=True)))
reshape = defprim("reshape", lambda x, shape: np.reshape(x, shape), None,
                  vjps=(lambda g, out, x, shape: reshape(g, shape=shape_of(x)),),
                  local=("1 (reshaped)",),
                  examples=(example(_M, shape=(3, 2)), example(_A, shape=(3, 1))))
broadcast_to = defprim("broadcast_to", lambda x, shape: np.broadcast_to(x, shape).copy(), None,
                       vjps=(lambda g, out, x, shape: unbroadcast(g, x),),
                       local=("1 (summed over the broadcast axes)",),
                       examples=(example(_A, shape=(2, 3)), example(_COL, shape=(3, 4))))


def _inverse_axes(axes):
    return None if axes is None else tuple(int(i) for i in np.argsort(axes))


transpose = defprim("transpose", lambda x, axes=None: np.transpose(x, axes), None,
                    vjps=(lambda g, out, x, axes=None:
                          transpose(g, axes=_inverse_axes(axes)),),
                    local=("1 (transposed)",),
                    examples=(example(_M), example(np.ones((2, 3, 4)) * _ROW, axes=(1, 2, 0))))


def _scatter(g, index, shape):
    """Zeros of `shape` with `g` added at `index` (repeated indices add up)."""
    result = np.zeros(shape, dtype=np.asarray(g).dtype)
    np.add.at(result, index, g)
    return result


getitem = defprim("getitem", lambda x, index: np.asarray(x)[index], None,
                  vjps=(lambda g, out, x, index: scatter(g, index=index, shape=shape_of(x)),),
                  local=("1 at the indexed positions",),
                  examples=(example(_M, index=(1, slice(0, 2))),
                            example(_A, index=np.array([0, 2, 0]))))
scatter = defprim("scatter", _scatter, None,
                  vjps=(lambda g, out, x, index, shape: getitem(g, index=index),),
                  local=("1 at the indexed positions",),
                  examples=(example(_A, index=(1, slice(None)), shape=(2, 3)),))


def _swap_last(a):
    axes = list(range(len(shape_of(a))))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return transpose(a, axes=tuple(axes))


def _matmul_vjp(g, out, x, y, which):
    """d(x @ y): promote 1-d operands to matrices, then g @ y^T and x^T @ g."""
    x_shape, y_shape = shape_of(x), shape_of(y)
    if len(x_shape) == 2 and len(y_shape) == 2:        # the common case, directly
        return matmul(g, transpose(y)) if which == 0 else matmul(transpose(x), g)
    x2 = reshape(x, shape=(1,) + x_shape) if len(x_shape) == 1 else x
    y2 = reshape(y, shape=y_shape + (1,)) if len(y_shape) == 1 else y
    out_shape = shape_of(x2)[:-1] + shape_of(y2)[-1:]
    batch = np.broadcast_shapes(shape_of(x2)[:-2], shape_of(y2)[:-2])
    g2 = reshape(g, shape=batch + out_shape[-2:])
    if which == 0:
        return reshape(unbroadcast(matmul(g2, _swap_last(y2)), x2), shape=x_shape)
    return reshape(unbroadcast(matmul(_swap_last(x2), g2), y2), shape=y_shape)


matmul = defprim("matmul", np.matmul, None,
                 vjps=(lambda g, out, x, y: _matmul_vjp(g, out, x, y, 0),
                       lambda g, out, x, y: _matmul_vjp(g, out, x, y, 1)),
                 local=("y^T (g @ y^T)", "x^T (x^T @ g)"),
                 examples=_binary((_M, _M.T), (_A, _M.T), (_M, _A), (_A, _A),
                                   (np.stack([_M, 2 * _M]), _M.T)))
astype = defprim("astype", lambda x, dtype: np.asarray(x).astype(dtype), None,
                 vjps=(lambda g, out, x, dtype: astype(g, dtype=dtype_of(x)),),
                 local=("1 (cast back to the input's dtype)",),
                 examples=(example(_M, dtype=np.float64), example(0.7, dtype=np.float64)))
identity = defprim("identity", lambda x: np.array(x, copy=True), lambda x: x,
                   vjps=(lambda g, out, x: g,),
                   local=("1",),
                   examples=_unary(0.7, _M))

# -- comparisons: boolean results, never differentiated -------------------------------------

less = defprim("less", np.less, operator.lt, vjps=None)
less_equal = defprim("less_equal", np.less_equal, operator.le, vjps=None)
greater = defprim("greater", np.greater, operator.gt, vjps=None)
greater_equal = defprim("greater_equal", np.greater_equal, operator.ge, vjps=None)
equal = defprim("equal", np.equal, operator.eq, vjps=None)
not_equal = defprim("not_equal", np.not_equal, operator.ne, vjps=None)
logical_and = defprim("logical_and", np.logical_and, lambda a, b: bool(a and b), vjps=None)
