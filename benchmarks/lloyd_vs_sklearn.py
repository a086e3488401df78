"""Time per Lloyd iteration: gkmeans (NumPy) against scikit-learn, same data, same start.

Usage::

    python -m benchmarks.lloyd_vs_sklearn [--quick] [--out benchmarks/results]

Prints a Markdown table and writes ``<out>/cpu-lloyd-<date>.json`` and ``.md``.
Both libraries run ``max_iter`` iterations with ``tol=0`` from the same k-means++
centres; the relative inertia difference shows they computed the same thing.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import gkmeans
from gkmeans.datasets import make_blobs

QUICK = [(100_000, 32, 64)]
DEFAULT = [(100_000, 32, 64), (1_000_000, 32, 64), (100_000, 2, 8), (100_000, 128, 1024)]


def _best_of(repeats: int, fn):
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def run_case(n: int, d: int, k: int, dtype: str, max_iter: int, repeats: int) -> dict:
    from sklearn.cluster import KMeans as SkKMeans

    X, _, _ = make_blobs(n, d, k, cluster_std=4.0, dtype=np.dtype(dtype), random_state=0)
    init, _ = gkmeans.kmeans_plusplus(X, k, random_state=0)
    ours_t, ours = _best_of(repeats, lambda: gkmeans.KMeans(k, init=init, n_init=1, max_iter=max_iter, tol=0,
                                                            device="cpu").fit(X))
    sk_t, sk = _best_of(repeats, lambda: SkKMeans(k, init=init, n_init=1, max_iter=max_iter, tol=0,
                                                  algorithm="lloyd").fit(X))
    return {
        "n": n, "d": d, "k": k, "dtype": dtype, "max_iter": max_iter,
        "gkmeans_ms_per_iter": 1e3 * ours_t / ours.n_iter_,
        "sklearn_ms_per_iter": 1e3 * sk_t / sk.n_iter_,
        "ratio_gkmeans_over_sklearn": (ours_t / ours.n_iter_) / (sk_t / sk.n_iter_),
        "inertia_rel_diff": abs(ours.inertia_ - sk.inertia_) / sk.inertia_,
        "n_iter": [ours.n_iter_, sk.n_iter_],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small case (seconds)")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--max-iter", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import sklearn
    import threadpoolctl

    cases = QUICK if args.quick else DEFAULT
    rows = [run_case(n, d, k, dtype, args.max_iter, args.repeats) for n, d, k in cases for dtype in ("float32", "float64")]
    header = "| n | d | k | dtype | gkmeans ms/iter | scikit-learn ms/iter | ratio | inertia rel. diff |"
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['n']:,} | {r['d']} | {r['k']} | {r['dtype']} | {r['gkmeans_ms_per_iter']:.1f} | "
                     f"{r['sklearn_ms_per_iter']:.1f} | {r['ratio_gkmeans_over_sklearn']:.2f} | {r['inertia_rel_diff']:.1e} |")
    table = "\n".join(lines)
    print(table)
    date = datetime.date.today().isoformat()
    meta = {
        "date": date, "machine": platform.machine(), "processor": platform.processor(), "cpu_count": os.cpu_count(),
        "numpy": np.__version__, "sklearn": sklearn.__version__, "gkmeans": gkmeans.__version__,
        "threadpools": threadpoolctl.threadpool_info(), "max_iter": args.max_iter, "repeats": args.repeats,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"cpu-lloyd-{date}{'-quick' if args.quick else ''}"
    (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    (out / f"{stem}.md").write_text(f"CPU, {os.cpu_count()} cores, {date}, `python -m benchmarks.lloyd_vs_sklearn"
                                    f"{' --quick' if args.quick else ''}`\n\n{table}\n")
    print(f"wrote {out / stem}.json and .md")


if __name__ == "__main__":
    main()
