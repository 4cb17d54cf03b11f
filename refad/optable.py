"""The op table: everything refad knows about an op except its derivative, one entry each.

The engine's `defprim` (refad/primitives.py) holds an op's forward and derivatives. Every other
fact lives here, in the op's `Op` entry, and every module that names an op reads it from here:

- `arity`, `keywords`: the parser's check of a call in an expression string (None: the op is
  not a function of the vocabulary, only an operator such as `+` or an internal primitive);
- `method`: its name as a `Tensor` method (PyTorch's spelling), generated from this table;
- `torch`, `jax`, `tensorflow`, `sympy`, `mpmath`: its spelling in each backend (`Spelling`);
- `grad_fn`: the names PyTorch's autograd gives its node (`SinBackward0`), for the trace;
- `cost`: its rounding error in units of u for the float32 model (mandatory);
- `fuzz`: where the fuzz generator may apply it (its domain, kinks and safe region), or a
  sentence saying why it does not;
- `samples`: the points of the `primitives` family of the catalogue.

Adding an op is one entry here and one `defprim`; `tests/test_optable.py` fails, naming the op
and the fact, when an entry lacks one, and when a backend's namespace disagrees with the table.
This module imports numpy only: it is data, at the bottom of the engine's import order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# -- what an entry holds ------------------------------------------------------------------

# A backend spelling is one of:
#   "name.path"  the attribute at that path of the backend's root module (torch, jax,
#                tensorflow, sympy, mpmath): "sin", "numpy.sin", "nn.relu", "math.sin";
#   a callable   `spelling(root, *args, **params)`, for an op the backend writes as a formula
#                (sympy's expm1 is exp(x) - 1);
#   ADAPTER      the adapter writes it by hand, because it needs the adapter's own machinery
#                (sympy's Piecewise for `where`, a dtype for torch's number exponents); the
#                adapter's tests check that it does;
#   None         the backend does not spell it (internal primitives only).
ADAPTER = "<adapter>"
Spelling = str | Callable | None

REDUCTION = "reduction"     # a cost: (n - 1) u times the sum of |terms| (see reports' tolerance)


@dataclass(frozen=True)
class Fuzz:
    """Where the fuzz generator may apply an op (all functions take float64 numpy arrays).

    Attributes:
        kinds: the DAG node spellings of the op (`"+"` for add; `"**"` and `"pow"` for pow).
        slope: f'(a), for the relative condition number |a f'(a) / f(a)| (unary ops).
        safe: a -> bool: the region where it is applied away from its kinks (unary ops).
        kinks: points where it may also be applied exactly, tagging the case `kink`.
        second: f''(a), checked like f' where f' itself may sit near a root (sin, cos).
        check: for other arities, `check(args, exponent_is_constant) -> (ok, value, kink)`.
        drawn: False for ops the generator builds from the shapes at hand rather than
            draws from a list (where, the reductions, matmul); `check` still judges them.
    """

    kinds: tuple[str, ...] = ()
    slope: Callable | None = None
    safe: Callable | None = None
    kinks: tuple[float, ...] = ()
    second: Callable | None = None
    check: Callable | None = None
    drawn: bool = True


@dataclass(frozen=True)
class Sample:
    """One point of the `primitives` catalogue family: the case `<op>-<where>`.

    `text` is the expression (default: the op applied to the inputs in order).
    """

    where: str
    inputs: dict
    note: str = ""
    text: str = ""


@dataclass(frozen=True)
class Op:
    """One op: every fact about it but its derivative (see the module docstring)."""

    name: str
    cost: float | str
    grad_fn: tuple[str, ...]
    arity: tuple[int, int] | None = None
    keywords: tuple[str, ...] = ()
    method: str | None = None
    torch: Spelling = None
    jax: Spelling = None
    tensorflow: Spelling = None
    sympy: Spelling = None
    mpmath: Spelling = None
    fuzz: Fuzz | str | None = None
    samples: tuple[Sample, ...] = ()

    @property
    def in_vocabulary(self) -> bool:
        """Whether expression strings may call it (and every backend must spell it)."""
        return self.arity is not None

    def spelling(self, backend: str) -> Spelling:
        """This op's spelling in `backend` ("torch", "jax", "tensorflow", "sympy", "mpmath")."""
        return getattr(self, backend)


