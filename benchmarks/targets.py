"""The GPU fast path's targets (issue "GPU fast path"), judged from the rows of one benchmark run.

A GPU session is short and rare: the verdicts are computed by the run itself, so that its report
says at once which target is met, by how much, and by which gkmeans setting, instead of leaving the
reading of a long table to whoever next has the time. Every comparison is between rows of the same
run, the same grid point and the same arithmetic (exact float32 against exact float32, TF32
against TF32), as the issue asks; a missing or failed peer gives "not measured" with its reason,
never a verdict.

Targets, per float32 grid point:

- time per iteration of the fastest gkmeans-on-CuPy setting <= flash-kmeans (its arithmetic: TF32);
- <= 1.5 x the GEMM floor (one X @ C.T) in each arithmetic gkmeans was run in;
- >= 3 x faster per iteration than fast-pytorch-kmeans (both exact);
- time to convergence ahead of every GPU library, at an inertia no worse than theirs
  (relative tolerance :data:`EQUAL_INERTIA_RTOL`), from the same start.

It also names the fastest exact assignment method at each point, the measurement that sets
``GKMEANS_CUDA_ASSIGN``'s default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: The issue's own point (n, d, k); the others are the grid's.
ISSUE_POINT = (10**7, 128, 1024)
FLOOR_FACTOR = 1.5
FAST_PYTORCH_FACTOR = 3.0
#: Converged inertias within this relative difference count as equal.
EQUAL_INERTIA_RTOL = 1e-4
#: The GPU libraries gkmeans must converge ahead of.
GPU_LIBRARIES = ("flash-kmeans", "fast-pytorch-kmeans", "fastkmeans")
OURS_PREFIX = "gkmeans-cupy"


@dataclass(frozen=True)
class Verdict:
    """One target at one point: the gkmeans row and the peer row compared, their ratio
    (gkmeans time / peer time), and "met", "not met" or "not measured: why"."""

    point: str
    target: str
    ours: str
    peer: str
    ratio: float | None
    verdict: str


def _point_name(n: int, d: int, k: int) -> str:
    return f"n={n:,} d={d} k={k}" + (" (issue)" if (n, d, k) == ISSUE_POINT else "")


def _why_missing(rows: list[dict], name: str, field: str) -> str:
    row = next((r for r in rows if r["peer"] == name), None)
    if row is None:
        return f"not measured: no {name} row (missing peer)"
    if field == "converge_s" and "converge_error" in row:
        return f"not measured: {name}: {row['converge_error']}"
    return f"not measured: {name}: {row.get('status', 'no figure')}"


def _fastest_ours(rows: list[dict], arithmetic: str) -> dict | None:
    mine = [r for r in rows if r["peer"].startswith(OURS_PREFIX) and r.get("arithmetic", "exact") == arithmetic
            and "ms_per_iter" in r]
    return min(mine, key=lambda r: r["ms_per_iter"], default=None)


def _per_iteration(point: str, rows: list[dict], target: str, peer_name: str, arithmetic: str,
                   limit: float, speed_up: bool = False) -> Verdict:
    """Fastest gkmeans row of ``arithmetic`` against ``peer_name``: met when ours / theirs <= ``limit``
    (``speed_up``: when theirs / ours >= ``limit``; the ratio is then the speed-up)."""
    ours = _fastest_ours(rows, arithmetic)
    theirs = next((r for r in rows if r["peer"] == peer_name and "ms_per_iter" in r), None)
    if ours is None:
        return Verdict(point, target, "—", peer_name, None,
                       f"not measured: no {OURS_PREFIX} row in {arithmetic} arithmetic")
    if theirs is None:
        return Verdict(point, target, ours["peer"], peer_name, None, _why_missing(rows, peer_name, "ms_per_iter"))
    if theirs.get("arithmetic", "exact") != arithmetic:
        return Verdict(point, target, ours["peer"], peer_name, None,
                       f"not measured: {peer_name} computes in {theirs.get('arithmetic')}, not {arithmetic}")
    if speed_up:
        ratio = theirs["ms_per_iter"] / ours["ms_per_iter"]
        met = ratio >= limit
    else:
        ratio = ours["ms_per_iter"] / theirs["ms_per_iter"]
        met = ratio <= limit
    return Verdict(point, target, ours["peer"], peer_name, ratio, "met" if met else "not met")


def _convergence(point: str, rows: list[dict], peer_name: str) -> Verdict:
    """The fastest gkmeans-on-CuPy run to convergence whose inertia is no worse than the peer's."""
    target = f"time to convergence ahead of {peer_name} at equal inertia"
    theirs = next((r for r in rows if r["peer"] == peer_name), None)
    if theirs is None or "converge_s" not in theirs or theirs.get("inertia_converged") is None:
        return Verdict(point, target, "—", peer_name, None, _why_missing(rows, peer_name, "converge_s"))
    if "own init" in theirs.get("status", ""):
        # Another start converges to another local minimum: compare inertia too, but say so.
        target += " (its own init)"
    ours = [r for r in rows if r["peer"].startswith(OURS_PREFIX) and "converge_s" in r
            and r.get("inertia_converged") is not None]
    if not ours:
        return Verdict(point, target, "—", peer_name, None, f"not measured: no converged {OURS_PREFIX} row")
    bound = theirs["inertia_converged"] * (1 + EQUAL_INERTIA_RTOL)
    as_good = [r for r in ours if r["inertia_converged"] <= bound]
    if not as_good:
        best = min(ours, key=lambda r: r["inertia_converged"])
        excess = best["inertia_converged"] / theirs["inertia_converged"] - 1
        return Verdict(point, target, best["peer"], peer_name, best["converge_s"] / theirs["converge_s"],
                       f"not met: inertia {excess:.1e} above theirs")
    fastest = min(as_good, key=lambda r: r["converge_s"])
    ratio = fastest["converge_s"] / theirs["converge_s"]
    return Verdict(point, target, fastest["peer"], peer_name, ratio, "met" if ratio <= 1 else "not met")


