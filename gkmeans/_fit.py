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

from . import _kernels as kernels
from ._compat import array_namespace, is_array_api_obj
from ._random import make_rng, run_generators
from ._validation import (
    as_array,
    check_array,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_n_clusters_vs_samples,
    check_sample_weight,
    inertia_overflow,
    squares_overflow,
)
from .device import Placement, resolve_placement
from .exceptions import ConvergenceWarning, InvalidParameterError, sklearn_compatible
from .init import AUTO_N_INIT, INIT_METHODS, InitData
from .lloyd import EMPTY_CLUSTER_POLICIES, LloydData, LloydResult, lloyd, warn_dropped_clusters

ALGORITHMS = ("lloyd", "elkan")


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


def is_explicit_init(init: Any) -> bool:
    """Whether ``init`` is an array-like of centres (not a method name or callable)."""
    return not isinstance(init, str) and not callable(init)


def check_init(init: Any) -> None:
    """``init`` must be a known method name, a callable or an array-like."""
    if isinstance(init, str):
        check_choice(init, "init", tuple(INIT_METHODS))
    elif not callable(init) and not is_array_api_obj(init) and not hasattr(init, "__len__"):
        msg = f"init={init!r} must be one of {tuple(INIT_METHODS)}, a callable or an array of shape (n_clusters, n_features)"
        raise InvalidParameterError(msg)


def resolve_n_init(n_init: Any, init: Any, estimator_name: str) -> int:
    """``n_init="auto"`` as scikit-learn: 1 for k-means++ and explicit centres, 10 otherwise.

    Explicit centres always give one run (with a RuntimeWarning if more were asked).
    """
    if isinstance(n_init, str):
        check_choice(n_init, "n_init", ("auto",))
        if isinstance(init, str):
            return AUTO_N_INIT[init]
        return 10 if callable(init) else 1
    n_init = check_int(n_init, "n_init", 1)
    if is_explicit_init(init) and n_init != 1:
        warnings.warn(
            f"Explicit initial center position passed: performing only one init in {estimator_name} "
            f"instead of n_init={n_init}.",
            RuntimeWarning,
            stacklevel=4,
        )
        return 1
    return n_init


def check_centers_shape(centers: Any, n_clusters: int, n_features: int) -> Any:
    """Validate initial centres (explicit or from a callable): finite, numeric, shape (n_clusters, n_features)."""
    centers, _ = check_array(centers, name="init", dtype=None)
    if centers.shape[0] != n_clusters:
        msg = (
            f"The shape of the initial centers {tuple(centers.shape)} does not match "
            f"the number of clusters {n_clusters}."
        )
        raise ValueError(msg)
    if centers.shape[1] != n_features:
        msg = (
            f"The shape of the initial centers {tuple(centers.shape)} does not match "
            f"the number of features of the data {n_features}."
        )
        raise ValueError(msg)
    return centers


def check_centers(centers: Any, n_clusters: int, n_features: int, dtype: Any, placement: Placement) -> Any:
    """Validate initial centres and move them to the compute device in ``dtype``."""
    centers = check_centers_shape(centers, n_clusters, n_features)
    xp = placement.xp
    return xp.astype(placement.to_compute(centers), dtype)


def _labels_are_relabelling(labels: Any, other: Any, xp: ModuleType) -> bool:
    """True when ``labels`` determines ``other`` (the same partition up to renaming)."""
    n_other = int(xp.max(other)) + 1
    pairs = labels * n_other + other
    return xp.unique_values(pairs).shape[0] == xp.unique_values(labels).shape[0]


def predict_labels(X: Any, centers: Any, xp: ModuleType) -> tuple[Any, Any]:
    """The predict rule: nearest centre with data and centres shifted by the centres' mean.

    ``fit`` uses it for the final labels, so ``labels_ == predict(X)`` holds exactly.
    """
    shift = kernels.column_mean(centers, xp=xp)
    return kernels.assign(X, centers - shift, xp=xp, shift=shift)


