"""The fit pipeline shared by ``KMeans.fit`` and ``k_means``.

caller's array -> validation -> placement on a device -> centring -> n_init x
(initialisation -> Lloyd) -> best run -> labels by the predict rule -> results
back in the caller's namespace and on the caller's device.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

import numpy as np

from gkmeans import _kernels as kernels
from gkmeans._compat import array_namespace, to_numpy
from gkmeans._random import make_rng, run_generators
from gkmeans._sparse import is_sparse_rows
from gkmeans._validation import (
    as_array,
    check_array,
    check_int,
    check_n_clusters_vs_samples,
    inertia_overflow,
)
from gkmeans.algorithms import batched_restarts
from gkmeans.algorithms.batched_restarts import BATCHABLE_POLICIES
from gkmeans.algorithms.bounds_choice import BOUND_ALGORITHMS, resolve_algorithm
from gkmeans.algorithms.empty_clusters import warn_dropped_clusters
from gkmeans.algorithms.history import FitHistory, Trace, host_copies
from gkmeans.algorithms.init import InitData
from gkmeans.algorithms.init_methods import INIT_METHODS
from gkmeans.algorithms.lloyd import LloydResult, lloyd
from gkmeans.algorithms.predict_rule import predict_labels
from gkmeans.device import Placement, resolve_placement
from gkmeans.exceptions import ConvergenceWarning, sklearn_compatible
from gkmeans.pipelines.params import KMeansParams, check_centers_shape, check_init
from gkmeans.pipelines.prepared import PreparedData, prepare_data


@dataclass(frozen=True)
class KMeansFit:
    """A finished fit, in the caller's namespace and on the caller's device."""

    centers: Any
    labels: Any
    inertia: float
    n_iter: int
    device: str
    n_init: int
    precision: str = "exact"
    history: FitHistory | None = None
    #: Distances computed by the kept run (None: n_samples * n_clusters * n_iter, Lloyd's).
    n_distance_evals: int | None = None


def check_centers(
    centers: Any, n_clusters: int, n_features: int, dtype: Any, placement: Placement
) -> Any:
    """Validate initial centres and move them to the compute device in ``dtype``."""
    centers = check_centers_shape(centers, n_clusters, n_features)
    xp = placement.xp
    return xp.astype(placement.to_compute(centers), dtype)


def _labels_are_relabelling(labels: Any, other: Any, xp: ModuleType) -> bool:
    """True when ``labels`` determines ``other`` (the same partition up to renaming)."""
    n_other = int(xp.max(other)) + 1
    pairs = labels * n_other + other
    return xp.unique_values(pairs).shape[0] == xp.unique_values(labels).shape[0]


def initial_centers(
    X: Any,
    n_clusters: int,
    init: Any,
    *,
    random_state: Any = None,
    sample_weight: Any = None,
    device: Any = None,
) -> Any:
    """One set of starting centres by ``init``, in X's namespace and on its device."""
    n_clusters = check_int(n_clusters, "n_clusters", 1)
    check_init(init)
    X, caller_xp = check_array(X, sparse=True)
    check_n_clusters_vs_samples(n_clusters, X.shape[0])
    data = prepare_data(X, caller_xp, sample_weight, n_clusters, device, shifted_copy=True)
    start = initialiser(init, X, n_clusters, data.mean, data.placement, data.X_dev.dtype)
    return data.placement.to_caller(start(data.init_data, make_rng(random_state)) + data.mean)


