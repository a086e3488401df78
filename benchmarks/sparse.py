"""Sparse k-means against scikit-learn's sparse path: ``python -m benchmarks.sparse``.

Usage::

    python -m benchmarks.sparse [--n 200000] [--d 50000] [--nnz 30] [--k 50] [--repeats 3]
                                [--out benchmarks/results]

TF-IDF-like data (``--nnz`` stored values a row, columns drawn with a skewed popularity, rows
scaled to unit norm), both libraries fitted from the same start (the first k rows, ``n_init=1``,
``tol=0``, ``max_iter=10``) in float64 and float32. Time: the best of ``--repeats`` fits, the
two libraries alternated ABBA (the machine is shared: ratios come from the same run). Inertia:
both final inertias. Memory: the peak resident memory of a fit beyond X, in a fresh process per
library (Linux ``VmHWM``, reset after the data are made and the library warmed up, as
``benchmarks/memory.py``). Writes ``<out>/sparse-<date>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import scipy.sparse as sp

from benchmarks.memory import _high_water_mark, _reset_high_water_mark, _rss_now
from benchmarks.report import markdown_table, today, write_report

MAX_ITER = 10


def tfidf_like(n: int, d: int, nnz: int, dtype: str, seed: int = 0) -> sp.csr_matrix:
    """Rows of ``nnz`` positive values (duplicates summed), columns skewed as word frequencies."""
    rng = np.random.default_rng(seed)
    cols = (d * rng.random(n * nnz) ** 3).astype(np.int32)
    values = rng.exponential(1.0, n * nnz).astype(dtype)
    indptr = np.arange(0, n * nnz + 1, nnz, dtype=np.int64)
    X = sp.csr_matrix((values, cols, indptr), shape=(n, d))
    X.sum_duplicates()
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ X, dtype=dtype)
    return X


def _fit(library: str, X: sp.csr_matrix, init: np.ndarray) -> tuple[float, float]:
    """Seconds and inertia of one fit."""
    if library == "gkmeans":
        from gkmeans import KMeans
    else:
        from sklearn.cluster import KMeans
    model = KMeans(init.shape[0], init=init, n_init=1, max_iter=MAX_ITER, tol=0.0)
    start = time.perf_counter()
    model.fit(X)
    return time.perf_counter() - start, float(model.inertia_)


def _memory(library: str, n: int, d: int, nnz: int, k: int, dtype: str) -> dict:
    """Peak memory of one fit beyond X, measured in this (fresh) process."""
    X = tfidf_like(n, d, nnz, dtype)
    init = X[:k].toarray()
    x_bytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    _fit(library, X[:2000], init)  # imports and compiled kernels, once per process
    before = _rss_now()
    reset = _reset_high_water_mark()
    _fit(library, X, init)
    peak = _high_water_mark()
    return {"x_bytes": x_bytes, "peak_over_before": max(0, peak - before),
            "peak_is_the_fits": reset}


def _memory_in_fresh_process(library: str, args: argparse.Namespace, dtype: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.sparse", "--memory-of", library, "--dtype", dtype,
         "--n", str(args.n), "--d", str(args.d), "--nnz", str(args.nnz), "--k", str(args.k)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--d", type=int, default=50_000)
    parser.add_argument("--nnz", type=int, default=30)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--memory-of", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="float64", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_of:
        print(json.dumps(_memory(args.memory_of, args.n, args.d, args.nnz, args.k, args.dtype)))
        return
    rows = []
    for dtype in ("float64", "float32"):
        X = tfidf_like(args.n, args.d, args.nnz, dtype)
        init = X[: args.k].toarray()
        for library in ("gkmeans", "scikit-learn"):
            _fit(library, X[:2000], init)  # warm-up: imports, compiled kernels
        times: dict[str, list[float]] = {"gkmeans": [], "scikit-learn": []}
        inertia: dict[str, float] = {}
        for repeat in range(args.repeats):
            order = ("gkmeans", "scikit-learn") if repeat % 2 == 0 else ("scikit-learn", "gkmeans")
            for library in order:
                seconds, inertia[library] = _fit(library, X, init)
                times[library].append(seconds)
        for library in ("gkmeans", "scikit-learn"):
            memory = _memory_in_fresh_process(library, args, dtype)
            rows.append({
                "library": library, "dtype": dtype, "n": args.n, "d": args.d, "k": args.k,
                "nnz": int(X.nnz), "seconds": min(times[library]), "all_seconds": times[library],
                "inertia": inertia[library], **memory,
            })
    table_rows = []
    for row in rows:
        ref = next(r for r in rows if r["library"] == "scikit-learn" and r["dtype"] == row["dtype"])
        table_rows.append([
            row["library"], row["dtype"], f"{row['seconds']:.2f}",
            f"{row['seconds'] / ref['seconds']:.2f}", f"{row['inertia']:.10g}",
            f"{abs(row['inertia'] / ref['inertia'] - 1):.1e}",
            f"{row['peak_over_before'] / 2**20:,.0f}", f"{row['x_bytes'] / 2**20:,.0f}",
        ])
    table = markdown_table(
        ["library", "dtype", "seconds (best)", "time / scikit-learn", "inertia",
         "inertia rel. diff.", "peak MiB beyond X", "X MiB"],
        table_rows,
    )
    date = today()
    header = (
        f"CPU, {os.cpu_count()} cores (shared), {date}; n = {args.n:,}, d = {args.d:,}, "
        f"about {args.nnz} stored values a row, k = {args.k}; {MAX_ITER} Lloyd iterations from the "
        f"same start (the first k rows, tol=0); best of {args.repeats} fits alternated ABBA; "
        "peak memory in a fresh process per library. `python -m benchmarks.sparse`."
    )
    meta = {"date": date, "repeats": args.repeats, "max_iter": MAX_ITER}
    write_report(args.out, f"sparse-{date}", header, table, {"meta": meta, "rows": rows})


if __name__ == "__main__":
    main()