BACKENDS = ("torch", "jax", "tensorflow", "sympy", "mpmath")
# The backends whose spelling every vocabulary op must have (tensorflow joins in issue 11).
REQUIRED_BACKENDS = ("torch", "jax", "sympy", "mpmath")


def resolve(root: Any, spelling: Spelling) -> Callable:
    """The function a string or callable spelling names in the backend `root` module."""
    if callable(spelling):
        return lambda *args, **params: spelling(root, *args, **params)
    target = root
    for part in spelling.split("."):
        target = getattr(target, part)
    return target


# -- the fuzz generator's rules: how far from trouble an argument must stay -----------------

BOUND = 1e4             # largest |value| of any node
NEAR = 1e-3             # how far (relative) an argument keeps from a kink, a pole or a root
CONDITION = 1e3         # largest relative condition number of a unary function
SATURATION = 1e-3       # smallest 1 - tanh(x)^2, 1 - sigmoid(|x|) and exp(x) for expm1


def far_or_tied(a: np.ndarray, b: np.ndarray) -> tuple[bool, bool]:
    """(allowed, tied): every element pair equal or NEAR apart (relative to its size)."""
    tied = a == b
    scale = np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))
    far = np.abs(a - b) >= NEAR * scale
    return bool(np.all(tied | far)), bool(np.any(tied))


def _sum_kept(value, a, b):
    """A sum or difference that keeps at least NEAR of its terms' size (or is exactly 0)."""
    return bool(np.all((value == 0) | (np.abs(value) >= NEAR * (np.abs(a) + np.abs(b)))))


def _fuzz_add(args, constant=False):
    a, b = args
    return _sum_kept(a + b, a, b), a + b, ""


def _fuzz_sub(args, constant=False):
    a, b = args
    return _sum_kept(a - b, a, b), a - b, ""


def _fuzz_mul(args, constant=False):
    return True, args[0] * args[1], ""


def _fuzz_div(args, constant=False):
    a, b = args
    return bool(np.all(np.abs(b) >= 1e-2)), a / b, ""


def _fuzz_tie(pick: Callable, name: str) -> Callable:
    def check(args, constant=False):
        a, b = args
        ok, tied = far_or_tied(a, b)
        return ok, pick(a, b), f"{name} tie" if tied else ""
    return check


def _fuzz_pow(args, constant=False):
    a, b = args
    value = np.power(a, b)
    if constant and float(b) == round(float(b)):
        return bool(float(b) > 0 or np.all(np.abs(a) >= 1e-2)), value, ""
    if np.any(a == 0):
        ok = bool(np.all((a == 0) | (a >= NEAR)) and np.all(b > 0))
        return ok and (constant or bool(np.all(np.abs(b) <= 6))), value, "pow at base 0"
    ok = bool(np.all(a >= NEAR)) and (constant or bool(np.all(np.abs(b) <= 6)))
    return ok, value, ""


def _fuzz_atan2(args, constant=False):
    a, b = args
    value = np.arctan2(a, b)
    origin = (a == 0) & (b == 0)
    cut = (a == 0) & (b < 0)
    kink = "atan2 at the origin" if np.any(origin) else ("atan2 on its branch cut"
                                                        if np.any(cut) else "")
    near_cut = (b < 0) & (np.abs(a) < NEAR * np.abs(b))
    ok = np.all(origin | cut | ((np.hypot(a, b) >= NEAR) & ~near_cut))
    return bool(ok), value, kink


_COMPARE = {"<": np.less, ">": np.greater, "<=": np.less_equal, ">=": np.greater_equal}