def fit_kmeans(
    X: Any,
    params: KMeansParams,
    *,
    sample_weight: Any = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> KMeansFit:
    """Validate X, place it, and run ``params.n_init`` Lloyd runs; keep the lowest inertia.

    ``progress(run, iteration, max_iter)`` is called after every iteration when given.
    ``params.batch_restarts``: run the restarts together
    (:mod:`gkmeans.algorithms.batched_restarts`); "auto" does so where :func:`batching_pays` says it
    pays. ``params.copy_x``: whether small data may be copied, shifted once (see
    :func:`gkmeans.pipelines.prepared.prepare_data`).
    """
    X_checked, caller_xp = check_array(X, sparse=True)
    check_n_clusters_vs_samples(params.n_clusters, X_checked.shape[0])
    work = X_checked.shape[0] * X_checked.shape[1] * params.n_clusters
    placement = resolve_placement(X_checked, caller_xp, params.device, work=work)
    try:
        dtype = compute_dtype(X_checked, placement)
        with (
            kernels.fit_scope(placement.xp, placement.device),
            kernels.matmul_precision(
                placement.xp, placement.device, dtype, params.precision
            ) as effective,
        ):
            fit = _fit_placed(
                X_checked,
                caller_xp,
                params,
                placement,
                sample_weight=sample_weight,
                progress=progress,
                rank_exactly=effective != "exact",
            )
    finally:
        kernels.release_workspaces(placement.xp)
    return dataclasses.replace(fit, precision=effective)


def compute_dtype(X: Any, placement: Placement) -> Any:
    """X's dtype in the compute namespace (float32 stays float32 across namespaces)."""
    xp = placement.xp
    return xp.float32 if X.dtype == array_namespace(X).float32 else xp.float64


def _fit_placed(
    X: Any,
    caller_xp: ModuleType,
    params: KMeansParams,
    placement: Placement,
    *,
    sample_weight: Any,
    progress: Callable[[int, int, int], None] | None,
    rank_exactly: bool = False,
) -> KMeansFit:
    """:func:`fit_kmeans` after X is validated and placed (and inside the precision context).

    ``rank_exactly``: rank the restarts by their exact inertia (one pass a run) rather than by
    the distances of their last assignment, which reduced precision rounds."""
    n_clusters, max_iter, tol = params.n_clusters, params.max_iter, params.tol
    empty_cluster, verbose, runs = params.empty_cluster, params.verbose, params.n_init
    rng = make_rng(params.random_state)
    data = prepare_data(
        X,
        caller_xp,
        sample_weight,
        n_clusters,
        None,
        placement=placement,
        shifted_copy=params.copy_x,
    )
    xp = data.xp
    # tol is relative to the mean per-feature variance, as in scikit-learn; weighted, about the
    # weighted mean, so that integer weights stop where the repeated rows would.
    tol_abs = 0.0
    if tol > 0:
        uniform = bool(np.ptp(data.weights_host) == 0) and data.centred
        spread = kernels.weighted_spread(
            data.X_frame,
            data.x_sq_norms,
            data.weights,
            data.total_weight,
            xp=xp,
            shift=data.frame_shift,
            uniform_weights=uniform,
        )
        tol_abs = spread / (data.total_weight * X.shape[1]) * tol
    lloyd_data = data.lloyd_data
    start_centers = initialiser(
        params.init, X, n_clusters, data.mean, data.placement, data.X_dev.dtype
    )
    batched = _use_batches(
        params.batch_restarts, runs, X.shape[0], n_clusters, empty_cluster, xp, data.X_dev.device
    )

    run_lloyd = lloyd if batched or rank_exactly else _bounded_or_lloyd(params, data)
    # Empty clusters re-drawn at random draw from a generator of their run's own, so that
    # sequential and batched restarts (whose starts are all drawn first) make the same draws.
    run_rngs = run_generators(rng, runs) if empty_cluster == "random" else [rng] * runs

    def one_run(run: int) -> LloydResult:
        centers = start_centers(data.init_data, rng)
        trace = Trace.of(xp, centers) if params.history else None
        if verbose:
            print("Initialization complete")
        report = (
            None if progress is None else (lambda iteration: progress(run, iteration, max_iter))
        )
        return run_lloyd(
            lloyd_data,
            centers,
            max_iter=max_iter,
            tol=tol_abs,
            empty_cluster=empty_cluster,
            rng=run_rngs[run],
            verbose=verbose,
            progress=report,
            score=runs > 1,
            trace=trace,
        )

    if batched:
        results = iter(
            _batched_runs(
                data,
                start_centers,
                runs,
                max_iter,
                tol_abs,
                empty_cluster,
                rng,
                run_rngs,
                verbose,
                progress,
                params.history,
            )
        )
    else:
        results = (one_run(run) for run in range(runs))
    if rank_exactly and runs > 1:
        # TF32 / bf16 distances are off by about 1e-3 of the rows' squared norms, often more than
        # restarts differ by: the runs are ranked on their exact inertia instead.
        results = (
            dataclasses.replace(
                result,
                inertia=float(
                    kernels.weighted_inertia(
                        data.X_dev, result.centers + data.mean, result.labels, data.weights, xp=xp
                    )
                ),
            )
            for result in results
        )
    best = next(results)
    for result in results:
        # As scikit-learn: a lower inertia for the same partition is rounding noise.
        if result.inertia < best.inertia and not _labels_are_relabelling(
            result.labels, best.labels, xp
        ):
            best = result

    centers = best.centers + data.mean
    labels, _ = predict_labels(data.X_dev, centers, xp)
    inertia = float(kernels.weighted_inertia(data.X_dev, centers, labels, data.weights, xp=xp))
    if not math.isfinite(inertia):
        raise inertia_overflow(inertia, data.X_dev.dtype)
    n_found = centers.shape[0]
    warn_dropped_clusters(n_clusters, n_found, stacklevel=3)
    distinct = kernels.distinct_labels(labels, n_found, xp=xp)
    if distinct < n_found:
        warnings.warn(
            f"Number of distinct clusters ({distinct}) found smaller than n_clusters ({n_found}). "
            "Possibly due to duplicate points in X.",
            sklearn_compatible(ConvergenceWarning),
            stacklevel=3,
        )
    labels = xp.astype(labels, xp.int32)
    history = None
    if best.trace is not None:
        history = best.trace.finish(to_numpy(data.mean), to_numpy(labels), inertia)
    return KMeansFit(
        centers=data.placement.to_caller(centers),
        labels=data.placement.to_caller(labels),
        inertia=inertia,
        n_iter=best.n_iter,
        device=data.placement.name,
        n_init=runs,
        history=history,
        n_distance_evals=getattr(best, "n_distance_evals", None),
    )


def _bounded_or_lloyd(params: KMeansParams, data: PreparedData) -> Callable[..., LloydResult]:
    """The run for ``params.algorithm`` (:func:`resolve_algorithm`): Lloyd, or a bound-based
    algorithm with Lloyd's options and labels. Batched restarts and reduced-precision products
    (whose rounding the bounds' margin does not cover) always run Lloyd, and so do sparse rows
    (the bounds' steps are dense kernels; Lloyd gives the same labels)."""
    xp, X = data.xp, data.X_dev
    if is_sparse_rows(X):
        if params.verbose and params.algorithm not in ("auto", "lloyd"):
            print(f"algorithm={params.algorithm!r}: running 'lloyd' (sparse input)")
        return lloyd
    chosen = resolve_algorithm(
        params.algorithm,
        X.shape[0],
        X.shape[1],
        params.n_clusters,
        itemsize=xp.finfo(X.dtype).bits // 8,
        free=kernels.free_bytes(xp, X.device),
        compiled=kernels.bounds_kernel(xp, X) is not None,
        gpu=kernels.on_gpu(xp, X.device),
    )
    if params.verbose:
        print(f"algorithm={params.algorithm!r}: running {chosen!r}")
    return BOUND_ALGORITHMS.get(chosen, lloyd)


#: On NumPy, batched restarts pay only while one run's pass is so small (n_samples *
#: n_clusters at most this) that per-call overhead outweighs the work; above it the fused,
#: threaded single-run pass wins (``python -m benchmarks restarts``, float32: at n=300, k=3,
#: 100-1,000 runs batched is 3.7-5.4x faster; at n=10,000 1.2-1.5x, but 0.7-0.9x in float64;
#: at n=100,000, k=64 0.41x). The threshold keeps "auto" where batching won in both dtypes.
CPU_BATCH_MAX_WORK = 20_000


def batching_pays(n_samples: int, n_clusters: int, xp: ModuleType, device: Any) -> bool:
    """Whether batched restarts beat sequential ones here (see :data:`CPU_BATCH_MAX_WORK`)."""
    if kernels.on_gpu(xp, device):
        # One wide product instead of n_init narrow ones and one host synchronisation per
        # iteration for all runs: what a GPU wants (not yet measured on one).
        return True
    return n_samples * n_clusters <= CPU_BATCH_MAX_WORK


def _use_batches(
    batch_restarts: Any,
    runs: int,
    n_samples: int,
    n_clusters: int,
    empty_cluster: str,
    xp: ModuleType,
    device: Any,
) -> bool:
    """Whether to run the restarts together (``batch_restarts`` is checked: "auto", True or
    False)."""
    if isinstance(batch_restarts, str):
        return (
            runs > 1
            and empty_cluster in BATCHABLE_POLICIES
            and batching_pays(n_samples, n_clusters, xp, device)
        )
    return batch_restarts and runs > 1


def _batched_runs(
    data: PreparedData,
    start_centers: Callable[[InitData, np.random.Generator], Any],
    runs: int,
    max_iter: int,
    tol: float,
    empty_cluster: str,
    rng: np.random.Generator,
    run_rngs: list[np.random.Generator],
    verbose: bool,
    progress: Callable[[int, int, int], None] | None,
    history: bool = False,
) -> list[LloydResult]:
    """All restarts' starts drawn first (the same draws, in the same order, as sequential runs),
    then run together, each run's own draws (``run_rngs``) as in its sequential run; with
    ``history``, each run's trace kept."""
    xp = data.xp
    starts = xp.stack([start_centers(data.init_data, rng) for _ in range(runs)])
    traces = [Trace(start) for start in host_copies(xp, starts)[0]] if history else None
    if verbose:
        print("Initialization complete")
    report = (
        None
        if progress is None
        else (lambda finished, iteration: progress(min(finished, runs - 1), iteration, max_iter))
    )
    return batched_restarts.batched_lloyd(
        data.lloyd_data,
        starts,
        max_iter=max_iter,
        tol=tol,
        empty_cluster=empty_cluster,
        rngs=run_rngs,
        verbose=verbose,
        progress=report,
        traces=traces,
    )


def initialiser(
    init: Any, X: Any, n_clusters: int, mean: Any, placement: Placement, dtype: Any
) -> Callable[[InitData, np.random.Generator], Any]:
    """A function giving one run's starting centres in the centred frame."""
    n_features = X.shape[1]
    if isinstance(init, str):
        method = INIT_METHODS[init]
        return lambda data, rng: method(data, n_clusters, rng)
    if callable(init):

        def from_callable(data: InitData, rng: np.random.Generator) -> Any:
            centers = init(getattr(X, "source", X), n_clusters, random_state=rng)
            return check_centers(centers, n_clusters, n_features, dtype, placement) - mean

        return from_callable
    explicit = (
        check_centers(as_array(init, "init")[0], n_clusters, n_features, dtype, placement) - mean
    )
    return lambda data, rng: explicit
