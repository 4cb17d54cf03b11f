"""Writing reports: CSV, JSON and HTML, each atomically.

Every file is written to a temporary file in the same folder and renamed into place, so an
interrupted run leaves the previous report (or none), never a truncated one.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` via a temporary sibling file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                         dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask())     # mkstemp made it 0600
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def json_number(value: Any) -> Any:
    """A number for JSON: non-finite floats become the strings "nan", "inf", "-inf"."""
    if isinstance(value, float) or hasattr(value, "dtype"):
        number = float(value)
        if math.isnan(number):
            return "nan"
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        return number
    return value


def json_ready(value: Any) -> Any:
    """Recursively convert numpy values and non-finite floats for `json.dumps`."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if hasattr(value, "tolist") and hasattr(value, "shape") and value.shape != ():
        return json_ready(value.tolist())
    if hasattr(value, "item") and hasattr(value, "dtype"):
        value = value.item()
    if isinstance(value, float):
        return json_number(value)
    return value


def write_report(run, out: Path) -> dict[str, Path]:
    """Write report.csv, report.json and report.html for `run` into `out`; return the paths.

    The three texts are rendered before anything is written, so a rendering failure leaves
    the previous report untouched.
    """
    from .html import render_html

    out = Path(out)
    frame = run.frame()
    texts = {
        "report.csv": frame.to_csv(index=False),
        "report.json": json.dumps(json_ready({"metadata": run.metadata, "rows": run.rows}),
                                  indent=1, allow_nan=False),
        "report.html": render_html(frame, run.metadata, run.cases),
    }
    paths = {}
    for name, text in texts.items():
        paths[name] = out / name
        atomic_write(paths[name], text)
    return paths
