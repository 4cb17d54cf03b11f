"""`refad graph EXPR NAME=VALUE ... --out FILE.svg`: the computational graph as an SVG file.

The file stands alone (a browser or an image viewer opens it): inputs on the left, the output
on the right, each node's operation and forward value, the gradient sent back along each edge,
and each input's total in amber; a shared input shows its contributions and their sum.
"""

from __future__ import annotations

from pathlib import Path

from .picture import Picture
from .usage import UsageError, checked_case, parse_assignments


def run_graph(args) -> int:
    """Draw `args.expr` at `args.values` into `args.out`; print the path written.

    Returns:
        0; bad input raises UsageError (exit 2, one line).
    """
    values = parse_assignments(args.values)
    case = checked_case(args.expr, values)
    path = Path(args.out)
    if path.is_dir():
        raise UsageError(f"--out {args.out} is a folder; give a file name such as graph.svg")
    try:
        drawn = Picture(case)
    except (ArithmeticError, ValueError, TypeError) as error:
        raise UsageError(f"cannot draw {args.expr!r}: {error}") from None
    try:
        drawn.save(path)
    except OSError as error:
        raise UsageError(f"cannot write {args.out}: {error.strerror or error}") from None
    print(path)
    return 0
