"""`ruff check` passes on the whole repository, as part of the test command.

The rules are pyproject.toml's: pycodestyle, pyflakes, import sorting (I: the engine's
imports run one way, so no import order is load-bearing), bugbear and pyupgrade, with no
exception for one-line compound statements (E701).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_check_passes():
    if importlib.util.find_spec("ruff") is None:
        pytest.skip("ruff is not installed (pip install 'refad[test]')")
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
