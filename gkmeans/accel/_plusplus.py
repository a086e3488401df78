"""scikit-learn's ``kmeans_plusplus`` with gkmeans computing the distances.

Follows scikit-learn's ``kmeans_plusplus`` and ``_kmeans_plusplus`` (1.9) line by line: the same
checks, the same draws from its ``RandomState`` in the same order (``choice`` of the first row,
``uniform(size=n_local_trials) * current_pot`` for the candidates) and the same host arithmetic
on the distances in X's dtype (the cumulative sum searched, the potentials compared, in the
shapes scikit-learn gives them, so NumPy makes the same calls). gkmeans computes the squared
distances from each centre's candidates to every row on its device, in float64 (for float32
data, rounded to float32 as scikit-learn's upcast computation rounds them), which is the work
that grows with the number of features.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.validation import _check_sample_weight, check_array

from gkmeans import _kernels as kernels
from gkmeans.accel._rules import uncentred_reason
from gkmeans.device import resolve_placement


class _Distances:
    """Squared distances from given rows of X to all its rows, on gkmeans' device (float64)."""

    def __init__(self, X: np.ndarray, n_clusters: int) -> None:
        placement = resolve_placement(X, np, None, work=X.shape[0] * X.shape[1] * n_clusters)
        xp = self.xp = placement.xp
        X_dev = placement.to_compute(X)
        if X_dev.dtype != xp.float64:
            X_dev = xp.astype(X_dev, xp.float64)
        self.X = X_dev
        self.shift = kernels.column_mean(X_dev, xp=xp)
        self.x_sq = kernels.row_sq_norms(X_dev, xp=xp, shift=self.shift)
        self.dtype = X.dtype

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        """Shape (len(rows), n), in X's dtype, on the host."""
        xp = self.xp
        picked = xp.asarray(np.asarray(rows, dtype=np.int64), device=self.X.device)
        centres = kernels.take_rows(self.X, picked, xp=xp) - self.shift
        dist = kernels.sq_distances_to_rows(self.X, self.x_sq, centres, xp=xp, shift=self.shift)
        return np.asarray(kernels.to_host(dist), dtype=self.dtype)


def plusplus_reason(X: Any, x_squared_norms: Any) -> str | None:
    """Why ``kmeans_plusplus(X, ...)`` runs on scikit-learn, or None (input checks only: the
    version, array API and sparse rules are the caller's)."""
    if not isinstance(X, np.ndarray) or X.dtype not in (np.float32, np.float64):
        return "X is not a float32 or float64 NumPy array (scikit-learn uses it as given)"
    if x_squared_norms is not None:
        return "x_squared_norms is given (scikit-learn's distances use it as given)"
    return uncentred_reason(X, float32_too=False)


@validate_params(
    {
        "X": ["array-like", "sparse matrix"],
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "sample_weight": ["array-like", None],
        "x_squared_norms": ["array-like", None],
        "random_state": ["random_state"],
        "n_local_trials": [Interval(Integral, 1, None, closed="left"), None],
    },
    prefer_skip_nested_validation=True,
)
def kmeans_plusplus(
    X: Any,
    n_clusters: int,
    *,
    sample_weight: Any = None,
    x_squared_norms: Any = None,
    random_state: Any = None,
    n_local_trials: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's ``kmeans_plusplus`` (its parameter checks, errors and draws), for a
    float32 or float64 NumPy ``X`` and no ``x_squared_norms`` (see :func:`plusplus_reason`)."""
    check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32])
    sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
    if X.shape[0] < n_clusters:
        msg = f"n_samples={X.shape[0]} should be >= n_clusters={n_clusters}."
        raise ValueError(msg)
    random_state = check_random_state(random_state)
    return _kmeans_plusplus(X, n_clusters, sample_weight, random_state, n_local_trials)


def _kmeans_plusplus(
    X: np.ndarray,
    n_clusters: int,
    sample_weight: np.ndarray,
    random_state: np.random.RandomState,
    n_local_trials: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's ``_kmeans_plusplus`` with the distances from :class:`_Distances`."""
    n_samples, n_features = X.shape
    distances = _Distances(X, n_clusters)
    centers = np.empty((n_clusters, n_features), dtype=X.dtype)
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    center_id = random_state.choice(n_samples, p=sample_weight / sample_weight.sum())
    indices = np.full(n_clusters, -1, dtype=int)
    centers[0] = X[center_id]
    indices[0] = center_id
    closest_dist_sq = distances([center_id])  # (1, n) as scikit-learn's
    current_pot = closest_dist_sq @ sample_weight
    for c in range(1, n_clusters):
        rand_vals = random_state.uniform(size=n_local_trials) * current_pot
        candidate_ids = np.searchsorted(np.cumsum(sample_weight * closest_dist_sq), rand_vals)
        np.clip(candidate_ids, None, closest_dist_sq.size - 1, out=candidate_ids)
        distance_to_candidates = distances(candidate_ids)
        np.minimum(closest_dist_sq, distance_to_candidates, out=distance_to_candidates)
        candidates_pot = distance_to_candidates @ sample_weight.reshape(-1, 1)
        best_candidate = np.argmin(candidates_pot)
        current_pot = candidates_pot[best_candidate]
        closest_dist_sq = distance_to_candidates[best_candidate]
        best_candidate = candidate_ids[best_candidate]
        centers[c] = X[best_candidate]
        indices[c] = best_candidate
    return centers, indices
