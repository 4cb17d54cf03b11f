"""The ops vocabulary: the functions expression strings may call, read from the op table.

`FUNCTIONS` maps each name to (fewest positional arguments, most, keyword arguments allowed),
which the parser checks calls against; every backend's ops namespace supplies exactly these
names. They come from the op table (refad/optable.py), plus `grad`, which is not an op but a
derivative of a sub-expression. Extending the vocabulary is an entry of that table.
"""

from __future__ import annotations

from .optable import vocabulary

FUNCTIONS: dict[str, tuple[int, int, tuple[str, ...]]] = {
    name: (entry.arity[0], entry.arity[1], entry.keywords)
    for name, entry in vocabulary().items()
}
# grad(expr, name): the derivative of sum(expr) with respect to the input `name`, itself
# differentiable (nested reverse mode, as PINN residuals need).
FUNCTIONS["grad"] = (2, 2, ())

# Accepted spellings in expression strings.
ALIASES: dict[str, str] = {"max": "maximum", "min": "minimum"}

# Named constants an expression may use.
CONSTANTS: dict[str, float] = {"pi": 3.141592653589793}

# The binary operators and their ops-vocabulary names (used by `matmul` spelled `@`).
BINARY_OPERATORS = ("+", "-", "*", "/", "**", "@")
COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