@dataclass(frozen=True)
class PreparedData:
    """Validated data on the compute device, with its weights, column mean and shifted row norms.

    ``X_dev`` is the data on the compute device. The algorithms see ``X_frame`` minus
    ``frame_shift``: X_dev and its mean (shifted block by block), or a copy of ``X_dev - mean``
    and None (small data, see :func:`prepare_data`). Either way the same rows.
    """

    placement: Placement
    xp: ModuleType
    X_dev: Any
    weights: Any
    weights_host: np.ndarray
    total_weight: float
    mean: Any
    x_sq_norms: Any
    X_frame: Any
    frame_shift: Any

    @property
    def init_data(self) -> InitData:
        return InitData(self.X_frame, self.x_sq_norms, self.weights, self.weights_host, self.xp,
                        shift=self.frame_shift)

    @property
    def lloyd_data(self) -> LloydData:
        return LloydData(self.X_frame, self.frame_shift, self.x_sq_norms, self.weights, self.weights_host, self.xp)


def prepare_data(X: Any, caller_xp: ModuleType, sample_weight: Any, n_clusters: int, device: Any,
                 placement: Placement | None = None, *, shifted_copy: bool = False) -> PreparedData:
    """Move validated X to the compute device, check the weights, and find the shift.

    The algorithms work on ``X - mean`` (the distance expansion cancels badly in
    float32 far from the origin): one block at a time, or, with ``shifted_copy`` and
    data small enough (:func:`gkmeans._kernels.shifted_copy_fits`), on a copy shifted
    once, which saves every pass a memory pass. The caller's array is never modified.
    ``placement``: where to compute, when the caller has already resolved it for ``device``.
    """
    n_samples, n_features = X.shape
    if placement is None:
        placement = resolve_placement(X, caller_xp, device, work=n_samples * n_features * n_clusters)
    xp = placement.xp
    X_dev = placement.to_compute(X)
    weights, weights_host = check_sample_weight(sample_weight, n_samples, xp, X_dev.dtype, X_dev.device)
    total_weight = float(weights_host.sum())
    # The plain column mean, as scikit-learn: only a shift, so weights need not enter,
    # and the same rounding as scikit-learn keeps float32 near-ties resolved alike.
    mean = kernels.column_mean(X_dev, xp=xp)
    X_frame, frame_shift = X_dev, mean
    if shifted_copy and kernels.shifted_copy_fits(X_dev, xp):
        X_frame, frame_shift = X_dev - mean, None
    x_sq_norms = kernels.row_sq_norms(X_frame, xp=xp, shift=frame_shift)
    if not bool(xp.all(xp.isfinite(x_sq_norms))):
        raise squares_overflow(X_dev.dtype)
    return PreparedData(placement, xp, X_dev, weights, weights_host, total_weight, mean, x_sq_norms, X_frame,
                        frame_shift)


def initial_centers(
    X: Any, n_clusters: int, init: Any, *, random_state: Any = None, sample_weight: Any = None, device: Any = None
) -> Any:
    """One set of starting centres by ``init``, in X's namespace and on its device."""
    n_clusters = check_int(n_clusters, "n_clusters", 1)
    check_init(init)
    X, caller_xp = check_array(X)
    check_n_clusters_vs_samples(n_clusters, X.shape[0])
    data = prepare_data(X, caller_xp, sample_weight, n_clusters, device, shifted_copy=True)
    start = _initialiser(init, X, n_clusters, data.mean, data.placement, data.X_dev.dtype)
    return data.placement.to_caller(start(data.init_data, make_rng(random_state)) + data.mean)


