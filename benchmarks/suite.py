"""The benchmark suite: gkmeans and its peers side by side, same data, same start.

``python -m benchmarks run [--quick] [--device cpu|gpu] [--out DIR]``

For every grid point it times, for each available peer: a fixed number of Lloyd
iterations with ``tol=0`` (time per iteration), a run to convergence with the
default ``tol=1e-4``, k-means++ initialisation and ``predict``; it checks that
every peer reached the same inertia as scikit-learn's Lloyd (relative
difference), and at the target point it measures peak memory in fresh
processes. Results: ``<out>/<device>-<date>.json`` (every figure, versions,
CPU/GPU model, thread counts), ``.md`` (tables and fitted scaling slopes) and
two PNG plots (time per iteration against n, speed-up over scikit-learn).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchmarks import targets
from benchmarks.peers import Peer, all_peers

#: The point the CPU targets are set at (issue "Benchmarks across devices").
TARGET = (1_000_000, 32, 64)


@dataclass(frozen=True)
class Point:
    n: int
    d: int
    k: int
    dtype: str


def grid(quick: bool, device: str, shapes: list[tuple[int, int, int]] | None = None) -> list[Point]:
    """One factor at a time around a base point, both dtypes (float32 only on a GPU's peers' terms);
    ``shapes`` ((n, d, k) triples) in place of the grid's own."""
    if shapes:
        shapes = list(shapes)
    elif quick:
        shapes = [(10_000, 32, 64), (100_000, 32, 64)]
    elif device == "gpu":
        # The target point first: a GPU session is short, and a run cut off by its time
        # budget still has written it (results are rewritten after every point).
        shapes = [(10**7, 128, 1024), (10**6, 128, 1024), (10**6, 32, 64)]
    else:
        base_n, base_d, base_k = 100_000, 32, 64
        shapes = [(n, base_d, base_k) for n in (10_000, 100_000, 1_000_000)]
        shapes += [(base_n, d, base_k) for d in (2, 128)] + [(base_n, base_d, k) for k in (8, 1024)]
        # Where faiss-cpu's fused small-d kernel and many centres meet, and the other shapes the
        # per-iteration targets were set at (issue 19): few features, few centres; many of both.
        shapes += [(500_000, 16, 256), (200_000, 2, 8), (100_000, 128, 1024)]
    dtypes = ("float32",) if device == "gpu" else ("float32", "float64")
    return [Point(n, d, k, dtype) for n, d, k in shapes for dtype in dtypes]


