"""Tests for refad.parse: what expression strings may say, what they evaluate to, and that
nothing in a string ever runs as Python code."""

from __future__ import annotations

import ast
import builtins
import math
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refad.parse import MAX_DEPTH, MAX_LENGTH, MAX_NODES, Expression, ParseError, parse
from refad.registry import REGISTRY
from refad.vocabulary import ALIASES, FUNCTIONS

H = 1e-3  # step of the central finite difference standing in for a real `grad`


def central_difference(f):
    """d f / d v at a scalar v, by a central difference (exact for cubics up to rounding)."""

    def derivative(v):
        return (f(v + H) - f(v - H)) / (2 * H)

    return derivative


OPS = SimpleNamespace(
    sin=np.sin, cos=np.cos, tan=np.tan, tanh=np.tanh, exp=np.exp, log=np.log, sqrt=np.sqrt,
    abs=np.abs, relu=lambda x: np.maximum(x, 0.0), sigmoid=lambda x: 1.0 / (1.0 + np.exp(-x)),
    square=np.square, log1p=np.log1p, expm1=np.expm1, pow=np.power, atan2=np.arctan2,
    maximum=np.maximum, minimum=np.minimum, where=np.where, sum=np.sum, mean=np.mean,
    matmul=np.matmul, grad=central_difference,
)
# An op added to the table later is evaluated by its registry forward (numpy) here.
for _name in FUNCTIONS:
    if not hasattr(OPS, _name):
        setattr(OPS, _name, REGISTRY[_name].forward)

V = np.array([-1.0, 0.5, 2.0])
M = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
A = np.array([[1.0, 2.0], [3.0, 4.0]])
B = np.array([[0.5], [-1.0]])
X = 0.7

