"""Every function of the ops vocabulary, alone, at ordinary points and at the edges of its domain.

The cases are generated from the op table's sample points (refad/optable.py): one case per
point, named `<function>-<where>` (`log-near-0`, `atan2-quadrant-3`). Kinks (relu and abs at
0, ties, the where switch) live in `nonsmooth.py`; overflow and cancellation in `numerics.py`.
"""

from __future__ import annotations

import numpy as np

from refad.optable import OPS, Sample

from .case import expression_case

FAMILY = "primitives"


def _text(name: str, sample: Sample) -> str:
    return sample.text or f"{name}({', '.join(sample.inputs)})"


def _cases() -> list:
    """One case per sample point of every op of the table: `<op>-<where>`."""
    cases = []
    for name, entry in OPS.items():
        for sample in entry.samples:
            tags = ("primitive", name)
            if "near" in sample.where:
                tags += ("domain-edge",)
            if any(np.ndim(value) for value in sample.inputs.values()):
                tags += ("tensor",)
            cases.append(expression_case(f"{name}-{sample.where}", _text(name, sample),
                                         dict(sample.inputs), FAMILY, tags=tags,
                                         note=sample.note))
    return cases


CASES = tuple(_cases())
