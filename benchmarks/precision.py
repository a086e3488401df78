"""The error of reduced-precision distance products (``precision="tf32"`` / ``"bf16"``), emulated on the CPU.

Usage::

    python -m benchmarks precision [--out benchmarks/results]

On a GPU, ``precision="tf32"`` computes the assignment's products ``(X - mean) @ C.T`` on tensor
cores, which read only the first 10 bits of each float32 input's 23-bit mantissa (bf16: 7) and
accumulate in float32; ``||c||^2``, the argmin, the centre update (atomic adds in float64) and
the inertia stay exact. Until a GPU measures it (``tests/test_gpu.py``), this script measures the
same arithmetic on the CPU: each input of the products rounded to the shorter mantissa — by
truncation (how the PyTorch documentation describes TF32 tensor cores: "only the first 10 bits
of the input mantissa are read") and to nearest, ties to even (the other rounding hardware and
libraries use) — then multiplied in float32 by BLAS. Everything else is computed as the exact
run computes it, so the two differ by the rounding alone.

Per data set:

* **one pass** at the centres of the exact fit: labels that differ from the exact pass, and the
  inertia of the reduced-precision labels over the exact labels' (same centres; inertias in float64);
* **a whole Lloyd run** from the same start, every assignment made with the reduced products and
  every update exact, to no label changing (or 100 iterations): its converged inertia against the
  exact run's, the labels that differ at the end, and both iteration counts; and the same runs
  stopped by the fit's default tolerance (``tol=1e-4``), as a default fit would stop them.

Writes ``<out>/precision-emulated-<date>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Callable

import numpy as np

import gkmeans
from gkmeans._kernels import numpy_
from gkmeans.datasets import make_blobs
from gkmeans.image import sample_image

from .report import markdown_table, today, write_report

#: Mantissa bits a tensor core reads of a float32 input, per ``precision=``.
MANTISSA_BITS = {"tf32": 10, "bf16": 7}
ROUNDINGS = ("truncate", "nearest")
MAX_ITER = 100
#: The fit's default tolerance, for the runs that stop on it.
TOL = 1e-4


def round_mantissa(values: np.ndarray, bits: int, rounding: str) -> np.ndarray:
    """float32 ``values`` with only the first ``bits`` bits of their mantissa kept: dropped by
    ``"truncate"`` (towards zero), or rounded to ``"nearest"`` with ties to even."""
    words = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    drop = np.uint32(23 - bits)
    if rounding == "nearest":
        kept_lsb = (words >> drop) & np.uint32(1)
        words = words + (np.uint32(1) << (drop - np.uint32(1))) - np.uint32(1) + kept_lsb
    elif rounding != "truncate":
        raise ValueError(f"rounding={rounding!r} must be one of {ROUNDINGS}")
    return (words & ~((np.uint32(1) << drop) - np.uint32(1))).view(np.float32)


def assigner(mean: np.ndarray, reduce: Callable[[np.ndarray], np.ndarray] | None) -> Callable:
    """Labels of float32 ``X`` for centres ``C`` by ``argmin ||c||^2 - 2 (x - mean).(c - mean)``, the
    products' inputs passed through ``reduce`` first (None: exact float32)."""
    keep = (lambda a: a) if reduce is None else reduce

    def assign(X: np.ndarray, C: np.ndarray) -> np.ndarray:
        Cc = (C - mean).astype(np.float32)
        c_sq = np.einsum("ij,ij->i", Cc, Cc)
        labels = np.empty(X.shape[0], dtype=np.int64)
        for start in range(0, X.shape[0], 65536):
            block = keep(X[start:start + 65536] - mean)
            products = block @ keep(Cc).T
            labels[start:start + 65536] = np.argmin(c_sq - 2 * products, axis=1)
        return labels

    return assign


def exact_inertia(X: np.ndarray, C: np.ndarray, labels: np.ndarray) -> float:
    """Sum of squared distances to the assigned centres, differences taken first, in float64."""
    return float(sum(((X[s:s + 65536].astype(np.float64) - C[labels[s:s + 65536]]) ** 2).sum()
                     for s in range(0, X.shape[0], 65536)))


def lloyd(X: np.ndarray, init: np.ndarray, assign: Callable, tol: float = 0.0) -> tuple[np.ndarray, np.ndarray, int]:
    """Lloyd's iterations with ``assign``'s labels and exact float64 means (an empty cluster keeps its
    centre), to no label changing, a squared centre shift within ``tol`` x the mean variance of the
    features (the fit's rule), or :data:`MAX_ITER`: centres, labels for them, iterations."""
    centers, labels = init.astype(np.float64), None
    ones = np.ones(X.shape[0])
    tol_abs = tol * float(np.mean(np.var(X, axis=0, dtype=np.float64)))
    for iteration in range(1, MAX_ITER + 1):
        new_labels = assign(X, centers)
        if labels is not None and np.array_equal(new_labels, labels):
            return centers, labels, iteration
        labels = new_labels
        sums, counts = numpy_.segment_sum(X, labels, ones, centers.shape[0], xp=np, acc_dtype=np.float64,
                                          chunk_rows=65536)
        filled = counts > 0
        previous = centers.copy()
        centers[filled] = sums[filled] / counts[filled, None]
        if tol > 0 and float(np.sum((centers - previous) ** 2)) <= tol_abs:
            return centers, assign(X, centers), iteration
    return centers, assign(X, centers), MAX_ITER


