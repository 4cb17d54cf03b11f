"""The worked PINN example (examples/pinn_wave.py): one loss curve from three frameworks."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import refad

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "pinn_wave.py"
STEPS = 5
REFAD_CALLS = Counter({"grad(create_graph=True)": 5, "grad": 1})


def _load_example():
    spec = importlib.util.spec_from_file_location("pinn_wave", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pinn = _load_example()
nets = pinn.nets


def _quiet(*args) -> None:
    pass


@pytest.fixture(scope="module")
def three():
    """Five steps in refad, torch and jax (jitted), from the same start."""
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    return pinn.run_all(steps=STEPS, log=_quiet)


def test_refad_loss_decreases_with_the_default_rate():
    losses, _ = pinn.train("refad", nets.init_params(), nets.make_points(), 0.05, STEPS)
    for step in range(1, STEPS):
        assert losses[step] < losses[step - 1], f"step {step}: {losses}"


def test_refad_makes_the_documented_ad_calls_every_step():
    _, counts = pinn.train("refad", nets.init_params(), nets.make_points(), 0.05, STEPS)
    assert sum(REFAD_CALLS.values()) == pinn.CALLS_PER_STEP
    for step, calls in enumerate(counts):
        assert calls == REFAD_CALLS, f"refad step {step}: {dict(calls)}"


def test_refad_loss_matches_finite_differences():
    """An independent check of u_tt, u_xx and u_t: central differences of a numpy forward."""
    params, pts = nets.init_params(), nets.make_points()
    loss = nets.refad_loss({k: refad.tensor(v, requires_grad=True) for k, v in params.items()},
                           pts).item()

    def u(t, x):
        return nets.mlp(np.tanh, params, t, x)

    h = 1e-4
    t, x = pts["t"], pts["x"]
    u_tt = (u(t + h, x) - 2 * u(t, x) + u(t - h, x)) / h ** 2
    u_xx = (u(t, x + h) - 2 * u(t, x) + u(t, x - h)) / h ** 2
    t0, x0 = pts["t0"], pts["x0"]
    u0_t = (u(t0 + h, x0) - u(t0 - h, x0)) / (2 * h)
    expected = nets.combine(u_tt - u_xx, u(t0, x0) - pts["u0"], u0_t, u(pts["tb"], pts["xb"]))
    assert loss == pytest.approx(expected, rel=1e-8), f"refad {loss!r}, differences {expected!r}"


def test_three_frameworks_agree_to_float64_rounding(three):
    losses = three["losses"]
    for name in ("torch", "jax"):
        for step in range(STEPS):
            ours, theirs = losses["refad"][step], losses[name][step]
            assert abs(theirs - ours) <= 1e-12 * abs(ours), \
                f"step {step}: refad {ours!r}, {name} {theirs!r}"
    assert np.all(pinn.relative_differences(losses) < pinn.AGREE_RTOL)
    lines = []
    assert pinn.check_agreement(losses, log=lines.append)
    assert "AGREE" in lines[0]


def test_torch_and_jax_call_counts(three):
    for step, calls in enumerate(three["counts"]["torch"]):
        assert calls == REFAD_CALLS, f"torch step {step}: {dict(calls)}"
    # Under jit the Python function runs once, while tracing: the nesting is counted there.
    jax_counts = three["counts"]["jax"]
    assert jax_counts[0] == Counter({"grad": 5, "value_and_grad": 1})
    assert all(not calls for calls in jax_counts[1:])


def test_eager_jax_makes_six_derivative_calls_every_step():
    pytest.importorskip("jax")
    params, pts = nets.init_params(width=4), nets.make_points(8, 4, 4)
    _, counts = pinn.train("jax", params, pts, 0.05, 2, jit=False)
    for step, calls in enumerate(counts):
        assert calls == Counter({"grad": 5, "value_and_grad": 1}), f"step {step}: {calls}"


def test_training_leaves_torch_and_jax_settings_as_they_were():
    torch = pytest.importorskip("torch")
    jnp = pytest.importorskip("jax.numpy")
    threads, dtype = torch.get_num_threads(), jnp.asarray(1.0).dtype
    params, pts = nets.init_params(width=4), nets.make_points(8, 4, 4)
    for framework in ("torch", "jax"):
        pinn.train(framework, params, pts, 0.05, 1)
    assert torch.get_num_threads() == threads
    assert jnp.asarray(1.0).dtype == dtype


def test_graph_sizes():
    sizes = nets.graph_sizes(nets.init_params(), nets.make_points())
    # One forward pass: 7 parameter leaves, t, x and 10 operations (4 matmuls, 4 adds, 2 tanh).
    assert sizes["refad u"] == 19
    assert sizes["refad loss"] > 3 * sizes["refad u"]


def test_table_shows_every_loss_to_the_last_digit(three):
    lines = []
    pinn.print_table(three["losses"], every=25, log=lines.append)
    assert "max rel diff" in lines[0]
    assert len(lines) == 1 + STEPS
    for step, line in enumerate(lines[1:]):
        cells = line.split()
        assert int(cells[0]) == step
        for column, name in enumerate(pinn.FRAMEWORKS, start=1):
            assert float(cells[column]) == three["losses"][name][step]


def test_missing_frameworks_are_skipped_and_said(monkeypatch):
    monkeypatch.setattr(pinn, "missing_frameworks",
                        lambda: {"torch": "torch is not installed", "jax": "jax is not installed"})
    lines = []
    results = pinn.run_all(steps=2, log=lines.append)
    assert list(results["losses"]) == ["refad"]
    assert lines == ["torch: skipped (torch is not installed)",
                     "jax: skipped (jax is not installed)"]
    table = []
    pinn.print_table(results["losses"], every=1, log=table.append)
    assert table[1].split()[2:4] == ["-", "-"]


def _run_script(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def test_script_prints_the_table_and_writes_the_plot(tmp_path):
    done = _run_script("--steps", "3", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "step  refad" in done.stdout and "max rel diff" in done.stdout
    assert "AGREE to float64 rounding" in done.stdout
    assert "refad: 6 calls of refad.autograd.grad" in done.stdout
    if importlib.util.find_spec("matplotlib") is None:
        assert "matplotlib is not installed" in done.stdout
    else:
        png = tmp_path / "pinn_wave_loss.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_help_imports_no_framework():
    code = (f"import sys, runpy; sys.argv = ['pinn_wave.py', '--help']\n"
            f"try:\n    runpy.run_path({str(SCRIPT)!r}, run_name='__main__')\n"
            f"except SystemExit:\n    pass\n"
            f"print(sorted(m for m in ('torch', 'jax', 'matplotlib') if m in sys.modules))")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
