"""Engine-wide state, at the bottom of the import order: whether operations are recorded
(`no_grad`) and whether numpy's floating-point warnings are already silenced (`Quiet`)."""

from __future__ import annotations


class _GradMode:
    """Whether new operations are recorded (see `no_grad`)."""

    enabled = True


class no_grad:
    """Context manager: operations inside it are not recorded (like `torch.no_grad`)."""

    def __init__(self, enabled: bool = False):
        self._want = enabled

    def __enter__(self):
        self._previous = _GradMode.enabled
        _GradMode.enabled = self._want

    def __exit__(self, *exc):
        _GradMode.enabled = self._previous


class enable_grad(no_grad):
    """Context manager: record operations again inside a `no_grad` block."""

    def __init__(self):
        super().__init__(enabled=True)


def is_grad_enabled() -> bool:
    """Whether operations on tensors that require grad are recorded now."""
    return _GradMode.enabled


class Quiet:
    """numpy's floating-point warnings, silenced for refad's own operations.

    log(0) = -inf and 0/0 = nan are answers here, not accidents: like PyTorch, refad does not
    warn about them. `np.errstate` costs ~1.5 µs, so the backward pass enters it once for all
    its steps (`depth` > 0) and a forward operation only when it takes the numpy path.
    """

    depth = 0
