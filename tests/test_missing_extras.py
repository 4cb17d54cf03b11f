"""A command that needs an extra which is not installed says which one, in one line, exit 2.

The extra is hidden from a fresh process (`sys.modules[name] = None` makes `import name`
raise ModuleNotFoundError, as a missing package does), so the test runs wherever the extra
is installed too.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _without(module: str, argv: list[str]) -> subprocess.CompletedProcess:
    program = (f"import sys; sys.modules[{module!r}] = None\n"
               "from reports.cli import main\n"
               f"sys.exit(main({argv!r}))")
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


@pytest.mark.parametrize(("module", "extra", "argv"), [
    ("pandas", "reports", ["report", "--family", "seed", "--backend", "refad"]),
    ("jinja2", "reports", ["report", "--family", "seed", "--backend", "refad"]),
])
def test_missing_extra_names_it(module, extra, argv, tmp_path):
    if argv[0] == "report":
        argv = argv + ["--out", str(tmp_path / "report")]
    done = _without(module, argv)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert f"pip install 'refad[{extra}]'" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_every_extra_named_exists():
    import tomllib
    from refad.reports.cli import EXTRAS

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    unknown = sorted({extra for extra in EXTRAS.values() if extra not in declared})
    assert not unknown, f"extras named by the CLI but not in pyproject.toml: {unknown}"
