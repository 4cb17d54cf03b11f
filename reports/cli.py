"""The `refad` command line (see DESIGN.md, "Command line (stable contract)").

    refad grad EXPR NAME=VALUE ... [--backend B ...] [--dtype D] [--order 1|2] [--json]
    refad report [--out DIR] [--family F] [--backend B ...] [--dtype D ...] [--order 1|2]
    refad list [--family F]
    refad trace EXPR NAME=VALUE ... [--order 1|2] [--frameworks] [--json]
    refad graph EXPR NAME=VALUE ... --out FILE.svg
    refad explore [--port N]
    refad bench [--quick] [--out DIR] [--engine E ...] [--repeats N]
    refad fuzz --n N [--seed S] [--out DIR] [--jobs J] | refad fuzz --replay DIR

Exit status: 0 on success, 1 when backends disagree beyond tolerance (or one fails), 2 on bad
input, with a one-line message on stderr and never a traceback. Only argparse is imported
at start-up; every framework is imported by the command that needs it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .usage import UsageError, parse_assignments  # noqa: F401  (the commands' errors)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="refad",
        description="Cross-check automatic differentiation: refad, PyTorch, JAX, an exact "
                    "symbolic oracle and numerical oracles, side by side.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    grad = commands.add_parser("grad", help="value, gradient (and Hessian) of one expression")
    grad.add_argument("expr", help='an expression, e.g. "x*y + sin(x)"')
    grad.add_argument("values", nargs="*", metavar="NAME=VALUE",
                      help="a value for each variable: a number or a JSON list")
    grad.add_argument("--backend", action="append", metavar="B",
                      help="a backend to run (repeatable; default: every installed one)")
    grad.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    grad.add_argument("--order", type=int, default=1, choices=(1, 2))
    grad.add_argument("--json", action="store_true", help="print one JSON object")

    report = commands.add_parser("report", help="run the catalogue, write CSV, JSON and HTML")
    report.add_argument("--out", default="report", metavar="DIR")
    report.add_argument("--family", action="append", metavar="F")
    report.add_argument("--backend", action="append", metavar="B")
    report.add_argument("--dtype", action="append", metavar="D",
                        choices=("float64", "float32"))
    report.add_argument("--order", type=int, default=2, choices=(1, 2))
    report.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                        help="worker processes (default: one per CPU; 1 runs in-process)")
    report.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                        help="time limit per backend evaluation of one case; past it the "
                             "row is an error and the run goes on (default: 60)")
    report.add_argument("--no-progress", action="store_true")

    listing = commands.add_parser("list", help="print the catalogue")
    listing.add_argument("--family", action="append", metavar="F")

    trace = commands.add_parser("trace", help="forward and backward, node by node")
    trace.add_argument("expr", help='an expression, e.g. "x*y + sin(x)"')
    trace.add_argument("values", nargs="*", metavar="NAME=VALUE")
    trace.add_argument("--order", type=int, default=1, choices=(1, 2),
                       help="2: differentiate the backward pass again (a graph itself)")
    trace.add_argument("--frameworks", action="store_true",
                       help="also show PyTorch's grad_fn graph and JAX's jaxpr")
    trace.add_argument("--json", action="store_true", help="print one JSON object")

    graph = commands.add_parser("graph", help="draw the computational graph as SVG")
    graph.add_argument("expr", help='an expression, e.g. "x*y + sin(x)"')
    graph.add_argument("values", nargs="*", metavar="NAME=VALUE")
    graph.add_argument("--out", required=True, metavar="FILE.svg")

    explore = commands.add_parser("explore", help="the interactive page, on 127.0.0.1")
    explore.add_argument("--port", type=int, default=0, help="default: a free port")

    from .bench.command import add_arguments  # argparse and the standard library only
    add_arguments(commands.add_parser(
        "bench", help="time refad against micrograd, PyTorch, JAX and HIPS autograd"))
    from .fuzz_command import add_arguments as add_fuzz_arguments  # argparse only
    add_fuzz_arguments(commands.add_parser(
        "fuzz", help="random expressions through every backend; keep what disagrees"))
    return parser


# The optional dependencies, each with the extra that installs it (pyproject.toml).
EXTRAS = {"pandas": "reports", "jinja2": "reports", "tqdm": "reports", "torch": "torch",
          "jax": "jax", "jaxlib": "jax", "sympy": "sympy", "mpmath": "sympy",
          "matplotlib": "examples", "micrograd": "bench", "autograd": "bench"}


def missing_extra(error: ModuleNotFoundError) -> str | None:
    """The extra that installs the module `error` could not find (None: not an extra)."""
    top = (error.name or "").split(".")[0]
    return EXTRAS.get(top)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (also used by the console script)."""
    handlers = {"grad": command_grad, "report": command_report, "list": command_list,
                "trace": command_trace, "graph": command_graph, "explore": command_explore,
                "bench": command_bench, "fuzz": command_fuzz}
    command = "refad"
    try:
        args = build_parser().parse_args(argv)      # Ctrl-C may come this early, too
        command = f"refad {args.command}"
        return handlers[args.command](args)
    except UsageError as error:
        print(f"{command}: {error}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:
        extra = missing_extra(error)
        if extra is None:
            raise                           # not an optional dependency: a real bug
        print(f"{command} needs {error.name}, which is not installed: "
              f"pip install 'refad[{extra}]'", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:                 # `refad list | head`: the reader left early
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        if argv is None:
            # A program about to exit: a second Ctrl-C during torch's and jax's finalizers
            # would print their tracebacks.
            import signal
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def command_grad(args: argparse.Namespace) -> int:
    from .grad_command import run_grad
    return run_grad(args)


def command_report(args: argparse.Namespace) -> int:
    from .report_command import run_report
    return run_report(args)


def command_list(args: argparse.Namespace) -> int:
    from .report_command import run_list
    return run_list(args)


def command_trace(args: argparse.Namespace) -> int:
    from .trace_command import run_trace
    return run_trace(args)


def command_graph(args: argparse.Namespace) -> int:
    from .graph_command import run_graph
    return run_graph(args)


def command_explore(args: argparse.Namespace) -> int:
    from .explore import run_explore
    return run_explore(args)


def command_bench(args: argparse.Namespace) -> int:
    from .bench.command import run_bench
    return run_bench(args)


def command_fuzz(args: argparse.Namespace) -> int:
    from .fuzz_command import run_fuzz
    return run_fuzz(args)


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
