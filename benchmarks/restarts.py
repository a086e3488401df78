"""Batched restarts against sequential restarts, same seeds, same results, one run.

Usage::

    python -m benchmarks restarts [--device cpu|gpu] [--out benchmarks/results]

For each problem, ``KMeans(init="random", n_init=r)`` is fitted with
``batch_restarts=False`` (one run after another) and ``True`` (all runs together),
best of three; the inertia of both must agree. The table also says which one
``batch_restarts="auto"`` picks. Writes ``<out>/<device>-restarts-<date>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import time

import numpy as np

import gkmeans
from gkmeans.datasets import make_blobs
from gkmeans.pipelines.in_memory import batching_pays

from .report import markdown_table, today, write_report

#: (n, d, k, restarts): the course's small 2-D set with hundreds of restarts, then larger problems.
PROBLEMS = [
    (300, 2, 3, 100), (300, 2, 3, 1000), (1000, 2, 8, 100), (1000, 32, 8, 20),
    (10_000, 2, 5, 100), (10_000, 32, 8, 20), (100_000, 32, 8, 10), (100_000, 32, 64, 10),
]


def _best_of(repeats: int, fit) -> tuple[float, object]:
    times, model = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        model = fit()
        times.append(time.perf_counter() - start)
    return min(times), model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    xp_name = "numpy"
    to_device = lambda X: X  # noqa: E731
    if args.device == "gpu":
        import cupy

        xp_name = "cupy"
        to_device = cupy.asarray
    rows: list[dict] = []
    gkmeans.KMeans(3, n_init=3, batch_restarts=True).fit(to_device(np.random.default_rng(0).random((100, 2))))
    for n, d, k, runs in PROBLEMS:
        X, _, _ = make_blobs(n, d, k, cluster_std=3.0, random_state=0, dtype=np.float32)
        X = to_device(X)
        figures = {}
        for batched in (False, True):
            seconds, model = _best_of(3 if n * runs <= 10**6 else 1, lambda: gkmeans.KMeans(
                k, init="random", n_init=runs, random_state=0, batch_restarts=batched, device=args.device).fit(X))
            figures[batched] = (seconds, model.inertia_)
        from gkmeans._compat import array_namespace

        auto = batching_pays(n, k, array_namespace(X), getattr(X, "device", "cpu"))
        rows.append({"n": n, "d": d, "k": k, "restarts": runs, "sequential_s": figures[False][0],
                     "batched_s": figures[True][0], "speedup": figures[False][0] / figures[True][0],
                     "auto_batches": bool(auto),
                     "inertia_rel_diff": abs(figures[True][1] - figures[False][1]) / figures[False][1]})
        print(rows[-1], flush=True)
        # Rewritten after every problem: a run stopped by a time limit keeps what it measured.
        _write(args, xp_name, rows, final=len(rows) == len(PROBLEMS))


def _write(args: argparse.Namespace, xp_name: str, rows: list[dict], *, final: bool) -> None:
    table = markdown_table(
        ["n", "d", "k", "restarts", "sequential s", "batched s", "speed-up", '"auto" picks', "inertia rel. diff"],
        [[f"{r['n']:,}", str(r["d"]), str(r["k"]), str(r["restarts"]), f"{r['sequential_s']:.3f}",
          f"{r['batched_s']:.3f}", f"{r['speedup']:.2f}x", "batched" if r["auto_batches"] else "sequential",
          f"{r['inertia_rel_diff']:.1e}"] for r in rows])
    date = today()
    meta = {"date": date, "device": args.device, "namespace": xp_name, "machine": platform.machine(),
            "cpu_count": os.cpu_count(), "numpy": np.__version__, "gkmeans": gkmeans.__version__, "dtype": "float32",
            "partial": not final}
    header = (f"{args.device.upper()}, {os.cpu_count()} cores, {date}, float32, init='random', best of 3 "
              f"(1 for the largest); `python -m benchmarks restarts --device {args.device}`"
              + ("" if final else " — **partial**: the run was still going"))
    with contextlib.nullcontext() if final else contextlib.redirect_stdout(io.StringIO()):
        write_report(args.out, f"{args.device}-restarts-{date}", header, table, {"meta": meta, "rows": rows})


if __name__ == "__main__":
    main()
