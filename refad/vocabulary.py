"""The ops vocabulary: the one list of functions every backend provides.

Expression strings may call exactly these names (plus the spellings in ``ALIASES``), every
adapter supplies them in its ops namespace, and the parser checks arity against this table.
Extending the vocabulary means adding a line here and the function to each backend.
"""

from __future__ import annotations

# name -> (fewest positional arguments, most positional arguments, keyword arguments allowed)
FUNCTIONS: dict[str, tuple[int, int, tuple[str, ...]]] = {
    "sin": (1, 1, ()),
    "cos": (1, 1, ()),
    "tan": (1, 1, ()),
    "tanh": (1, 1, ()),
    "exp": (1, 1, ()),
    "log": (1, 1, ()),
    "sqrt": (1, 1, ()),
    "abs": (1, 1, ()),
    "relu": (1, 1, ()),
    "sigmoid": (1, 1, ()),
    "square": (1, 1, ()),
    "log1p": (1, 1, ()),
    "expm1": (1, 1, ()),
    "pow": (2, 2, ()),
    "atan2": (2, 2, ()),
    "maximum": (2, 2, ()),
    "minimum": (2, 2, ()),
    "where": (3, 3, ()),
    "sum": (1, 2, ("axis", "keepdims")),
    "mean": (1, 2, ("axis", "keepdims")),
    "matmul": (2, 2, ()),
    # grad(expr, name): the derivative of sum(expr) with respect to the input `name`,
    # itself differentiable (nested reverse mode, as PINN residuals need).
    "grad": (2, 2, ()),
}

# Accepted spellings in expression strings.
ALIASES: dict[str, str] = {"max": "maximum", "min": "minimum"}

# Named constants an expression may use.
CONSTANTS: dict[str, float] = {"pi": 3.141592653589793}

# The binary operators and their ops-vocabulary names (used by `matmul` spelled `@`).
BINARY_OPERATORS = ("+", "-", "*", "/", "**", "@")
COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