def _fuzz_where(args, comparison="<"):
    """where(a <cmp> b, then, otherwise): the two compared sides equal or clearly apart."""
    a, b, then, otherwise = args
    ok, tied = far_or_tied(a, b)
    value = np.where(_COMPARE[comparison](a, b), then, otherwise)
    return ok, value, "where at its switch" if tied else ""


def _fuzz_reduce(reduce: Callable) -> Callable:
    def check(args, axis=None):
        value = reduce(args[0], axis=axis)
        size = reduce(np.abs(args[0]), axis=axis)
        return bool(np.all((value == 0) | (np.abs(value) >= NEAR * size))), value, ""
    return check


def _fuzz_matmul(args, constant=False):
    a, b = args
    value, size = np.matmul(a, b), np.matmul(np.abs(a), np.abs(b))
    return bool(np.all((value == 0) | (np.abs(value) >= NEAR * size))), value, ""


def _np_sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _everywhere(a):
    return True


# -- spellings shared by several entries ------------------------------------------------------


def _scalar_reduction(root, x, axis=None, keepdims=False):
    """sum and mean of a scalar are the scalar (the symbolic oracle takes scalar cases)."""
    return x


def _sympy_relu(sp, x):
    return sp.Max(x, 0)


def _sympy_sigmoid(sp, x):
    return 1 / (1 + sp.exp(-x))


def _mpmath_relu(mp, x):
    return x if x > 0 else mp.mpf(0)


def _mpmath_sigmoid(mp, x):
    return 1 / (1 + mp.exp(-x))


# Sample arrays of the primitives family (a normal draw of numpy's default_rng(1), rounded).
_VECTOR = np.array([0.346, 0.822, 0.33, -1.303])
_MATRIX_A = np.array([[0.905, 0.446, -0.537], [0.581, 0.365, 0.294]])
_MATRIX_B = np.array([[0.028, 0.547], [-0.736, -0.163], [-0.482, 0.599]])

# Near tan's pole the relative condition number is x * (1 + tan^2 x) / tan x ~ x * tan x ~ 2e3
# (value) and ~4e3 for tan' = 1 + tan^2 (and for tan''). float32's rounding of the input
# (~3e-8 relative at 1.57) becomes ~1e-4 relative in the results. No hand-set rtol: the float32
# tolerance model (the reports' tolerance module) derives exactly that from the conditioning.
_TAN_POLE_NOTE = ("near the pole at pi/2 (1.5707963...): tan(1.57) = 1255.8, condition number "
                  "~x*tan(x) = 2e3 for the value and ~4e3 for the derivatives, so float32's "
                  "rounding of the input (3e-8) costs ~1e-4 relative in every framework: the "
                  "float32 tolerance model's bound is that conditioning, not a framework "
                  "difference")

EXACT, BASIC, LIBM = 0.0, 1.0, 4.0  # data movement; correctly rounded; libm's 2 ULPs
UNARY = (1, 1)
BINARY = (2, 2)
REDUCE = ("axis", "keepdims")

# -- the table ---------------------------------------------------------------------------------
# Within each arity, the fuzz generator picks ops in table order, simplest first (hypothesis
# shrinks a pick towards the start of its list).

