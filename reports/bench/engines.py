"""The engines the benchmark compares: names, whether each is installed, versions, settings.

Frameworks are imported only by `session()`, which a run enters once, so that every engine
is loaded before the first measurement and the collector can be told to ignore what the
imports brought (see `session`).
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import math
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

# Python's own default; micrograd's recursive topological sort fails near this depth.
PYTHON_DEFAULT_RECURSION_LIMIT = 1000


@dataclass(frozen=True)
class Engine:
    """One column of the table: `key` on the command line and in CSV, `label` for people."""

    key: str
    label: str
    modules: tuple[str, ...]
    install: str
    note: str = ""


ENGINES: dict[str, Engine] = {e.key: e for e in (
    Engine("refad", "refad", ("refad",), "pip install -e ."),
    Engine("micrograd", "micrograd", ("micrograd",), "pip install micrograd",
           "recursion limit raised to the graph's depth for deep graphs"),
    Engine("micrograd-default", "micrograd, limit 1000", ("micrograd",),
           "pip install micrograd", "Python's default recursion limit (1000)"),
    Engine("torch", "PyTorch eager", ("torch",), "pip install torch", "float64"),
    Engine("jax", "JAX eager", ("jax",), "pip install jax", "float64 (x64 mode)"),
    Engine("jax-jit", "JAX jit", ("jax",), "pip install jax",
           "float64; compile time reported apart"),
    Engine("autograd", "HIPS autograd", ("autograd",), "pip install autograd"),
    Engine("numpy", "numpy by hand", ("numpy",), "pip install numpy",
           "forward and backward written out in numpy: the floor"),
)}
KEYS = tuple(ENGINES)


def unavailable(key: str) -> str | None:
    """Why engine `key` cannot run here (a sentence), or None when it can."""
    for module in ENGINES[key].modules:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed ({ENGINES[key].install})"
    return None


def resolve(keys: Sequence[str] | None) -> list[str]:
    """The engines to run, in table order; refad always runs, since ratios are to it.

    Raises:
        ValueError: naming an unknown engine and the known ones.
    """
    chosen = list(keys or KEYS)
    for key in chosen:
        if key not in ENGINES:
            raise ValueError(f"unknown engine {key!r}; choose from {', '.join(KEYS)}")
    return [key for key in KEYS if key in chosen or key == "refad"]


def versions() -> dict[str, str | None]:
    """Installed versions of python, numpy, refad and every framework (None: not installed)."""
    import importlib.metadata  # 40 ms: not at start-up (`refad --help`)
    import platform

    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in ("numpy", "refad", "micrograd", "torch", "jax", "jaxlib", "autograd",
                    "matplotlib"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    if found["refad"] is None:              # run from a checkout that is not pip-installed
        import refad
        found["refad"] = f"{refad.__version__} (source tree)"
    return found


def machine() -> dict[str, object]:
    """Where the numbers were measured: platform, CPU count and model, Python build."""
    import platform

    processor = platform.processor()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as stream:
            for line in stream:
                if line.startswith("model name"):
                    processor = line.partition(":")[2].strip()
                    break
    return {"platform": platform.platform(), "machine": platform.machine(),
            "processor": processor, "cpu_count": os.cpu_count(),
            "python": f"{platform.python_implementation()} {sys.version.split()[0]}"}


def micrograd_value():
    """micrograd's `Value`, given sin and tanh in micrograd's own style (a closure per node)."""
    from micrograd.engine import Value

    if not hasattr(Value, "sin"):
        def sin(self):
            out = Value(math.sin(self.data), (self,), "sin")

            def _backward():
                self.grad += math.cos(self.data) * out.grad
            out._backward = _backward
            return out

        Value.sin = sin
    if not hasattr(Value, "tanh"):       # micrograd 0.1.0 has neither (only relu)
        def tanh(self):
            out = Value(math.tanh(self.data), (self,), "tanh")

            def _backward():
                self.grad += (1 - out.data ** 2) * out.grad
            out._backward = _backward
            return out

        Value.tanh = tanh
    return Value


@contextlib.contextmanager
def recursion_limit(limit: int) -> Iterator[None]:
    """Run with `sys.setrecursionlimit(limit)`, then restore the previous limit."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(limit)
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


@contextlib.contextmanager
def session(keys: Sequence[str]) -> Iterator[dict[str, object]]:
    """Import the engines in `keys`, switch JAX to float64, and freeze the collector's view.

    Yields the settings in force, for bench.json. `gc.freeze()` moves the ~10^5 objects the
    imports create (torch and jax bring most) out of the collector's reach: the collector
    stays on for every engine, but no engine pays for rescanning another's modules, so each
    runs about as it would in a process of its own. Everything is restored on exit.
    """
    settings: dict[str, object] = {"gc": "on; gc.freeze() after the imports",
                                   "python_default_recursion_limit":
                                       PYTHON_DEFAULT_RECURSION_LIMIT}
    with contextlib.ExitStack() as stack:
        import numpy  # noqa: F401

        import refad  # noqa: F401
        if "torch" in keys and unavailable("torch") is None:
            import torch
            settings["torch_threads"] = torch.get_num_threads()
        if {"jax", "jax-jit"} & set(keys) and unavailable("jax") is None:
            import jax
            stack.enter_context(jax.enable_x64(True))       # thread-local; undone on exit
            settings["jax_x64"] = True
            settings["jax_platform"] = jax.default_backend()
        if "autograd" in keys and unavailable("autograd") is None:
            import autograd  # noqa: F401
        if {"micrograd", "micrograd-default"} & set(keys) and unavailable("micrograd") is None:
            micrograd_value()
        gc.collect()
        gc.freeze()
        stack.callback(gc.unfreeze)
        yield settings