def data_sets() -> list[tuple[str, np.ndarray, int]]:
    """(name, float32 X, k): the CPU benchmarks' blobs, the GPU grid's width, a picture's colours."""
    wide, _, _ = make_blobs(50_000, 128, 64, cluster_std=6.0, dtype=np.float32, random_state=0)
    narrow, _, _ = make_blobs(200_000, 32, 64, cluster_std=6.0, dtype=np.float32, random_state=0)
    pixels = sample_image((384, 512)).reshape(-1, 3).astype(np.float32)
    return [("blobs n=50,000 d=128 (std 6)", wide, 256), ("blobs n=200,000 d=32 (std 6)", narrow, 64),
            ("picture colours n=196,608 d=3 (0-255)", pixels, 16)]


def measure(name: str, X: np.ndarray, k: int) -> list[dict]:
    init, _ = gkmeans.kmeans_plusplus(X, k, random_state=0)
    mean = X.mean(axis=0)
    exact = assigner(mean, None)
    started = time.perf_counter()
    exact_centers, exact_labels, exact_iters = lloyd(X, init, exact)
    exact_converged = exact_inertia(X, exact_centers, exact_labels)
    tol_centers, tol_labels, tol_iters = lloyd(X, init, exact, TOL)
    exact_tol = exact_inertia(X, tol_centers, tol_labels)
    pass_labels = exact(X, exact_centers)
    rows = []
    for precision, bits in MANTISSA_BITS.items():
        for rounding in ROUNDINGS:
            reduced = assigner(mean, lambda a, bits=bits, rounding=rounding: round_mantissa(a, bits, rounding))
            one_pass = reduced(X, exact_centers)
            centers, labels, iters = lloyd(X, init, reduced)
            converged = exact_inertia(X, centers, labels)
            stopped_centers, stopped_labels, stopped_iters = lloyd(X, init, reduced, TOL)
            rows.append({
                "data": name, "k": k, "precision": precision, "rounding": rounding,
                "pass_labels_differ": float(np.mean(one_pass != pass_labels)),
                "pass_inertia_excess": exact_inertia(X, exact_centers, one_pass)
                / exact_inertia(X, exact_centers, pass_labels) - 1,
                "fit_inertia_rel_diff": converged / exact_converged - 1,
                "fit_labels_differ": float(np.mean(labels != exact_labels)),
                "fit_iterations": iters, "exact_iterations": exact_iters,
                "tol_fit_inertia_rel_diff": exact_inertia(X, stopped_centers, stopped_labels) / exact_tol - 1,
                "tol_fit_iterations": stopped_iters, "exact_tol_iterations": tol_iters,
            })
            print(f"{name}, k={k}, {precision} {rounding}: {rows[-1]}", flush=True)
    print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    rows = [row for name, X, k in data_sets() for row in measure(name, X, k)]
    table = markdown_table(
        ["data", "k", "precision", "inputs rounded", "one pass: labels differ", "one pass: inertia excess",
         "whole fit: inertia rel. diff", "whole fit: labels differ", "iterations (exact)",
         f"fit to tol={TOL:g}: inertia rel. diff", "iterations (exact)"],
        [[r["data"], str(r["k"]), r["precision"], r["rounding"], f"{r['pass_labels_differ']:.2e}",
          f"{r['pass_inertia_excess']:.1e}", f"{r['fit_inertia_rel_diff']:+.1e}", f"{r['fit_labels_differ']:.2e}",
          f"{r['fit_iterations']} ({r['exact_iterations']})", f"{r['tol_fit_inertia_rel_diff']:+.1e}",
          f"{r['tol_fit_iterations']} ({r['exact_tol_iterations']})"] for r in rows])
    date = today()
    header = (f"Reduced-precision distance products emulated on the CPU ({os.cpu_count()} cores), {date}: "
              "float32 inputs of the products rounded to 10 (TF32) or 7 (bf16) mantissa bits, products in "
              "float32, everything else exact; `python -m benchmarks precision`")
    write_report(args.out, f"precision-emulated-{date}", header, table,
                 {"meta": {"date": date, "gkmeans": gkmeans.__version__, "max_iter": MAX_ITER}, "rows": rows})


if __name__ == "__main__":
    main()