def make_data(point: Point, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Blobs with overlap (so Lloyd takes a few dozen iterations) and a k-means++ start for every peer.

    On a GPU run the blobs are written block by block in the target dtype (no
    float64 copy of a 10^7-point set) and the k-means++ start is computed on the GPU.
    """
    import gkmeans
    from benchmarks.memory import blobs_in_place
    from gkmeans._compat import to_numpy

    if device == "gpu":
        X = blobs_in_place(point.n, point.d, min(point.k, 64), np.dtype(point.dtype), cluster_std=6.0)
        import cupy

        init = to_numpy(gkmeans.kmeans_plusplus(cupy.asarray(X), point.k, random_state=0)[0])
    else:
        from gkmeans.datasets import make_blobs

        X, _, _ = make_blobs(point.n, point.d, min(point.k, 64), cluster_std=6.0, dtype=np.dtype(point.dtype),
                             random_state=0)
        init, _ = gkmeans.kmeans_plusplus(X, point.k, random_state=0)
    return X, np.ascontiguousarray(init)


def reference_inertia(X: np.ndarray, centers: np.ndarray, device: str = "cpu") -> float:
    """Inertia of X on ``centers`` (nearest centre, exact differences, float64 sums): one judge for all peers."""
    return reference_inertias(X, [centers], device)[0]


def reference_inertias(X: np.ndarray, centers: list[np.ndarray], device: str = "cpu") -> list[float]:
    """:func:`reference_inertia` of several sets of centres, X moved once.

    On a GPU run the judge computes on the GPU (CuPy), so a 10^7-point check stays cheap; X is
    copied there once for all the sets (5 GB at the target point: a second or more each time).
    """
    import gkmeans
    from gkmeans.metrics import inertia

    if not centers:
        return []
    if device == "gpu":
        import cupy

        X = cupy.asarray(X)
        centers = [cupy.asarray(c) for c in centers]
    judged = []
    for c in centers:
        c = c.astype(X.dtype)
        judged.append(float(inertia(X, gkmeans.find_closest_centroids(X, c), c)))
    del X
    release_gpu_memory(device)
    return judged


def _try(fn, *args) -> tuple[Any, str | None]:
    try:
        return fn(*args), None
    except Exception as exc:  # one peer's failure is a result, not the end of the run
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"


def run_point(point: Point, peers: list[Peer], iterations: int, log, device: str = "cpu",
              on_row: Callable[[list[dict]], None] | None = None, deadline: float | None = None,
              repeats: int = 1) -> list[dict]:
    """Every peer at one grid point; ``on_row(rows so far)`` after each peer (to save partial results).
    ``deadline`` (a ``time.perf_counter()`` value): no convergence run starts after it. ``repeats``:
    the fixed-iteration fits are run that many times, the peers in turn in alternate orders (A B C,
    C B A, A B C, ...: each peer's runs spread over the same stretch of time on a shared machine),
    and the time per iteration is the best of them (every one in ``ms_per_iter_runs``).

    Two phases: first every peer's fixed-iteration fit (the time per iteration, a few seconds each),
    then every peer's run to convergence, k-means++ and ``predict`` (up to 300 iterations each). A
    GPU session is short: a run cut off in the second phase still has every per-iteration figure.
    """
    if not peers:
        return []
    X, init = make_data(point, device)
    rows: list[dict] = []
    fitted: list[tuple[Peer, dict]] = []
    to_judge: list[tuple[dict, str, np.ndarray]] = []  # (row, field, centres): judged once a phase ends

    def saved() -> None:
        add_ratios(rows)
        if on_row is not None:
            on_row(rows)

    def judge() -> None:
        for (row, field, _), value in zip(to_judge, reference_inertias(X, [c for _, _, c in to_judge], device)):
            row[field] = value
        to_judge.clear()
        saved()

    for peer in peers:
        row: dict[str, Any] = {"peer": peer.name, "n": point.n, "d": point.d, "k": point.k, "dtype": point.dtype,
                               # reduced precision applies to float32 data only
                               "arithmetic": peer.arithmetic if point.dtype == "float32" else "exact"}
        rows.append(row)
        if point.dtype == "float64" and not peer.float64:
            row["status"] = "n/a: float32 only"
            continue
        peer.warm_up(X, init)
        per_iter, error = _try(peer.fit, X, init, iterations, 0.0)
        if error:
            row["status"] = f"error: {error}"
            log(f"  {peer.name:<22} {row['status']}")
        else:
            row["status"] = "ok" + (" (own init)" if peer.own_init else "")
            row["ms_per_iter"] = 1e3 * per_iter.seconds / max(1, per_iter.n_iter)
            row["inertia_fixed_iter"] = None
            if not peer.is_floor:
                to_judge.append((row, "inertia_fixed_iter", per_iter.centers))
            fitted.append((peer, row))
            log(f"  {peer.name:<22} {row['ms_per_iter']:9.2f} ms/iter")
        del per_iter
        release_gpu_memory(device)
        saved()
    for repeat in range(1, repeats):
        for peer, row in (fitted[::-1] if repeat % 2 else fitted):
            again, error = _try(peer.fit, X, init, iterations, 0.0)
            if again is not None:
                row.setdefault("ms_per_iter_runs", [row["ms_per_iter"]]).append(
                    1e3 * again.seconds / max(1, again.n_iter))
                row["ms_per_iter"] = min(row["ms_per_iter_runs"])
            del again
            release_gpu_memory(device)
        log(f"  repeat {repeat + 1}/{repeats}: " + ", ".join(f"{p.name} {r['ms_per_iter']:.2f}" for p, r in fitted))
        saved()
    judge()
    # Kernel-choice variants last: the convergence runs the targets compare (each library's own, and
    # gkmeans's default) come first, should the run be cut off.
    fitted.sort(key=lambda fitted_peer: getattr(fitted_peer[0], "is_variant", False))
    for peer, row in fitted:
        if deadline is not None and time.perf_counter() > deadline:
            row["converge_error"] = "left out: time budget spent"
            log(f"  {peer.name:<22} convergence run left out: time budget spent")
            saved()
            continue
        if peer.has_tol:
            converged, error = _try(peer.fit, X, init, 300, 1e-4)
            if converged is not None:
                row.update(converge_s=converged.seconds, converge_iter=converged.n_iter)
                to_judge.append((row, "inertia_converged", converged.centers))
            else:
                row["converge_error"] = error
            del converged
        seconds, _ = _try(peer.kmeans_plusplus, X, point.k, 0)
        if seconds is not None:
            row["kmeanspp_s"] = seconds
        seconds, _ = _try(peer.predict, X, init)
        if seconds is not None:
            row["predict_s"] = seconds
        release_gpu_memory(device)
        if "converge_s" in row:
            log(f"  {peer.name:<22} converged in {row['converge_s']:.3f} s ({row['converge_iter']} it)")
        elif peer.has_tol:
            log(f"  {peer.name:<22} convergence run failed: {row['converge_error']}")
        saved()
    judge()
    return rows


def add_ratios(rows: list[dict]) -> None:
    """Each row's time and inertia against the yardstick's at its point: scikit-learn's Lloyd on
    the CPU; on a GPU, gkmeans on CuPy."""
    yardstick = "sklearn-lloyd" if any(r["peer"] == "sklearn-lloyd" for r in rows) else "gkmeans-cupy"
    reference = next((r for r in rows if r["peer"] == yardstick and "ms_per_iter" in r), None)
    # The CPU target: per iteration no slower than the fastest other library at the point (issue 19).
    others = [r["ms_per_iter"] for r in rows if r["peer"] in ("sklearn-lloyd", "sklearn-elkan", "faiss-cpu")
              and "ms_per_iter" in r]
    for row in rows:
        if others and "ms_per_iter" in row:
            row["ratio_vs_fastest_library"] = row["ms_per_iter"] / min(others)
        if reference is None or "ms_per_iter" not in row:
            continue
        row["ratio_vs_sklearn_lloyd"] = row["ms_per_iter"] / reference["ms_per_iter"]
        # (Inertias are judged when a phase ends: a partial write may not have them yet.)
        if row.get("inertia_fixed_iter") is not None and reference.get("inertia_fixed_iter") is not None:
            row["inertia_rel_diff"] = abs(row["inertia_fixed_iter"] - reference["inertia_fixed_iter"]) / reference[
                "inertia_fixed_iter"]
        if "inertia_converged" in row and "inertia_converged" in reference:
            row["converged_inertia_rel_diff"] = abs(row["inertia_converged"] - reference["inertia_converged"]) / \
                reference["inertia_converged"]


def release_gpu_memory(device: str) -> None:
    """Hand the cached GPU memory of CuPy's pools and PyTorch's allocator back between peers: each
    keeps what the last fit used (a 10^7 x 128 copy of X alone is 5 GB), and the next peer, in the
    other library, would find the device full."""
    if device != "gpu":
        return
    import gc

    gc.collect()
    try:
        import cupy

        cupy.get_default_memory_pool().free_all_blocks()
        cupy.get_default_pinned_memory_pool().free_all_blocks()
    except ImportError:
        pass
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def peak_memory(peers: list[Peer], point: Point, log) -> list[dict]:
    """Each CPU peer's extra memory during a fit at ``point``, in a fresh process."""
    out = []
    for peer in peers:
        if point.dtype == "float64" and not peer.float64:
            continue
        cmd = [sys.executable, "-m", "benchmarks.memory", peer.name, str(point.n), str(point.d), str(point.k),
               point.dtype]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            out.append({"peer": peer.name, "dtype": point.dtype, "error": done.stderr.strip().splitlines()[-1:]})
            continue
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        budget = 0.3 * figures["x_bytes"] + 64 * 2**20
        out.append({"peer": peer.name, "dtype": point.dtype, **figures,
                    "within_target": figures["peak_over_before"] <= budget})
        log(f"  memory {peer.name:<16} {point.dtype}: X {figures['x_bytes'] / 2**20:.0f} MiB, "
            f"+{figures['peak_over_before'] / 2**20:.0f} MiB during the fit")
    return out


def scaling_slopes(rows: list[dict], peer: str, dtype: str) -> dict[str, float]:
    """Fitted exponents of time per iteration against n, d and k (log-log least squares)."""
    slopes = {}
    for factor in ("n", "d", "k"):
        others = [f for f in ("n", "d", "k") if f != factor]
        mine = [r for r in rows if r["peer"] == peer and r["dtype"] == dtype and "ms_per_iter" in r]
        groups: dict[tuple, list[dict]] = {}
        for r in mine:
            groups.setdefault(tuple(r[o] for o in others), []).append(r)
        best = max(groups.values(), key=len, default=[])
        if len({r[factor] for r in best}) >= 2:
            x = np.log([r[factor] for r in best])
            y = np.log([r["ms_per_iter"] for r in best])
            slopes[factor] = float(np.polyfit(x, y, 1)[0])
    return slopes


def environment(device: str) -> dict:
    import gkmeans

    info: dict[str, Any] = {"date": datetime.date.today().isoformat(), "device": device,
                            "python": platform.python_version(), "machine": platform.machine(),
                            "cpu_count": os.cpu_count(), "numpy": np.__version__, "gkmeans": gkmeans.__version__}
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            info["cpu_model"] = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
                                     platform.processor())
    except OSError:
        info["cpu_model"] = platform.processor()
    for module in ("sklearn", "faiss", "torch", "cupy", "threadpoolctl"):
        try:
            info[module] = __import__(module).__version__
        except Exception:
            info[module] = None
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [{k: v for k, v in pool.items() if k in ("internal_api", "num_threads", "version")}
                               for pool in threadpool_info()]
    except ImportError:
        pass
    info["gpus"] = [str(entry) for entry in gkmeans.devices()]
    return info


def markdown(results: dict) -> str:
    meta = results["meta"]
    lines = [f"# gkmeans benchmarks — {meta['device']}, {meta['date']}", "",
             f"{meta.get('cpu_model')}, {meta['cpu_count']} cores; numpy {meta['numpy']}, scikit-learn "
             f"{meta.get('sklearn')}, faiss {meta.get('faiss')}, torch {meta.get('torch')}. "
             f"Command: `{meta['command']}`. Time per iteration = fit time / iterations from the same "
             f"k-means++ start with tol=0 ({meta['iterations']} iterations"
             + (f", best of {meta['repeats']} runs in alternating peer order" if meta.get("repeats", 1) > 1 else "")
             + "); convergence with tol=1e-4.", "",
             f"| n | d | k | dtype | peer | arithmetic | ms/iter | × {meta.get('yardstick', 'sklearn-lloyd')} "
             "| × fastest library | converge s (iters) | inertia rel. diff "
             "| k-means++ s | predict s | status |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["rows"]:
        conv = (f"{r['converge_s']:.3f} ({r['converge_iter']})" if "converge_s" in r
                else f"— ({r['converge_error']})" if "converge_error" in r else "—")
        head = f"| {r['n']:,} | {r['d']} | {r['k']} | {r['dtype']} | {r['peer']} | {r.get('arithmetic', 'exact')} | "
        lines.append(
            f"{head}{r['ms_per_iter']:.2f} | {r.get('ratio_vs_sklearn_lloyd', float('nan')):.2f} | "
            f"{r.get('ratio_vs_fastest_library', float('nan')):.2f} | {conv} | "
            f"{r.get('inertia_rel_diff', float('nan')):.1e} | "
            f"{r.get('kmeanspp_s', float('nan')):.3f} | {r.get('predict_s', float('nan')):.3f} | {r['status']} |"
            if "ms_per_iter" in r else
            f"{head}— | — | — | — | — | — | — | {r['status']} |")
    lines += targets.markdown([targets.Verdict(**v) for v in results.get("targets", [])],
                              results.get("fastest_exact_assignment", {}))
    if meta.get("partial"):
        lines += ["", "**Partial**: the run was still going when this was written."]
    if meta.get("points_left_out"):
        lines += ["", "Grid points left out (time budget spent): " + "; ".join(meta["points_left_out"])]
    if results["missing"]:
        lines += ["", "Peers missing here: " + "; ".join(f"{name} ({why})" for name, why in results["missing"].items())]
    if results["memory"]:
        lines += ["", f"Peak memory at n={TARGET[0]:,}, d={TARGET[1]}, k={TARGET[2]} (fresh process per fit; "
                  "target: X + extra ≤ 1.3 × X + 64 MiB):", "",
                  "| peer | dtype | X MiB | extra during fit MiB | within target | imports + compiled kernels MiB "
                  "(once per process) |", "|---|---|---|---|---|---|"]
        for m in results["memory"]:
            if "error" in m:
                lines.append(f"| {m['peer']} | {m['dtype']} | — | — | error: {m['error']} | — |")
            else:
                lines.append(f"| {m['peer']} | {m['dtype']} | {m['x_bytes'] / 2**20:.0f} | "
                             f"{m['peak_over_before'] / 2**20:.0f} | {'yes' if m['within_target'] else 'no'} | "
                             f"{m.get('warm_up_bytes', float('nan')) / 2**20:.0f} |")
    if results["slopes"]:
        lines += ["", "Scaling: fitted exponent of time per iteration against each factor (others fixed):", ""]
        for key, slopes in results["slopes"].items():
            lines.append(f"- {key}: " + ", ".join(f"{f} ^ {v:.2f}" for f, v in slopes.items()))
    return "\n".join(lines) + "\n"


def plots(results: dict, stem: Path) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written = []
    rows = [r for r in results["rows"] if "ms_per_iter" in r]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    names = sorted({r["peer"] for r in rows})
    for ax, dtype in zip(axes, ("float32", "float64")):
        for colour, peer in enumerate(names):
            mine = sorted((r for r in rows if r["peer"] == peer and r["dtype"] == dtype and r["d"] == 32 and r["k"] == 64
                           and not (results["meta"]["device"] == "gpu")), key=lambda r: r["n"])
            mine = mine or sorted((r for r in rows if r["peer"] == peer and r["dtype"] == dtype), key=lambda r: r["n"])
            if len(mine) >= 1:
                ax.plot([r["n"] for r in mine], [r["ms_per_iter"] for r in mine], "o-", label=peer,
                        color=f"C{colour % 10}")
        ax.set_xscale("log"), ax.set_yscale("log")
        ax.set_xlabel("n"), ax.set_ylabel("ms per iteration"), ax.set_title(f"time per iteration, {dtype}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(f"{stem}-time-vs-n.png", dpi=100)
    written.append(f"{stem}-time-vs-n.png")
    plt.close(fig)
    gk = [r for r in rows if r["peer"].startswith("gkmeans") and "ratio_vs_sklearn_lloyd" in r]
    if gk:
        fig, ax = plt.subplots(figsize=(11, 4))
        labels = [f"{r['peer']}\n{r['n']:.0e},{r['d']},{r['k']},{r['dtype'][-2:]}" for r in gk]
        ax.bar(range(len(gk)), [1 / r["ratio_vs_sklearn_lloyd"] for r in gk], color="C0")
        ax.axhline(1.0, color="k", linestyle="--")
        ax.set_xticks(range(len(gk)), labels, rotation=90, fontsize=6)
        ax.set_ylabel("speed-up over scikit-learn lloyd (per iteration)")
        fig.tight_layout()
        fig.savefig(f"{stem}-speedup.png", dpi=100)
        written.append(f"{stem}-speedup.png")
        plt.close(fig)
    return written


def run(quick: bool, device: str, out: str, command: str, max_seconds: float | None = None,
        stop_seconds: float | None = None, shapes: list[tuple[int, int, int]] | None = None,
        repeats: int = 1, stem: str | None = None) -> dict:
    """Run the grid, rewriting the results after every point (a run cut off keeps what it measured).

    ``max_seconds``: start no new grid point after this long; the results then say which points
    were left out. ``stop_seconds``: start no new convergence run (nor k-means++ / predict timing)
    after this long either; those rows say so. ``shapes``: these (n, d, k) in place of the grid's
    (no memory runs then); ``repeats``: see :func:`run_point`; ``stem``: the results' file name
    (without suffix) in place of ``<device>-<date>``.
    """
    def log(message: str) -> None:
        print(message, flush=True)

    peers = [p for p in all_peers() if device in p.devices]
    missing = {}
    usable = []
    for peer in peers:
        reason = peer.available()
        if reason is None:
            usable.append(peer)
        else:
            missing[peer.name] = reason
            log(f"missing peer {peer.name}: {reason}")
    iterations = 5 if quick else 10
    started = time.perf_counter()
    rows: list[dict] = []
    points = grid(quick, device, shapes)
    skipped: list[str] = []
    for index, point in enumerate(points):
        if index > 0 and max_seconds is not None and time.perf_counter() - started > max_seconds:
            skipped = [f"n={p.n} d={p.d} k={p.k} {p.dtype}" for p in points[index:]]
            log(f"time budget of {max_seconds:.0f} s spent: {len(skipped)} grid point(s) left out")
            break
        log(f"n={point.n:,} d={point.d} k={point.k} {point.dtype}")

        def save(point_rows: list[dict]) -> None:  # called only while this point runs
            _write(rows + point_rows, [], missing, usable, device, command, iterations, quick, started, out, log,
                   partial=True, stem=stem, repeats=repeats)

        rows += run_point(point, usable, iterations, log, device, on_row=save,
                          deadline=None if stop_seconds is None else started + stop_seconds, repeats=repeats)
    memory = []
    if not quick and device == "cpu" and not skipped and not shapes:
        for dtype in ("float32", "float64"):
            memory += peak_memory(usable, Point(*TARGET, dtype), log)
    return _write(rows, memory, missing, usable, device, command, iterations, quick, started, out, log,
                  partial=False, skipped=skipped, stem=stem, repeats=repeats)


def _write(rows: list[dict], memory: list[dict], missing: dict, usable: list[Peer], device: str, command: str,
           iterations: int, quick: bool, started: float, out: str, log, *, partial: bool,
           skipped: list[str] | None = None, stem: str | None = None, repeats: int = 1) -> dict:
    """Write the JSON, Markdown and plots of the rows so far; ``partial`` marks a run still going."""
    slopes = {f"{peer.name} {dtype}": s for peer in usable for dtype in ("float32", "float64")
              if (s := scaling_slopes(rows, peer.name, dtype))}
    meta = environment(device) | {"command": command, "iterations": iterations,
                                  "yardstick": "sklearn-lloyd" if device == "cpu" else "gkmeans-cupy",
                                  "seconds": round(time.perf_counter() - started, 1), "quick": quick,
                                  "partial": partial, "points_left_out": skipped or [], "repeats": repeats}
    results = {"meta": meta, "rows": rows, "missing": missing, "memory": memory, "slopes": slopes}
    if device == "gpu":
        results["targets"] = targets.as_records(targets.judge(rows))
        results["fastest_exact_assignment"] = targets.fastest_exact_assignment(rows)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / (stem or f"{device}-{meta['date']}{'-quick' if quick else ''}")
    stem.with_suffix(".json").write_text(json.dumps(results, indent=1, default=float))
    report = markdown(results)
    stem.with_suffix(".md").write_text(report)
    if partial:
        return results
    written = plots(results, stem)
    print(report)
    log(f"wrote {stem}.json, {stem}.md" + "".join(f", {w}" for w in written) + f" in {meta['seconds']} s")
    return results
