"""Issue 5's targets for refad, checked against a run's rows: MET, MISSED or NOT MEASURED."""

from __future__ import annotations

from dataclasses import dataclass

# Memory "proportional to N": bytes per node at 10^6 within this factor of those at 10^5.
PROPORTIONAL_SLACK = 1.5


@dataclass(frozen=True)
class Ratio:
    """refad's median over `other`'s on one cell, at most `limit`."""

    name: str
    workload: str
    size: int
    other: str
    limit: float


@dataclass(frozen=True)
class Absolute:
    """refad's median on one cell, at most `limit` seconds."""

    name: str
    workload: str
    size: int
    limit: float


TARGETS = (
    Absolute("W1: refad per call", "W1", 1, 10e-6),
    Ratio("W2 N=1,000: refad/micrograd per node", "W2", 1_000, "micrograd", 0.55),
    Ratio("W2 N=1,000: refad/PyTorch eager per node", "W2", 1_000, "torch", 0.3),
    Ratio("W4 batch 64: refad/PyTorch eager", "W4", 64, "torch", 1.0),
    Ratio("W4 batch 1,024: refad/numpy by hand", "W4", 1024, "numpy", 1.15),
    Ratio("W5 (PINN, 256 points): refad/PyTorch eager", "W5", 256, "torch", 1.5),
)


def _find(rows: list[dict], workload: str, size: int, engine: str) -> dict | None:
    for row in rows:
        if row["workload"] == workload and row["size"] == size and row["engine"] == engine:
            return row
    return None


def _missing(row: dict | None, engine: str) -> str:
    if row is None:
        return f"{engine} not run at this size"
    return f"{engine} {row['status']}: {row.get('reason', '')}".rstrip(": ")


def _verdict(measured: float, limit: float) -> str:
    return "MET" if measured <= limit else "MISSED"


def _check(target, rows: list[dict]) -> dict:
    result = {"target": target.name, "limit": target.limit, "measured": None,
              "status": "NOT MEASURED", "detail": ""}
    mine = _find(rows, target.workload, target.size, "refad")
    if mine is None or mine["status"] != "ok":
        result["detail"] = _missing(mine, "refad")
        return result
    if isinstance(target, Absolute):
        result["measured"] = mine["median"]
        result["status"] = _verdict(mine["median"], target.limit)
        result["line"] = (f"{target.name} {mine['median'] * 1e6:.2f} µs "
                          f"(target <= {target.limit * 1e6:g} µs): {result['status']}")
        return result
    theirs = _find(rows, target.workload, target.size, target.other)
    if theirs is None or theirs["status"] != "ok":
        result["detail"] = _missing(theirs, target.other)
        return result
    result["measured"] = mine["median"] / theirs["median"]
    result["status"] = _verdict(result["measured"], target.limit)
    result["line"] = (f"{target.name} {result['measured']:.2f} "
                      f"(target <= {target.limit:g}): {result['status']}")
    return result


def _chain_completes(rows: list[dict]) -> dict:
    name = "W2 N=1,000,000: refad completes (no recursion)"
    result = {"target": name, "limit": None, "measured": None, "status": "NOT MEASURED",
              "detail": ""}
    row = _find(rows, "W2", 1_000_000, "refad")
    if row is None or row["status"] == "skipped":
        result["detail"] = _missing(row, "refad")
    elif row["status"] == "ok":
        result.update(measured=row["median"], status="MET",
                      line=f"{name}: {row['median'] * 1e6:.2f} µs per node: MET")
    else:
        result.update(status="MISSED", line=f"{name}: {row['reason']}: MISSED")
    return result


def _memory_proportional(rows: list[dict]) -> dict:
    name = "W2 memory proportional to N (bytes per node, 10^5 -> 10^6)"
    result = {"target": name, "limit": PROPORTIONAL_SLACK, "measured": None,
              "status": "NOT MEASURED", "detail": ""}
    small = _find(rows, "W2-memory", 100_000, "refad")
    large = _find(rows, "W2-memory", 1_000_000, "refad")
    if small is None or large is None or "ok" not in (small["status"], large["status"]):
        result["detail"] = "peak memory of W2 at N=10^5 and 10^6 not measured"
        return result
    if small["status"] != "ok" or large["status"] != "ok":
        result["detail"] = _missing(large if small["status"] == "ok" else small, "refad")
        return result
    per_small, per_large = small["median"] / 100_000, large["median"] / 1_000_000
    result["measured"] = per_large / max(per_small, 1e-9)
    result["status"] = _verdict(result["measured"], PROPORTIONAL_SLACK)
    result["line"] = (f"{name}: {per_small:.0f} -> {per_large:.0f} B/node, ratio "
                      f"{result['measured']:.2f} (target <= {PROPORTIONAL_SLACK:g}): "
                      f"{result['status']}")
    return result


def evaluate(rows: list[dict]) -> list[dict]:
    """One dict per target: target, limit, measured, status, detail, and a printable line."""
    results = [_check(target, rows) for target in TARGETS[:3]]
    results += [_chain_completes(rows), _memory_proportional(rows)]
    results += [_check(target, rows) for target in TARGETS[3:]]
    for result in results:
        if "line" not in result:
            result["line"] = f"{result['target']}: NOT MEASURED ({result['detail']})"
    return results
