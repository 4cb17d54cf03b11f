"""`needs(...)`: skip a test, saying which extra to install, when a module it needs is missing."""

from __future__ import annotations

import importlib.util

import pytest

EXTRA = {"pandas": "reports", "jinja2": "reports", "torch": "torch", "jax": "jax",
         "sympy": "sympy", "matplotlib": "examples"}


def needs(*modules: str):
    """A skip marker for a test that needs `modules` (the reason names the extra)."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    reason = ", ".join(f"{m} (pip install 'refad[{EXTRA.get(m, 'all')}]')" for m in missing)
    return pytest.mark.skipif(bool(missing), reason=f"needs {reason}")
