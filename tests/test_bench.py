"""`refad bench`: the shape of what a run leaves (never its timings: the machine is shared).

One run of the smallest plan ("tiny": every workload, engine and output, in seconds) is
shared by the tests of this module, which all run on one worker.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.util
import io
import json

import pytest
from refad.reports import cli
from refad.reports.bench import engines, output, targets, timing
from refad.reports.bench.command import run_bench
from refad.reports.bench.workloads import PLANS, WORKLOADS

pytestmark = pytest.mark.xdist_group("bench")
FILES = ("bench.md", "bench.csv", "bench.json")


def bench(out, **options) -> tuple[int, str]:
    """Run `run_bench` in tiny mode; (exit status, what it printed on stdout)."""
    args = argparse.Namespace(quick=False, tiny=True, out=str(out), engine=None,
                              repeats=None)
    for name, value in options.items():
        setattr(args, name, value)
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = run_bench(args)
    return status, stdout.getvalue()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    status, printed = bench(out)
    with open(out / "bench.csv", encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    payload = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    return {"out": out, "status": status, "printed": printed, "rows": rows,
            "json": payload}


def test_the_files_are_written(run):
    assert run["status"] == 0
    for name in FILES:
        assert (run["out"] / name).stat().st_size > 0, name


def test_csv_has_one_row_per_workload_engine_and_size(run):
    rows = run["rows"]
    assert tuple(rows[0]) == output.COLUMNS
    plan, keys = PLANS["tiny"], engines.resolve(None)
    cells = [(r["workload"], r["size"], r["engine"]) for r in rows
             if r["workload"] in WORKLOADS]
    expected = [(key, str(size), engine) for key in WORKLOADS
                for size in plan.sizes[key] for engine in keys]
    assert sorted(cells) == sorted(expected)
    for row in rows:
        assert row["status"] in ("ok", "failed", "skipped"), row
        if row["status"] != "ok":
            assert row["reason"], f"{row['workload']} {row['engine']}: no reason"


def test_memory_and_startup_rows(run):
    plan = PLANS["tiny"]
    memory = {(r["workload"], r["size"], r["engine"]) for r in run["rows"]
              if r["workload"].endswith("-memory")}
    assert memory == {(f"{key}-memory", str(size), engine) for key, size in plan.memory
                      for engine in plan.memory_engines}
    startup = [r for r in run["rows"] if r["workload"] == "startup"]
    assert [r["case"] for r in startup] == ["refad --help", "refad grad --backend refad"]
    assert all(r["status"] == "ok" and float(r["median"]) > 0 for r in startup), startup


def test_micrograd_fails_at_its_default_recursion_limit(run):
    (row,) = [r for r in run["rows"] if r["workload"] == "W2" and r["size"] == "1000"
              and r["engine"] == "micrograd-default"]
    if engines.unavailable("micrograd"):
        assert row["status"] == "skipped" and "not installed" in row["reason"]
    else:
        assert row["status"] == "failed"
        assert row["reason"].startswith("RecursionError")
        (raised,) = [r for r in run["rows"] if r["workload"] == "W2" and r["size"] == "1000"
                     and r["engine"] == "micrograd"]
        assert raised["status"] == "ok"       # the same chain, with the limit raised


def test_ratios_are_to_refad_and_results_agree(run):
    refad = {(r["workload"], r["size"]): r for r in run["rows"]
             if r["engine"] == "refad" and r["status"] == "ok"}
    checked = 0
    for row in run["rows"]:
        mine = refad.get((row["workload"], row["size"]))
        if row["status"] != "ok" or mine is None or row["workload"] == "startup":
            continue
        if float(mine["median"]) > 0:
            base = float(row["ratio_base"])     # JAX's: the refad that ran beside it
            if row["engine"] not in ("jax", "jax-jit"):
                assert base == float(mine["median"]), row
            expected = float(row["median"]) / base
            assert float(row["ratio_to_refad"]) == pytest.approx(expected, rel=1e-9), row
            checked += 1
        if row["engine"] != "refad" and row["unit"] == "s":
            assert row["agrees_with_refad"] == "True", (
                f"{row['workload']} {row['case']}: {row['engine']} computed other numbers "
                f"than refad (worst relative gap {row['max_rel_diff']})")
    assert checked >= len(WORKLOADS)


def test_jit_reports_compile_time_apart(run):
    if engines.unavailable("jax"):
        pytest.skip("jax is not installed")
    jitted = [r for r in run["rows"] if r["engine"] == "jax-jit" and r["status"] == "ok"]
    assert jitted and all(float(r["compile_s"]) >= 0 for r in jitted)


def test_json_has_versions_machine_and_the_rows(run):
    payload = run["json"]
    assert payload["command"].startswith("refad bench --tiny --out ")
    assert {"python", "numpy", "refad", "micrograd", "torch", "jax", "autograd"} <= set(
        payload["versions"])
    assert payload["versions"]["python"] and payload["versions"]["numpy"]
    assert {"platform", "processor", "cpu_count", "load_average_before"} <= set(
        payload["machine"])
    assert isinstance(payload["warnings"], list)       # a busy machine is said, not hidden
    assert len(payload["rows"]) == len(run["rows"])
    assert [t["target"] for t in payload["targets"]] == [
        t["target"] for t in targets.evaluate(payload["rows"])]


def test_the_table_has_the_engines_as_columns(run):
    header = next(line for line in run["printed"].splitlines()
                  if line.startswith("| workload |"))
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    assert columns == ["workload"] + [engines.ENGINES[k].label for k in engines.KEYS]
    assert "RecursionError [" in run["printed"] or engines.unavailable("micrograd")
    assert "Targets for refad:" in run["printed"]
    assert run["printed"].count("(target <=") + run["printed"].count("NOT MEASURED") >= len(
        targets.TARGETS)


def test_the_plot_is_drawn_when_matplotlib_is_there(run):
    plot = run["out"] / output.PLOT
    if importlib.util.find_spec("matplotlib") is None:
        assert not plot.exists()
    else:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_missing_engine_is_skipped_with_the_reason(tmp_path, monkeypatch):
    real = engines.unavailable
    monkeypatch.setattr(engines, "unavailable", lambda key: (
        "autograd is not installed (pip install autograd)" if key == "autograd"
        else real(key)))
    status, _ = bench(tmp_path, engine=["autograd"])
    assert status == 0
    with open(tmp_path / "bench.csv", encoding="utf-8", newline="") as stream:
        rows = [r for r in csv.DictReader(stream) if r["workload"] in WORKLOADS]
    assert {r["engine"] for r in rows} == {"refad", "autograd"}     # refad always runs
    for row in rows:
        if row["engine"] == "autograd":
            assert row["status"] == "skipped"
            assert row["reason"] == "autograd is not installed (pip install autograd)"


def test_a_worker_that_dies_leaves_failed_rows(tmp_path, monkeypatch):
    def crash(plan, keys, cells, seen):
        raise RuntimeError("the worker process for refad, torch died with exit status -11")

    monkeypatch.setattr("refad.reports.bench.suite.spawn", crash)
    status, printed = bench(tmp_path, engine=["torch"])
    assert status == 0 and "Targets for refad:" in printed
    with open(tmp_path / "bench.csv", encoding="utf-8", newline="") as stream:
        rows = [r for r in csv.DictReader(stream) if r["workload"] in WORKLOADS]
    ran = [r for r in rows if r["status"] != "skipped"]
    assert ran and all(r["status"] == "failed" and "exit status -11" in r["reason"]
                       for r in ran)


def test_an_unknown_engine_is_a_usage_error(tmp_path):
    with pytest.raises(cli.UsageError, match="unknown engine 'tensorflow'"):
        bench(tmp_path, engine=["tensorflow"])
    assert not (tmp_path / "bench.csv").exists()


def test_the_command_line_reaches_run_bench(tmp_path, monkeypatch):
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            cli.build_parser().parse_args(["bench"])
        except SystemExit:
            pytest.skip("reports/cli.py has no bench subcommand yet")
    seen = {}

    def fake_run_bench(args):
        seen["args"] = args
        return 0

    monkeypatch.setattr("refad.reports.bench.command.run_bench", fake_run_bench)
    status = cli.main(["bench", "--quick", "--out", str(tmp_path), "--engine", "torch",
                       "--engine", "micrograd", "--repeats", "3"])
    assert status == 0
    args = seen["args"]
    assert args.quick and args.out == str(tmp_path) and args.repeats == 3
    assert args.engine == ["torch", "micrograd"]


@pytest.mark.parametrize(("seconds", "text"), [
    (1.76e-6, "1.76 µs"), (62e-9, "62 ns"), (0.39e-3, "390 µs"), (1.3, "1.3 s"),
    (4.5e-3, "4.5 ms")])
def test_format_seconds(seconds, text):
    assert output.format_seconds(seconds) == text


def test_target_lines_name_the_ratio_the_limit_and_the_verdict():
    def row(engine, median, workload="W2", size=1000):
        return {"workload": workload, "size": size, "engine": engine, "status": "ok",
                "median": median}

    rows = [row("refad", 3.1e-6), row("micrograd", 5e-6), row("torch", 9e-6),
            row("refad", 8e-6, "W1", 1)]
    lines = {t["target"]: t["line"] for t in targets.evaluate(rows)}
    assert lines["W2 N=1,000: refad/micrograd per node"] == (
        "W2 N=1,000: refad/micrograd per node 0.62 (target <= 0.55): MISSED")
    assert lines["W2 N=1,000: refad/PyTorch eager per node"].endswith("0.34 (target <= 0.3): "
                                                                      "MISSED")
    assert lines["W1: refad per call"] == "W1: refad per call 8.00 µs (target <= 10 µs): MET"
    assert lines["W4 batch 64: refad/PyTorch eager"].endswith(
        "NOT MEASURED (refad not run at this size)")


def test_numbers_flattens_every_engines_results():
    import numpy as np

    result = (1.0, {"b": np.array([[2.0, 3.0]]), "a": [4.0]}, (np.float64(5.0),))
    assert timing.numbers(result).tolist() == [1.0, 4.0, 2.0, 3.0, 5.0]
    same, _ = timing.agreement(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-13]))
    differ, worst = timing.agreement(np.array([1.0, 2.0]), np.array([1.0, 2.1]))
    assert same and not differ and worst == pytest.approx(0.1 / 2.1)
