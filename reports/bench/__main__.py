"""`python -m reports.bench [--quick] ...`: the same as `refad bench`."""

import argparse
import sys

from refad.reports.usage import UsageError

from .command import add_arguments, run_bench

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m reports.bench",
                                     description="refad against micrograd, PyTorch, JAX and "
                                                 "HIPS autograd, side by side")
    add_arguments(parser)
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)
    try:
        sys.exit(run_bench(parser.parse_args()))
    except UsageError as error:
        print(f"refad bench: {error}", file=sys.stderr)
        sys.exit(2)
