"""`refad bench`: the same workloads through refad, micrograd, PyTorch, JAX and HIPS autograd.

Modules, each named for what it holds:
- engines.py: the engines, whether each is installed, their versions, the session settings;
- scalar.py, arrays.py, pinn.py: the workloads (W1-W5), one small builder per engine;
- workloads.py: the table of workloads, sizes per mode, and why a cell is skipped;
- timing.py: warm-up, calibration and round-robin (interleaved) timing;
- memory.py: peak memory of one workload in a fresh process;
- startup.py: wall time of `refad --help` and a one-case `refad grad`;
- targets.py: the issue's targets for refad, met or missed;
- suite.py: every cell of a plan, timed, measured or skipped, as CSV rows;
- output.py: the markdown table, bench.csv, bench.json and the plot;
- command.py: `run_bench(args)`, which ties them together.

Nothing here imports a framework at module import time.
"""
