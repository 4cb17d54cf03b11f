"""The command line, through a subprocess as users run it: the JSON contract, exit codes."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from extras import needs
from refad.adapters.base import Result
from refad.reports import cli

ROOT = Path(__file__).resolve().parents[1]


def refad(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "refad", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=timeout)


def test_grad_json_contract_on_the_seed():
    done = refad("grad", "x*y + sin(x)", "x=1", "y=2", "--backend", "refad", "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert set(payload) >= {"expr", "inputs", "results", "reference"}
    assert payload["expr"] == "x*y + sin(x)"
    assert payload["inputs"] == {"x": 1.0, "y": 2.0}
    (result,) = payload["results"]
    assert set(result) >= {"backend", "dtype", "status", "value", "grad", "error"}
    assert result["backend"] == "refad" and result["dtype"] == "float64"
    assert result["status"] == "ok" and result["error"] is None
    assert result["value"] == 2.0 + math.sin(1.0)
    assert result["grad"] == {"x": 2.0 + math.cos(1.0), "y": 1.0}


def test_grad_json_has_the_hessian_at_order_2():
    done = refad("grad", "x*y + sin(x)", "x=1", "y=2", "--backend", "refad", "--json",
                 "--order", "2")
    assert done.returncode == 0, done.stderr
    hessian = json.loads(done.stdout)["results"][0]["hessian"]
    assert hessian["x"]["x"] == -math.sin(1.0)
    assert hessian["x"]["y"] == hessian["y"]["x"] == 1.0
    assert hessian["y"]["y"] == 0.0


def test_grad_writes_non_finite_numbers_as_strings():
    done = refad("grad", "log(x)", "x=0", "--backend", "refad", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)["results"][0]
    assert result["value"] == "-inf"
    assert result["grad"] == {"x": "inf"}
    done = refad("grad", "sqrt(x)", "x=-1", "--backend", "refad", "--json")
    assert json.loads(done.stdout)["results"][0]["value"] == "nan"


def test_grad_table_by_default():
    done = refad("grad", "x*y + sin(x)", "x=1", "y=2", "--backend", "refad")
    assert done.returncode == 0, done.stderr
    assert "d/dx" in done.stdout and "2.5403023058681398" in done.stdout


def test_grad_accepts_lists_for_tensor_inputs():
    done = refad("grad", "sum(x*x)", "x=[1, 2, 3]", "--backend", "refad", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["results"][0]["grad"] == {"x": [2.0, 4.0, 6.0]}


@pytest.mark.parametrize(("args", "message"), [
    (["x*y +", "x=1", "y=2"], "bad expression"),
    (["sinn(x)", "x=1"], "did you mean 'sin'"),
    (["x*y", "x=abc", "y=2"], "x='abc' is not a number"),
    (["x*y", "x=1"], "missing value for y"),
    (["x", "x=1", "z=2"], "unexpected variable z"),
    (["x", "x"], "expected NAME=VALUE"),
    (["x", "x=1", "--backend", "tensorflow"], "unknown backend 'tensorflow'"),
    (["x", "x=[1, 2]"], "needs a scalar"),
    (["__import__('os').system('true')"], "bad expression"),
])
def test_bad_input_exits_2_with_one_line(args, message):
    done = refad("grad", *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_disagreement_exits_1(monkeypatch, capsys):
    """A backend that returns a wrong gradient makes `refad grad` exit 1."""
    from refad.adapters.refad_backend import RefadBackend

    from refad import adapters

    class Wrong(RefadBackend):
        def _evaluate(self, case, dtype, order) -> Result:
            result = super()._evaluate(case, dtype, order)
            result.grad["x"] = result.grad["x"] * 1.001
            return result

    monkeypatch.setitem(adapters._instances, "refad", Wrong())
    status = cli.main(["grad", "x*y + sin(x)", "x=1", "y=2", "--backend", "refad",
                       "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert status == 1
    assert payload["results"][0]["status"] in ("mismatch", "nan-mismatch")


def test_help_imports_no_framework():
    code = ("import sys\nfrom reports import cli\n"
            "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'jax', 'sympy', 'pandas', 'jinja2') "
            "if m in sys.modules]\nassert not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "refad grad" in done.stdout or "grad" in done.stdout


def test_list_prints_the_catalogue():
    done = refad("list")
    assert done.returncode == 0, done.stderr
    assert "seed-multivariate" in done.stdout


def test_unknown_family_exits_2():
    done = refad("report", "--family", "nope", "--no-progress")
    assert done.returncode == 2
    assert "nope" in done.stderr and "Traceback" not in done.stderr


@needs("pandas")
def test_report_writes_csv_json_html(tmp_path):
    done = refad("report", "--family", "seed", "--out", str(tmp_path), "--no-progress",
                 timeout=300)
    assert done.returncode in (0, 1), done.stderr
    for name in ("report.csv", "report.json", "report.html"):
        assert (tmp_path / name).stat().st_size > 0
    payload = json.loads((tmp_path / "report.json").read_text())
    assert {"metadata", "rows"} <= set(payload)
    assert payload["metadata"]["versions"]["refad"]
    assert "seed-multivariate" in (tmp_path / "report.csv").read_text()
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_kink_is_recognised_without_a_tag():
    """relu at 0 typed by hand: the numerical oracle sees the corner, so frameworks that
    pick relu'(0) = 0 against sympy's Heaviside(0) = 1/2 are a convention, not a failure."""
    done = refad("grad", "relu(x)", "x=0", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    statuses = {r["backend"]: r["status"] for r in json.loads(done.stdout)["results"]}
    for backend in ("refad", "torch", "jax"):
        if backend in statuses:
            assert statuses[backend] == "convention"


def test_the_where_nan_trap_typed_by_hand_exits_1():
    done = refad("grad", "where(x > 0, sqrt(x), 0)", "x=-1", "--json")
    assert done.returncode == 1
    refad_result = json.loads(done.stdout)["results"][0]
    assert refad_result["grad"] == {"x": "nan"} and refad_result["status"] == "nan-mismatch"


@pytest.mark.parametrize("where", ["parsing the arguments", "running the command"])
def test_ctrl_c_gives_one_line_and_status_130(monkeypatch, capsys, where):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    if where == "parsing the arguments":
        monkeypatch.setattr(cli, "build_parser", interrupted)
        said = "refad: interrupted"
    else:
        monkeypatch.setattr(cli, "command_list", interrupted)
        said = "refad list: interrupted"
    assert cli.main(["list"]) == 130
    assert capsys.readouterr().err.strip() == said
