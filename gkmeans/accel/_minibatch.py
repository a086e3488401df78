"""scikit-learn's ``MiniBatchKMeans.fit`` and ``partial_fit`` with gkmeans doing the arithmetic.

Each function follows scikit-learn's method (1.9) line by line: its validation, its starting
centres (drawn by its own ``_init_centroids``), its choice of the best start, and every draw from
its ``RandomState`` in its order: the validation rows, each start's rows, each batch's rows
(``choice(n, batch_size, p=..., replace=True)``, reproduced as ``RandomState.choice`` computes it,
without its O(n) cumulative sum at every step) and each reassignment's rows (the
``RandomState`` itself is handed to :func:`gkmeans.algorithms.minibatch.minibatch_step` as its
generator: it calls ``choice(batch_size, size=n, replace=False)`` as scikit-learn does). gkmeans
assigns the batches, moves the centres and labels the data, on its device.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.cluster._kmeans import _labels_inertia_threadpool_limit
from sklearn.utils import check_random_state
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from sklearn.utils.extmath import row_norms
from sklearn.utils.validation import (
    _check_sample_weight,
    _is_arraylike_not_scalar,
    check_array,
    validate_data,
)

from gkmeans import _kernels as kernels
from gkmeans.accel._rules import uncentred_reason
from gkmeans.algorithms.minibatch import (
    MiniBatchState,
    minibatch_loop,
    minibatch_step,
)
from gkmeans.algorithms.predict_rule import predict_labels
from gkmeans.device import Placement, resolve_placement


def _spaced(X: np.ndarray, rows: int = 10_000) -> np.ndarray:
    """At most about ``rows`` evenly spaced rows of X (a view: no copy, no random draw)."""
    return X[:: max(1, X.shape[0] // rows)]


def _validated(estimator: Any, X: Any, reset: bool = True) -> Any:
    return validate_data(
        estimator,
        X,
        accept_sparse="csr",
        dtype=[np.float64, np.float32],
        order="C",
        accept_large_sparse=False,
        reset=reset,
    )


def _checked_init(estimator: Any, X: Any) -> Any:
    init = estimator.init
    if _is_arraylike_not_scalar(init):
        init = check_array(init, dtype=X.dtype, copy=True, order="C")
        estimator._validate_center_shape(X, init)
    return init


def batch_cdf(sample_weight: np.ndarray) -> np.ndarray | None:
    """The cumulative distribution ``RandomState.choice(n, size, p=p)`` builds from scikit-learn's
    ``p = sample_weight / sum(sample_weight)`` (computed in X's dtype, then as float64, as
    ``choice`` converts it), or None when ``choice`` would refuse ``p`` (scikit-learn's error
    is then raised by scikit-learn's own fit)."""
    p = sample_weight / np.sum(sample_weight)
    try:  # choice's own checks of p, on a throwaway stream
        np.random.RandomState(0).choice(p.shape[0], 1, p=p, replace=True)
    except ValueError:
        return None
    cdf = np.asarray(p, dtype=np.float64).cumsum()
    cdf /= cdf[-1]
    return cdf


def draw_batch(random_state: np.random.RandomState, cdf: np.ndarray, size: int) -> np.ndarray:
    """``random_state.choice(len(cdf), size, p=p, replace=True)`` for ``cdf = batch_cdf(...)``:
    numpy's legacy ``choice`` draws ``random_sample(size)`` and searches its cumulative sum."""
    return np.asarray(cdf.searchsorted(random_state.random_sample(size), side="right"), np.int64)


def _placed(X: np.ndarray, n_clusters: int) -> tuple[Placement, Any]:
    placement = resolve_placement(X, np, None, work=X.shape[0] * X.shape[1] * n_clusters)
    return placement, placement.to_compute(X)


def _state(
    placement: Placement, centers: np.ndarray, counts: np.ndarray, batch_size: int, since: int
) -> MiniBatchState:
    xp = placement.xp
    centers_dev = placement.to_compute(np.ascontiguousarray(centers))
    acc = kernels.accumulator_dtype(xp, centers_dev.device)
    counts_dev = xp.astype(placement.to_compute(counts), acc)
    return MiniBatchState(
        centers_dev, counts_dev, batch_size=batch_size, n_since_last_reassign=since
    )


def _to_host(placement: Placement, x: Any, dtype: Any) -> np.ndarray:
    return np.asarray(kernels.to_host(x), dtype=dtype)


def _label(
    estimator: Any, placement: Placement, X_dev: Any, centers_dev: Any, sample_weight: np.ndarray
) -> None:
    """``labels_`` and ``inertia_`` of the data, computed by gkmeans."""
    xp = placement.xp
    labels, _ = predict_labels(X_dev, centers_dev, xp)
    weights = placement.to_compute(sample_weight)
    inertia = kernels.weighted_inertia(X_dev, centers_dev, labels, weights, xp=xp)
    estimator.labels_ = _to_host(placement, labels, np.int32)
    estimator.inertia_ = float(inertia)


def fit(estimator: Any, X: Any, sample_weight: Any) -> str | None:
    """scikit-learn's ``MiniBatchKMeans.fit`` on gkmeans; sets the fitted attributes and returns
    None, or returns why scikit-learn must fit instead (before anything is drawn)."""
    X = _validated(estimator, X)
    estimator._check_params_vs_input(X)
    random_state = check_random_state(estimator.random_state)
    sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
    estimator._n_threads = _openmp_effective_n_threads()
    n_samples = X.shape[0]
    k, batch_size = estimator.n_clusters, estimator._batch_size
    reason = uncentred_reason(X, float32_too=True)
    if reason is not None:
        return reason
    cdf = batch_cdf(sample_weight)
    if cdf is None:
        return "scikit-learn's batch draws refuse these sample weights"
    init = _checked_init(estimator, X)
    estimator._check_mkl_vcomp(X, batch_size)
    x_squared_norms = row_norms(X, squared=True)
    validation = random_state.randint(0, n_samples, estimator._init_size)
    X_valid, w_valid = X[validation], sample_weight[validation]
    best, best_inertia = None, None
    for _ in range(estimator._n_init):
        centers = estimator._init_centroids(
            X,
            x_squared_norms=x_squared_norms,
            init=init,
            random_state=random_state,
            init_size=estimator._init_size,
            sample_weight=sample_weight,
        )
        _, inertia = _labels_inertia_threadpool_limit(
            X_valid, w_valid, centers, n_threads=estimator._n_threads
        )
        if best_inertia is None or inertia < best_inertia:
            best, best_inertia = centers, inertia

    placement, X_dev = _placed(X, k)
    xp = placement.xp
    state = _state(placement, best, np.zeros(k, dtype=X.dtype), batch_size, 0)
    # gkmeans' loop, its batches drawn from scikit-learn's RandomState in scikit-learn's order
    # (the reassignment draws too: minibatch_step's one call on it is scikit-learn's own).
    minibatch_loop(
        X_dev,
        sample_weight,
        state,
        xp=xp,
        rng=random_state,
        batch_size=batch_size,
        n_steps=(estimator.max_iter * n_samples) // batch_size,
        tol=estimator._tol,
        max_no_improvement=estimator.max_no_improvement,
        reassignment_ratio=estimator.reassignment_ratio,
        verbose=False,
        draw_rows=lambda size: draw_batch(random_state, cdf, size),
    )
    step = state.n_steps

    estimator.cluster_centers_ = _to_host(placement, state.centers, X.dtype)
    estimator._n_features_out = k
    estimator._counts = _to_host(placement, state.weight_sums, X.dtype)
    estimator._ewa_inertia = state.ewa_inertia
    estimator._ewa_inertia_min = state.ewa_inertia_min
    estimator._no_improvement = state.no_improvement
    estimator._n_since_last_reassign = state.n_since_last_reassign
    estimator.n_steps_ = step
    estimator.n_iter_ = int(np.ceil((step * batch_size) / n_samples))
    if estimator.compute_labels:
        _label(estimator, placement, X_dev, state.centers, sample_weight)
    else:
        estimator.inertia_ = estimator._ewa_inertia * np.sum(sample_weight)
    return None


def partial_fit(estimator: Any, X: Any, sample_weight: Any) -> str | None:
    """scikit-learn's ``MiniBatchKMeans.partial_fit`` on gkmeans; sets the fitted attributes and
    returns None, or returns why scikit-learn must run it instead (before anything is drawn)."""
    has_centers = hasattr(estimator, "cluster_centers_")
    X = _validated(estimator, X, reset=not has_centers)
    k = estimator.n_clusters if not has_centers else estimator.cluster_centers_.shape[0]
    # The step's distances are from these rows to the centres: judge both together.
    probe = X if not has_centers else np.vstack([_spaced(X), estimator.cluster_centers_])
    reason = uncentred_reason(probe, float32_too=True)
    if reason is not None:
        return reason
    estimator._random_state = getattr(
        estimator, "_random_state", check_random_state(estimator.random_state)
    )
    sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
    estimator.n_steps_ = getattr(estimator, "n_steps_", 0)
    x_squared_norms = row_norms(X, squared=True)
    if not has_centers:
        estimator._check_params_vs_input(X)
        estimator._n_threads = _openmp_effective_n_threads()
        init = _checked_init(estimator, X)
        estimator._check_mkl_vcomp(X, X.shape[0])
        estimator.cluster_centers_ = estimator._init_centroids(
            X,
            x_squared_norms=x_squared_norms,
            init=init,
            random_state=estimator._random_state,
            init_size=estimator._init_size,
            sample_weight=sample_weight,
        )
        estimator._counts = np.zeros(estimator.n_clusters, dtype=X.dtype)
        estimator._n_since_last_reassign = 0

    # scikit-learn's own rule (it reads the counts kept on the estimator), before the step.
    reassign = estimator._random_reassign()
    placement, X_dev = _placed(X, k)
    xp = placement.xp
    state = _state(
        placement, estimator.cluster_centers_, estimator._counts, estimator._batch_size, 0
    )
    centers, _ = minibatch_step(
        X_dev,
        placement.to_compute(sample_weight),
        state,
        xp=xp,
        rng=estimator._random_state,
        random_reassign=reassign,
        reassignment_ratio=estimator.reassignment_ratio,
    )
    # In place, as scikit-learn updates them (a caller holding the arrays sees the step).
    estimator.cluster_centers_[...] = _to_host(placement, centers, X.dtype)
    estimator._counts[...] = _to_host(placement, state.weight_sums, X.dtype)
    if estimator.compute_labels:
        _label(estimator, placement, X_dev, centers, sample_weight)
    estimator.n_steps_ += 1
    estimator._n_features_out = estimator.cluster_centers_.shape[0]
    return None