# (text, variables in order of first appearance, values, expected value)
ACCEPTED = [
    ("x*y + sin(x)", ("x", "y"), {"x": 1.0, "y": 2.0}, 2.0 + np.sin(1.0)),
    ("tanh(w*x + b)", ("w", "x", "b"), {"w": 0.5, "x": 2.0, "b": -0.3}, np.tanh(0.7)),
    ("x*x + sin(x)*x", ("x",), {"x": X}, X * X + np.sin(X) * X),
    ("max(a, b)", ("a", "b"), {"a": 1.0, "b": 3.0}, 3.0),
    ("min(a, b)", ("a", "b"), {"a": 1.0, "b": 3.0}, 1.0),
    ("maximum(a, 0) + minimum(a, 0)", ("a",), {"a": -2.0}, -2.0),
    ("where(x > 0, x, 0)", ("x",), {"x": V}, np.array([0.0, 0.5, 2.0])),
    ("where(x <= 0.5, 0, x)", ("x",), {"x": V}, np.array([0.0, 0.0, 2.0])),
    ("where(x == y, 1, 2) + where(x != y, 10, 20)", ("x", "y"), {"x": 1.0, "y": 1.0}, 21.0),
    ("where(x, y, z)", ("x", "y", "z"), {"x": V > 0, "y": 1.0, "z": 2.0}, [2.0, 1.0, 1.0]),
    ("sum(x, 0)", ("x",), {"x": M}, M.sum(0)),
    ("sum(x)", ("x",), {"x": M}, 21.0),
    ("sum(x, axis=1)", ("x",), {"x": M}, M.sum(1)),
    ("sum(x, -1, keepdims=True)", ("x",), {"x": M}, M.sum(-1, keepdims=True)),
    ("mean(x, axis=-1, keepdims=True)", ("x",), {"x": M}, M.mean(-1, keepdims=True)),
    ("mean(x, keepdims=False)", ("x",), {"x": M}, 3.5),
    ("a @ b", ("a", "b"), {"a": A, "b": B}, A @ B),
    ("matmul(a, b) + 1", ("a", "b"), {"a": A, "b": B}, A @ B + 1),
    ("2*pi*x", ("x",), {"x": 0.5}, np.pi),
    ("-x**2", ("x",), {"x": 3.0}, -9.0),
    ("(-x)**2", ("x",), {"x": 3.0}, 9.0),
    ("+x - -y", ("x", "y"), {"x": 1.0, "y": 2.0}, 3.0),
    ("x - y - 1", ("x", "y"), {"x": 1.0, "y": 2.0}, -2.0),
    ("x / y / 2", ("x", "y"), {"x": 1.0, "y": 2.0}, 0.25),
    ("2**-1 * x", ("x",), {"x": 3.0}, 1.5),
    ("x ** y ** 2", ("x", "y"), {"x": 2.0, "y": 3.0}, 512.0),
    ("pow(x, 2) + atan2(y, x)", ("x", "y"), {"x": 1.0, "y": 1.0}, 1.0 + np.pi / 4),
    ("exp(log(x)) + sqrt(x) + abs(-x) + relu(x) + square(x)", ("x",), {"x": 4.0}, 30.0),
    ("sigmoid(x) + log1p(x) + expm1(x) + cos(x) + tan(x)", ("x",), {"x": 0.0}, 1.5),
    ("grad(sin(x), x)", ("x",), {"x": X}, np.cos(X)),
    ("grad(grad(x**3, x), x)", ("x",), {"x": 1.5}, 9.0),
    ("grad(x*y, y)", ("x", "y"), {"x": 3.0, "y": 2.0}, 3.0),
    ("grad(y*y, x) + y", ("y", "x"), {"x": 3.0, "y": 2.0}, 2.0),
    ("grad(where(x > 0, x*x, 0), x)", ("x",), {"x": 2.0}, 4.0),
    ("9**9**9**9 + x", ("x",), {"x": 1.0}, math.inf),
    ("1/0 - x", ("x",), {"x": 1.0}, math.inf),
    ("-1/0 + x", ("x",), {"x": 1.0}, -math.inf),
    ("0/0 + x", ("x",), {"x": 1.0}, math.nan),
    ("(-8)**(1/3) + x", ("x",), {"x": 1.0}, math.nan),
    ("1_000 + 0x10 + 1e3 + .5", (), {}, 2016.5),
    ("pi", (), {}, math.pi),
    ("1e400", (), {}, math.inf),
    ("y + x + y", ("y", "x"), {"x": 1.0, "y": 2.0}, 5.0),
    ("x  # a comment", ("x",), {"x": 1.0}, 1.0),
    ("(x +\n  y)", ("x", "y"), {"x": 1.0, "y": 2.0}, 3.0),
    ("ops + self", ("ops", "self"), {"ops": 1.0, "self": 2.0}, 3.0),
    ("sin(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH, ("x",), {"x": 0.0}, 0.0),
]

ANY = object()  # column not checked (it comes from Python's own parser message)

# (text, fragment of the message, column)
REJECTED = [
    ("__import__('os').system('echo hi')", "attribute access is not allowed", 17),
    ("().__class__.__bases__[0].__subclasses__()", "attribute access", 26),
    ("x.__class__", "attribute access is not allowed at column 2", 2),
    ("sin(x) .real", "attribute access", 8),
    ("lambda: 1", "lambda is not allowed", 1),
    ("[x for x in y]", "comprehension", 1),
    ("(x for x in y)", "comprehension", 1),
    ('f"{x}"', "f-string", 1),
    ("'a'", "string literal", 1),
    ('b"x"', "bytes literal", 1),
    ("(y := 2)", "walrus", 2),
    ("x if y else z", "conditional expression", 1),
    ("x and y", "boolean operator", 1),
    ("not x", "'not'", 1),
    ("~x", "'~'", 1),
    ("x // 2", "operator '//' is not allowed at column 3", 3),
    ("x % 2", "'%'", 3),
    ("x | y", "'|'", 3),
    ("import os", "import statement", 1),
    ("from os import system", "import statement", 1),
    ("x; y", "only one expression", 4),
    ("x\ny", "only one expression", 3),
    ("sin = 1", "assignment", 1),
    ("x += 1", "assignment", 1),
    ("def f(): pass", "statement", 1),
    ("open('f')", "unknown function 'open'", 1),
    ("eval('1')", "unknown function 'eval'", 1),
    ("exec('1')", "unknown function 'exec'", 1),
    ("sinn(x)", "unknown function 'sinn' at column 1; did you mean 'sin'?", 1),
    ("2 * tanhh(x)", "did you mean 'tanh'?", 5),
    ("foo(x)", "unknown function 'foo' at column 1", 1),
    ("x(1)", "unknown function 'x'", 1),
    ("pi(1)", "constant, not a function", 1),
    ("sin(x)(y)", "calling the result of an expression", 7),
    ("sin(x, y)", "sin() takes 1 positional argument(s), got 2", 1),
    ("where(x > 0, x)", "where() takes 3", 1),
    ("sum(x, 0, 1)", "sum() takes 1 to 2", 1),
    ("grad(x)", "grad() takes 2", 1),
    ("x > 0", "comparison outside where() at column 3", 3),
    ("sin(x > 0)", "comparison outside where()", 7),
    ("where(x, x > 0, 1)", "comparison outside where()", 12),
    ("where((x > 0) + 1, x, 1)", "comparison outside where()", 10),
    ("0 < x < 1", "comparison outside where()", 3),
    ("where(0 < x < 1, x, 0)", "chained comparison", 13),
    ("where(x is y, x, 0)", "operator 'is'", 9),
    ("where(x in y, x, 0)", "operator 'in'", 9),
    ("grad(x, 2)", "second argument of grad() must be a variable name", 9),
    ("grad(x, pi)", "must be a variable name", 9),
    ("grad(x, sin)", "must be a variable name", 9),
    ("grad(x, x + 1)", "must be a variable name", 9),
    ("grad(x, x, v=x)", "grad() takes no keyword arguments", 12),
    ("grad(x, _y)", "'_y' is not allowed", 9),
    ("_x", "name '_x' is not allowed", 1),
    ("_x(1)", "'_x' is not allowed", 1),
    ("x + __y", "'__y'", 5),
    ("sin + 1", "function 'sin' used as a variable", 1),
    ("2 * max", "function 'max' used as a variable", 5),
    ("ｓｉｎ(x)", "non-ASCII character 'ｓ' (U+FF53) at column 1", 1),
    ("x + é", "non-ASCII character", 5),
    ("x\x00", "control character", 2),
    ("x\x0c", "control character", 2),
    ("(" * 100_000 + "x" + ")" * 100_000, "expression is too long: 200001 characters", None),
    ("(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1), "nested too deeply", 65),
    ("sin(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1), "nested too deeply", 260),
    ("-" * 300 + "x", "nested too deeply", 258),
    ("x+" * 300 + "x", "nested too deeply", 89),
    ("-" * 9999 + "x", "nested too deeply", None),
    ("x+" * 4999 + "x", "nested too deeply", None),
    ("x+" * 6000 + "x", f"too long: 12001 characters (limit {MAX_LENGTH})", None),
    ("9" * 400, "integer literal is too large for a float at column 1", 1),
    ("x + 0x" + "f" * 400, "integer literal is too large", 5),
    ("9" * 5000, "integer literal is too large for a float at column 1", 1),
    ("", "empty expression", None),
    ("   \n ", "empty expression", None),
    ("# just a comment", "empty expression", None),
    ("sum(x, axis=y)", "axis must be an integer constant", 13),
    ("sum(x, y)", "axis must be an integer constant", 8),
    ("sum(x, 1.0)", "axis must be an integer", 8),
    ("sum(x, True)", "axis must be an integer", 8),
    ("mean(x, axis=100)", "axis must be an integer", 14),
    ("sum(x, keepdims=1)", "keepdims must be True or False", 17),
    ("sum(x, 0, axis=1)", "sum() got 'axis' twice", 11),
    ("sum(x, foo=1)", "keyword 'foo' is not allowed for sum()", 8),
    ("sin(x, axis=0)", "keyword 'axis' is not allowed for sin()", 8),
    ("sum(x, **k)", "'**' argument", 8),
    ("sin(*x)", "starred argument", 5),
    ("*x", "starred", 1),
    ("1j*x", "complex number", 1),
    ("x[0]", "subscript", 1),
    ("True + x", "True is not allowed", 1),
    ("None", "None is not allowed", 1),
    ("...", "Ellipsis is not allowed", 1),
    ("(x, y)", "tuple", 1),
    ("[x]", "list", 1),
    ("{x}", "set", 1),
    ("{x: 1}", "dict", 1),
    ("yield x", "yield", 1),
    ("await x", "await", 1),
    ("x +* 2", "syntax error at column 4", 4),
    ("sin(x", "syntax error at column 4", 4),
    ("(x +\n  y.z)", "attribute access is not allowed at column 9", 9),
]


def _many_nodes() -> str:
    """A shallow expression with more than MAX_NODES nodes that still fits in MAX_LENGTH."""
    text = "x"
    for _ in range(4):
        text = "+".join(["(" + text + ")" if text != "x" else text] * 8)
    assert len(text) <= MAX_LENGTH
    return text


REJECTED.append((_many_nodes(), f"too large (limit {MAX_NODES} nodes)", None))


def _ids(rows):
    return [repr(row[0])[:40] for row in rows]


@pytest.mark.parametrize(("text", "variables", "values", "expected"), ACCEPTED, ids=_ids(ACCEPTED))
def test_accepted(text, variables, values, expected):
    expression = parse(text)
    assert isinstance(expression, Expression)
    assert expression.text == text
    assert expression.variables == variables
    tolerance = 1e-5 if "grad" in text else 1e-12
    result = expression(OPS, **values)
    np.testing.assert_allclose(result, expected, rtol=tolerance, err_msg=text)


def test_where_condition_may_be_any_value():
    result = parse("where(x >= 2, 1, where(x < 0, 1, 0))")(OPS, x=V)
    np.testing.assert_array_equal(result, [1.0, 0.0, 1.0])


@pytest.mark.parametrize(("text", "fragment", "column"), REJECTED, ids=_ids(REJECTED))
def test_rejected(text, fragment, column):
    with pytest.raises(ParseError) as caught:
        parse(text)
    error = caught.value
    assert fragment in str(error), f"{text[:60]!r}: {error}"
    assert error.text == text
    if column is not ANY:
        assert error.column == column, f"{text[:60]!r}: {error}"


def test_every_rejection_is_a_parse_error_with_a_column_or_none():
    for text, _fragment, _column in REJECTED:
        try:
            parse(text)
        except ParseError as error:
            assert isinstance(error, ValueError)
            assert error.column is None or type(error.column) is int, text[:60]
            assert str(error) == error.message
        else:
            pytest.fail(f"accepted {text[:60]!r}")


def test_bounds_are_checked_fast():
    hostile = ["(" * 100_000 + "x" + ")" * 100_000, "9**9**9**9 + x", "9**" * 60 + "9",
               "(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH, "-" * 9999 + "x", _many_nodes()]
    for text in hostile:
        start = time.perf_counter()
        try:
            parse(text)
        except ParseError:
            pass
        assert time.perf_counter() - start < 1.0, text[:40]


def test_constant_subtrees_are_folded():
    for text, value in [("2*pi", 2 * math.pi), ("9**9**9**9", math.inf), ("1/-0.0", -math.inf),
                        ("-2**2", -4.0), ("(-2)**3", -8.0), ("(-9)**1e9", math.inf),
                        ("(-9)**(1e9 + 1)", -math.inf), ("0**-1", math.inf),
                        ("(-0.0)**-1", -math.inf), ("1e308*10 - 1e308*10", math.nan)]:
        expression = parse(text)
        assert expression.variables == ()
        np.testing.assert_equal(expression(OPS), value, err_msg=text)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False),
       st.floats(allow_nan=False, allow_infinity=False),
       st.sampled_from(["+", "-", "*", "/", "**"]))
def test_folding_matches_numpy_float64(a, b, symbol):
    folded = parse(f"({a!r}) {symbol} ({b!r})")(OPS)
    with np.errstate(all="ignore"):
        reference = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide,
                     "**": np.power}[symbol](np.float64(a), np.float64(b))
    assert type(folded) is float
    if math.isnan(reference):
        assert math.isnan(folded)
    else:
        assert folded == pytest.approx(float(reference), rel=1e-15, abs=0.0)
        assert math.copysign(1.0, folded) == math.copysign(1.0, reference) or folded != 0.0


TOKENS = ["x", "y", "sin", "grad", "where", "sum", "pi", "_", "(", ")", ",", "+", "-", "*",
          "**", "/", "@", "<", "==", ".", "[", "]", "0", "1.5", "9", "e", "j", "'", ":",
          "=", "axis", "keepdims", "True", "lambda", "if", "not", " ", "\n", "#", ";"]


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.lists(st.sampled_from(TOKENS), max_size=25).map("".join),
                 st.text(max_size=40)))
