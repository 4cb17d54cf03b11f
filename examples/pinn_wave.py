"""A worked PINN: the 1D wave equation u_tt = c^2 u_xx, trained in refad, PyTorch and JAX.

A physics-informed neural network (PINN) is a network u(t, x) trained so that the equation
itself holds: at collocation points the residual r = u_tt - c^2 u_xx should be 0, with
u(0, x) = sin(pi x) and u_t(0, x) = 0 at t = 0 and u(t, 0) = u(t, 1) = 0 at the ends (c = 1;
the exact solution is cos(pi t) sin(pi x)). The loss is
    mean r^2 + mean (u(0, x) - sin pi x)^2 + mean u_t(0, x)^2 + mean u(t, 0|1)^2.

Why the AD engine runs several times per training step (the textbook's question 3): the
loss contains derivatives of the network with respect to its *inputs*, so reverse mode runs
once for u_t and once for u_x (1, 2), once more on those for u_tt and u_xx (3, 4), once for
u_t at t = 0 (5), each recording its backward pass as a graph (create_graph=True), and then
once on the whole loss, those recorded passes included, for the gradient with respect to
the *parameters* (6). JAX writes the same as functions: jax.grad nested inside jax.grad,
inside jax.value_and_grad over the parameters.

The three frameworks start from the same numpy parameters and take the same plain
gradient-descent steps; their losses agree to float64 rounding, and the script checks it.
Over many steps at a larger rate (try --lr 0.15 --steps 1000) gradient descent turns chaotic
and amplifies those last-bit differences until the curves part: the first steps still agree.

Run: python examples/pinn_wave.py [--steps 300] [--out pinn_out] [--lr 0.05]
(with the repository root on PYTHONPATH, or refad installed).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

# The helpers live beside this file; load them by path so the script runs from anywhere.
_SPEC = importlib.util.spec_from_file_location("pinn_networks",
                                               Path(__file__).with_name("pinn_networks.py"))
nets = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(nets)

FRAMEWORKS = ("refad", "torch", "jax")
WIDTH, N_INTERIOR = 16, 64  # hidden units per layer; collocation points (half as many t = 0
                            # points and boundary points)
AGREE_STEPS = 10            # the first steps must agree to float64 rounding ...
AGREE_RTOL = 1e-12          # ... within this relative difference
CALLS_PER_STEP = 6          # five nested input derivatives + one parameter gradient
EXPLANATION = """\
  1  u_t  = d sum(u) / dt          create_graph=True: the backward pass is recorded as a graph
  2  u_x  = d sum(u) / dx          create_graph=True
  3  u_tt = d sum(u_t) / dt        create_graph=True: reverse mode over call 1's graph
  4  u_xx = d sum(u_x) / dx        create_graph=True: reverse mode over call 2's graph
  5  u_t(0, x), the initial velocity, create_graph=True
  6  d loss / d parameters         through the forward passes and calls 1-5's graphs"""


def missing_frameworks() -> dict[str, str]:
    """{framework: reason} for torch and jax where they cannot be imported."""
    missing = {}
    for name in ("torch", "jax"):
        if importlib.util.find_spec(name) is None:
            missing[name] = f"{name} is not installed"
    return missing


def train(framework: str, params: dict, pts: dict, lr: float, steps: int, jit: bool = True):
    """Train one framework with plain gradient descent, counting its AD calls.

    Args:
        framework: "refad", "torch" or "jax".
        params, pts: numpy arrays from `nets.init_params` and `nets.make_points`.
        lr, steps: the fixed learning rate and the number of steps.
        jit: compile JAX's step with jax.jit (its derivative calls are then counted once,
            while tracing).

    Returns:
        (the loss before each step, a Counter of the AD calls made during each step).
    """
    if framework == "refad":
        import refad
        module, names, step = refad.autograd, ("grad", "backward"), nets.refad_step
    elif framework == "torch":
        import torch
        module, names, step = torch.autograd, ("grad", "backward"), nets.torch_step
    else:
        import jax
        module, names = jax, ("grad", "value_and_grad")
        jax_step = nets.make_jax_step(lr, jit=jit)

        def step(p, pts, lr):
            loss, new = jax_step(p, pts)
            return float(loss), new
    losses, counts = [], []
    with nets.settings(framework):
        for _ in range(steps):
            with nets.counting(module, names) as calls:
                loss, params = step(params, pts, lr)
            losses.append(loss)
            counts.append(calls)
    return losses, counts


