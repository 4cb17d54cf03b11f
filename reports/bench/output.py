"""What a bench run leaves: the markdown table, bench.csv, bench.json and the W2 plot."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

from refad.reports.writers import atomic_write, json_ready

from .engines import ENGINES
from .workloads import WORKLOADS

COLUMNS = ("workload", "case", "size", "engine", "status", "per", "unit", "median", "min",
           "max", "samples", "inner", "ratio_to_refad", "ratio_base", "compile_s", "first_call_s",
           "agrees_with_refad", "max_rel_diff", "kind", "reason")
LABELS = {"W1": "W1 seed", "W2": "W2 chain", "W3-scalar": "W3 sum, scalar graph",
          "W3-vector": "W3 sum, vectorised", "W4": "W4 MLP", "W5": "W5 PINN step",
          "W2-memory": "W2 chain, peak memory", "W4-memory": "W4 MLP, peak memory"}
PLOT = "w2_time_per_node.png"


def format_seconds(seconds: float) -> str:
    """3 significant digits in ns, µs, ms or s: 1.76e-06 -> "1.76 µs"."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def format_bytes(count: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(count) >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count:.0f} B"


def _cell(row: dict, notes: dict) -> str:
    if row["status"] != "ok":
        key = (row["engine"], row.get("reason", ""))
        notes.setdefault(key, len(notes) + 1)
        word = {"failed": row.get("reason", "failed").split(":")[0],
                "skipped": row.get("kind") or "skipped"}[row["status"]]
        return f"{word} [{notes[key]}]"
    if row["unit"] == "bytes":
        text = format_bytes(row["median"])
        if row["workload"] == "W2-memory":
            text += f" ({row['median'] / row['size']:.0f} B/node)"
    else:
        text = format_seconds(row["median"])
    if row["engine"] != "refad" and row.get("ratio_to_refad") is not None:
        text += f" ({row['ratio_to_refad']:.2f}x)"
    if row.get("compile_s") is not None:
        text += f", +{format_seconds(row['compile_s'])} compile"
    if row.get("agrees_with_refad") is False:
        text += " (result differs!)"
    return text


def markdown(rows: list[dict]) -> str:
    """The table: one line per (workload, size), one column per engine; then start-up."""
    timed = [r for r in rows if r["workload"] != "startup"]
    engines = [key for key in ENGINES if any(r["engine"] == key for r in timed)]
    lines = ["| workload | " + " | ".join(ENGINES[e].label for e in engines) + " |",
             "| --- |" + " --- |" * len(engines)]
    notes: dict[tuple[str, str], int] = {}
    cells: dict[tuple, dict[str, str]] = {}
    for row in timed:
        per = "" if row["unit"] == "bytes" else f", per {row['per']}"
        label = LABELS.get(row["workload"], row["workload"])
        label = f"{label}, {row['case']}{per}" if row["case"] else f"{label}{per}"
        cells.setdefault(label, {})[row["engine"]] = _cell(row, notes)
    for label, by_engine in cells.items():
        lines.append(f"| {label} | " + " | ".join(by_engine.get(e, "") for e in engines)
                     + " |")
    lines.append("")
    lines.append("Medians of interleaved samples; (2.00x) = the engine's median over refad's "
                 "(above 1: slower than refad).")
    if any(r["engine"] in ("jax", "jax-jit") and r["status"] == "ok" for r in timed):
        lines.append("JAX runs in processes of its own, beside a refad of its own, and its "
                     "ratios are to that refad: its compiler slows the engines that share "
                     "its process.")
    for key, workload in WORKLOADS.items():
        if any(r["workload"] == key for r in timed):
            lines.append(f"{key}: {workload.title}.")
    startup = [r for r in rows if r["workload"] == "startup"]
    if startup:
        lines += ["", "| start-up (fresh process, wall time) | median | min | max | runs |",
                  "| --- | --- | --- | --- | --- |"]
        for row in startup:
            if row["status"] == "ok":
                lines.append(f"| `{row['case']}` | {format_seconds(row['median'])} | "
                             f"{format_seconds(row['min'])} | {format_seconds(row['max'])} | "
                             f"{row['samples']} |")
            else:
                lines.append(f"| `{row['case']}` | {row['status']}: {row['reason']} | | | |")
    if notes:
        lines.append("")
        for (engine, reason), number in notes.items():
            lines.append(f"[{number}] {ENGINES[engine].label}: {reason}")
    return "\n".join(lines) + "\n"


def csv_text(rows: list[dict]) -> str:
    stream = io.StringIO()
    writer = csv.DictWriter(stream, fieldnames=COLUMNS, extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in COLUMNS})
    return stream.getvalue()


def plot_chain(rows: list[dict], path: Path) -> str | None:
    """Draw W2's time per node against N, log-log; None when done, else why not."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib): no plot"
    figure = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(figure)                 # no pyplot: no global state, no display needed
    axes = figure.add_subplot()
    for engine in ENGINES:
        points = sorted((r["size"], r["median"]) for r in rows if r["workload"] == "W2"
                        and r["engine"] == engine and r["status"] == "ok")
        failed = sorted(r["size"] for r in rows if r["workload"] == "W2"
                        and r["engine"] == engine and r["status"] == "failed")
        label = ENGINES[engine].label
        if failed:
            label += f" (fails from N={failed[0]:,})"
        if points:
            sizes, seconds = zip(*points, strict=True)
            axes.plot(sizes, [s * 1e6 for s in seconds], marker="o", label=label)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("N (nodes in the chain)")
    axes.set_ylabel("µs per node (forward + backward)")
    axes.set_title("W2: chain of N ops (sin, *1.0001, tanh, +1e-4)")
    axes.grid(True, which="both", alpha=0.3)
    if axes.get_lines():
        axes.legend(fontsize="small")
    else:
        axes.text(0.5, 0.5, "no engine completed W2", transform=axes.transAxes,
                  ha="center")
    figure.tight_layout()
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png",
                                         dir=path.parent)
    os.close(handle)
    try:
        figure.savefig(temporary, dpi=120)
        os.replace(temporary, path)         # atomic, like the text files
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return None


def write_all(out: Path, rows: list[dict], metadata: dict, targets: list[dict]
              ) -> tuple[dict[str, Path], str | None]:
    """Write bench.md, bench.csv, bench.json and the plot into `out`.

    Returns:
        name -> path of what was written, and why the plot is missing (None if it is not).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = markdown(rows)
    target_lines = "\n".join(f"- {t['line']}" for t in targets)
    texts = {"bench.md": f"{table}\nTargets for refad:\n{target_lines}\n",
             "bench.csv": csv_text(rows),
             "bench.json": json.dumps(json_ready({**metadata, "rows": rows,
                                                  "targets": targets}),
                                      indent=1, allow_nan=False) + "\n"}
    paths = {}
    for name, text in texts.items():
        paths[name] = out / name
        atomic_write(paths[name], text)
    why_not = plot_chain(rows, out / PLOT)
    if why_not is None:
        paths[PLOT] = out / PLOT
    return paths, why_not
