"""Writing reports: CSV, JSON and HTML, atomically and as one set.

Every file is written to a temporary file in the same folder and renamed into place, so an
interrupted run leaves the previous report (or none), never a truncated one. A report's three
files are renamed together with SIGINT and SIGTERM held off (`signals_held`), so Ctrl-C
leaves the previous set or the new one, never a mix of the two.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` via a temporary sibling file and an atomic rename."""
    atomic_write_all({Path(path): text})


def atomic_write_all(texts: dict[Path, str]) -> None:
    """Write several files as one set: all to temporary files, then all renamed at once.

    An exception or Ctrl-C while writing leaves every old file as it was and no temporary
    file behind; the renames run with SIGINT and SIGTERM held, so they finish together.

    Why the temporary names are chosen before any file exists: Ctrl-C raises
    KeyboardInterrupt between any two bytecodes, so a file made by `tempfile.mkstemp` can
    exist before its name has reached a list the clean-up reads. Naming first and creating
    second leaves no moment at which a temporary file exists that clean-up does not know.
    """
    pairs = [(_temporary_name(Path(path)), Path(path)) for path in texts]
    try:
        for (temporary, _), text in zip(pairs, texts.values(), strict=True):
            _write_file(temporary, text)
        with signals_held():
            for temporary, path in pairs:
                os.replace(temporary, path)
    except BaseException:
        for temporary, _ in pairs:
            temporary.unlink(missing_ok=True)
        raise


def _temporary_name(path: Path) -> Path:
    """A fresh hidden `.NAME.PID.RANDOM.tmp` beside `path` (the file is not made here)."""
    return path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"


def _write_file(temporary: Path, text: str) -> None:
    """Create `temporary` (it must not exist yet) holding `text`, flushed to disk.

    `os.open`'s mode passes through the umask, so the report gets the permissions any new
    file of the user's would.
    """
    temporary.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM off during the block; act on them once it is over.

    Two layers, because either alone has a gap: `pthread_sigmask` blocks them for this
    thread, and, since the kernel may hand a process signal to any thread that does not
    block it (a progress bar's monitor thread, say), Python-level handlers record whatever
    arrives meanwhile. Afterwards the old handlers are back and each held signal is raised
    again: SIGINT then raises KeyboardInterrupt, SIGTERM ends the process as before.
    Outside the main thread only the mask is possible.
    """
    if threading.current_thread() is not threading.main_thread():
        previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        return
    held: list[int] = []
    previous = {number: signal.signal(number, lambda signum, frame: held.append(signum))
                for number in HELD_SIGNALS}
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    try:
        yield
    finally:
        # Handlers first, then the mask: a signal still pending meets the old handler.
        for number, handler in previous.items():
            # None: a handler installed outside Python, which cannot be put back
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        for number in dict.fromkeys(held):
            signal.raise_signal(number)


def json_number(value: Any) -> Any:
    """A number for JSON: non-finite floats become the strings "nan", "inf", "-inf"."""
    if isinstance(value, float) or hasattr(value, "dtype"):
        from refad.cases.case_files import json_float  # case files write numbers the same way
        return json_float(value)
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
    the previous report untouched, and they are written as one set (`atomic_write_all`).
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
    paths = {name: out / name for name in texts}
    atomic_write_all({paths[name]: text for name, text in texts.items()})
    return paths