def judge(rows: list[dict]) -> list[Verdict]:
    """Every target at every float32 point where a gkmeans-on-CuPy row ran (none on a CPU run)."""
    verdicts: list[Verdict] = []
    points = sorted({(r["n"], r["d"], r["k"]) for r in rows if r["dtype"] == "float32"
                     and r["peer"].startswith(OURS_PREFIX)},
                    key=lambda p: (p != ISSUE_POINT, -p[0] * p[1] * p[2]))
    for n, d, k in points:
        here = [r for r in rows if (r["n"], r["d"], r["k"]) == (n, d, k) and r["dtype"] == "float32"]
        name = _point_name(n, d, k)
        verdicts.append(_per_iteration(name, here, "time per iteration ≤ flash-kmeans (both TF32)",
                                       "flash-kmeans", "tf32", 1.0))
        for arithmetic in sorted({r.get("arithmetic", "exact") for r in here if r["peer"].startswith(OURS_PREFIX)}):
            floor = "gemm-floor" + ("" if arithmetic == "exact" else f"-{arithmetic}")
            verdicts.append(_per_iteration(name, here, f"time per iteration ≤ {FLOOR_FACTOR} × GEMM floor ({arithmetic})",
                                           floor, arithmetic, FLOOR_FACTOR))
        verdicts.append(_per_iteration(name, here, f"≥ {FAST_PYTORCH_FACTOR:g} × faster per iteration than "
                                       "fast-pytorch-kmeans (both exact)", "fast-pytorch-kmeans", "exact",
                                       FAST_PYTORCH_FACTOR, speed_up=True))
        verdicts += [_convergence(name, here, peer) for peer in GPU_LIBRARIES]
    return verdicts


def fastest_exact_assignment(rows: list[dict]) -> dict[str, str]:
    """Per float32 point, the exact gkmeans-on-CuPy setting with the least time per iteration
    (the evidence for ``GKMEANS_CUDA_ASSIGN``'s default)."""
    out = {}
    for n, d, k in sorted({(r["n"], r["d"], r["k"]) for r in rows if r["peer"].startswith(OURS_PREFIX)}):
        here = [r for r in rows if (r["n"], r["d"], r["k"]) == (n, d, k) and r["dtype"] == "float32"]
        best = _fastest_ours(here, "exact")
        if best is not None:
            out[_point_name(n, d, k)] = f"{best['peer']} ({best['ms_per_iter']:.2f} ms/iter)"
    return out


def as_records(verdicts: list[Verdict]) -> list[dict[str, Any]]:
    return [asdict(v) for v in verdicts]


def markdown(verdicts: list[Verdict], fastest: dict[str, str]) -> list[str]:
    """The report's section on the targets (no lines when nothing was judged)."""
    if not verdicts:
        return []
    lines = ["", "Targets of the GPU fast path, judged from this run (ratio = gkmeans / peer time; "
             "for fast-pytorch-kmeans, the speed-up):", "",
             "| point | target | gkmeans setting | peer | ratio | verdict |", "|---|---|---|---|---|---|"]
    for v in verdicts:
        ratio = "—" if v.ratio is None else f"{v.ratio:.2f}"
        lines.append(f"| {v.point} | {v.target} | {v.ours} | {v.peer} | {ratio} | {v.verdict} |")
    if fastest:
        lines += ["", "Fastest exact assignment (sets `GKMEANS_CUDA_ASSIGN`'s default): "
                  + "; ".join(f"{point}: {best}" for point, best in fastest.items())]
    return lines