_ENTRIES = (
    # arithmetic: Python operators in expressions, so not functions of the vocabulary
    Op("neg", EXACT, ("NegBackward0",), method="neg",
       fuzz=Fuzz(kinds=("neg",), slope=lambda a: -np.ones_like(a), safe=_everywhere)),
    Op("add", BASIC, ("AddBackward0",), method="add", fuzz=Fuzz(kinds=("+",), check=_fuzz_add)),
    Op("mul", BASIC, ("MulBackward0",), method="mul", fuzz=Fuzz(kinds=("*",), check=_fuzz_mul)),
    Op("sub", BASIC, ("SubBackward0", "RsubBackward1"), method="sub",
       fuzz=Fuzz(kinds=("-",), check=_fuzz_sub)),
    Op("div", BASIC, ("DivBackward0",), method="div", fuzz=Fuzz(kinds=("/",), check=_fuzz_div)),

    # elementary functions
    Op("sin", LIBM, ("SinBackward0",), UNARY, method="sin",
       torch="sin", jax="numpy.sin", sympy="sin", mpmath=ADAPTER,
       fuzz=Fuzz(slope=np.cos, safe=lambda a: np.abs(a) <= 100, second=lambda a: -np.sin(a)),
       samples=(Sample("ordinary", {"x": 0.7}), Sample("negative", {"x": -2.2}),
                Sample("large", {"x": 1e6}, "1e6 is exact in float32 too; the library must "
                                            "reduce the argument modulo 2*pi accurately"))),
    Op("cos", LIBM, ("CosBackward0",), UNARY, method="cos",
       torch="cos", jax="numpy.cos", sympy="cos", mpmath=ADAPTER,
       fuzz=Fuzz(slope=lambda a: -np.sin(a), safe=lambda a: np.abs(a) <= 100,
                 second=lambda a: -np.cos(a)),
       samples=(Sample("ordinary", {"x": 0.7}), Sample("at-0", {"x": 0.0},
                                                        "cos'(0) = -sin(0) = -0.0"),
                Sample("near-pi", {"x": 3.0}))),
    Op("exp", LIBM, ("ExpBackward0",), UNARY, method="exp",
       torch="exp", jax="numpy.exp", sympy="exp", mpmath="exp",
       fuzz=Fuzz(slope=np.exp, safe=lambda a: a <= 9),
       samples=(Sample("ordinary", {"x": 1.0}), Sample("negative", {"x": -3.0}),
                Sample("large", {"x": 50.0}, "exp' = exp: value and gradient 5.2e21"),
                Sample("small", {"x": -50.0}, "exp(-50) = 1.9e-22: value and gradient far "
                                              "below atol"))),
    Op("square", BASIC, ("PowBackward0",), UNARY, method="square",
       torch="square", jax="numpy.square", sympy=lambda sp, x: x ** 2,
       mpmath=lambda mp, x: x * x,
       fuzz=Fuzz(slope=lambda a: 2 * a, safe=_everywhere),
       samples=(Sample("negative", {"x": -1.5}), Sample("positive", {"x": 3.0}))),
    Op("tanh", LIBM, ("TanhBackward0",), UNARY, method="tanh",
       torch="tanh", jax="numpy.tanh", sympy="tanh", mpmath="tanh",
       fuzz=Fuzz(slope=lambda a: 1 - np.tanh(a) ** 2,
                 safe=lambda a: 1 - np.tanh(a) ** 2 >= SATURATION),
       samples=(Sample("ordinary", {"x": 0.5}), Sample("negative", {"x": -2.0}),
                Sample("large", {"x": 20.0}, "saturated: tanh' = 1 - tanh^2 = 1.7e-17, below "
                                             "every atol"))),
    Op("sigmoid", LIBM, ("SigmoidBackward0",), UNARY, method="sigmoid",
       torch="sigmoid", jax="nn.sigmoid", sympy=_sympy_sigmoid, mpmath=_mpmath_sigmoid,
       fuzz=Fuzz(slope=lambda a: np.exp(-a) / (1 + np.exp(-a)) ** 2,
                 safe=lambda a: np.exp(-np.abs(a)) >= SATURATION),
       samples=(Sample("at-0", {"x": 0.0}, "sigmoid'(0) = 1/4, the steepest point"),
                Sample("positive", {"x": 2.5}), Sample("negative", {"x": -3.0}))),
    Op("log", LIBM, ("LogBackward0",), UNARY, method="log",
       torch="log", jax="numpy.log", sympy="log", mpmath=ADAPTER,
       fuzz=Fuzz(slope=lambda a: 1 / a, safe=lambda a: a >= NEAR),
       samples=(Sample("ordinary", {"x": 2.0}), Sample("below-1", {"x": 0.3}),
                Sample("near-0", {"x": 1e-30}, "log near 0+: log'(x) = 1/x = 1e30 and "
                                               "log'' = -1e60 (1e-30 is a normal float32)"),
                Sample("large", {"x": 1e30}, "log' = 1e-30: tiny but exact"))),
    Op("sqrt", BASIC, ("SqrtBackward0",), UNARY, method="sqrt",
       torch="sqrt", jax="numpy.sqrt", sympy="sqrt", mpmath="sqrt",
       fuzz=Fuzz(slope=lambda a: 0.5 / np.sqrt(a), safe=lambda a: a >= NEAR, kinks=(0.0,)),
       samples=(Sample("ordinary", {"x": 4.0}), Sample("below-1", {"x": 0.5}),
                Sample("tiny", {"x": 1e-30}, "sqrt(1e-30) = 1e-15, sqrt' = 1/(2 sqrt(x)) = "
                                             "5e14: large but finite; at exactly 0 it is inf "
                                             "(see nonsmooth)"),
                Sample("large", {"x": 1e30}))),
    Op("abs", EXACT, ("AbsBackward0",), UNARY, method="abs",
       torch="abs", jax="numpy.abs", sympy="Abs", mpmath="fabs",
       fuzz=Fuzz(slope=np.sign, safe=lambda a: np.abs(a) >= NEAR, kinks=(0.0,)),
       samples=(Sample("negative", {"x": -1.5}, "abs' = sign(x) = -1"),
                Sample("positive", {"x": 2.0}))),
    Op("relu", EXACT, ("ReluBackward0",), UNARY, method="relu",
       torch="relu", jax="nn.relu", sympy=_sympy_relu, mpmath=_mpmath_relu,
       fuzz=Fuzz(slope=lambda a: 1.0 * (a > 0), safe=lambda a: np.abs(a) >= NEAR,
                 kinks=(0.0,)),
       samples=(Sample("positive", {"x": 1.5}),
                Sample("negative", {"x": -1.5}, "relu' = 0 for x < 0"))),
    Op("tan", LIBM, ("TanBackward0",), UNARY, method="tan",
       torch="tan", jax="numpy.tan", sympy="tan", mpmath=ADAPTER,
       fuzz=Fuzz(slope=lambda a: 1 / np.cos(a) ** 2, safe=lambda a: np.abs(np.cos(a)) >= 0.05),
       samples=(Sample("ordinary", {"x": 0.4}), Sample("negative", {"x": -1.2}),
                Sample("near-half-pi", {"x": 1.57}, _TAN_POLE_NOTE))),
    Op("log1p", LIBM, ("Log1PBackward0",), UNARY, method="log1p",
       torch="log1p", jax="numpy.log1p", sympy=lambda sp, x: sp.log(1 + x), mpmath="log1p",
       fuzz=Fuzz(slope=lambda a: 1 / (1 + a), safe=lambda a: a >= NEAR - 1),
       samples=(Sample("ordinary", {"x": 0.5}), Sample("negative", {"x": -0.5}),
                Sample("near-minus-1", {"x": -0.999},
                       "log1p'(x) = 1/(1+x) = 1000; in float32 the input rounds to "
                       "-0.99900001, moving 1+x by 1.3e-5 relative"))),
    Op("expm1", LIBM, ("Expm1Backward0",), UNARY, method="expm1",
       torch="expm1", jax="numpy.expm1", sympy=lambda sp, x: sp.exp(x) - 1, mpmath="expm1",
       fuzz=Fuzz(slope=np.exp, safe=lambda a: (a <= 9) & (np.exp(a) >= SATURATION)),
       samples=(Sample("ordinary", {"x": 0.5}), Sample("negative", {"x": -2.0}),
                Sample("small", {"x": 1e-8},
                       "expm1 keeps every digit of exp(x) - 1 for small x"))),
    Op("sinh", LIBM, ("SinhBackward0",), UNARY, method="sinh",
       torch="sinh", jax="numpy.sinh", sympy="sinh", mpmath="sinh",
       fuzz=Fuzz(slope=np.cosh, safe=lambda a: np.abs(a) <= 9),
       samples=(Sample("ordinary", {"x": 0.5}), Sample("negative", {"x": -2.0}),
                Sample("small", {"x": 1e-8}, "sinh(x) = x + x^3/6: every digit kept, "
                                             "sinh' = cosh = 1"),
                Sample("large", {"x": 30.0}, "sinh' = cosh = 5.3e12, as large as sinh"))),
    Op("cosh", LIBM, ("CoshBackward0",), UNARY, method="cosh",
       torch="cosh", jax="numpy.cosh", sympy="cosh", mpmath="cosh",
       fuzz=Fuzz(slope=np.sinh, safe=lambda a: np.abs(a) <= 9),
       samples=(Sample("ordinary", {"x": 0.5}), Sample("at-0", {"x": 0.0},
                                                        "cosh'(0) = sinh(0) = 0, the minimum"),
                Sample("negative", {"x": -2.0}, "cosh is even, cosh' = sinh is odd"))),

    # binary functions
    Op("pow", LIBM, ("PowBackward0", "PowBackward1", "PowBackward2"), BINARY, method="pow",
       torch=ADAPTER, jax="numpy.power", sympy="Pow", mpmath="power",
       fuzz=Fuzz(kinds=("**", "pow"), check=_fuzz_pow),
       samples=(Sample("ordinary", {"x": 2.0, "y": 3.0},
                       "d/dx = y*x^(y-1) = 12, d/dy = x^y*log(x) = 8*log(2)"),
                Sample("negative-exponent", {"x": 0.5, "y": -1.5}),
                Sample("fractional", {"x": 3.0, "y": 0.5}, "x^0.5 is sqrt(x) away from 0"),
                Sample("large", {"x": 10.0, "y": 30.0}, "1e30: d/dy = 1e30*log(10)"),
                Sample("negative-base-cube", {"x": -2.0},
                       "negative base, integer exponent (a constant): (-2)^3 = -8, d/dx = "
                       "3*x^2 = 12; the exponent is not differentiated because d/dy x^y = "
                       "x^y*log(x) is nan for x < 0", "pow(x, 3)"),
                Sample("negative-base-inverse-square", {"x": -1.5},
                       "negative base, negative integer exponent: d/dx = -2*x^-3 = 0.5926",
                       "x ** -2"),
                Sample("operator", {"x": 1.7, "y": 2.2}, "the ** operator is pow", "x ** y"))),
    Op("maximum", EXACT, ("MaximumBackward0",), BINARY, method="maximum",
       torch="maximum", jax="numpy.maximum", sympy="Max", mpmath=ADAPTER,
       fuzz=Fuzz(check=_fuzz_tie(np.maximum, "maximum")),
       samples=(Sample("ordinary", {"x": 0.3, "y": 0.9}, "the gradient goes to y"),
                Sample("first-wins", {"x": 2.0, "y": -1.0}, "max spells maximum", "max(x, y)"),
                Sample("with-float", {"x": 1.2}, "a Python float as one argument",
                       "maximum(x, 0.5)"))),
    Op("minimum", EXACT, ("MinimumBackward0",), BINARY, method="minimum",
       torch="minimum", jax="numpy.minimum", sympy="Min", mpmath=ADAPTER,
       fuzz=Fuzz(check=_fuzz_tie(np.minimum, "minimum")),
       samples=(Sample("ordinary", {"x": 0.3, "y": 0.9}, "the gradient goes to x"),
                Sample("with-float", {"x": 1.2}, "min spells minimum; x loses: d/dx = 0",
                       "min(x, 0.5)"))),
    Op("atan2", LIBM, ("Atan2Backward0",), BINARY, method="atan2",
       torch="atan2", jax="numpy.arctan2", sympy="atan2", mpmath="atan2",
       fuzz=Fuzz(check=_fuzz_atan2),
       samples=(Sample("quadrant-1", {"y": 1.0, "x": 1.0},
                       "atan2(y, x): d/dy = x/(x^2+y^2), d/dx = -y/(x^2+y^2)", "atan2(y, x)"),
                Sample("quadrant-2", {"y": 1.0, "x": -1.0}, "value 3*pi/4", "atan2(y, x)"),
                Sample("quadrant-3", {"y": -1.0, "x": -1.0}, "value -3*pi/4", "atan2(y, x)"),
                Sample("quadrant-4", {"y": -1.0, "x": 1.0}, "value -pi/4", "atan2(y, x)"),
                Sample("unequal", {"y": 3.0, "x": 0.25}, "", "atan2(y, x)"))),

    # selection
    Op("where", EXACT, ("WhereBackward0",), (3, 3), method=None,
       torch=ADAPTER, jax="numpy.where", sympy=ADAPTER, mpmath=ADAPTER,
       fuzz=Fuzz(check=_fuzz_where, drawn=False),
       samples=(Sample("true-branch", {"x": 1.5},
                       "where passes the gradient to the chosen branch only: d/dx = 2x",
                       "where(x > 0, x * x, -x)"),
                Sample("false-branch", {"x": -1.5}, "d/dx = -1", "where(x > 0, x * x, -x)"),
                Sample("two-inputs", {"x": 0.2, "y": 1.1},
                       "x < y picks sin(x): d/dy = 0 although y decided the branch",
                       "where(x < y, sin(x), cos(y))"))),

    # reductions and matmul
    Op("sum", REDUCTION, ("SumBackward0", "SumBackward1"), (1, 2), REDUCE, method="sum",
       torch="sum", jax="numpy.sum", sympy=_scalar_reduction, mpmath=ADAPTER,
       fuzz=Fuzz(check=_fuzz_reduce(np.sum), drawn=False),
       samples=(Sample("vector", {"x": _VECTOR}, "d/dx_i = 2 x_i", "sum(x * x)"),
                Sample("axis", {"x": _MATRIX_A},
                       "sum over each axis, then an outer-product-like broadcast",
                       "sum(sum(x, axis=0) * sum(x, axis=1, keepdims=True))"))),
    Op("mean", REDUCTION, ("MeanBackward0", "MeanBackward1"), (1, 2), REDUCE, method="mean",
       torch="mean", jax="numpy.mean", sympy=_scalar_reduction, mpmath=ADAPTER,
       fuzz=Fuzz(check=_fuzz_reduce(np.mean), drawn=False),
       samples=(Sample("vector", {"x": _VECTOR}, "d/dx_i = cos(x_i) / 4", "mean(sin(x))"),
                Sample("axis", {"x": _MATRIX_A}, "d/dx_ij = 2 x_ij / 3",
                       "sum(mean(x * x, axis=1))"))),
    Op("matmul", REDUCTION, ("MmBackward0", "MvBackward0", "DotBackward0", "BmmBackward0"),
       BINARY, method="matmul",
       torch=ADAPTER, jax=ADAPTER, sympy=ADAPTER, mpmath=ADAPTER,
       fuzz=Fuzz(check=_fuzz_matmul, drawn=False),
       samples=(Sample("2d", {"x": _MATRIX_A, "y": _MATRIX_B},
                       "d/dx = 1 @ y^T: each row of the gradient is y's row sums", "sum(x @ y)"),
                Sample("dot", {"x": _VECTOR[:3], "y": _MATRIX_B[:, 0]},
                       "1-d @ 1-d is the dot product, already a scalar", "x @ y"),
                Sample("function", {"x": _MATRIX_B, "y": _MATRIX_A},
                       "matmul() is the @ operator", "sum(matmul(x, y))"))),

    # internal primitives: shapes, casts and comparisons (methods, but no vocabulary names)
    Op("sign", EXACT, ("SignBackward0",), method="sign"),
    Op("reshape", EXACT, ("ViewBackward0", "ReshapeAliasBackward0", "UnsafeViewBackward0")),
    Op("broadcast_to", EXACT, ("ExpandBackward0",)),
    Op("transpose", EXACT, ("PermuteBackward0", "TBackward0", "TransposeBackward0")),
    Op("getitem", EXACT, ("SelectBackward0", "SliceBackward0", "IndexBackward0")),
    Op("scatter", BASIC, ("IndexPutBackward0",)),
    Op("astype", EXACT, ("ToCopyBackward0",)),
    Op("identity", EXACT, ("CloneBackward0",)),
    Op("less", EXACT, ()),
    Op("less_equal", EXACT, ()),
    Op("greater", EXACT, ()),
    Op("greater_equal", EXACT, ()),
    Op("equal", EXACT, ()),
    Op("not_equal", EXACT, ()),
    Op("logical_and", EXACT, ()),
)

