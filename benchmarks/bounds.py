"""Bound-based exact k-means against Lloyd and the peers: time to convergence at equal inertia.

Usage::

    python -m benchmarks.bounds [--repeats 3] [--blobs-n 1000000] [--quick] [--out DIR]
    python -m benchmarks.bounds --device gpu [--gpu-large 10000000] [--max-seconds S] [...]

Problems: colour quantisation of the two photos bundled with scikit-learn (``china.jpg``,
``flower.jpg``: 273,280 pixels, d = 3, scaled to [0, 1]) at k = 16, 64, 256; the digits
(d = 64) at k = 10, 64; blobs at d = 32, k = 64 (``--blobs-n`` rows). float32 throughout (faiss
takes nothing else). Every contender starts from the same k-means++ centres (scikit-learn's
``kmeans_plusplus``, seed 0) and stops by the default rule (tol = 1e-4, as scikit-learn); faiss,
which has no tolerance, runs as many iterations as scikit-learn's Lloyd took. Best of
``--repeats``, the order of the contenders reversed every other round; ratios are taken within
the same run. gkmeans' peak memory beyond X is measured once per algorithm (tracemalloc, which
sees NumPy's allocations). Writes ``<out>/bounds-<date>.json``, ``.md`` and ``.png``.

``--device gpu`` runs the same comparison on a CUDA GPU (:mod:`benchmarks.bounds_gpu`): gkmeans
on CuPy arrays against the GPU peers of :mod:`benchmarks.peers` (flash-kmeans,
fast-pytorch-kmeans), plus blobs of ``--gpu-large`` rows (d = 32, k = 256), and writes
``<out>/bounds-gpu-<date>.json``, ``.md`` and ``.png``. Without a usable GPU it stops with a
message saying why.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import tracemalloc
from typing import Any, Callable

import numpy as np

import gkmeans
from benchmarks.report import markdown_table, today, write_report
from gkmeans import _kernels as kernels
from gkmeans.algorithms.bounds_choice import resolve_algorithm
from gkmeans.datasets import make_blobs

GKMEANS_ALGORITHMS = ("lloyd", "hamerly", "elkan", "yinyang", "auto")
PEERS = ("sklearn-lloyd", "sklearn-elkan", "faiss")


def problems(blobs_n: int, quick: bool) -> list[tuple[str, np.ndarray, int]]:
    """(name, X float32, k) of every problem."""
    from sklearn.datasets import load_digits, load_sample_image

    photos = {
        name: (load_sample_image(f"{name}.jpg").reshape(-1, 3) / 255).astype(np.float32)
        for name in ("china", "flower")
    }
    digits = load_digits().data.astype(np.float32)
    blobs = make_blobs(blobs_n, 32, 64, cluster_std=2.0, random_state=0)[0].astype(np.float32)
    if quick:
        return [("china", photos["china"], 16), ("digits", digits, 10)]
    out = [(name, X, k) for name, X in photos.items() for k in (16, 64, 256)]
    out += [("digits", digits, k) for k in (10, 64)]
    out.append((f"blobs-{blobs_n}x32", blobs, 64))
    return out


def contenders(
    X: np.ndarray, k: int, init: np.ndarray, faiss_iter: list[int]
) -> dict[str, Callable]:
    """Name -> fit returning (inertia, n_iter, distances computed or None)."""
    from sklearn.cluster import KMeans as SKMeans

    def ours(algorithm: str) -> Callable:
        def fit() -> tuple[float, int, Any]:
            model = gkmeans.KMeans(k, init=init, n_init=1, algorithm=algorithm).fit(X)
            return model.inertia_, model.n_iter_, model.n_distance_evals_

        return fit

    def sklearn(algorithm: str) -> Callable:
        def fit() -> tuple[float, int, Any]:
            model = SKMeans(k, init=init, n_init=1, algorithm=algorithm).fit(X)
            if algorithm == "lloyd":
                faiss_iter[0] = model.n_iter_
            return model.inertia_, model.n_iter_, None

        return fit

    def faiss_fit() -> tuple[float, int, Any]:
        import faiss

        km = faiss.Kmeans(
            X.shape[1],
            k,
            niter=faiss_iter[0],
            seed=0,
            max_points_per_centroid=X.shape[0],  # no subsampling: the full data, as the others
            min_points_per_centroid=1,
        )
        km.train(np.ascontiguousarray(X), init_centroids=np.ascontiguousarray(init))
        dist, _ = km.index.search(np.ascontiguousarray(X), 1)
        return float(dist.astype(np.float64).sum()), faiss_iter[0], None

    out = {f"gkmeans-{a}": ours(a) for a in GKMEANS_ALGORITHMS}
    out["sklearn-lloyd"] = sklearn("lloyd")
    out["sklearn-elkan"] = sklearn("elkan")
    try:
        import faiss  # noqa: F401

        out["faiss"] = faiss_fit
    except ImportError:
        pass
    return out


def peak_extra_mib(fit: Callable) -> float:
    """Peak memory NumPy allocated during ``fit`` (MiB)."""
    tracemalloc.start()
    try:
        fit()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def run_problem(name: str, X: np.ndarray, k: int, repeats: int) -> list[dict]:
    from sklearn.cluster import kmeans_plusplus

    init, _ = kmeans_plusplus(X, k, random_state=0)
    faiss_iter = [100]
    fits = contenders(X, k, init, faiss_iter)
    # sklearn-lloyd first, so that faiss knows how many iterations to run.
    names = ["sklearn-lloyd"] + [n for n in fits if n != "sklearn-lloyd"]
    times: dict[str, list[float]] = {n: [] for n in names}
    results: dict[str, tuple] = {}
    for round_ in range(repeats):
        order = names if round_ % 2 == 0 else ["sklearn-lloyd"] + names[:0:-1]
        for peer in order:
            start = time.perf_counter()
            results[peer] = fits[peer]()
            times[peer].append(time.perf_counter() - start)
    n = X.shape[0]
    chosen = resolve_algorithm(
        "auto",
        n,
        X.shape[1],
        k,
        itemsize=4,
        free=kernels.free_bytes(np, None),
        compiled=kernels.bounds_kernel(np, X) is not None,
        gpu=False,
    )
    fastest_peer = min(min(times[p]) for p in PEERS if p in times)
    best_inertia = min(r[0] for r in results.values())
    rows = []
    for peer in names:
        inertia, n_iter, evals = results[peer]
        row = {
            "problem": name,
            "n": n,
            "d": X.shape[1],
            "k": k,
            "peer": peer,
            "seconds": min(times[peer]),
            "all_seconds": times[peer],
            "ratio_vs_fastest_peer": min(times[peer]) / fastest_peer,
            "n_iter": int(n_iter),
            "inertia": float(inertia),
            "inertia_vs_best": float(inertia) / best_inertia - 1,
            "skipped": None if evals is None else 1 - evals / (n * k * n_iter),
        }
        if peer == "gkmeans-auto":
            row["auto_chose"] = chosen
        if peer.startswith("gkmeans-") and peer != "gkmeans-auto":
            row["peak_extra_mib"] = peak_extra_mib(fits[peer])
            row["x_mib"] = X.nbytes / 2**20
        rows.append(row)
        print(
            f"{name} k={k} {peer}: {row['seconds']:.3f} s, {n_iter} it, inertia {inertia:.6g}",
            flush=True,
        )
    return rows


def plot(
    rows: list[dict],
    path: str,
    peers: tuple[str, ...] = PEERS,
    ylabel: str = "time to convergence / fastest of sklearn lloyd, elkan, faiss",
    where: str = "",
) -> None:
    """Bars of '/ fastest peer' per problem for gkmeans' algorithms and ``peers``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = sorted({(r["problem"], r["k"]) for r in rows}, key=lambda c: (c[0], c[1]))
    names = [f"gkmeans-{a}" for a in GKMEANS_ALGORITHMS] + list(peers)
    fig, ax = plt.subplots(figsize=(12, 5))
    width = 0.8 / len(names)
    for i, peer in enumerate(names):
        values = []
        for case in cases:
            match = [r for r in rows if (r["problem"], r["k"]) == case and r["peer"] == peer]
            ratio = match[0].get("ratio_vs_fastest_peer") if match else None
            values.append(np.nan if ratio is None else ratio)
        ax.bar(np.arange(len(cases)) + i * width, values, width, label=peer)
    ax.axhline(0.5, color="black", linestyle="--", linewidth=1, label="target 0.5")
    ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
    ax.set_xticks(np.arange(len(cases)) + 0.4)
    ax.set_xticklabels([f"{p}\nk={k}" for p, k in cases], fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    ax.set_title(
        f"Bound-based exact k-means{where} (float32, same k-means++ start, best of repeats)"
    )
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


HEADERS = [
    "problem",
    "k",
    "peer",
    "seconds",
    "/ fastest peer",
    "iter",
    "inertia vs best",
    "skipped",
    "peak extra MiB (X MiB)",
]


def table(rows: list[dict]) -> str:
    """The report's Markdown table: one line a row; a row that did not run gives its status."""
    cells = []
    for r in rows:
        peer = r["peer"] + (f" ({r['auto_chose']})" if "auto_chose" in r else "")
        if "ran" in r:
            peer += f" (ran {r['ran']})"
        if r.get("arithmetic", "exact") != "exact":
            peer += f" [{r['arithmetic']}]"
        if r.get("seconds") is None:
            cells.append([r["problem"], str(r["k"]), peer, r["status"]] + [""] * 5)
            continue
        memory = f"{r['peak_extra_mib']:.1f} ({r['x_mib']:.1f})" if "peak_extra_mib" in r else ""
        skipped = "" if r["skipped"] is None else f"{r['skipped']:.1%}"
        ratio = r["ratio_vs_fastest_peer"]  # None: nothing to divide by (a GPU run's Lloyd failed)
        cells.append(
            [
                r["problem"],
                str(r["k"]),
                peer,
                f"{r['seconds']:.3f}",
                "" if ratio is None else f"{ratio:.2f}",
                str(r["n_iter"]),
                f"{r['inertia_vs_best']:+.2e}",
                skipped,
                memory,
            ]
        )
    return markdown_table(HEADERS, cells)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--blobs-n", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="two small problems, for a check")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument(
        "--device",
        choices=["cpu", "gpu"],
        default="cpu",
        help="gpu: gkmeans on CuPy arrays against the GPU peers (needs a CUDA GPU)",
    )
    parser.add_argument(
        "--gpu-large",
        type=int,
        default=10_000_000,
        help="--device gpu: rows of the large blobs (d = 32, k = 256); 0 leaves them out",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="--device gpu: start no new problem after this many seconds (reports say which)",
    )
    args = parser.parse_args(argv)
    command = "python -m benchmarks.bounds " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.device == "gpu":
        from benchmarks import bounds_gpu

        bounds_gpu.main(args, command.strip())
        return
    # Numba's compiled step loaded (and compiled) outside the timings.
    warm = np.random.default_rng(0).random((5000, 3)).astype(np.float32)
    for algorithm in ("hamerly", "elkan", "yinyang"):
        gkmeans.KMeans(40, algorithm=algorithm, random_state=0).fit(warm)
    rows: list[dict] = []
    for name, X, k in problems(args.blobs_n, args.quick):
        rows += run_problem(name, X, k, args.repeats)
    header = (
        f"# Bound-based exact k-means, {today()}\n\n`{command.strip()}` on {platform.node()} "
        f"({os.cpu_count()} CPUs, shared; float32; best of {args.repeats}, order "
        "alternating). "
        "Time to convergence from the same k-means++ start, default tol; '/ fastest peer' is the "
        "time over the fastest of scikit-learn lloyd, scikit-learn elkan and faiss in the same "
        "run; "
        "'skipped' is the share of Lloyd's n k n_iter distances not computed."
    )
    stem = f"bounds-{today()}"
    write_report(args.out, stem, header, table(rows), {"command": command, "rows": rows})
    plot(rows, os.path.join(args.out, f"{stem}.png"))


if __name__ == "__main__":
    main()
