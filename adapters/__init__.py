"""Backends behind one interface (`adapters.base.Backend`), looked up by name.

Each adapter module is cheap to import: its framework (torch, jax, sympy, mpmath) is
imported inside the adapter when it first evaluates, so `refad --help` stays instant.
"""

from __future__ import annotations

import importlib

from .base import DTYPES, Backend, Result

# name -> (module, class): the order is the order of report columns.
_KNOWN = {
    "refad": ("adapters.refad_backend", "RefadBackend"),
    "torch": ("adapters.torch_backend", "TorchBackend"),
    "jax": ("adapters.jax_backend", "JaxBackend"),
    "sympy": ("adapters.sympy_backend", "SympyBackend"),
    "numeric": ("adapters.numeric_backend", "NumericBackend"),
    # JAX under jit: XLA may simplify (log(exp(x)) becomes x), which is itself a finding;
    # it compiles every case, so it runs only when asked for by name.
    "jax-jit": ("adapters.jax_backend", "JaxJitBackend"),
}
NAMES = tuple(_KNOWN)
DEFAULT = ("refad", "torch", "jax", "sympy", "numeric")
_instances: dict[str, Backend] = {}


def get(name: str) -> Backend:
    """The backend called `name`; ValueError naming the known ones if there is none."""
    if name not in _KNOWN:
        raise ValueError(f"unknown backend {name!r}; choose from {', '.join(NAMES)}")
    if name not in _instances:
        module, cls = _KNOWN[name]
        _instances[name] = getattr(importlib.import_module(module), cls)()
    return _instances[name]


def available() -> list[str]:
    """The default backends that can run here (everything but the opt-in `jax-jit`)."""
    return [name for name in DEFAULT if get(name).available()[0]]


__all__ = ["DEFAULT", "DTYPES", "NAMES", "Backend", "Result", "available", "get"]