OPS: dict[str, Op] = {}
for _entry in _ENTRIES:
    if _entry.name in OPS:
        raise ValueError(f"op {_entry.name!r} has two entries in the op table")
    OPS[_entry.name] = _entry


def op(name: str) -> Op:
    """The table entry of `name`; KeyError naming the op and where to add it."""
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"op {name!r} has no entry in the op table (refad/optable.py)") from None


def missing_facts(entry: Op) -> list[str]:
    """The facts `entry` lacks, by name: [] for a complete entry.

    Every op needs a cost and (if it ever is a graph node) PyTorch's grad_fn names; an op of
    the vocabulary needs its arity, a Tensor method (or a hand-written one), a spelling in
    every required backend, fuzz rules or a reason why it is not fuzzed, and sample points.
    """
    missing = []
    if entry.cost is None or (entry.cost != REDUCTION and not isinstance(entry.cost, float)):
        missing.append("cost")
    if not entry.grad_fn and not entry.name.startswith(_NEVER_NODES):
        missing.append("grad_fn")
    if not entry.in_vocabulary:
        return missing
    for backend in REQUIRED_BACKENDS:
        if entry.spelling(backend) is None:
            missing.append(f"{backend} spelling")
    if entry.method is None and entry.name not in HAND_WRITTEN_METHODS:
        missing.append("method")
    if entry.fuzz is None or entry.fuzz == "":
        missing.append("fuzz")
    elif isinstance(entry.fuzz, Fuzz) and entry.fuzz.check is None and (
            entry.fuzz.slope is None or entry.fuzz.safe is None):
        missing.append("fuzz slope and safe region")
    if not entry.samples:
        missing.append("samples")
    return missing


