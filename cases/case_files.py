"""Case files: one case as JSON, so that a fuzzed disagreement outlives the run that found it.

    {"name": "fuzz-s1-42", "family": "fuzz",
     "dag": [["input", "x"], ["const", 0.5], ["maximum", 0, 1]],   (or "expr": "max(x, 0.5)")
     "expr": "maximum(x, 0.5)", "inputs": {"x": 0.5}, "constants": {},
     "tags": ["fuzz", "kink"], "note": "...", "known": {"jax": "why"},
     "found_by": {"seed": 1, "index": 42, "refad version": "0.1.0", "date": "..."}}

With a "dag" the case evaluates the DAG (shared nodes stay shared); "expr" is then only for
people. Without one, "expr" is compiled by refad's safe parser. Numbers that JSON cannot
hold are strings: "nan", "inf", "-inf"; -0.0 is written as -0.0, which JSON keeps.
`load_cases(directory)` is the Python API for a directory of them (`refad fuzz --replay`).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .case import Case, expression_case
from .dag import Dag, DagFunction

_SPECIAL = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_FIELDS = {"name", "family", "dag", "expr", "inputs", "constants", "tags", "note", "known",
           "found_by", "rtol", "max_order", "wrt", "disagreements"}


def encode(value: Any) -> Any:
    """Numbers (and nested lists, arrays, dicts of them) with nan/inf as strings."""
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [encode(item) for item in value]
    if isinstance(value, (bool, np.bool_, str)) or value is None:
        return value.item() if isinstance(value, np.bool_) else value
    if isinstance(value, (int, np.integer)):
        return int(value)
    return json_float(value)


def json_float(value: Any) -> float | str:
    """A float for JSON, which has no nan or inf: those become "nan", "inf", "-inf"."""
    number = float(value)
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return number


def decode_number(value: Any, where: str) -> float:
    """A JSON number or one of "nan", "inf", "-inf" as a float; ValueError naming `where`."""
    if isinstance(value, str) and value in _SPECIAL:
        return _SPECIAL[value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"{where}: expected a number or 'nan'/'inf'/'-inf', got {value!r}")


def _decode_input(value: Any, where: str) -> Any:
    if isinstance(value, list):
        return np.array([_decode_input(item, where) for item in value], dtype=np.float64)
    return decode_number(value, where)


def case_to_json(case: Case, found_by: dict | None = None, **extra: Any) -> dict:
    """The JSON object of a case file (see the module docstring)."""
    data: dict[str, Any] = {"name": case.name, "family": case.family}
    if isinstance(case.fn, DagFunction):
        data["dag"] = encode(case.fn.dag.to_json())
    elif case.expr is None:
        raise ValueError(f"case {case.name!r} has neither a DAG nor an expression: "
                         "its function cannot be written to a file")
    data["expr"] = case.expr
    data["inputs"] = encode(dict(case.inputs))
    data["constants"] = encode(dict(case.constants))
    data.update(tags=list(case.tags), note=case.note, known=dict(case.known))
    if case.rtol is not None:
        data["rtol"] = case.rtol
    if case.max_order != 2:
        data["max_order"] = case.max_order
    if case.wrt is not None:
        data["wrt"] = list(case.wrt)
    if found_by:
        data["found_by"] = found_by
    data.update(extra)
    return data


def case_from_json(data: dict, where: str = "case file", family: str | None = None) -> Case:
    """A Case from a case-file object; ValueError naming `where` and the bad field."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(data).__name__}")
    unknown = set(data) - _FIELDS
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    for required in ("name", "inputs"):
        if required not in data:
            raise ValueError(f"{where}: missing field {required!r}")
    inputs = {name: _decode_input(value, f"{where}: input {name!r}")
              for name, value in data["inputs"].items()}
    constants = {name: _decode_input(value, f"{where}: constant {name!r}")
                 for name, value in data.get("constants", {}).items()}
    options = {"tags": tuple(data.get("tags", ())), "note": data.get("note", ""),
               "known": dict(data.get("known", {})), "constants": constants,
               "rtol": data.get("rtol"), "max_order": data.get("max_order", 2),
               "wrt": tuple(data["wrt"]) if data.get("wrt") else None}
    family = family or data.get("family", "fuzz")
    if "dag" in data:
        try:
            dag = Dag.from_json([[_node_item(item, where) for item in node]
                                 for node in data["dag"]])
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: {error}") from None
        return Case(name=data["name"], fn=DagFunction(dag), inputs=inputs, family=family,
                    expr=data.get("expr"), **options)
    if "expr" not in data:
        raise ValueError(f"{where}: needs a 'dag' or an 'expr'")
    try:
        return expression_case(data["name"], data["expr"], inputs, family, **options)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def _node_item(item: Any, where: str) -> Any:
    """A DAG node entry: op names and indices as they are, constants decoded."""
    if isinstance(item, str) and item in _SPECIAL:
        return _SPECIAL[item]
    return item


def load_case_file(path: str | os.PathLike, family: str | None = None) -> Case:
    """The case in one JSON case file; ValueError naming the file if it is malformed."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"case file {path}: {error}") from None
    return case_from_json(data, where=f"case file {path}", family=family)


def load_cases(directory: str | os.PathLike, family: str | None = None) -> list[Case]:
    """Every `*.json` case file in `directory`, in name order (names must be unique)."""
    found: dict[str, Path] = {}
    loaded = []
    for path in sorted(Path(directory).glob("*.json")):
        case = load_case_file(path, family=family)
        if case.name in found:
            raise ValueError(f"case file {path}: case name {case.name!r} is already used by "
                             f"{found[case.name]}")
        found[case.name] = path
        loaded.append(case)
    return loaded


def write_case_file(case: Case, path: str | os.PathLike, found_by: dict | None = None,
                    **extra: Any) -> Path:
    """Write `case` as JSON to `path` atomically (a temporary file, then os.replace)."""
    path = Path(path)
    text = json.dumps(case_to_json(case, found_by, **encode(extra)), indent=1,
                      allow_nan=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