def fit_kmeans(
    X: Any,
    n_clusters: Any,
    *,
    sample_weight: Any = None,
    init: Any = "k-means++",
    n_init: Any = "auto",
    max_iter: Any = 300,
    tol: Any = 1e-4,
    verbose: Any = 0,
    random_state: Any = None,
    algorithm: str = "lloyd",
    device: str | None = None,
    empty_cluster: str = "relocate",
    estimator_name: str = "KMeans",
    progress: Callable[[int, int, int], None] | None = None,
    batch_restarts: Any = "auto",
    precision: str = "exact",
    copy_x: Any = True,
) -> KMeansFit:
    """Validate, place, and run ``n_init`` Lloyd runs; keep the lowest inertia.

    ``progress(run, iteration, max_iter)`` is called after every iteration when given.
    ``batch_restarts``: run the restarts together (:mod:`gkmeans.batched`); "auto" does
    so where :func:`batching_pays` says it pays. ``precision``: see :data:`gkmeans._kernels.PRECISIONS`.
    ``copy_x``: whether small data may be copied, shifted once (see :func:`prepare_data`).
    """
    check_choice(precision, "precision", kernels.PRECISIONS)
    copy_x = check_bool(copy_x, "copy_x")
    n_clusters = check_int(n_clusters, "n_clusters", 1)
    X_checked, caller_xp = check_array(X)
    check_n_clusters_vs_samples(n_clusters, X_checked.shape[0])
    placement = resolve_placement(X_checked, caller_xp, device,
                                  work=X_checked.shape[0] * X_checked.shape[1] * n_clusters)
    try:
        with kernels.matmul_precision(placement.xp, placement.device, _compute_dtype(X_checked, placement),
                                      precision) as effective:
            fit = _fit_kmeans(X_checked, caller_xp, n_clusters, sample_weight=sample_weight, init=init,
                              n_init=n_init, max_iter=max_iter, tol=tol, verbose=verbose, random_state=random_state,
                              algorithm=algorithm, placement=placement, empty_cluster=empty_cluster,
                              estimator_name=estimator_name, progress=progress, batch_restarts=batch_restarts,
                              copy_x=copy_x, rank_exactly=effective != "exact")
    finally:
        kernels.release_workspaces(placement.xp)
    return dataclasses.replace(fit, precision=effective)


def _compute_dtype(X: Any, placement: Placement) -> Any:
    """X's dtype in the compute namespace (float32 stays float32 across namespaces)."""
    xp = placement.xp
    return xp.float32 if X.dtype == array_namespace(X).float32 else xp.float64


def _fit_kmeans(
    X: Any,
    caller_xp: ModuleType,
    n_clusters: int,
    *,
    sample_weight: Any,
    init: Any,
    n_init: Any,
    max_iter: Any,
    tol: Any,
    verbose: Any,
    random_state: Any,
    algorithm: str,
    placement: Placement,
    empty_cluster: str,
    estimator_name: str,
    progress: Callable[[int, int, int], None] | None,
    batch_restarts: Any,
    copy_x: bool,
    rank_exactly: bool = False,
) -> KMeansFit:
    """:func:`fit_kmeans` after X is validated (and inside the precision context).

    ``rank_exactly``: rank the restarts by their exact inertia (one pass a run) rather than by
    the distances of their last assignment, which reduced precision rounds."""
    max_iter = check_int(max_iter, "max_iter", 1)
    tol = check_float(tol, "tol", 0.0)
    check_choice(algorithm, "algorithm", ALGORITHMS)
    check_choice(empty_cluster, "empty_cluster", EMPTY_CLUSTER_POLICIES)
    check_init(init)
    verbose = bool(check_int(int(verbose) if isinstance(verbose, bool) else verbose, "verbose", 0))
    if algorithm == "elkan" and n_clusters == 1:
        warnings.warn(
            "algorithm='elkan' doesn't make sense for a single cluster. Using 'lloyd' instead.",
            RuntimeWarning,
            stacklevel=3,
        )
    runs = resolve_n_init(n_init, init, estimator_name)
    rng = make_rng(random_state)
    data = prepare_data(X, caller_xp, sample_weight, n_clusters, None, placement=placement, shifted_copy=copy_x)
    xp = data.xp
    # tol is relative to the mean per-feature variance, as in scikit-learn; weighted, about the
    # weighted mean, so that integer weights stop where the repeated rows would.
    tol_abs = 0.0
    if tol > 0:
        uniform = bool(np.ptp(data.weights_host) == 0)
        spread = kernels.weighted_spread(data.X_frame, data.x_sq_norms, data.weights, data.total_weight, xp=xp,
                                         shift=data.frame_shift, uniform_weights=uniform)
        tol_abs = spread / (data.total_weight * X.shape[1]) * tol
    lloyd_data = data.lloyd_data
    start_centers = _initialiser(init, X, n_clusters, data.mean, data.placement, data.X_dev.dtype)
    batched = _use_batches(batch_restarts, runs, X.shape[0], n_clusters, empty_cluster, xp, data.X_dev.device)

    # Empty clusters re-drawn at random draw from a generator of their run's own, so that
    # sequential and batched restarts (whose starts are all drawn first) make the same draws.
    run_rngs = run_generators(rng, runs) if empty_cluster == "random" else [rng] * runs

    def one_run(run: int) -> LloydResult:
        centers = start_centers(data.init_data, rng)
        if verbose:
            print("Initialization complete")
        report = None if progress is None else (lambda iteration: progress(run, iteration, max_iter))
        return lloyd(lloyd_data, centers, max_iter=max_iter, tol=tol_abs, empty_cluster=empty_cluster,
                     rng=run_rngs[run], verbose=verbose, progress=report, score=runs > 1)

    if batched:
        results = iter(_batched_runs(data, start_centers, runs, max_iter, tol_abs, empty_cluster, rng, run_rngs,
                                     verbose, progress))
    else:
        results = (one_run(run) for run in range(runs))
    if rank_exactly and runs > 1:
        # TF32 / bf16 distances are off by about 1e-3 of the rows' squared norms, often more than
        # restarts differ by: the runs are ranked on their exact inertia instead.
        results = (dataclasses.replace(result, inertia=float(kernels.weighted_inertia(
            data.X_dev, result.centers + data.mean, result.labels, data.weights, xp=xp))) for result in results)
    best = next(results)
    for result in results:
        # As scikit-learn: a lower inertia for the same partition is rounding noise.
        if result.inertia < best.inertia and not _labels_are_relabelling(result.labels, best.labels, xp):
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
    return KMeansFit(
        centers=data.placement.to_caller(centers),
        labels=data.placement.to_caller(xp.astype(labels, xp.int32)),
        inertia=inertia,
        n_iter=best.n_iter,
        device=data.placement.name,
        n_init=runs,
    )


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


