"""Distributed k-means: gkmeans against dask-ml's ``KMeans`` on the same LocalCluster, same data.

Usage::

    python -m benchmarks dask [--n 2000000] [--d 32] [--k 16] [--chunk-rows 100000] [--workers 2] [--out DIR]

Two comparisons, each with both libraries on one ``LocalCluster`` (one thread per
worker process), the data generated on the workers and persisted before timing:

* **same start, fixed iterations**: the same initial centres, ``tol=0``, ``max_iter``
  iterations (the data overlap enough that neither converges earlier): the cost of one
  distributed Lloyd iteration, and the inertia of each (they run the same algorithm);
* **defaults from scratch**: ``init="k-means||"`` as dask-ml's default, each library's own
  stopping rule (gkmeans: ``tol`` relative to the data's variance, as scikit-learn;
  dask-ml: ``tol`` on the absolute squared shift); wall time, iterations and inertia.

Inertia is judged by one function for both (dask-ml's ``inertia_`` is a sum of unsquared
distances).

Writes ``<out>/dask-<date>.json`` and ``.md`` and prints the table.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

import gkmeans

from .report import markdown_table, today, write_report


def _blob_chunk(block_id: tuple[int, int], rows: int, centers: np.ndarray, std: float, dtype: str) -> np.ndarray:
    rng = np.random.default_rng(1000 + block_id[0])
    labels = rng.integers(0, centers.shape[0], rows)
    return (centers[labels] + rng.normal(scale=std, size=(rows, centers.shape[1]))).astype(dtype)


def make_data(n: int, d: int, k: int, chunk_rows: int, dtype: str) -> tuple[object, np.ndarray]:
    """Gaussian blobs generated chunk by chunk on the workers (nothing large leaves this process)."""
    import dask.array as da

    centers = np.random.default_rng(0).uniform(-10, 10, size=(k, d))
    n_chunks = -(-n // chunk_rows)
    chunks = ((chunk_rows,) * (n_chunks - 1) + (n - chunk_rows * (n_chunks - 1),), (d,))

    def block(block_id=None):
        return _blob_chunk(block_id, chunks[0][block_id[0]], centers, 6.0, dtype)

    X = da.map_blocks(block, chunks=chunks, dtype=dtype).persist()
    return X, centers


def _sq_min_block(block: np.ndarray, centers: np.ndarray) -> np.ndarray:
    block = block.astype(np.float64)
    sq = (block * block).sum(1)[:, None] - 2 * block @ centers.T + (centers * centers).sum(1)[None, :]
    return np.maximum(sq.min(axis=1), 0)


def judged_inertia(X, centers) -> float:
    """Sum of squared distances to the nearest centre, computed the same way for both (float64).

    dask-ml's own ``inertia_`` sums *unsquared* distances after its last iteration, so
    the libraries' own figures cannot be compared.
    """
    centers = np.asarray(centers, dtype=np.float64)
    return float(X.map_blocks(_sq_min_block, centers, drop_axis=1, dtype=np.float64).sum().compute())


def _timed(fit) -> tuple[float, object]:
    start = time.perf_counter()
    model = fit()
    return time.perf_counter() - start, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000_000)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()

    import dask
    import dask_ml
    import distributed
    from dask_ml.cluster import KMeans as DaskMLKMeans

    rows = []
    with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster):
        X, _ = make_data(args.n, args.d, args.k, args.chunk_rows, args.dtype)
        distributed.wait(X)
        start_rows = np.sort(np.random.default_rng(1).choice(args.n, args.k, replace=False))
        init = X[start_rows].compute().astype(np.float64)
        # Warm both code paths (imports, numba compilation) on a slice before timing.
        small = X[: 4 * args.chunk_rows]
        gkmeans.KMeans(args.k, init=init, n_init=1, max_iter=2).fit(small)
        DaskMLKMeans(args.k, init=init, max_iter=2).fit(small)

        fixed = {"tol": 0.0, "max_iter": args.iterations}
        ours_s, ours = _timed(lambda: gkmeans.KMeans(args.k, init=init, n_init=1, **fixed).fit(X))
        theirs_s, theirs = _timed(lambda: DaskMLKMeans(args.k, init=init, **fixed).fit(X))
        rows.append({"comparison": f"same start, {args.iterations} iterations", "gkmeans_s": ours_s,
                     "dask_ml_s": theirs_s, "gkmeans_n_iter": ours.n_iter_, "dask_ml_n_iter": theirs.n_iter_,
                     "gkmeans_inertia": judged_inertia(X, ours.cluster_centers_),
                     "dask_ml_inertia": judged_inertia(X, theirs.cluster_centers_)})

        ours_s, ours = _timed(lambda: gkmeans.KMeans(args.k, init="k-means||", random_state=0).fit(X))
        theirs_s, theirs = _timed(lambda: DaskMLKMeans(args.k, init="k-means||", random_state=0).fit(X))
        rows.append({"comparison": "defaults, k-means|| from scratch", "gkmeans_s": ours_s, "dask_ml_s": theirs_s,
                     "gkmeans_n_iter": ours.n_iter_, "dask_ml_n_iter": theirs.n_iter_,
                     "gkmeans_inertia": judged_inertia(X, ours.cluster_centers_),
                     "dask_ml_inertia": judged_inertia(X, theirs.cluster_centers_)})

    for row in rows:
        row["speedup"] = row["dask_ml_s"] / row["gkmeans_s"]
        row["inertia_ratio"] = row["gkmeans_inertia"] / row["dask_ml_inertia"]
        row["gkmeans_ms_per_iter"] = 1000 * row["gkmeans_s"] / row["gkmeans_n_iter"]
        row["dask_ml_ms_per_iter"] = 1000 * row["dask_ml_s"] / row["dask_ml_n_iter"]
    table = markdown_table(
        ["comparison", "gkmeans s", "dask-ml s", "speed-up", "iterations (gkmeans / dask-ml)",
         "ms per iteration (gkmeans / dask-ml)", "inertia gkmeans / dask-ml"],
        [[r["comparison"], f"{r['gkmeans_s']:.2f}", f"{r['dask_ml_s']:.2f}", f"{r['speedup']:.2f}x",
          f"{r['gkmeans_n_iter']} / {r['dask_ml_n_iter']}",
          f"{r['gkmeans_ms_per_iter']:.0f} / {r['dask_ml_ms_per_iter']:.0f}", f"{r['inertia_ratio']:.6f}"]
         for r in rows])
    date = today()
    meta = {"date": date, "machine": platform.machine(), "cpu_count": os.cpu_count(), "numpy": np.__version__,
            "dask": dask.__version__, "distributed": distributed.__version__, "dask_ml": dask_ml.__version__,
            "gkmeans": gkmeans.__version__, "n": args.n, "d": args.d, "k": args.k, "dtype": args.dtype,
            "chunk_rows": args.chunk_rows, "workers": args.workers, "threads_per_worker": 1}
    header = (f"LocalCluster of {args.workers} worker processes x 1 thread, {os.cpu_count()} cores, {date}; "
              f"n={args.n:,}, d={args.d}, k={args.k}, {args.dtype}, chunks of {args.chunk_rows:,} rows; "
              "`python -m benchmarks dask`")
    write_report(args.out, f"dask-{date}", header, table, {"meta": meta, "rows": rows})


if __name__ == "__main__":
    main()
