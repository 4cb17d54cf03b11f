"""The expression catalogue: every case, written once against the ops vocabulary.

One module per family holds that family's `CASES`; this module strings them together in
family order, then the regression cases `refad fuzz` found (JSON case files in
`cases/found/`, family "fuzz"), checks that names are unique, and looks cases up by name or
family. `load_cases(directory)` reads any directory of case files (what `refad fuzz` writes)
into a list of cases for `reports.runner.run`:

    >>> from cases import get, select
    >>> get("seed-multivariate").expr
    'x*y + sin(x)'
    >>> len(select(family="pinn")) >= 2
    True
"""

from __future__ import annotations

import difflib
from pathlib import Path

from . import graphs, nonsmooth, numerics, pinn, primitives, second_order, seed, tensors
from .case import Case, expression_case
from .case_files import load_case_file, load_cases

_MODULES = (seed, primitives, graphs, nonsmooth, numerics, tensors, second_order, pinn)
# Regression cases found by `refad fuzz`, one JSON case file each (family "fuzz").
FOUND = Path(__file__).parent / "found"


def _collect() -> tuple[Case, ...]:
    """Every case in family order, then cases/found; ValueError if two share a name."""
    found: dict[str, Case] = {}
    for module in _MODULES:
        for case in module.CASES:
            if case.name in found:
                raise ValueError(f"duplicate case name {case.name!r} "
                                 f"(families {found[case.name].family!r} and {case.family!r})")
            found[case.name] = case
    for path in sorted(FOUND.glob("*.json")):
        case = load_case_file(path, family="fuzz")
        if case.name in found:
            raise ValueError(f"case file {path}: duplicate case name {case.name!r} (already "
                             f"in family {found[case.name].family!r})")
        found[case.name] = case
    return tuple(found.values())


CATALOGUE: tuple[Case, ...] = _collect()
_BY_NAME: dict[str, Case] = {case.name: case for case in CATALOGUE}
_FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(case.family for case in CATALOGUE))


def families() -> tuple[str, ...]:
    """The family names, in catalogue order."""
    return _FAMILIES


def get(name: str) -> Case:
    """The case called `name`.

    Raises:
        ValueError: no such case; the message suggests the closest names.
    """
    if name in _BY_NAME:
        return _BY_NAME[name]
    close = difflib.get_close_matches(name, list(_BY_NAME), n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"unknown case {name!r}{hint} ({len(CATALOGUE)} cases: see `refad list`)")


def select(family: str | None = None) -> list[Case]:
    """The cases of one family (all of them when `family` is None).

    Raises:
        ValueError: unknown family; the message lists the known ones.
    """
    if family is None:
        return list(CATALOGUE)
    if family not in _FAMILIES:
        raise ValueError(f"unknown family {family!r}; families are {', '.join(_FAMILIES)}")
    return [case for case in CATALOGUE if case.family == family]


__all__ = ["CATALOGUE", "FOUND", "Case", "expression_case", "families", "get", "load_case_file",
           "load_cases", "select"]
