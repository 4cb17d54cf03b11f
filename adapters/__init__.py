"""Backends behind one interface (`adapters.base.Backend`), looked up by name.

Each adapter module is cheap to import: its framework (torch, jax, sympy, mpmath) is
imported inside the adapter when it first evaluates, so `refad --help` stays instant.
More backends (a plugin, a test's deliberately broken one) join with `register`.
"""

from __future__ import annotations

import importlib

from .base import DTYPES, Backend, Result

# name -> (module, class): the order is the order of report columns.
_BUILTIN = {
    "refad": ("refad.adapters.refad_backend", "RefadBackend"),
    "torch": ("refad.adapters.torch_backend", "TorchBackend"),
    "jax": ("refad.adapters.jax_backend", "JaxBackend"),
    "sympy": ("refad.adapters.sympy_backend", "SympyBackend"),
    "numeric": ("refad.adapters.numeric_backend", "NumericBackend"),
    # JAX under jit: XLA may simplify (log(exp(x)) becomes x), which is itself a finding;
    # it compiles every case, so it runs only when asked for by name.
    "jax-jit": ("refad.adapters.jax_backend", "JaxJitBackend"),
}
_KNOWN = dict(_BUILTIN)
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


def register(name: str, module: str, cls: str) -> None:
    """Make the class `cls` of the importable `module` a backend called `name`.

    By module path rather than by object, so that a worker process (which starts afresh)
    can be told the same registration and import the backend itself; see `registered`.
    Registered backends run only when asked for by name, never by default.
    """
    global NAMES
    if name in _BUILTIN:
        raise ValueError(f"backend {name!r} is built in; choose another name")
    _KNOWN[name] = (module, cls)
    _instances.pop(name, None)
    NAMES = tuple(_KNOWN)


def unregister(name: str) -> None:
    """Forget a backend added by `register` (nothing happens for an unknown name)."""
    global NAMES
    if name in _BUILTIN:
        raise ValueError(f"backend {name!r} is built in and cannot be removed")
    _KNOWN.pop(name, None)
    _instances.pop(name, None)
    NAMES = tuple(_KNOWN)


def registered() -> dict[str, tuple[str, str]]:
    """The backends added by `register`: name -> (module, class), to pass to a worker."""
    return {name: where for name, where in _KNOWN.items() if name not in _BUILTIN}


def available() -> list[str]:
    """The default backends that can run here (everything but the opt-in `jax-jit`)."""
    return [name for name in DEFAULT if get(name).available()[0]]


__all__ = ["DEFAULT", "DTYPES", "NAMES", "Backend", "Result", "available", "get", "register",
           "registered", "unregister"]