def test_fuzz_parse_only_returns_or_raises_parse_error(text):
    try:
        expression = parse(text)
    except ParseError as error:
        # a syntax error at the end of the text points one past its last character
        assert error.column is None or 1 <= error.column <= len(text) + 1
    else:
        assert isinstance(expression, Expression)


def _forbidden(*args, **kwargs):
    raise AssertionError("an expression string reached a forbidden builtin")


def test_no_string_runs_code(tmp_path):
    sentinel = tmp_path / "pwned"
    hostile = [
        f"__import__('os').system('touch {sentinel}')",
        f"open('{sentinel}', 'w').write('x')",
        f"eval(\"open('{sentinel}', 'w')\")",
        f"exec(\"open('{sentinel}', 'w')\")",
        f"(lambda: open('{sentinel}', 'w'))()",
        f"import os; os.system('touch {sentinel}')",
        f"sin(x).__class__.__init__.__globals__['__builtins__']['open']('{sentinel}', 'w')",
        (
            "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'Popen']"
            f"[0](['touch', '{sentinel}'])"
        ),
    ]
    outcomes = []
    # compile() stays: ast.parse uses it (to build an AST only, never a code object).
    patches = [mock.patch.object(builtins, name, _forbidden)
               for name in ("__import__", "eval", "exec", "open")]
    for patch in patches:
        patch.start()
    try:
        for text in hostile + [row[0] for row in REJECTED]:
            try:
                parse(text)
                outcomes.append((text, "accepted"))
            except ParseError:
                outcomes.append((text, "rejected"))
        for text, _variables, values, _expected in ACCEPTED:
            outcomes.append((text, type(parse(text)(OPS, **values)).__name__))
    finally:
        for patch in patches:
            patch.stop()
    assert not sentinel.exists()
    assert [text for text, outcome in outcomes if outcome == "accepted"] == []


