"""Differential fuzzing: the generator, the property test over every backend, `refad fuzz`.

The property: on a random expression DAG at a random point of its domain, every backend
agrees with the reference within the dtype's tolerance, or the comparison explains the
difference (a convention at a kink, a documented `known` effect). A counterexample is
shrunk by hypothesis to a small DAG and point. REFAD_FUZZ_EXAMPLES raises the example count
(default 300: 20-40 s on two cores when the machine is quiet).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from refad.cases.case_files import write_case_file
from refad.cases.dag import Dag, DagFunction, arguments, evaluate, render
from refad.cases.generate import RandomChooser, generate, strategy
from refad.reports.compare import is_disagreement
from refad.reports.evaluate import evaluate_case
from refad.reports.fuzz import BACKENDS, fuzz, fuzz_case

import refad
from refad import adapters, parse

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("REFAD_FUZZ_EXAMPLES", "300"))


def _data(value):
    return np.asarray(value.data if isinstance(value, refad.Tensor) else value)


# -- the property ---------------------------------------------------------------------------
def _check_agreement(case, order: int = 2) -> None:
    backends = [name for name in BACKENDS if adapters.get(name).available()[0]]
    rows = evaluate_case(case, backends, ["float64"], order).rows
    bad = [row for row in rows if is_disagreement(row)]
    point = ", ".join(f"{k}={np.asarray(v).tolist()}" for k, v in case.inputs.items())
    lines = [f"{row['backend']} {row['dtype']} {row['quantity'] or row['status']}: "
             f"{row['result']!r} vs reference {row['reference']!r} "
             f"({row['reference_source']}; {row['status']}) {row['detail']}" for row in bad]
    assert not bad, f"{case.expr} at {point}:\n  " + "\n  ".join(lines)


def test_random_expressions_agree_across_backends():
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy(tensor=0.25, kink=0.25))
    def property_holds(case):
        _check_agreement(case)

    assert hypothesis.__version__
    property_holds()


def test_the_property_fails_on_a_disagreement_and_names_it():
    from refad.cases.case import expression_case

    trap = expression_case("trap", "where(x > 0, sqrt(x), 0.0)", {"x": -1.0}, "fuzz")
    with pytest.raises(AssertionError) as failure:
        _check_agreement(trap, order=1)
    message = str(failure.value)
    assert "where(x > 0, sqrt(x), 0.0) at x=-1.0" in message
    assert "refad float64 d/dx: nan vs reference 0.0" in message


# -- the generator --------------------------------------------------------------------------
def test_a_seed_gives_the_same_cases_every_time():
    first = [fuzz_case(7, i) for i in range(20)]
    again = [fuzz_case(7, i) for i in range(20)]
    for a, b in zip(first, again, strict=True):
        assert a.fn.dag == b.fn.dag and a.expr == b.expr and a.tags == b.tags
        assert all(np.array_equal(a.inputs[k], b.inputs[k]) for k in a.inputs)
    assert len({case.expr for case in first}) > 15          # and they are not all alike


def test_shared_nodes_are_one_node_in_the_backend_graph():
    dag = Dag((("input", "x"), ("sin", 0), ("*", 1, 1)))           # sin(x) * sin(x)
    x = refad.tensor(0.5, requires_grad=True)
    out = DagFunction(dag)(refad, x=x)
    sines = [n for n in refad.topological_order([out]) if n.op == "sin"]
    assert len(sines) == 1                                  # the text would have two
    out.backward()
    assert x.grad.item() == pytest.approx(2 * np.sin(0.5) * np.cos(0.5), rel=1e-15)
    shared = [fuzz_case(0, i).fn.dag.shared() for i in range(40)]
    assert sum(bool(s) for s in shared) >= 10               # the generator makes them often


@pytest.mark.parametrize("seed", range(4))
def test_text_parses_back_to_the_same_value(seed):
    for index in range(40):
        case = fuzz_case(seed, index)
        expression = parse(case.expr)
        values = {**case.inputs, **case.constants}
        direct = _data(case.fn(refad, **values))
        used = {name: values[name] for name in expression.variables}
        parsed = _data(expression(refad, **used))
        assert np.array_equal(direct, parsed, equal_nan=True), \
            f"{case.name}: {case.expr}: {direct} from the DAG, {parsed} from the text"


_KINK_TESTS = {
    "abs": lambda a: np.any(a[0] == 0), "relu": lambda a: np.any(a[0] == 0),
    "sqrt": lambda a: np.any(a[0] == 0), "maximum": lambda a: np.any(a[0] == a[1]),
    "minimum": lambda a: np.any(a[0] == a[1]), "where": lambda a: np.any(a[0] == a[1]),
    "pow": lambda a: np.any(a[0] == 0), "**": lambda a: np.any(a[0] == 0),
    "atan2": lambda a: np.any((a[0] == 0) & (a[1] <= 0)),       # the origin, the branch cut
}


def _integer_power(dag: Dag, node: tuple) -> bool:
    """x ** 2.0 is smooth at x = 0: only a non-integer or variable power has a kink there."""
    exponent = dag.nodes[node[2]]
    return exponent[0] == "const" and float(exponent[1]).is_integer()


def test_kink_points_sit_exactly_at_their_kinks():
    tagged = 0
    for index in range(150):
        case = fuzz_case(11, index)
        dag, values = case.fn.dag, {**case.inputs, **case.constants}
        at_kink = []
        for node in dag.nodes:
            if node[0] in _KINK_TESTS and not (node[0] in ("pow", "**")
                                                and _integer_power(dag, node)):
                args = [_data(evaluate(dag, refad, values, upto=i)) for i in arguments(node)]
                at_kink.append(bool(_KINK_TESTS[node[0]](args)))
        assert case.is_kink == any(at_kink), f"{case.name}: {case.expr} at {case.inputs}: " \
            f"tagged kink {case.is_kink}, kink ops at their kink {at_kink} ({case.note})"
        tagged += case.is_kink
    assert tagged >= 10                                     # kinks are drawn on purpose


def test_outputs_are_scalar_and_points_inside_every_domain():
    for index in range(150):
        case = fuzz_case(12, index)
        value = _data(case.fn(refad, **case.inputs, **case.constants))
        assert np.shape(value) == (), f"{case.name}: {case.expr} is not a scalar"
        if not case.is_kink:
            assert np.isfinite(value) and abs(value) <= 1e4, f"{case.expr}: {value}"


def test_the_random_and_hypothesis_drivers_share_the_grammar():
    class Fixed:                                            # always the first option
        def integer(self, lo, hi):
            return lo

        def pick(self, options):
            return options[0]

        def real(self, lo, hi):
            return lo

    case = generate(Fixed())
    assert case.expr == "(-x)" and case.inputs == {"x": 0.001}  # the simplest case there is
    assert generate(RandomChooser(1)).fn.dag == generate(RandomChooser(1)).fn.dag


# -- the runner and the command -------------------------------------------------------------
def test_fuzz_counts_every_expression_and_finds_nothing_in_a_small_run():
    run = fuzz(6, seed=1, backends=("refad", "torch"), order=1, progress=False)
    assert run.cases == 6 and run.rows > 6
    assert sum(run.statuses.values()) == run.rows
    assert "6 expressions" in run.summary()


def test_fuzz_in_worker_processes_gives_the_same_rows_as_in_process():
    alone = fuzz(3, seed=1, backends=("refad",), order=1, progress=False, start=5)
    pooled = fuzz(3, seed=1, backends=("refad",), order=1, progress=False, start=5, jobs=2)
    assert pooled.cases == alone.cases == 3
    assert pooled.rows == alone.rows and pooled.statuses == alone.statuses
    assert pooled.tags == alone.tags


def _refad(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "refad", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_refad_fuzz_end_to_end(tmp_path):
    done = _refad("fuzz", "--n", "20", "--seed", "1", "--jobs", "1", "--no-progress",
                  "--out", str(tmp_path / "found"), cwd=tmp_path)
    assert done.returncode in (0, 1), done.stderr
    assert "20 expressions" in done.stdout
    unexplained = int(re.search(r"(\d+) with unexplained", done.stdout).group(1))
    files = sorted((tmp_path / "found").glob("*.json")) if (tmp_path / "found").exists() else []
    assert len(files) == unexplained
    assert done.returncode == (1 if unexplained else 0)
    for path in files:
        data = json.loads(path.read_text())
        assert data["found_by"]["seed"] == 1 and data["disagreements"]


def test_refad_fuzz_rejects_bad_input(tmp_path):
    assert _refad("fuzz", "--n", "-1", cwd=tmp_path).returncode == 2
    assert _refad("fuzz", "--backend", "nope", cwd=tmp_path).returncode == 2
    done = _refad("fuzz", "--replay", str(tmp_path / "missing"), cwd=tmp_path)
    assert done.returncode == 2 and "missing" in done.stderr


def test_replay_runs_case_files_and_says_what_disagrees(tmp_path):
    from refad.cases.case import expression_case

    trap = "where(x > 0, sqrt(x), 0.0)"         # AD gives nan, the exact derivative is 0
    write_case_file(expression_case("trap", trap, {"x": -1.0}, "fuzz"), tmp_path / "a.json")
    done = _refad("fuzz", "--replay", str(tmp_path), "--backend", "refad", "--order", "1",
                  cwd=tmp_path)
    assert done.returncode == 1 and "trap: UNEXPLAINED" in done.stdout
    assert "nan-mismatch" in done.stdout
    known = expression_case("trap", trap, {"x": -1.0}, "fuzz",
                            known={"*": "the where-NaN trap"})
    write_case_file(known, tmp_path / "a.json")
    done = _refad("fuzz", "--replay", str(tmp_path), "--backend", "refad", "--order", "1",
                  cwd=tmp_path)
    assert done.returncode == 0 and "trap: explained" in done.stdout


def test_render_writes_every_node_kind():
    dag = Dag((("input", "x"), ("input", "W"), ("const", -0.5), ("where", "<=", 0, 2, 0, 2),
               ("matmul", 3, 1), ("sum", 4), ("grad", 5, "x")))
    text = render(dag)
    assert text == "grad(sum((where(x <= (-0.5), x, (-0.5)) @ W)), x)"
    parse(text)
