"""The distribution installs one name, `refad`: adapters/, cases/ and reports/ go inside it.

Builds the wheel from this checkout (no network: the installed setuptools) and reads its file
list; generic top-level names such as `adapters` or `reports` would mix with other
distributions' files in site-packages.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> list[str]:
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("setuptools is not installed: the wheel cannot be built offline")
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps",
                           "--no-build-isolation", "-q", "-w", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=out)
    if done.returncode != 0:
        pytest.skip(f"pip could not build the wheel here: {done.stderr.strip()[-300:]}")
    (wheel,) = out.glob("refad-*.whl")
    return zipfile.ZipFile(wheel).namelist()


def test_refad_is_the_only_top_level_name(wheel_names):
    top = sorted({name.split("/")[0] for name in wheel_names
                  if not name.split("/")[0].endswith(".dist-info")})
    assert top == ["refad"], top
    (top_level,) = [n for n in wheel_names if n.endswith(".dist-info/top_level.txt")] or [None]
    assert top_level is None or top_level.startswith("refad-")


@pytest.mark.parametrize("path", [
    "refad/__init__.py", "refad/optable.py", "refad/adapters/__init__.py",
    "refad/adapters/torch_backend.py", "refad/cases/__init__.py", "refad/cases/generate.py",
    "refad/reports/cli.py", "refad/reports/bench/worker.py",
    "refad/reports/templates/report.html.j2", "refad/reports/static/explore.html",
    "refad/testing/__init__.py",
])
def test_the_wheel_holds(path, wheel_names):
    assert path in wheel_names, path


def test_case_files_are_packaged(wheel_names):
    found = [n for n in wheel_names if n.startswith("refad/cases/found/") and n.endswith(".json")]
    assert len(found) == len(list((ROOT / "cases" / "found").glob("*.json")))
