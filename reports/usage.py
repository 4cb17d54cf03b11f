"""The user's input, read for every command: NAME=VALUE pairs, an expression and its values,
and `UsageError`, the one-line message with exit status 2.

The command-line modules, the explorer and the pictures share these, so none of them needs
to import the command line itself (reports/cli.py, which imports every command).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from typing import Any


def require(*modules: str) -> None:
    """Import each of `modules` now: a missing one raises ModuleNotFoundError, which the
    command line turns into one line naming the extra to install (exit status 2)."""
    for module in modules:
        importlib.import_module(module)


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit status 2."""


def parse_assignments(pairs: Sequence[str]) -> dict[str, Any]:
    """`["x=1", "y=[1, 2]"]` -> {"x": 1.0, "y": [1.0, 2.0]}; UsageError naming a bad one."""
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise UsageError(f"expected NAME=VALUE, got {pair!r}")
        if name in values:
            raise UsageError(f"{name} is given twice")
        values[name] = _number(name, text.strip())
    return values


def _number(name: str, text: str) -> Any:
    try:
        return float(text)                  # also accepts nan, inf, -inf, 1e-300
    except ValueError:
        pass
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not _all_numbers(value):
        raise UsageError(f"{name}={text!r} is not a number or a list of numbers")
    return value


def _all_numbers(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(_all_numbers(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def checked_case(text: str, values: dict[str, Any], command: str = "refad grad"):
    """A Case from an expression typed by a user, or UsageError saying what is wrong.

    The values must name exactly the expression's variables and the value must be a scalar;
    `command` names the command in the messages.
    """
    from refad.adapters.refad_backend import run_case
    from refad.cases.case import expression_case

    import refad  # numpy and the engine: loaded by the command, not by `refad --help`

    try:
        expression = refad.parse(text)
    except refad.ParseError as error:
        raise UsageError(f"bad expression: {error}") from None
    missing = [v for v in expression.variables if v not in values]
    extra = [v for v in values if v not in expression.variables]
    if missing:
        raise UsageError(f"missing value for {', '.join(missing)} (give {missing[0]}=NUMBER)")
    if extra:
        uses = ", ".join(expression.variables) or "no variables"
        raise UsageError(f"unexpected variable {extra[0]}; the expression uses {uses}")
    case = expression_case("cli", text, values, family="cli")
    try:
        value, _ = run_case(case, requires_grad=False)
    except (ValueError, TypeError, IndexError) as error:
        raise UsageError(f"cannot evaluate {text!r}: {error}") from None
    if value.shape != ():
        raise UsageError(f"the expression's value has shape {value.shape}; {command} needs "
                         f"a scalar: wrap it in sum(...) or mean(...)")
    return case
