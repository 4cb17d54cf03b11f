"""Compile expression strings such as ``"x*y + sin(x)"`` into safe, callable expressions.

Safety: the text is read with Python's :mod:`ast` module and checked against an allow-list;
nothing in it is ever run by Python (no ``eval``, ``exec`` or code objects).  Parsing builds a
small tree of tuples; evaluation walks that tree and only calls vocabulary names from
:mod:`refad.vocabulary` on the ``ops`` namespace it is given.  A string can therefore compute
values but cannot reach attributes, builtins, imports or files.

Allowed: numeric literals (read as floats), variable names, named constants (``pi``), binary
``+ - * / ** @``, unary ``-`` and ``+``, parentheses, calls to vocabulary functions by bare name
(``max``/``min`` spell ``maximum``/``minimum``), ``sum``/``mean`` with an integer-literal
``axis`` and a ``True``/``False`` ``keepdims``, one comparison as the first argument of
``where(cond, a, b)``, and ``grad(expr, var)``, the derivative of ``sum(expr)`` with respect to
the variable ``var``.  Everything else is rejected with a :class:`ParseError` naming the column.

Inputs are bounded (length, and bracket depth before Python's parser sees the text; AST depth
and size, and the nesting of ``grad`` calls, whose cost grows about threefold per level, after),
and constant-only subtrees are folded in IEEE float64 arithmetic (inf/nan, never an exception or
a big integer), so parsing and evaluation stay fast whatever the input.  Literals read as
Python's ``float()`` reads them: ``1e999`` is inf, an integer literal beyond the float range is
an error.  Only ASCII is accepted: a look-alike such as Cyrillic 'ѕ' or fullwidth 'ｓ' is named,
never silently read as 's' (Python would NFKC-normalise some of them into ASCII names).
"""

from __future__ import annotations

import ast
import difflib
import io
import math
import operator
import re
import sys
import tokenize
import unicodedata
import warnings
from typing import Any, NoReturn

from refad.vocabulary import ALIASES, CONSTANTS, FUNCTIONS

__all__ = ["MAX_AST_DEPTH", "MAX_DEPTH", "MAX_GRAD_DEPTH", "MAX_LENGTH", "MAX_NODES",
           "Expression", "ParseError", "parse"]

MAX_LENGTH = 10_000  # characters
MAX_DEPTH = 64  # levels of bracket nesting, checked before Python's parser sees the text
MAX_AST_DEPTH = 256  # levels of the syntax tree (a sum of n terms is n levels deep)
MAX_NODES = 5000  # AST expression nodes
MAX_AXIS = 64  # largest |axis| accepted by sum/mean
MAX_GRAD_DEPTH = 4  # grad() inside grad(): each level about triples the graph to evaluate

_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
               "**": operator.pow}
_COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
            ast.GtE: operator.ge, ast.Eq: operator.eq, ast.NotEq: operator.ne}
_REJECTED = {
    ast.Attribute: "attribute access", ast.Subscript: "subscript", ast.Lambda: "lambda",
    ast.ListComp: "comprehension", ast.SetComp: "comprehension", ast.DictComp: "comprehension",
    ast.GeneratorExp: "comprehension", ast.JoinedStr: "f-string", ast.Starred: "starred argument",
    ast.NamedExpr: "walrus operator ':='", ast.BoolOp: "boolean operator (and/or)",
    ast.IfExp: "conditional expression (if/else)", ast.Tuple: "tuple", ast.List: "list",
    ast.Set: "set", ast.Dict: "dict", ast.Await: "await", ast.Yield: "yield",
    ast.YieldFrom: "yield", ast.Slice: "slice",
    ast.FloorDiv: "operator '//'", ast.Mod: "operator '%'", ast.LShift: "operator '<<'",
    ast.RShift: "operator '>>'", ast.BitOr: "operator '|'", ast.BitXor: "operator '^'",
    ast.BitAnd: "operator '&'", ast.Not: "boolean operator 'not'", ast.Invert: "operator '~'",
    ast.Is: "operator 'is'", ast.IsNot: "operator 'is not'", ast.In: "operator 'in'",
    ast.NotIn: "operator 'not in'",
}
_STATEMENTS = {"functiondef": "function definition", "asyncfunctiondef": "function definition",
               "classdef": "class definition", "importfrom": "import"}
