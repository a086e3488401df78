"""Where a NumPy input should move to the GPU: the measurement behind ``device="auto"``.

Usage (on a GPU machine)::

    python -m benchmarks dispatch [--iterations 10] [--out benchmarks/results]

For a grid of problem sizes, a full ``KMeans.fit`` of the same NumPy float32 data from the
same centres is timed on the CPU (``device="cpu"``) and on the GPU (``device="gpu"``: the
copy to the device and the results back are included, as ``"auto"`` would pay them),
best of three. The work ``n * d * k`` where the GPU starts to win is the threshold for
``gkmeans.device.AUTO_GPU_MIN_WORK``; the script prints it (the smallest work from which
the GPU wins at every larger grid point) and writes ``<out>/dispatch-<date>.json`` / ``.md``.
The crossover depends on the machine (CPU cores, the bus): setting ``GKMEANS_AUTO_GPU_MIN_WORK``
to the measured value makes ``"auto"`` use it there. The process's first GPU fit, which creates
the CUDA context and compiles kernels (a one-off fit in a fresh process pays it), is timed and
reported apart.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import gkmeans
from gkmeans.datasets import make_blobs
from gkmeans.device import AUTO_GPU_MIN_WORK

from .report import markdown_table, today, write_report

#: (n, d, k): work n*d*k from 10^5 to about 10^11.
GRID = [(1_000, 8, 8), (10_000, 8, 8), (10_000, 32, 32), (100_000, 32, 8), (100_000, 32, 64),
        (100_000, 64, 256), (1_000_000, 32, 64), (1_000_000, 64, 256), (1_000_000, 128, 1024)]


def _best_of(repeats: int, fit) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fit()
        times.append(time.perf_counter() - start)
    return min(times)


def crossover(rows: list[dict]) -> int | None:
    """The smallest work from which the GPU is faster at that and every larger grid point (None: never)."""
    ordered = sorted(rows, key=lambda row: row["work"])
    threshold = None
    for row in reversed(ordered):
        if row["gpu_s"] < row["cpu_s"]:
            threshold = row["work"]
        else:
            break
    return threshold


def summary(rows: list[dict], threshold: float | None) -> str:
    """The report's table, the measured crossover as the setting that gives it, and the first GPU fit."""
    table = markdown_table(
        ["n", "d", "k", "work n·d·k", "CPU s", "GPU s (with transfers)", "GPU speed-up"],
        [[f"{r['n']:,}", str(r["d"]), str(r["k"]), f"{r['work']:.1e}", f"{r['cpu_s']:.3f}", f"{r['gpu_s']:.3f}",
          f"{r['gpu_speedup']:.2f}x"] for r in rows])
    table += (f"\n\nMeasured crossover: {'none in the grid' if threshold is None else f'{threshold:.1e}'} "
              f"(gkmeans.device.AUTO_GPU_MIN_WORK is {AUTO_GPU_MIN_WORK:.1e}; on this machine: "
              f"GKMEANS_AUTO_GPU_MIN_WORK={'inf' if threshold is None else f'{threshold:.1e}'}). "
              f"The process's first GPU fit (n = {rows[0]['n']:,}: CUDA context, cuBLAS, kernels compiled) "
              f"took {rows[0]['gpu_first_s']:.2f} s against {rows[0]['gpu_s']:.3f} s warm.")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    gpu = gkmeans.devices()[1]
    if not gpu.usable:
        raise SystemExit(f"python -m benchmarks dispatch needs a GPU: {gpu.reason}")
    rows = []
    for n, d, k in GRID:
        X, _, _ = make_blobs(n, d, min(k, 32), cluster_std=4.0, random_state=0, dtype=np.float32)
        init = X[np.random.default_rng(0).choice(n, k, replace=False)]
        times, first = {}, {}
        for device in ("cpu", "gpu"):
            fit = lambda device=device: gkmeans.KMeans(k, init=init, n_init=1, max_iter=args.iterations, tol=0,  # noqa: E731
                                                       device=device).fit(X)
            first[device] = _best_of(1, fit)  # warm: imports, CUDA context, kernel compilation
            times[device] = _best_of(3, fit)
        rows.append({"n": n, "d": d, "k": k, "work": n * d * k, "cpu_s": times["cpu"], "gpu_s": times["gpu"],
                     "gpu_speedup": times["cpu"] / times["gpu"], "cpu_first_s": first["cpu"],
                     "gpu_first_s": first["gpu"]})
        print(rows[-1], flush=True)
    threshold = crossover(rows)
    table = summary(rows, threshold)
    date = today()
    header = (f"{gpu.description}, {os.cpu_count()} CPU cores, {date}, float32 NumPy input, {args.iterations} "
              "iterations from the same centres, best of 3; `python -m benchmarks dispatch`")
    write_report(args.out, f"dispatch-{date}", header, table,
                 {"meta": {"date": date, "gpu": gpu.description, "cpu_count": os.cpu_count(),
                           "iterations": args.iterations, "current_threshold": AUTO_GPU_MIN_WORK},
                  "rows": rows, "measured_threshold": threshold})


if __name__ == "__main__":
    main()
