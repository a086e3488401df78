"""Exact silhouette score: gkmeans against scikit-learn, same data, one run.

Usage::

    python -m benchmarks.silhouette_vs_sklearn [--n 50000] [--d 32] [--k 8] [--out benchmarks/results]

Writes ``<out>/cpu-silhouette-<date>.json`` and ``.md`` and prints the table.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

import gkmeans
from gkmeans.datasets import make_blobs
from gkmeans.metrics import silhouette_score

from .report import markdown_table, today, write_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    import sklearn
    from sklearn.metrics import silhouette_score as sk_silhouette

    rows = []
    for dtype in ("float64", "float32"):
        X, y, _ = make_blobs(args.n, args.d, args.k, cluster_std=3.0, dtype=np.dtype(dtype), random_state=0)
        start = time.perf_counter()
        ours = silhouette_score(X, y)
        ours_s = time.perf_counter() - start
        start = time.perf_counter()
        theirs = sk_silhouette(X, y)
        theirs_s = time.perf_counter() - start
        rows.append({"n": args.n, "d": args.d, "k": args.k, "dtype": dtype, "gkmeans_s": ours_s,
                     "sklearn_s": theirs_s, "speedup": theirs_s / ours_s, "abs_diff": abs(ours - theirs)})
    table = markdown_table(
        ["n", "d", "k", "dtype", "gkmeans s", "scikit-learn s", "speed-up", "abs. difference"],
        [[f"{r['n']:,}", str(r["d"]), str(r["k"]), r["dtype"], f"{r['gkmeans_s']:.2f}", f"{r['sklearn_s']:.2f}",
          f"{r['speedup']:.2f}x", f"{r['abs_diff']:.1e}"] for r in rows])
    date = today()
    meta = {"date": date, "machine": platform.machine(), "cpu_count": os.cpu_count(), "numpy": np.__version__,
            "sklearn": sklearn.__version__, "gkmeans": gkmeans.__version__}
    write_report(args.out, f"cpu-silhouette-{date}",
                 f"CPU, {os.cpu_count()} cores, {date}, `python -m benchmarks.silhouette_vs_sklearn`", table,
                 {"meta": meta, "rows": rows})


if __name__ == "__main__":
    main()