_NOT_COUNTED = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)
_BAD_CHARACTER = re.compile(r"[^\t\n\r\x20-\x7e]")
_NEWLINE = re.compile(r"\r\n|\r|\n")
# Letters that look like ASCII but that NFKC leaves alone (Cyrillic, Greek, math signs).
_LOOKALIKES = dict(zip("аеорсухѕіјһԁАВЕКМНОРСТХοαινρυχΑΒΕΗΙΚΜΝΟΡΤΧ−×·∗÷",
                       "aeopcyxsijhdABEKMHOPCTXoaivpuxABEHIKMNOPTX-***/", strict=True))


class ParseError(ValueError):
    """An expression string was rejected; ``column`` is 1-based (counted from the start of the
    text, so it is the column for one-line text) or None when no single place is to blame."""

    def __init__(self, message: str, text: str = "", column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.text = text
        self.column = column


class Expression:
    """A parsed expression; call it as ``expression(ops, x=..., y=...)``."""

    __slots__ = ("_tree", "text", "variables")

    def __init__(self, text: str, variables: tuple[str, ...], tree: tuple) -> None:
        self.text = text
        self.variables = variables
        self._tree = tree

    def __repr__(self) -> str:
        return f"Expression({self.text!r}, variables={self.variables!r})"

    def __call__(self, ops: Any, /, **values: Any) -> Any:
        """Evaluate with the backend namespace ``ops`` and one value per variable."""
        for name in self.variables:
            if name not in values:
                raise ValueError(f"missing value for variable {name!r}")
        for name in values:
            if name not in self.variables:
                uses = ", ".join(self.variables) or "no variables"
                raise ValueError(f"unexpected variable {name!r}; the expression uses {uses}")
        return _evaluate(self._tree, ops, values)


def parse(text: str) -> Expression:
    """Compile ``text`` into an :class:`Expression`; raise :class:`ParseError` if not allowed."""
    if not isinstance(text, str):
        raise ParseError(f"expression must be a string, not {type(text).__name__}")
    try:
        return _parse(text)
    except ParseError:
        raise
    except (RecursionError, MemoryError):  # Python's own parser gave up: a chain of thousands
        message = f"expression is nested too deeply (limit {MAX_AST_DEPTH} levels of operations)"
        raise ParseError(message, text) from None
    except Exception as error:  # noqa: BLE001 -- whatever else escapes becomes a ParseError
        raise ParseError(f"could not parse expression: {str(error)[:200]}", text) from None


def _parse(text: str) -> Expression:
    if len(text) > MAX_LENGTH:
        message = f"expression is too long: {len(text)} characters (limit {MAX_LENGTH})"
        raise ParseError(message, text)
    bad = _BAD_CHARACTER.search(text)
    if bad:
        raise ParseError(_describe_character(bad.group(), bad.start() + 1), text, bad.start() + 1)
    if not text.strip():
        raise ParseError("empty expression", text)
    depth = 0
    for index, char in enumerate(text):
        if char in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                message = f"expression is nested too deeply at column {index + 1}"
                raise ParseError(f"{message} (limit {MAX_DEPTH} levels of brackets)", text,
                                 index + 1)
        elif char in ")]}":
            depth = max(depth - 1, 0)
    compiler = _Compiler(text)
    try:
        with warnings.catch_warnings():  # e.g. "1if": a SyntaxWarning becomes a SyntaxError
            warnings.simplefilter("error")
            module = ast.parse(text, mode="exec")
    except SyntaxError as error:
        if "integer string conversion" in (error.msg or ""):  # more digits than int() reads
            column = _long_integer(text, compiler.line_starts)
            where = f" at column {column}" if column else ""
            message = f"integer literal is too large for a float{where}"
            raise ParseError(message, text, column) from None
        column = None  # SyntaxError.offset already counts characters, not UTF-8 bytes
        if error.lineno and error.offset and error.lineno <= len(compiler.line_starts):
            column = compiler.line_starts[error.lineno - 1] + error.offset
        where = f" at column {column}" if column else ""
        raise ParseError(f"syntax error{where}: {error.msg}", text, column) from None
    tree = compiler.expr(compiler.single_expression(module))
    variables = tuple(sorted(compiler.uses, key=compiler.uses.__getitem__))
    return Expression(text, variables, tree)


def _describe_character(char: str, column: int) -> str:
    """Why ``char`` is rejected: its code point, its Unicode name, the ASCII it imitates."""
    kind, allowed = "non-ASCII character", "only ASCII is allowed"
    if ord(char) < 128:
        kind, allowed = "control character", "only printable ASCII, tabs and newlines are allowed"
    name = unicodedata.name(char, "")  # control characters have none
    lookalike = _LOOKALIKES.get(char) or unicodedata.normalize("NFKC", char)
    if name and lookalike.isascii() and lookalike != char:
        name += f", which looks like {lookalike!r}"
    where = f"at column {column} ({name})" if name else f"at column {column}"
    return f"{kind} {char!r} (U+{ord(char):04X}) {where}; {allowed}"


def _long_integer(text: str, line_starts: list[int]) -> int | None:
    """Column of the first integer literal longer than ``sys.get_int_max_str_digits()``.

    Python refuses to read such a literal (a guard against slow int() conversion); the text is
    ASCII here, so the tokenizer's character columns are the text's columns.
    """
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            digits = token.string.replace("_", "").lstrip("0")
            if token.type == tokenize.NUMBER and digits.isdigit():
                if len(digits) > sys.get_int_max_str_digits():
                    return line_starts[token.start[0] - 1] + token.start[1] + 1
    except (tokenize.TokenError, SyntaxError):  # unbalanced brackets further on
        pass
    return None


class _Compiler:
    """Checks an AST against the allow-list and turns it into nested tuples."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.line_starts = [0] + [match.end() for match in _NEWLINE.finditer(text)]
        self.uses: dict[str, tuple[int, int]] = {}  # variable -> first (line, col_offset)
        self.grad_depth = 0  # grad() calls around the node being compiled

    def offset(self, lineno: int, col_offset: int) -> int:
        """0-based character offset in the text of an AST (line, UTF-8 byte column) position."""
        start = self.line_starts[lineno - 1]
        if self.text.isascii():
            return start + col_offset
        line = self.text[start:].encode("utf-8")[:col_offset]
        return start + len(line.decode("utf-8", "ignore"))

    def at(self, node: ast.AST) -> int:
        return self.offset(node.lineno, node.col_offset) + 1

    def after(self, node: ast.AST) -> int:
        """Column of the token after ``node`` (an operator, '.' or '('), skipping ')' and space."""
        index = self.offset(node.end_lineno, node.end_col_offset)
        while index < len(self.text) - 1 and self.text[index] in " \t\r\n)":
            index += 1
        return index + 1

    def fail(self, what: str, column: int, hint: str = "") -> NoReturn:
        raise ParseError(f"{what} at column {column}{hint}", self.text, column)

    def reject(self, kind: type, column: int) -> NoReturn:
        what = _REJECTED.get(kind, kind.__name__)
        self.fail(f"{what} is not allowed", column)

    def single_expression(self, module: ast.Module) -> ast.expr:
        if not module.body:
            raise ParseError("empty expression", self.text)
        if len(module.body) > 1:
            found = f"found {len(module.body)} statements"
            self.fail(f"only one expression is allowed; {found}", self.at(module.body[1]))
        statement = module.body[0]
        if not isinstance(statement, ast.Expr):
            kind = type(statement).__name__.lower()  # "functiondef", "augassign", ...
            kind = "assignment" if "assign" in kind else _STATEMENTS.get(kind, kind)
            self.fail(f"{kind} statement is not allowed (only a single expression)",
                      self.at(statement))
        self.check_size(statement.value)
        return statement.value

    def check_size(self, root: ast.expr) -> None:
        """Bound node count and depth iteratively, before any recursive walk."""
        count, stack = 0, [(root, 0)]
        while stack:
            node, depth = stack.pop()
            count += 1
            if count > MAX_NODES:
                raise ParseError(f"expression is too large (limit {MAX_NODES} nodes)", self.text)
            if depth > MAX_AST_DEPTH:
                self.fail("expression is nested too deeply", self.at(node),
                          f" (limit {MAX_AST_DEPTH} levels of operations)")
            for child in ast.iter_child_nodes(node):
                if not isinstance(child, _NOT_COUNTED):
                    stack.append((child, depth + 1))

    def expr(self, node: ast.expr, in_where: bool = False) -> tuple:
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp):
            return self.binary(node)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Compare):
            return self.compare(node, in_where)
        if isinstance(node, ast.Attribute):
            self.reject(ast.Attribute, self.after(node.value))
        self.reject(type(node), self.at(node))

    def constant(self, node: ast.Constant) -> tuple:
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            self.fail(f"{value!r} is not allowed here", self.at(node))
        if isinstance(value, (str, bytes)):
            kind = "string" if isinstance(value, str) else "bytes"
            self.fail(f"{kind} literal is not allowed", self.at(node))
        if isinstance(value, complex):
            self.fail("complex number is not allowed", self.at(node))
        try:
            return ("const", float(value))
        except OverflowError:
            self.fail("integer literal is too large for a float", self.at(node))

    def name(self, node: ast.Name) -> tuple:
        name, column = node.id, self.at(node)
        if name.startswith("_"):
            self.fail(f"name {name!r} is not allowed (names may not start with '_')", column)
        if name in CONSTANTS:
            return ("const", float(CONSTANTS[name]))
        if name in FUNCTIONS or name in ALIASES:
            self.fail(f"function {name!r} used as a variable", column, f"; call it as {name}(...)")
        position = (node.lineno, node.col_offset)
        self.uses[name] = min(self.uses.get(name, position), position)
        return ("var", name)

    def binary(self, node: ast.BinOp) -> tuple:
        left, right = self.expr(node.left), self.expr(node.right)
        if isinstance(node.op, ast.MatMult):
            return ("call", "matmul", (left, right), ())
        symbol = _BINARY.get(type(node.op))
        if symbol is None:
            self.reject(type(node.op), self.after(node.left))
        if left[0] == "const" and right[0] == "const":
            return ("const", _fold(symbol, left[1], right[1]))
        return ("op", _ARITHMETIC[symbol], left, right)

    def unary(self, node: ast.UnaryOp) -> tuple:
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            self.reject(type(node.op), self.at(node))
        operand = self.expr(node.operand)
        if isinstance(node.op, ast.UAdd):
            return operand
        return ("const", -operand[1]) if operand[0] == "const" else ("neg", operand)

    def compare(self, node: ast.Compare, in_where: bool) -> tuple:
        if not in_where:
            self.fail("comparison outside where()", self.after(node.left))
        if len(node.ops) > 1:
            self.fail("chained comparison is not allowed", self.after(node.comparators[0]))
        function = _COMPARE.get(type(node.ops[0]))
        if function is None:
            self.reject(type(node.ops[0]), self.after(node.left))
        return ("op", function, self.expr(node.left), self.expr(node.comparators[0]))

    def call(self, node: ast.Call) -> tuple:
        if isinstance(node.func, ast.Attribute):
            self.reject(ast.Attribute, self.after(node.func.value))
        if not isinstance(node.func, ast.Name):
            self.fail("calling the result of an expression is not allowed", self.after(node.func))
        name, column = node.func.id, self.at(node.func)
        if name.startswith("_"):
            self.fail(f"name {name!r} is not allowed (names may not start with '_')", column)
        canonical = ALIASES.get(name, name)
        if canonical not in FUNCTIONS:
            if name in CONSTANTS:
                self.fail(f"{name!r} is a constant, not a function", column)
            close = difflib.get_close_matches(name, [*FUNCTIONS, *ALIASES], n=1)
            self.fail(f"unknown function {name!r}", column,
                      f"; did you mean {close[0]!r}?" if close else "")
        fewest, most, keywords = FUNCTIONS[canonical]
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                self.reject(ast.Starred, self.at(arg))
        if not fewest <= len(node.args) <= most:
            wanted = str(fewest) if fewest == most else f"{fewest} to {most}"
            self.fail(f"{name}() takes {wanted} positional argument(s), got {len(node.args)}",
                      column)
        if canonical == "grad":
            return self.grad(node)
        args = []
        given: set[str] = set()
        for index, arg in enumerate(node.args):
            if fewest <= index < fewest + len(keywords):  # optional positional: axis
                given.add(keywords[index - fewest])
                args.append(("const", self.option(keywords[index - fewest], arg)))
            else:
                args.append(self.expr(arg, in_where=canonical == "where" and index == 0))
        options = []
        for keyword in node.keywords:
            if keyword.arg in given:
                self.fail(f"{name}() got {keyword.arg!r} twice", self.at(keyword))
            if keyword.arg is None or keyword.arg not in keywords:
                what = "'**' argument" if keyword.arg is None else f"keyword {keyword.arg!r}"
                self.fail(f"{what} is not allowed for {name}()", self.at(keyword))
            given.add(keyword.arg)
            options.append((keyword.arg, self.option(keyword.arg, keyword.value)))
        return ("call", canonical, tuple(args), tuple(options))

    def option(self, keyword: str, node: ast.expr) -> int | bool:
        """The value of an ``axis`` (integer literal) or ``keepdims`` (True/False) argument."""
        if keyword == "keepdims":
            if isinstance(node, ast.Constant) and isinstance(node.value, bool):
                return node.value
            self.fail("keepdims must be True or False", self.at(node))
        if keyword != "axis":  # only reachable if the vocabulary grows a new keyword
            self.fail(f"keyword {keyword!r} is not supported by the parser", self.at(node))
        sign, literal = 1, node
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            sign = -1 if isinstance(node.op, ast.USub) else 1
            literal = node.operand
        value = literal.value if isinstance(literal, ast.Constant) else None
        if type(value) is not int or abs(value) > MAX_AXIS:
            message = f"axis must be an integer constant from -{MAX_AXIS} to {MAX_AXIS}"
            self.fail(message, self.at(node))
        return sign * value

    def grad(self, node: ast.Call) -> tuple:
        body, variable = node.args
        if node.keywords:
            self.fail("grad() takes no keyword arguments", self.at(node.keywords[0]))
        name = variable.id if isinstance(variable, ast.Name) else None
        if name is None or name in CONSTANTS or name in FUNCTIONS or name in ALIASES:
            self.fail("the second argument of grad() must be a variable name", self.at(variable))
        if self.grad_depth >= MAX_GRAD_DEPTH:
            self.fail("grad() is nested too deeply", self.at(node),
                      f" (limit {MAX_GRAD_DEPTH} levels: each one about triples the work)")
        self.grad_depth += 1
        compiled = self.expr(body)
        self.grad_depth -= 1
        return ("grad", compiled, self.name(variable)[1])


def _fold(symbol: str, a: float, b: float) -> float:
    """``a symbol b`` on floats with IEEE float64 results: inf or nan instead of exceptions."""
    odd = b.is_integer() and math.fmod(b, 2.0) != 0.0
    try:
        if symbol == "**":
            return math.pow(a, b)
        return _ARITHMETIC[symbol](a, b)
    except ZeroDivisionError:  # a / ±0
        if a == 0.0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    except OverflowError:
        return -math.inf if symbol == "**" and a < 0.0 and odd else math.inf
    except ValueError:  # pow: zero to a negative power, or negative base, fractional power
        if a == 0.0:
            return -math.inf if odd and math.copysign(1.0, a) < 0.0 else math.inf
        return math.nan


def _evaluate(node: tuple, ops: Any, values: dict[str, Any]) -> Any:
    kind = node[0]
    if kind == "const":
        return node[1]
    if kind == "var":
        return values[node[1]]
    if kind == "neg":
        return -_evaluate(node[1], ops, values)
    if kind == "op":
        _, function, left, right = node
        return function(_evaluate(left, ops, values), _evaluate(right, ops, values))
    if kind == "call":
        _, name, args, options = node
        arguments = [_evaluate(arg, ops, values) for arg in args]
        return getattr(ops, name)(*arguments, **dict(options))
    _, body, name = node  # "grad": d sum(body) / d name, at the current value of name

    def summed(value: Any) -> Any:
        return ops.sum(_evaluate(body, ops, {**values, name: value}))

    return ops.grad(summed)(values[name])
