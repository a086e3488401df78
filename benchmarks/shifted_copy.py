"""Small data shifted once into a copy (``copy_x=True``) against block by block (``copy_x=False``).

Usage::

    python -m benchmarks shifted-copy [--repeats 5] [--out benchmarks/results]

For each grid point, the same fit is timed both ways, alternating (so both see the same
machine), ``--repeats`` times; the table gives medians. "Lloyd" is a 10-iteration fit from
fixed centres (time per iteration); "k-means++" is a fit with its default init and one
iteration (dominated by the init). Both ways give the same fit bit for bit (checked here too).
Writes ``<out>/cpu-shifted-copy-<date>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import gkmeans

from .report import markdown_table, today, write_report

#: (n, d, k): the small problems where the copy applies (all under its 64 MiB allowance).
GRID = [(10_000, 32, 64), (100_000, 32, 8), (100_000, 32, 64), (100_000, 2, 64)]


def _timed(fit) -> tuple[float, object]:
    start = time.perf_counter()
    model = fit()
    return time.perf_counter() - start, model


def _point(n: int, d: int, k: int, dtype: type, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((n, d)) + 3).astype(dtype)
    start_centers = X[rng.choice(n, k, replace=False)].copy()

    def lloyd(copy_x: bool):
        return gkmeans.KMeans(k, init=start_centers, n_init=1, max_iter=10, tol=0, copy_x=copy_x).fit(X)

    def plusplus(copy_x: bool):
        return gkmeans.KMeans(k, n_init=1, max_iter=1, tol=0, copy_x=copy_x, random_state=0).fit(X)

    times = {(kind, copy_x): [] for kind in ("lloyd", "plusplus") for copy_x in (True, False)}
    models = {}
    for fit in (lloyd, plusplus):  # warm-up: compiled kernels, caches
        fit(True)
    for _ in range(repeats):
        for copy_x in (True, False):
            seconds, models[("lloyd", copy_x)] = _timed(lambda: lloyd(copy_x))
            times[("lloyd", copy_x)].append(seconds / models[("lloyd", copy_x)].n_iter_)
            seconds, models[("plusplus", copy_x)] = _timed(lambda: plusplus(copy_x))
            times[("plusplus", copy_x)].append(seconds)
    same = all(np.array_equal(models[(kind, True)].cluster_centers_, models[(kind, False)].cluster_centers_)
               for kind in ("lloyd", "plusplus"))
    median = {key: float(np.median(values)) for key, values in times.items()}
    return {"n": n, "d": d, "k": k, "dtype": np.dtype(dtype).name,
            "lloyd_ms_per_iter_copy": 1e3 * median[("lloyd", True)],
            "lloyd_ms_per_iter_blockwise": 1e3 * median[("lloyd", False)],
            "plusplus_ms_copy": 1e3 * median[("plusplus", True)],
            "plusplus_ms_blockwise": 1e3 * median[("plusplus", False)],
            "same_fit": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    rows = [_point(n, d, k, dtype, args.repeats) for dtype in (np.float32, np.float64) for n, d, k in GRID]
    table = markdown_table(
        ["n", "d", "k", "dtype", "Lloyd ms/iter, copy", "blockwise", "ratio", "k-means++ ms, copy", "blockwise",
         "ratio", "same fit"],
        [[f"{r['n']:,}", str(r["d"]), str(r["k"]), r["dtype"], f"{r['lloyd_ms_per_iter_copy']:.2f}",
          f"{r['lloyd_ms_per_iter_blockwise']:.2f}", f"{r['lloyd_ms_per_iter_copy'] / r['lloyd_ms_per_iter_blockwise']:.2f}",
          f"{r['plusplus_ms_copy']:.1f}", f"{r['plusplus_ms_blockwise']:.1f}",
          f"{r['plusplus_ms_copy'] / r['plusplus_ms_blockwise']:.2f}", "yes" if r["same_fit"] else "NO"]
         for r in rows])
    date = today()
    header = (f"CPU, {os.cpu_count()} cores, {date}; medians of {args.repeats} alternated fits; "
              "`python -m benchmarks shifted-copy`. ratio = copy / blockwise (below 1: the copy is faster).")
    write_report(args.out, f"cpu-shifted-copy-{date}", header, table,
                 {"meta": {"date": date, "gkmeans": gkmeans.__version__, "repeats": args.repeats}, "rows": rows})


if __name__ == "__main__":
    main()