def test_missing_and_unexpected_variables():
    expression = parse("x*y + sin(x)")
    with pytest.raises(ValueError, match="missing value for variable 'y'"):
        expression(OPS, x=1.0)
    with pytest.raises(ValueError, match="unexpected variable 'z'; the expression uses x, y"):
        expression(OPS, x=1.0, y=2.0, z=3.0)
    with pytest.raises(ValueError, match="unexpected variable 'x'; the expression uses no"):
        parse("2*pi")(OPS, x=1.0)


def test_expression_object():
    expression = parse("tanh(w*x + b)")
    assert repr(expression) == "Expression('tanh(w*x + b)', variables=('w', 'x', 'b'))"
    assert expression.text == "tanh(w*x + b)"
    assert expression.variables == ("w", "x", "b")


def test_compiled_tree_holds_no_ast_objects():
    def walk(node):
        assert not isinstance(node, ast.AST)
        if isinstance(node, tuple):
            for child in node:
                walk(child)

    for text, *_ in ACCEPTED:
        walk(parse(text)._tree)


def test_not_a_string():
    with pytest.raises(ParseError, match="must be a string"):
        parse(b"x")  # type: ignore[arg-type]


def test_vocabulary_is_the_source_of_truth():
    assert set(FUNCTIONS) <= set(vars(OPS))
    for alias, name in ALIASES.items():
        assert parse(f"{alias}(a, b)")(OPS, a=1.0, b=2.0) == parse(f"{name}(a, b)")(
            OPS, a=1.0, b=2.0)
    for name, (fewest, most, _keywords) in FUNCTIONS.items():
        for count in (fewest - 1, most + 1):
            if count >= 0:
                args = ", ".join(["x"] * count)
                with pytest.raises(ParseError, match=rf"{name}\(\) takes"):
                    parse(f"{name}({args})")


def test_parse_module_imports_only_stdlib_and_never_executes_code():
    # sys.modules, since refad/__init__ re-exports the function parse as refad.parse
    tree = ast.parse(Path(sys.modules["refad.parse"].__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] in sys.stdlib_module_names, alias.name
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            assert module == "refad.vocabulary" or module in sys.stdlib_module_names, module
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"eval", "exec", "compile", "__import__", "setattr"}
            if node.func.id == "getattr":  # only ops.<vocabulary name>, never on parsed objects
                assert isinstance(node.args[0], ast.Name) and node.args[0].id == "ops"