def run_all(steps: int = 300, lr: float = 0.05, width: int = WIDTH,
            n_interior: int = N_INTERIOR, jit: bool = True, log=print) -> dict:
    """Train every installed framework from the same start.

    Returns:
        {"losses": {framework: [float]}, "counts": {framework: [Counter]},
         "seconds": {framework: float}, "missing": {framework: reason},
         "graph": `nets.graph_sizes`}.
    """
    params = nets.init_params(width, seed=0)
    pts = nets.make_points(n_interior, n_interior // 2, n_interior // 2, seed=1)
    missing = missing_frameworks()
    results = {"losses": {}, "counts": {}, "seconds": {}, "missing": missing}
    for framework in FRAMEWORKS:
        if framework in missing:
            log(f"{framework}: skipped ({missing[framework]})")
            continue
        start = time.perf_counter()
        losses, counts = train(framework, params, pts, lr, steps, jit)
        results["seconds"][framework] = time.perf_counter() - start
        results["losses"][framework] = losses
        results["counts"][framework] = counts
    results["graph"] = nets.graph_sizes(params, pts)
    return results


def relative_differences(losses: dict) -> np.ndarray:
    """Per step, the largest |loss_framework - loss_refad| / |loss_refad|."""
    reference = np.array(losses["refad"])
    others = [np.array(v) for name, v in losses.items() if name != "refad"]
    if not others:
        return np.zeros_like(reference)
    return np.max([np.abs(o - reference) / np.abs(reference) for o in others], axis=0)


def print_table(losses: dict, every: int, log=print) -> None:
    steps = len(losses["refad"])
    diffs = relative_differences(losses)
    rows = sorted(set(range(min(AGREE_STEPS, steps))) | set(range(0, steps, every))
                  | {steps - 1})
    names = "  ".join(f"{name:<21}" for name in FRAMEWORKS)
    log(f"{'step':>5}  {names}  max rel diff vs refad")
    for i in rows:
        cells = [repr(losses[name][i]) if name in losses else "-" for name in FRAMEWORKS]
        log(f"{i:>5}  " + "  ".join(f"{cell:<21}" for cell in cells) + f"  {diffs[i]:.1e}")


def check_agreement(losses: dict, log=print) -> bool:
    """Print whether the first steps agree to float64 rounding, and the drift after them."""
    diffs = relative_differences(losses)
    first = diffs[:AGREE_STEPS]
    ok = bool(np.all(first < AGREE_RTOL))
    log(f"steps 0-{len(first) - 1}: max relative difference {first.max():.2e} "
        f"{'<' if ok else '>='} {AGREE_RTOL:g}: {'AGREE' if ok else 'DISAGREE'} "
        f"to float64 rounding")
    worst = int(np.argmax(diffs))
    log(f"drift over all {len(diffs)} steps: largest relative difference {diffs[worst]:.2e} "
        f"(step {worst}). Each framework sums and fuses in its own order, so the last bits "
        f"differ; gradient descent carries those differences from step to step, and on a "
        f"chaotic trajectory (a larger --lr) they can grow far beyond rounding.")
    beyond = np.flatnonzero(diffs >= AGREE_RTOL)
    if beyond.size:
        log(f"drift beyond {AGREE_RTOL:g} from step {beyond[0]} on: rounding amplified by "
            f"the dynamics, not a wrong derivative (the first steps agree)")
    return ok


def print_calls(results: dict, jit: bool, log=print) -> None:
    """The AD calls per training step, as counted, and the size of the loss graph."""
    log("AD calls per training step (the textbook's question 3):")
    log(EXPLANATION)
    for name, counts in results["counts"].items():
        per_step = [sum(c.values()) for c in counts]
        if name == "jax" and jit:
            log(f"  jax: jax.value_and_grad over the parameters of a loss holding "
                f"grad(grad(sum u, t), t), grad(grad(sum u, x), x) and grad(sum u, t) at "
                f"t = 0 (three deep); counted while tracing, since jit traces once and then "
                f"runs the compiled step: {dict(counts[0])}")
            continue
        every = len(set(per_step)) == 1
        log(f"  {name}: {per_step[0]} calls of {name}.autograd.grad/.backward at step 0 "
            f"{dict(counts[0])}; "
            f"{f'the same at all {len(per_step)} steps' if every else per_step}")
    sizes = results["graph"]
    log(f"  refad's loss graph: {sizes['refad loss']} nodes (refad.topological_order); one "
        f"forward pass of u has {sizes['refad u']}: the rest are the three forward passes' "
        f"other nodes, the recorded backward passes and the loss terms. Call 6 is one "
        f"backward pass over all of it.")
    if "torch loss" in sizes:
        log(f"  torch's loss graph: {sizes['torch loss']} grad_fn nodes (AccumulateGrad for "
            f"each leaf included); PyTorch splits some steps differently, so the counts differ")


def plot(losses: dict, out: Path, log=print) -> Path | None:
    """Write the loss curves (log scale) and their relative difference to out/*.png."""
    try:
        import matplotlib
    except ImportError:
        log("matplotlib is not installed: no plot (pip install matplotlib)")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    styles = {"refad": ("-", 4), "torch": ("--", 2), "jax": (":", 2)}
    for name, values in losses.items():
        style, width = styles[name]
        top.semilogy(values, style, linewidth=width, label=name)
    top.set_ylabel("loss")
    top.set_title("PINN, 1D wave equation: refad, torch and jax")
    top.legend()
    # A difference of exactly 0 cannot sit on a log axis: only the others are drawn.
    diffs = relative_differences(losses)
    steps = np.flatnonzero(diffs > 0)
    bottom.semilogy(steps, diffs[steps], ".", color="tab:red", label="max rel. diff. vs refad")
    bottom.axhline(AGREE_RTOL, color="grey", linestyle="--", label=f"{AGREE_RTOL:g}")
    bottom.axhline(np.finfo(np.float64).eps, color="grey", linestyle=":", label="float64 eps")
    bottom.set_ylim(1e-17, max(1e-10, 10 * diffs.max()))
    bottom.set_xlabel("step")
    bottom.legend(loc="best", fontsize="small")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "pinn_wave_loss.png"
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    log(f"plot: {path}")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--steps", type=int, default=300, help="gradient-descent steps")
    parser.add_argument("--lr", type=float, default=0.05, help="the fixed learning rate")
    parser.add_argument("--every", type=int, default=25, help="table row every N steps")
    parser.add_argument("--out", type=Path, default=Path("pinn_out"), help="plot folder")
    parser.add_argument("--no-jit", action="store_true", help="run JAX eagerly")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.every < 1:
        parser.error(f"--steps and --every must be at least 1, not {args.steps}, {args.every}")
    jit = not args.no_jit
    print(f"PINN for u_tt = u_xx: 2 -> {WIDTH} -> {WIDTH} -> 1 tanh MLP, float64, "
          f"{N_INTERIOR} collocation points, {args.steps} steps of gradient descent at "
          f"lr = {args.lr}; jax {'under jax.jit' if jit else 'eager'}")
    results = run_all(args.steps, args.lr, jit=jit)
    print_table(results["losses"], args.every)
    ok = check_agreement(results["losses"])
    print_calls(results, jit)
    times = ", ".join(f"{k} {v:.1f} s" for k, v in results["seconds"].items())
    print(f"time: {times}")
    plot(results["losses"], args.out)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
