"""Clustering quality of the scalable methods: MiniBatchKMeans and k-means|| against full k-means / k-means++.

Usage::

    python -m benchmarks quality [--seeds 12] [--out benchmarks/results]

* **MiniBatchKMeans** (default parameters) on 20 Gaussian blobs (n = 100,000, d = 8, std 2):
  inertia relative to the best of ten full ``KMeans`` fits, for gkmeans and scikit-learn
  (when installed), mean and worst over the seeds; the same on well-separated blobs (std 0.5).
* **k-means||** on 30 blobs (n = 20,000, d = 8): converged inertia from k-means||, k-means++
  and random points, in memory and streamed over chunks (``gkmeans.chunked``).

All inertias are the fitted models' ``inertia_`` on the same data (float64).

* **MiniBatchKMeans speed**: one fit each of gkmeans and scikit-learn (default parameters,
  ``random_state=0``) on 64 blobs, n = 10^6, d = 32, float32, at batch sizes 1,024 (scikit-learn's
  default) and 4,096: seconds, steps taken, final inertia.

Writes ``<out>/quality-<date>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import gkmeans
from gkmeans.datasets import make_blobs

from .report import markdown_table, today, write_report


def _minibatch_rows(seeds: int) -> list[dict]:
    rows = []
    for label, std in (("20 blobs, std 2 (overlapping)", 2.0), ("20 blobs, std 0.5 (separated)", 0.5)):
        X, _, _ = make_blobs(100_000, 8, 20, cluster_std=std, random_state=0)
        best_full = min(gkmeans.KMeans(20, random_state=s).fit(X).inertia_ for s in range(10))
        ours = [gkmeans.MiniBatchKMeans(20, random_state=s).fit(X).inertia_ / best_full for s in range(seeds)]
        row = {"data": label, "best_full_kmeans_inertia": best_full, "gkmeans_mean": float(np.mean(ours)),
               "gkmeans_worst": float(np.max(ours)), "sklearn_mean": None, "sklearn_worst": None}
        try:
            from sklearn.cluster import MiniBatchKMeans as SkMiniBatch

            theirs = [SkMiniBatch(20, random_state=s, n_init="auto").fit(X).inertia_ / best_full
                      for s in range(seeds)]
            row.update(sklearn_mean=float(np.mean(theirs)), sklearn_worst=float(np.max(theirs)))
        except ImportError:
            pass
        rows.append(row)
    return rows


def _minibatch_speed_rows() -> list[dict]:
    import time

    X, _, _ = make_blobs(1_000_000, 32, 64, random_state=0, dtype=np.float32)
    peers = {"gkmeans": gkmeans.MiniBatchKMeans}
    try:
        from sklearn.cluster import MiniBatchKMeans as SkMiniBatch

        peers["scikit-learn"] = SkMiniBatch
    except ImportError:
        pass
    rows = []
    for batch_size in (1024, 4096):
        for name, estimator in peers.items():
            model = estimator(64, batch_size=batch_size, random_state=0)
            start = time.perf_counter()
            model.fit(X)
            rows.append({"peer": name, "batch_size": batch_size, "seconds": time.perf_counter() - start,
                         "steps": int(model.n_steps_), "inertia": float(model.inertia_)})
    return rows


def _parallel_rows(seeds: int) -> list[dict]:
    X, _, _ = make_blobs(20_000, 8, 30, cluster_std=1.0, random_state=3)
    fits = {
        "k-means|| (in memory)": lambda s: gkmeans.KMeans(30, init="k-means||", random_state=s).fit(X),
        "k-means|| (streamed, chunks of 2,500 rows)": lambda s: gkmeans.KMeans(
            30, init="k-means||", random_state=s).fit(gkmeans.chunked(X, chunk_rows=2500)),
        "k-means++": lambda s: gkmeans.KMeans(30, init="k-means++", random_state=s).fit(X),
        "random points": lambda s: gkmeans.KMeans(30, init="random", n_init=1, random_state=s).fit(X),
    }
    rows = []
    for name, fit in fits.items():
        values = [fit(s).inertia_ for s in range(seeds)]
        rows.append({"init": name, "mean_inertia": float(np.mean(values)), "worst_inertia": float(np.max(values))})
    plusplus = next(r["mean_inertia"] for r in rows if r["init"] == "k-means++")
    for row in rows:
        row["vs_kmeans_plusplus"] = row["mean_inertia"] / plusplus
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    minibatch = _minibatch_rows(args.seeds)
    speed = _minibatch_speed_rows()
    parallel = _parallel_rows(args.seeds)

    def ratio(value: float | None) -> str:
        return "—" if value is None else f"{value:.3f}"

    table = markdown_table(
        ["data", "gkmeans MiniBatch / best full (mean, worst)", "scikit-learn MiniBatch / best full (mean, worst)"],
        [[r["data"], f"{ratio(r['gkmeans_mean'])}, {ratio(r['gkmeans_worst'])}",
          f"{ratio(r['sklearn_mean'])}, {ratio(r['sklearn_worst'])}"] for r in minibatch])
    table += "\n\n" + markdown_table(
        ["MiniBatchKMeans, n = 1,000,000, d = 32, k = 64, float32", "batch size", "fit s", "steps", "inertia"],
        [[r["peer"], f"{r['batch_size']:,}", f"{r['seconds']:.2f}", f"{r['steps']:,}", f"{r['inertia']:.5g}"]
         for r in speed])
    table += "\n\n" + markdown_table(
        ["initialisation (30 blobs, n = 20,000, d = 8)", "mean converged inertia", "worst", "/ k-means++"],
        [[r["init"], f"{r['mean_inertia']:,.0f}", f"{r['worst_inertia']:,.0f}", f"{r['vs_kmeans_plusplus']:.3f}"]
         for r in parallel])
    date = today()
    header = (f"CPU, {os.cpu_count()} cores, {date}, {args.seeds} seeds, float64, default parameters; "
              "`python -m benchmarks quality`")
    write_report(args.out, f"quality-{date}", header, table,
                 {"meta": {"date": date, "seeds": args.seeds, "gkmeans": gkmeans.__version__},
                  "minibatch": minibatch, "minibatch_speed": speed, "kmeans_parallel": parallel})


if __name__ == "__main__":
    main()