# Comparisons and logical_and give booleans, which never require grad: never graph nodes.
_NEVER_NODES = ("less", "greater", "equal", "not_equal", "logical_")
# PyTorch's Tensor.where takes its arguments in another order (x.where(condition, y)), so
# refad/tensor.py writes that method by hand.
HAND_WRITTEN_METHODS = ("where",)


def vocabulary() -> dict[str, Op]:
    """The ops that expression strings may call, by name, in table order."""
    return {name: entry for name, entry in OPS.items() if entry.in_vocabulary}


def fuzz_kinds(arity: int) -> tuple[str, ...]:
    """The DAG node spellings the fuzz generator draws for ops of `arity` (1 or 2)."""
    kinds = []
    for entry in OPS.values():
        if not isinstance(entry.fuzz, Fuzz) or not entry.fuzz.drawn:
            continue
        unary = entry.fuzz.check is None
        if (arity == 1) == unary and (entry.arity in (None, (arity, arity))):
            kinds.extend(entry.fuzz.kinds or (entry.name,))
    return tuple(kinds)


def by_fuzz_kind(kind: str) -> Op:
    """The entry whose DAG node spelling is `kind` ("+" is add, "**" is pow)."""
    for entry in OPS.values():
        if isinstance(entry.fuzz, Fuzz) and kind in (entry.fuzz.kinds or (entry.name,)):
            return entry
    raise KeyError(f"no op of the table is spelled {kind!r} in a fuzzed DAG")
