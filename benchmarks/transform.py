"""``transform`` (distances to every centre) against scikit-learn's, with its accuracy.

Usage::

    python -m benchmarks transform [--n 1000000] [--d 32] [--k 64] [--repeats 3] [--out benchmarks/results]

Both libraries get the same data and the same centres (gkmeans' fitted ones, set on a
scikit-learn model). Time: the best of ``--repeats`` calls, alternating the two. Accuracy: the
largest relative error against float64 differences on the first 2,000 rows, and whether a
point placed exactly on a centre gets distance 0. Writes ``<out>/transform-<date>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import gkmeans
from gkmeans.datasets import make_blobs

from .report import markdown_table, today, write_report

CHECKED_ROWS = 2000


def _rows(n: int, d: int, k: int, repeats: int) -> list[dict]:
    from sklearn.cluster import KMeans as SkKMeans

    rows = []
    for dtype in (np.float32, np.float64):
        X, _, _ = make_blobs(n, d, k, random_state=0, dtype=dtype)
        ours = gkmeans.KMeans(k, n_init=1, max_iter=5, random_state=0).fit(X[: min(n, 100_000)])
        centers = np.asarray(ours.cluster_centers_)
        X[CHECKED_ROWS - 1] = centers[0]  # a point on a centre
        theirs = SkKMeans(k, n_init=1, max_iter=1, random_state=0).fit(X[: 10 * k])
        theirs.cluster_centers_ = centers.copy()
        exact = np.sqrt(((X[:CHECKED_ROWS, None, :].astype(np.float64)
                          - centers[None].astype(np.float64)) ** 2).sum(axis=-1))
        times = {"gkmeans": [], "scikit-learn": []}
        results = {}
        for _ in range(repeats):  # alternate, so that both see the same machine
            for name, model in (("gkmeans", ours), ("scikit-learn", theirs)):
                start = time.perf_counter()
                results[name] = np.asarray(model.transform(X))
                times[name].append(time.perf_counter() - start)
        for name, distances in results.items():
            head = distances[:CHECKED_ROWS].astype(np.float64)
            positive = exact > 0
            rows.append({"peer": name, "dtype": np.dtype(dtype).name, "n": n, "d": d, "k": k,
                         "seconds": min(times[name]),
                         "max_relative_error": float(np.max(np.abs(head - exact)[positive] / exact[positive])),
                         "zero_on_centre": bool(distances[CHECKED_ROWS - 1, 0] == 0)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    rows = _rows(args.n, args.d, args.k, args.repeats)
    ours = {r["dtype"]: r["seconds"] for r in rows if r["peer"] == "gkmeans"}
    table = markdown_table(
        ["peer", "dtype", "seconds (best)", "× scikit-learn", "max relative error", "0 on a centre"],
        [[r["peer"], r["dtype"], f"{r['seconds']:.3f}",
          f"{ours[r['dtype']] / r['seconds']:.2f}" if r["peer"] == "scikit-learn" else "",
          f"{r['max_relative_error']:.1e}", "yes" if r["zero_on_centre"] else "no"] for r in rows])
    date = today()
    header = (f"CPU, {os.cpu_count()} cores, {date}; n = {args.n:,}, d = {args.d}, k = {args.k}; best of "
              f"{args.repeats}, calls alternated; `python -m benchmarks transform`. '× scikit-learn' is "
              "gkmeans' time over scikit-learn's.")
    write_report(args.out, f"transform-{date}", header, table,
                 {"meta": {"date": date, "gkmeans": gkmeans.__version__, "repeats": args.repeats}, "rows": rows})


if __name__ == "__main__":
    main()
