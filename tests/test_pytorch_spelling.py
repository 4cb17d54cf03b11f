"""PyTorch code runs on refad with `torch` replaced by `refad`, and gets PyTorch's numbers.

Each program below is written for PyTorch, in the idioms of micrograd's own engine test
(`torch.Tensor([x]).double()`, `requires_grad = True` set on the tensor, `.relu()`, `**`,
reflected operators, `.backward()` on a one-element tensor, `.data.item()`, `.grad.item()`,
unbound `torch.Tensor.tanh`). It is run twice, unchanged: once with the name `torch` bound to
PyTorch and once bound to refad, and every number it reports must agree. (micrograd's test
file itself is not copied here; these programs exercise the same spelling.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import refad

SANITY = """
x = torch.Tensor([-3.0]).double()
x.requires_grad = True
z = 3 * x + 1 + x
q = z.relu() + z * x
h = (z * z).relu()
y = h + q + q * x
y.backward()
report = [y.data.item(), x.grad.item()]
"""

MORE_OPS = """
a = torch.Tensor([-2.5]).double()
b = torch.Tensor([1.5]).double()
a.requires_grad = True
b.requires_grad = True
c = a + b
d = a * b + b**3
c = c + c + 1
c = c + 1 + c + (-a)
d = d + d * 2 + (b + a).relu()
d = d + 3 * d + (b - a).relu()
e = c - d
f = e**2
g = f / 2.0
g = g + 10.0 / f
g.backward()
report = [g.data.item(), a.grad.item(), b.grad.item()]
"""

UNARY = """
report = []
for function in (torch.Tensor.tanh, torch.Tensor.exp, torch.Tensor.sin, torch.Tensor.abs):
    for value in (-1.5, 0.25, 2.0):
        x = torch.Tensor([value]).double()
        x.requires_grad = True
        y = function(x)
        y.backward()
        report += [y.data.item(), x.grad.item()]
"""

METHODS = """
x = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], dtype=torch.float64,
                 requires_grad=True)
y = x.sin().exp() + x.tanh().abs() * x.pow(2) + x.relu()
s = y.sum(dim=0, keepdim=True)
m = torch.where(x > 0, x, 0).mean(dim=1)
total = s.sum() + m.sum() + x.sigmoid().log1p().sum()
total.backward()
first = x.grad.detach().numpy().copy()
total = (x * x).sum()
total.backward()
accumulated = x.grad.numpy().copy()
x.grad.zero_()
zeroed = x.grad.numpy().copy()
report = [s.detach().numpy(), m.detach().numpy(), first, accumulated, zeroed,
          x.double().sum().item(), x.float().sum().item(), s.shape == (1, 3)]
"""

PROGRAMS = {"sanity": SANITY, "more-ops": MORE_OPS, "unary": UNARY, "methods": METHODS}


def _run(program: str, torch_module) -> list:
    scope = {"torch": torch_module}
    exec(compile(program, "<pytorch program>", "exec"), scope)     # noqa: S102 (our text)
    return scope["report"]


def _flatten(report: list) -> list[float]:
    numbers = []
    for item in report:
        numbers.extend(float(v) for v in np.ravel(np.asarray(item, dtype=float)))
    return numbers


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_pytorch_programs_give_pytorch_numbers(name):
    torch = pytest.importorskip("torch", reason="needs PyTorch: pip install 'refad[torch]'")
    ours = _flatten(_run(PROGRAMS[name], refad))
    theirs = _flatten(_run(PROGRAMS[name], torch))
    assert len(ours) == len(theirs), name
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12) or (a == b), (
            f"program {name!r}, number {k}: refad {a!r}, torch {b!r}")


def test_sanity_numbers_without_torch():
    """The sanity program's numbers, worked by hand, so the test means something without
    PyTorch: z = 4x + 1 = -11, q = relu(z) + z x = 33, h = relu(z^2) = 121, y = h + q + q x."""
    y, grad = _run(SANITY, refad)
    assert y == 121 + 33 + 33 * -3.0
    # dy/dx = dh/dx + (1 + x) dq/dx + q, with dz/dx = 4: dh/dx = 2 z 4 = -88,
    # dq/dx = 0 + 4 x + z = -23, so dy/dx = -88 + (-2)(-23) + 33 = -9
    assert grad == -9.0


def test_methods_follow_pytorch_names_and_keywords():
    x = refad.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
    assert x.sum(dim=0, keepdim=True).shape == (1, 2)
    assert x.sum(axis=1).shape == (2,)
    assert x.mean(1, True).shape == (2, 1)
    assert refad.sum(x, dim=1, keepdim=True).shape == (2, 1)
    assert x.pow(2).sum().item() == 30.0
    assert x.maximum(refad.tensor(0.0)).sum().item() == 8.0
    with pytest.raises(TypeError, match="dim or axis"):
        x.sum(dim=0, axis=0)


def test_where_with_a_python_int():
    x = refad.tensor(1.5, requires_grad=True)
    y = refad.where(x > 0, x, 0)
    assert y.dtype == np.float64 and y.item() == 1.5
    z = refad.where(x < 0, x, 0)
    assert z.dtype == np.float64 and z.item() == 0.0
    assert x.where(x > 0, 0).item() == 1.5


def test_grad_accumulates_over_two_backward_calls():
    x = refad.tensor(2.0, requires_grad=True)
    (x * x).backward()
    (x * x * x).backward()
    assert x.grad.item() == 4.0 + 12.0
    x.grad.zero_()
    assert x.grad.item() == 0.0
    assert x.detach().requires_grad is False and x.item() == 2.0
    assert x.float().dtype == np.float32 and x.double() is x
