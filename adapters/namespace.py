"""A backend's ops namespace, built from the op table (refad/optable.py).

Each op of the vocabulary is spelled in the table for each backend; the adapter says only how
its functions take arguments (`wrap`: numbers to tensors, symbols to exact numbers) and writes
by hand the few ops the table marks `ADAPTER`. An op added to the table therefore reaches
every backend without touching an adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from refad.optable import ADAPTER, Op, resolve, vocabulary


def from_table(backend: str, root: Any, wrap: Callable[[Op, Callable], Callable],
               own: dict[str, Callable]) -> SimpleNamespace:
    """The ops vocabulary of `backend`.

    Args:
        backend: the table's column ("torch", "jax", "tensorflow", "sympy", "mpmath").
        root: the backend's root module, which string spellings are looked up in.
        wrap: `wrap(entry, function)` -> the vocabulary function (argument conversion).
        own: the adapter's hand-written functions: one per op the table marks ADAPTER for
            this backend, and `grad`.

    Returns:
        a namespace with exactly the names of `refad.vocabulary.FUNCTIONS`.
    """
    ops: dict[str, Callable] = {}
    for name, entry in vocabulary().items():
        spelling = entry.spelling(backend)
        if spelling is None:
            raise LookupError(f"op {name!r} has no {backend} spelling in the op table")
        if spelling == ADAPTER:
            if name not in own:
                raise LookupError(f"the op table says the {backend} adapter writes {name!r} "
                                  f"itself, but it does not")
            ops[name] = own[name]
        else:
            ops[name] = wrap(entry, resolve(root, spelling))
    stray = sorted(set(own) - {"grad"} - {name for name, entry in vocabulary().items()
                                           if entry.spelling(backend) == ADAPTER})
    if stray:
        raise LookupError(f"the {backend} adapter writes {stray} by hand, but the op table "
                          f"does not mark them ADAPTER")
    ops["grad"] = own["grad"]
    return SimpleNamespace(**ops)
