"""Limits: a 10^6-node scalar chain and a 10^7-element tensor case, in bounded memory.

Each measurement runs in a fresh Python process, so that its peak resident memory
(VmHWM from /proc/self/status; `ru_maxrss` elsewhere) belongs to it alone; the baseline is
the peak after the imports, and what is asserted is the growth above it. The numbers are
printed (run with -s to see them); the bounds leave room above what was measured on the
development machine:

- refad, 10^6-node chain: ~300 bytes per node (about 285 MB), bound 1 GB;
- PyTorch, the same chain: ~1.2 kB per node (about 1.1 GB), bound 3 GB;
- a 10^7-element float64 case (76 MB per array) through `evaluate_case` with refad, torch
  and jax: about 17x the input (1.3 GB). refad's evaluation alone peaks at 12x (its graph
  keeps every intermediate array, and backward adds the gradients; torch's peaks at 6x,
  jax's at 7x). The comparison's rounding-error model (`reports/tolerance.py`) runs the
  case through refad once more and walks that graph back, one adjoint array alive at a
  time: 13.7x at its peak, on top of the three backends' results. (It was 24x while the
  model kept every node's adjoint and recorded a gradient graph it could not afford to
  walk.) Bound 24x.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from extras import needs

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.limits

# The peak resident set of this process: VmHWM, which starts afresh at exec. (ru_maxrss
# does not: on Linux a child keeps its parent's high-water mark across fork and exec, so
# under a pytest process that has loaded torch it would read ~430 MB before any work.)
MEASURE = '''
import json, resource, time
def peak_mb():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024      # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024    # kB on Linux
'''

# The chain alternates sin, * 1.0001, tanh, + 1e-4. Its value settles near 0.06 where each
# round of four multiplies the derivative by ~0.995, so d out / d x underflows to ~1e-323;
# the derivatives with respect to nodes 10 .. 400000 steps before the end (0.98 .. 1e-228)
# are the ones that test the product. The reference multiplies the same local derivatives,
# computed with `math` in a plain loop, from the end backwards.
CHAIN = MEASURE + '''
import math, sys
import numpy as np
ENGINE = sys.argv[1]
N, BACK = 10**6, (10, 1000, 100000, 400000)
if ENGINE == "torch":
    import torch
    torch.set_num_threads(1)
    ops = torch
    x = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    grad = lambda out, wrt: torch.autograd.grad(out, wrt)
    number = float
else:
    import refad
    ops = refad
    x = refad.tensor(0.5, requires_grad=True)
    grad = lambda out, wrt: refad.autograd.grad(out, wrt)
    number = lambda g: float(np.asarray(g.data))
baseline = peak_mb()
start = time.perf_counter()
v, marks = x, {}
for i in range(N):
    step = i % 4
    if step == 0:
        v = ops.sin(v)
    elif step == 1:
        v = v * 1.0001
    elif step == 2:
        v = ops.tanh(v)
    else:
        v = v + 1e-4
    if N - 1 - i in BACK:
        marks[N - 1 - i] = v
built = time.perf_counter()
grads = grad(v, [x] + [marks[b] for b in BACK])
finished = time.perf_counter()
peak = peak_mb()
got = [number(g) for g in grads]
del grads, marks, v, x
factors, value = [], 0.5
for i in range(N):
    step = i % 4
    if step == 0:
        factors.append(math.cos(value))
        value = math.sin(value)
    elif step == 1:
        factors.append(1.0001)
        value = value * 1.0001
    elif step == 2:
        value = math.tanh(value)
        factors.append(1 - value * value)
    else:
        factors.append(1.0)
        value = value + 1e-4
expected, g = {}, 1.0
for i in range(N - 1, -1, -1):
    if N - 1 - i in BACK:
        expected[N - 1 - i] = g
    g = g * factors[i]
print(json.dumps({"baseline_mb": baseline, "peak_mb": peak, "build_s": built - start,
                  "backward_s": finished - built, "got": got,
                  "expected": [g] + [expected[b] for b in BACK]}))
'''

TENSOR = MEASURE + '''
import numpy as np
from refad import adapters
from refad.cases.case import expression_case
from refad.reports.evaluate import evaluate_case
names = [n for n in ("refad", "torch", "jax") if adapters.get(n).available()[0]]
for name in names + ["sympy", "numeric"]:
    if adapters.get(name).available()[0]:
        adapters.get(name).versions()         # import every framework before the baseline
x = np.linspace(-3.0, 3.0, 10**7)
case = expression_case("limits-1e7", "sum(sin(x)*x + exp(-x*x))", {"x": x}, "limits")
baseline = peak_mb()
start = time.perf_counter()
done = evaluate_case(case, names, ["float64"], 1)
seconds = time.perf_counter() - start
peak = peak_mb()
exact = np.sin(x) + x * np.cos(x) - 2 * x * np.exp(-x * x)
errors = {r.backend: float(np.max(np.abs(r.grad["x"] - exact))) for r in done.results
          if r.status == "ok"}
rows = [{k: row[k] for k in ("backend", "quantity", "status", "reference_source", "detail")}
        for row in done.rows]
print(json.dumps({"baseline_mb": baseline, "peak_mb": peak, "seconds": seconds,
                  "input_mb": x.nbytes / 2**20, "backends": names, "rows": rows,
                  "max_abs_error": errors,
                  "numeric": adapters.get("numeric").unsupported(case, "float64", 1),
                  "seconds_per_backend": {r.backend: r.seconds for r in done.results}}))
'''


def measure(script: str, *args: str) -> dict:
    """Run `script` in a fresh interpreter; its last stdout line is a JSON object."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("engine", "bound_mb"), [("refad", 1024), ("torch", 3072)])
