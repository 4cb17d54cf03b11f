"""Engine speed, side by side in one process (issue 2's figures; `refad bench` comes later).

Workloads, each run interleaved across engines so that machine noise hits all alike:
- chain: a scalar chain of N alternating ops (sin, *1.0001, tanh, +1e-4), forward + backward;
- seed: value and gradient of x*y + sin(x);
- mlp: one gradient of a 2-64-64-1 tanh MLP's mean squared loss at batch 64, float64.

Usage: python benchmarks/engine_speed.py [--repeats R]
Engines that are not installed (micrograd, torch) are skipped.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time

import numpy as np

sys.setrecursionlimit(100_000)          # micrograd's topological sort is recursive

import refad  # noqa: E402


def _micrograd():
    try:
        from micrograd.engine import Value
    except ImportError:
        return None

    def sin(self):                      # in micrograd's own style: a closure per node
        out = Value(math.sin(self.data), (self,), "sin")

        def _backward():
            self.grad += math.cos(self.data) * out.grad
        out._backward = _backward
        return out

    def tanh(self):
        out = Value(math.tanh(self.data), (self,), "tanh")

        def _backward():
            self.grad += (1 - out.data ** 2) * out.grad
        out._backward = _backward
        return out

    Value.sin, Value.tanh = sin, tanh
    return Value


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def chain_refad(n):
    x = refad.tensor(0.5, requires_grad=True)
    u = x
    for _ in range(n // 4):
        u = refad.sin(u)
        u = u * 1.0001
        u = refad.tanh(u)
        u = u + 1e-4
    u.backward()
    return x.grad.item()


def chain_micrograd(Value, n):
    x = Value(0.5)
    u = x
    for _ in range(n // 4):
        u = u.sin()
        u = u * 1.0001
        u = u.tanh()
        u = u + 1e-4
    u.backward()
    return x.grad


def chain_torch(torch, n):
    x = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    u = x
    for _ in range(n // 4):
        u = torch.sin(u)
        u = u * 1.0001
        u = torch.tanh(u)
        u = u + 1e-4
    u.backward()
    return x.grad.item()


def seed_refad():
    return refad.value_and_grad(lambda x, y: x * y + refad.sin(x), (0, 1))(1.0, 2.0)


def seed_refad_tensors():
    x = refad.tensor(1.0, requires_grad=True)
    y = refad.tensor(2.0, requires_grad=True)
    z = x * y + refad.sin(x)
    z.backward()
    return z.item(), x.grad.item(), y.grad.item()


def seed_torch(torch):
    x = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    z = x * y + torch.sin(x)
    z.backward()
    return z.item(), x.grad.item(), y.grad.item()


def mlp_data(batch=64, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(2, 64), (64,), (64, 64), (64,), (64, 1), (1,)]
    params = [rng.normal(0, 0.5, s) for s in shapes]
    return params, rng.normal(size=(batch, 2)), rng.normal(size=(batch, 1))


def mlp_refad(params, x, y):
    w1, b1, w2, b2, w3, b3 = [refad.tensor(p, requires_grad=True) for p in params]
    h = refad.tanh(x @ w1 + b1)
    h = refad.tanh(h @ w2 + b2)
    loss = refad.mean(refad.square(h @ w3 + b3 - y))
    loss.backward()
    return w1.grad


def mlp_torch(torch, params, x, y):
    w1, b1, w2, b2, w3, b3 = [torch.tensor(p, requires_grad=True) for p in params]
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    h = torch.tanh(xt @ w1 + b1)
    h = torch.tanh(h @ w2 + b2)
    loss = torch.mean(torch.square(h @ w3 + b3 - yt))
    loss.backward()
    return w1.grad


def interleaved(workloads, repeats, inner):
    """Median seconds per call of each workload, run round-robin `repeats` times."""
    samples = {name: [] for name in workloads}
    for _ in range(repeats):
        for name, fn in workloads.items():
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            samples[name].append((time.perf_counter() - start) / inner)
    return {name: statistics.median(s) for name, s in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--freeze", action="store_true",
                        help="gc.freeze() after imports, so the collector stops rescanning "
                             "the ~10^5 objects torch brings (affects every engine alike)")
    args = parser.parse_args()
    Value, torch = _micrograd(), _torch()
    if args.freeze:
        import gc
        gc.freeze()

    n = 1000
    chain = {"refad": lambda: chain_refad(n)}
    if Value is not None:
        chain["micrograd"] = lambda: chain_micrograd(Value, n)
    if torch is not None:
        chain["torch eager"] = lambda: chain_torch(torch, n)
    times = interleaved(chain, args.repeats, 5)
    print(f"chain N={n}, forward + backward, µs per node:")
    for name, t in times.items():
        print(f"  {name:12s} {t / n * 1e6:7.2f}   ratio to refad {t / times['refad']:.2f}")

    seed = {"refad grad()": seed_refad, "refad tensors": seed_refad_tensors}
    if torch is not None:
        seed["torch eager"] = lambda: seed_torch(torch)
    times = interleaved(seed, args.repeats, 2000)
    print("seed x*y + sin(x), value and gradient, µs per call:")
    for name, t in times.items():
        print(f"  {name:14s} {t * 1e6:7.2f}")

    params, x, y = mlp_data()
    mlp = {"refad": lambda: mlp_refad(params, x, y)}
    if torch is not None:
        mlp["torch eager"] = lambda: mlp_torch(torch, params, x, y)
    times = interleaved(mlp, args.repeats, 50)
    print("MLP 2-64-64-1 batch 64 float64, gradient step, ms per call:")
    for name, t in times.items():
        print(f"  {name:12s} {t * 1e3:7.3f}   ratio to refad {t / times['refad']:.2f}")


if __name__ == "__main__":
    main()