def _use_batches(batch_restarts: Any, runs: int, n_samples: int, n_clusters: int, empty_cluster: str,
                 xp: ModuleType, device: Any) -> bool:
    from .batched import BATCHABLE_POLICIES

    if isinstance(batch_restarts, str):
        check_choice(batch_restarts, "batch_restarts", ("auto",))
        return runs > 1 and empty_cluster in BATCHABLE_POLICIES and batching_pays(n_samples, n_clusters, xp, device)
    if not isinstance(batch_restarts, (bool, np.bool_)):
        raise InvalidParameterError(f"batch_restarts={batch_restarts!r} must be 'auto', True or False")
    if batch_restarts and empty_cluster not in BATCHABLE_POLICIES:
        msg = (f"batch_restarts=True cannot follow empty_cluster={empty_cluster!r} (a run would change its k); "
               f"use one of {BATCHABLE_POLICIES} or batch_restarts=False")
        raise InvalidParameterError(msg)
    return bool(batch_restarts) and runs > 1


def _batched_runs(data: PreparedData, start_centers: Callable[[InitData, np.random.Generator], Any], runs: int,
                  max_iter: int, tol: float, empty_cluster: str, rng: np.random.Generator,
                  run_rngs: list[np.random.Generator], verbose: bool,
                  progress: Callable[[int, int, int], None] | None) -> list[LloydResult]:
    """All restarts' starts drawn first (the same draws, in the same order, as sequential runs), then run
    together, each run's own draws (``run_rngs``) as in its sequential run."""
    from .batched import batched_lloyd

    xp = data.xp
    starts = xp.stack([start_centers(data.init_data, rng) for _ in range(runs)])
    if verbose:
        print("Initialization complete")
    report = None if progress is None else (lambda finished, iteration: progress(min(finished, runs - 1), iteration,
                                                                                  max_iter))
    return batched_lloyd(data.lloyd_data, starts, max_iter=max_iter, tol=tol, empty_cluster=empty_cluster,
                         rngs=run_rngs, verbose=verbose, progress=report)


def _initialiser(
    init: Any, X: Any, n_clusters: int, mean: Any, placement: Placement, dtype: Any
) -> Callable[[InitData, np.random.Generator], Any]:
    """A function giving one run's starting centres in the centred frame."""
    n_features = X.shape[1]
    if isinstance(init, str):
        method = INIT_METHODS[init]
        return lambda data, rng: method(data, n_clusters, rng)
    if callable(init):
        def from_callable(data: InitData, rng: np.random.Generator) -> Any:
            centers = init(X, n_clusters, random_state=rng)
            return check_centers(centers, n_clusters, n_features, dtype, placement) - mean

        return from_callable
    explicit = check_centers(as_array(init, "init")[0], n_clusters, n_features, dtype, placement) - mean
    return lambda data, rng: explicit
