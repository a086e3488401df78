"""What ``gkmeans.accel`` adds to a call: the dispatch overhead, against a 1 ms target.

Usage::

    python -m benchmarks.accel_overhead [--repeats 30] [--out benchmarks/results]

Rows (medians of ``--repeats`` interleaved calls in random order, so both sides see the same
machine):

- decision: deciding whether a ``KMeans.fit`` call is accelerated and counting it (the part
  every call pays), per call;
- accelerated fit: ``sklearn.cluster.KMeans.fit`` under accel against ``gkmeans.k_means`` on
  the same data and explicit starting centres (the difference is what accel adds: scikit-learn's
  validation and centring, the fitted attributes);
- fallback fit / fallback partial_fit: a call accel leaves to scikit-learn (SciPy sparse X)
  against scikit-learn's own class;
- MiniBatchKMeans (decision, ``partial_fit`` of 256 rows, a whole ``fit``) and
  ``kmeans_plusplus`` under accel against scikit-learn's own, the same draws on both sides
  (the difference is what accel adds plus gkmeans' arithmetic against scikit-learn's);
- end to end: a default ``KMeans(k, random_state=0).fit`` and a ``MiniBatchKMeans`` fit of
  100,000 x 32 with scikit-learn and under accel (same labels checked), for scale.

Writes ``<out>/accel-overhead-<date>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any, Callable

import numpy as np

import gkmeans
from benchmarks.report import markdown_table, today, write_report

#: The 1 ms dispatch target of issue 21.
TARGET_MS = 1.0
#: The small problem of the overhead rows: (n, d, k); small, so the overhead is not hidden.
SMALL = (1000, 8, 8)
#: The end-to-end problem.
LARGE = (20_000, 16, 32)
#: The end-to-end MiniBatchKMeans problem.
MINIBATCH_LARGE = (100_000, 32, 64)


def _median_ms(calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median milliseconds of each call, the calls interleaved in a random order ``repeats`` times
    after a warm-up."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        call()
    order = np.random.default_rng(0)
    names = list(calls)
    for _ in range(repeats):
        for index in order.permutation(len(names)):  # no call always first or last
            name, call = names[index], calls[names[index]]
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * float(np.median(values)) for name, values in times.items()}


def measure(repeats: int) -> list[dict[str, Any]]:
    """Every row of the table (accel is installed and uninstalled here)."""
    import scipy.sparse
    import sklearn
    import sklearn.cluster as sk
    from threadpoolctl import threadpool_limits

    import gkmeans.accel
    from gkmeans.accel import _estimators, _report, _rules

    original_kmeans, original_minibatch = sk.KMeans, sk.MiniBatchKMeans
    gkmeans.accel.install()
    # One OpenMP / BLAS thread for the overhead rows: idle OpenMP threads spinning after a
    # scikit-learn call otherwise steal the next call's cores on a small shared machine.
    limits = threadpool_limits(limits=1)
    try:
        rng = np.random.default_rng(0)
        n, d, k = SMALL
        X = rng.standard_normal((n, d)) + 3
        starts = X[rng.choice(n, k, replace=False)].copy()
        accel_model = sk.KMeans(k, init=starts, n_init=1, max_iter=10, tol=0)
        rows = []

        decision_calls = 1000

        def decide() -> None:
            for _ in range(decision_calls):
                _report.record(
                    "benchmark", _rules.kmeans_fit_reason(accel_model, X, sklearn.__version__)
                )

        ms = _median_ms({"decide": decide}, repeats)["decide"] / decision_calls
        rows.append(
            {"row": "decision (per call)", "accel_ms": ms, "reference_ms": 0.0, "overhead_ms": ms}
        )

        ms = _median_ms(
            {
                "accel": lambda: accel_model.fit(X),
                "gkmeans": lambda: gkmeans.k_means(X, k, init=starts, n_init=1, max_iter=10, tol=0),
            },
            repeats,
        )
        rows.append(
            {
                "row": f"accelerated fit, n={n} d={d} k={k}, 10 iterations",
                "accel_ms": ms["accel"],
                "reference_ms": ms["gkmeans"],
                "overhead_ms": ms["accel"] - ms["gkmeans"],
                "reference": "gkmeans.k_means",
            }
        )

        def stub(X: Any, n_clusters: int, *, init: Any, **kwargs: Any) -> tuple:
            return init(X, n_clusters), np.zeros(X.shape[0], np.int32), 0.0, 1

        lloyd = _estimators.gkmeans_k_means
        _estimators.gkmeans_k_means = stub  # everything accel does but gkmeans' own fit
        try:
            ms = _median_ms({"around": lambda: accel_model.fit(X)}, repeats)["around"]
        finally:
            _estimators.gkmeans_k_means = lloyd
        rows.append(
            {
                "row": "accelerated fit without gkmeans' fit (scikit-learn's validation, "
                "centring, starts; the attributes)",
                "accel_ms": ms,
                "reference_ms": 0.0,
                "overhead_ms": ms,
            }
        )

        sparse = scipy.sparse.csr_matrix(X)
        ms = _median_ms(
            {
                "accel": lambda: sk.KMeans(k, init=starts, n_init=1, max_iter=10, tol=0).fit(
                    sparse
                ),
                "sklearn": lambda: original_kmeans(
                    k, init=starts, n_init=1, max_iter=10, tol=0
                ).fit(sparse),
            },
            repeats,
        )
        rows.append(
            {
                "row": "fallback fit (SciPy sparse X)",
                "accel_ms": ms["accel"],
                "reference_ms": ms["sklearn"],
                "overhead_ms": ms["accel"] - ms["sklearn"],
                "reference": "scikit-learn",
            }
        )

        def versus_sklearn(label: str, accel: Callable, sklearn_: Callable, **extra: Any) -> None:
            ms = _median_ms({"accel": accel, "sklearn": sklearn_}, repeats)
            rows.append(
                {
                    "row": label,
                    "accel_ms": ms["accel"],
                    "reference_ms": ms["sklearn"],
                    "overhead_ms": ms["accel"] - ms["sklearn"],
                    "reference": "scikit-learn",
                    **extra,
                }
            )

        mb_params = {"batch_size": 256, "random_state": 0, "n_init": 1}
        mb_model = sk.MiniBatchKMeans(k, **mb_params)

        def decide_minibatch() -> None:
            for _ in range(decision_calls):
                _report.record(
                    "benchmark", _rules.minibatch_reason(mb_model, X, sklearn.__version__)
                )

        ms = _median_ms({"decide": decide_minibatch}, repeats)["decide"] / decision_calls
        rows.append(
            {
                "row": "decision (per call), MiniBatchKMeans",
                "accel_ms": ms,
                "reference_ms": 0.0,
                "overhead_ms": ms,
            }
        )

        ours = sk.MiniBatchKMeans(k, **mb_params)
        theirs = original_minibatch(k, **mb_params)
        batch = X[:256]
        versus_sklearn(
            "accelerated MiniBatchKMeans.partial_fit (256 rows)",
            lambda: ours.partial_fit(batch),
            lambda: theirs.partial_fit(batch),
        )
        fitted = {}

        def mb_fit(name: str, cls: type) -> Callable[[], None]:
            return lambda: fitted.__setitem__(name, cls(k, **mb_params).fit(X))

        def same_fits(row: dict[str, Any]) -> None:
            same = fitted["accel"].n_steps_ == fitted["sklearn"].n_steps_ and bool(
                np.array_equal(fitted["accel"].labels_, fitted["sklearn"].labels_)
            )
            steps = fitted["sklearn"].n_steps_
            row["row"] += f" ({steps} steps; same steps and labels: {'yes' if same else 'NO'})"
            row["same_labels"] = same

        versus_sklearn(
            f"MiniBatchKMeans.fit, n={n} d={d} k={k}, batch 256",
            mb_fit("accel", sk.MiniBatchKMeans),
            mb_fit("sklearn", original_minibatch),
            speed=True,
        )
        same_fits(rows[-1])
        original_plusplus = _estimators.ORIGINAL_KMEANS_PLUSPLUS
        versus_sklearn(
            f"accelerated kmeans_plusplus, n={n} d={d} k={k}",
            lambda: sk.kmeans_plusplus(X, k, random_state=0),
            lambda: original_plusplus(X, k, random_state=0),
        )
        sparse_batch = scipy.sparse.csr_matrix(batch)
        ours_sparse = sk.MiniBatchKMeans(k, **mb_params)
        theirs_sparse = original_minibatch(k, **mb_params)
        versus_sklearn(
            "fallback MiniBatchKMeans.partial_fit (256 rows, SciPy sparse)",
            lambda: ours_sparse.partial_fit(sparse_batch),
            lambda: theirs_sparse.partial_fit(sparse_batch),
        )

        limits.restore_original_limits()
        n, d, k = LARGE
        X = rng.standard_normal((n, d)) + rng.integers(0, 8, (n, 1)) * 3.0
        models: dict[str, Any] = {}

        def fit(name: str, cls: type) -> Callable[[], None]:
            return lambda: models.__setitem__(name, cls(k, random_state=0).fit(X))

        ms = _median_ms(
            {"accel": fit("accel", sk.KMeans), "sklearn": fit("sklearn", original_kmeans)},
            max(3, repeats // 10),
        )
        same = bool(np.array_equal(models["accel"].labels_, models["sklearn"].labels_))
        rows.append(
            {
                "row": f"end to end, n={n} d={d} k={k}, k-means++ "
                f"(same labels: {'yes' if same else 'NO'})",
                "accel_ms": ms["accel"],
                "reference_ms": ms["sklearn"],
                "overhead_ms": ms["accel"] - ms["sklearn"],
                "reference": "scikit-learn",
                "same_labels": same,
                "speed": True,
            }
        )
        n, d, k = MINIBATCH_LARGE
        X = rng.standard_normal((n, d)) + rng.integers(0, 20, (n, 1)) * 0.5 - 5
        big = {"batch_size": 1024, "random_state": 0}
        fitted.clear()

        def big_fit(name: str, cls: type) -> Callable[[], None]:
            return lambda: fitted.__setitem__(name, cls(k, **big).fit(X))

        ms = _median_ms(
            {
                "accel": big_fit("accel", sk.MiniBatchKMeans),
                "sklearn": big_fit("sklearn", original_minibatch),
            },
            max(3, repeats // 10),
        )
        rows.append(
            {
                "row": f"end to end, MiniBatchKMeans n={n} d={d} k={k}, batch 1024",
                "accel_ms": ms["accel"],
                "reference_ms": ms["sklearn"],
                "overhead_ms": ms["accel"] - ms["sklearn"],
                "reference": "scikit-learn",
                "speed": True,
            }
        )
        same_fits(rows[-1])
    finally:
        limits.restore_original_limits()
        gkmeans.accel.uninstall()
        _report.reset()
    assert sk.KMeans is original_kmeans and _estimators.ORIGINAL_KMEANS is original_kmeans
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]  # on a shared machine, the other users' load skews the rows
    rows = measure(args.repeats)
    table = markdown_table(
        ["call", "accel ms", "reference", "reference ms", "accel - reference, ms", "within 1 ms"],
        [
            [
                r["row"],
                f"{r['accel_ms']:.1f}" if r.get("speed") else f"{r['accel_ms']:.3f}",
                r.get("reference", "-"),
                f"{r['reference_ms']:.1f}" if r.get("speed") else f"{r['reference_ms']:.3f}",
                f"{r['overhead_ms']:+.1f}" if r.get("speed") else f"{r['overhead_ms']:+.3f}",
                "n/a (speed, not dispatch)"
                if r.get("speed")
                else ("yes" if r["overhead_ms"] <= TARGET_MS else "no"),
            ]
            for r in rows
        ],
    )
    date = today()
    header = (
        f"# gkmeans.accel overhead\n\nCPU, {os.cpu_count()} cores (1-minute load average "
        f"{load:.1f} at the start), {date}; medians of "
        f"{args.repeats} calls interleaved in random order; "
        "`python -m benchmarks.accel_overhead`. Target: at most "
        f"{TARGET_MS:g} ms of dispatch per call. The small fits time {SMALL[0]} x {SMALL[1]} "
        f"data, k={SMALL[2]}, 10 Lloyd iterations from explicit starts. The accelerated-fit "
        "overhead includes scikit-learn's own validation, centring and fitted attributes, which "
        "its own fit also pays. The MiniBatchKMeans and kmeans_plusplus rows make the same draws "
        "on both sides (same steps and labels checked); a mini-batch fit is a speed row: its "
        "difference is gkmeans' steps against scikit-learn's, not dispatch. The overhead rows "
        "run with one OpenMP/BLAS thread (threadpoolctl), the end-to-end rows with the default "
        "threads."
    )
    write_report(
        args.out,
        f"accel-overhead-{date}",
        header,
        table,
        {
            "meta": {
                "date": date,
                "gkmeans": gkmeans.__version__,
                "repeats": args.repeats,
                "cpu_count": os.cpu_count(),
                "load_average": load,
                "target_ms": TARGET_MS,
            },
            "rows": rows,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