def test_a_million_node_chain_has_the_chain_rule_gradient_in_bounded_memory(engine, bound_mb):
    if engine == "torch":
        pytest.importorskip("torch")
    found = measure(CHAIN, engine)
    grown = found["peak_mb"] - found["baseline_mb"]
    print(f"\n{engine} 10^6-node chain: baseline {found['baseline_mb']:.0f} MB, peak "
          f"{found['peak_mb']:.0f} MB, +{grown:.0f} MB ({grown * 2**20 / 1e6:.0f} bytes per "
          f"node); build {found['build_s']:.1f} s, backward {found['backward_s']:.1f} s")
    labels = ["d/dx"] + [f"d/d(node {b} before the end)" for b in (10, 1000, 100000, 400000)]
    for label, got, expected in zip(labels, found["got"], found["expected"], strict=True):
        assert got == pytest.approx(expected, rel=1e-8, abs=1e-320), \
            f"{engine}: {label} is {got!r}, the chain rule in a plain loop gives {expected!r}"
    assert 0 < found["expected"][-1] < 1e-200       # the product really is long
    assert grown < bound_mb, f"{engine}: the chain grew the peak by {grown:.0f} MB"


@needs("torch")
def test_a_ten_million_element_case_runs_through_evaluate_case_in_bounded_memory():
    found = measure(TENSOR)
    grown = found["peak_mb"] - found["baseline_mb"]
    multiple = grown / found["input_mb"]
    print(f"\n10^7-element case ({', '.join(found['backends'])}): baseline "
          f"{found['baseline_mb']:.0f} MB, peak {found['peak_mb']:.0f} MB, +{grown:.0f} MB = "
          f"{multiple:.1f}x the {found['input_mb']:.0f} MB input; {found['seconds']:.1f} s "
          f"({', '.join(f'{k} {v:.1f} s' for k, v in found['seconds_per_backend'].items())})")
    assert {"refad", "torch"} <= set(found["backends"])
    assert found["rows"] and all(row["status"] == "ok" for row in found["rows"]), found["rows"]
    assert {row["backend"] for row in found["rows"]} == set(found["backends"])
    assert {row["quantity"] for row in found["rows"]} == {"value", "d/dx"}
    for backend, error in found["max_abs_error"].items():
        assert error < 1e-12, f"{backend}: d/dx is off the closed form by up to {error}"
    # The numerical oracle declines instead of running 2 x 10^7 evaluations.
    assert "10000000 input elements" in found["numeric"]
    assert multiple < 24, f"the peak grew by {multiple:.1f} times the input size"
