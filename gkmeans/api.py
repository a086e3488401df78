"""Functional API: scikit-learn's ``k_means`` and ``kmeans_plusplus``, and the
textbook functions of the course material k-means is usually learnt from.

Every function accepts any Array API array (NumPy, CuPy, PyTorch,
array-api-strict, ...) or array-like, and returns arrays in the caller's
namespace, on the caller's device.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gkmeans import _kernels as kernels
from gkmeans._compat import to_numpy
from gkmeans._random import make_rng
from gkmeans._validation import (
    as_array,
    check_array,
    check_float,
    check_int,
    check_n_clusters_vs_samples,
)
from gkmeans.algorithms.init import InitData
from gkmeans.algorithms.init import kmeans_plusplus as plusplus_centers
from gkmeans.algorithms.kmeans_parallel import kmeans_parallel as parallel_centers
from gkmeans.algorithms.predict_rule import predict_labels
from gkmeans.exceptions import EmptyClusterError
from gkmeans.pipelines.in_memory import fit_kmeans
from gkmeans.pipelines.params import KMeansParams
from gkmeans.pipelines.prepared import prepare_data

__all__ = [
    "k_means",
    "kmeans_plusplus",
    "kmeans_parallel",
    "find_closest_centroids",
    "compute_centroids",
    "kmeans_init_centroids",
    "run_kmeans",
    "cost",
]


def k_means(
    X: Any,
    n_clusters: int,
    *,
    sample_weight: Any = None,
    init: Any = "k-means++",
    n_init: int | str = "auto",
    max_iter: int = 300,
    verbose: bool = False,
    tol: float = 1e-4,
    random_state: Any = None,
    copy_x: bool = True,
    algorithm: str = "auto",
    return_n_iter: bool = False,
    device: str | None = None,
    empty_cluster: str = "relocate",
    batch_restarts: bool | str = "auto",
    precision: str = "exact",
) -> tuple:
    """Perform k-means clustering (scikit-learn's ``sklearn.cluster.k_means``).

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        Any Array API array or array-like.
    n_clusters : int
        Number of clusters.
    sample_weight, init, n_init, max_iter, verbose, tol, random_state, copy_x, algorithm, \
        device, empty_cluster, batch_restarts, precision
        As for :class:`gkmeans.KMeans`.
    return_n_iter : bool, default False
        Also return the number of iterations of the best run.

    Returns
    -------
    centroid : array of shape (n_clusters, n_features)
    label : int32 array of shape (n_samples,)
    inertia : float
    best_n_iter : int
        Only when ``return_n_iter`` is True.

    Examples
    --------
    >>> import numpy as np
    >>> from gkmeans import k_means
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> centers, labels, inertia = k_means(X, n_clusters=2, n_init="auto", random_state=0)
    >>> sorted(centers[:, 0].tolist())
    [1.0, 10.0]
    """
    params = KMeansParams.check(
        n_clusters=n_clusters,
        init=init,
        n_init=n_init,
        max_iter=max_iter,
        tol=tol,
        verbose=verbose,
        random_state=random_state,
        algorithm=algorithm,
        device=device,
        empty_cluster=empty_cluster,
        batch_restarts=batch_restarts,
        precision=precision,
        copy_x=copy_x,
    )
    fit = fit_kmeans(X, params, sample_weight=sample_weight)
    if return_n_iter:
        return fit.centers, fit.labels, fit.inertia, fit.n_iter
    return fit.centers, fit.labels, fit.inertia


def kmeans_plusplus(
    X: Any,
    n_clusters: int,
    *,
    sample_weight: Any = None,
    x_squared_norms: Any = None,
    random_state: Any = None,
    n_local_trials: int | None = None,
    device: str | None = None,
) -> tuple[Any, Any]:
    """Initial centres by greedy k-means++ (scikit-learn's ``kmeans_plusplus``).

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    n_clusters : int
    sample_weight : array of shape (n_samples,), optional
    x_squared_norms : array of shape (n_samples,), optional
        Squared Euclidean norms of the rows of X; when given they are used as
        they are (X is then not centred first).
    random_state : None, int, numpy.random.Generator or RandomState
    n_local_trials : int, optional
        Candidates tried per centre; default ``2 + int(ln(n_clusters))``.
    device : {"auto", "cpu", "gpu", "cuda:N"}, optional

    Returns
    -------
    centers : array of shape (n_clusters, n_features)
        Rows of X, in X's dtype, namespace and device.
    indices : int64 array of shape (n_clusters,)
        Their row numbers.

    Examples
    --------
    >>> import numpy as np
    >>> from gkmeans import kmeans_plusplus
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> centers, indices = kmeans_plusplus(X, n_clusters=2, random_state=0)
    >>> bool(np.all(X[indices] == centers))
    True
    """
    n_clusters = check_int(n_clusters, "n_clusters", 1)
    if n_local_trials is not None and (
        isinstance(n_local_trials, bool)
        or not isinstance(n_local_trials, int)
        or n_local_trials < 1
    ):
        msg = (
            f"n_local_trials is set to {n_local_trials} but should be an integer value greater "
            "than zero."
        )
        raise ValueError(msg)
    X, caller_xp = check_array(X, sparse=True)
    n_samples = X.shape[0]
    check_n_clusters_vs_samples(n_clusters, n_samples)
    data = prepare_data(
        X, caller_xp, sample_weight, n_clusters, device, shifted_copy=x_squared_norms is None
    )
    xp, placement = data.xp, data.placement
    init_data = data.init_data
    if x_squared_norms is not None:
        norms, _ = check_array(x_squared_norms, name="x_squared_norms", ensure_2d=False, dtype=None)
        if norms.ndim != 1 or norms.shape[0] != n_samples:
            msg = (
                f"The length of x_squared_norms {norms.shape[0] if norms.ndim else 0} should be "
                f"equal to the length of n_samples {n_samples}."
            )
            raise ValueError(msg)
        # Norms of the uncentred rows: work on the uncentred data they belong to.
        norms = xp.astype(placement.to_compute(norms), data.X_dev.dtype)
        init_data = InitData(data.X_dev, norms, data.weights, data.weights_host, xp)
    _, indices = plusplus_centers(init_data, n_clusters, make_rng(random_state), n_local_trials)
    # The original rows, bit for bit (dense: a few rows of sparse data).
    centers = kernels.take_rows(data.X_dev, indices, xp=xp, dense=True)
    return placement.to_caller(centers), placement.to_caller(indices)


def kmeans_parallel(
    X: Any,
    n_clusters: int,
    *,
    sample_weight: Any = None,
    oversampling_factor: float = 2.0,
    n_rounds: int = 5,
    random_state: Any = None,
    device: str | None = None,
) -> Any:
    """Initial centres by k-means|| (Bahmani et al. 2012), as ``init="k-means||"`` draws them.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    n_clusters : int
    sample_weight : array of shape (n_samples,), optional
    oversampling_factor : float, default 2.0
        Points sampled per round, in units of ``n_clusters`` (Bahmani et al.'s l = 2k).
    n_rounds : int, default 5
    random_state : None, int, numpy.random.Generator or RandomState
    device : {"auto", "cpu", "gpu", "cuda:N"}, optional

    Returns
    -------
    centers : array of shape (n_clusters, n_features), in X's dtype, namespace and device
        The weighted candidates reduced by weighted k-means++ and Lloyd: not
        necessarily data points.

    Examples
    --------
    >>> import numpy as np
    >>> from gkmeans import kmeans_parallel
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> kmeans_parallel(X, 2, random_state=0).shape
    (2, 2)
    """
    n_clusters = check_int(n_clusters, "n_clusters", 1)
    oversampling_factor = check_float(oversampling_factor, "oversampling_factor", 0.0)
    if oversampling_factor <= 0:
        raise ValueError(f"oversampling_factor={oversampling_factor} must be > 0")
    n_rounds = check_int(n_rounds, "n_rounds", 1)
    X, caller_xp = check_array(X)
    check_n_clusters_vs_samples(n_clusters, X.shape[0])
    data = prepare_data(X, caller_xp, sample_weight, n_clusters, device, shifted_copy=True)
    centers = parallel_centers(
        data.init_data,
        n_clusters,
        make_rng(random_state),
        oversampling_factor=oversampling_factor,
        n_rounds=n_rounds,
    )
    return data.placement.to_caller(centers + data.mean)


def find_closest_centroids(X: Any, centroids: Any) -> Any:
    """Index of the closest centroid for every example (the course's ``findClosestCentroids``).

    Parameters
    ----------
    X : array of shape (m, n)
    centroids : array of shape (K, n)

    Returns
    -------
    idx : int64 array of shape (m,)
        ``idx[i]`` is the index of the centroid nearest to ``X[i]`` (ties: lowest index).

    Examples
    --------
    >>> import numpy as np
    >>> from gkmeans import find_closest_centroids
    >>> find_closest_centroids(
    ...     np.array([[0.0, 0.0], [5.0, 5.0]]), np.array([[4.0, 4.0], [0.0, 1.0]])
    ... ).tolist()
    [1, 0]
    """
    X, xp = check_array(X)
    centroids = _centroids_like(centroids, X, xp)
    labels, _ = predict_labels(X, centroids, xp)
    return labels


def compute_centroids(X: Any, idx: Any, K: int) -> Any:
    """Mean of the examples assigned to each centroid (the course's ``computeCentroids``).

    Parameters
    ----------
    X : array of shape (m, n)
    idx : integer array of shape (m,)
        Cluster index of every example, in ``0..K-1``.
    K : int
        Number of centroids.

    Returns
    -------
    centroids : array of shape (K, n)

    Raises
    ------
    EmptyClusterError
        When a centroid has no example: its mean is undefined.

    Examples
    --------
    >>> import numpy as np
    >>> from gkmeans import compute_centroids
    >>> compute_centroids(np.array([[0.0], [2.0], [10.0]]), np.array([0, 0, 1]), 2).tolist()
    [[1.0], [10.0]]
    """
    X, xp = check_array(X)
    K = check_int(K, "K", 1)
    labels = _labels_like(idx, X, xp, K)
    weights = xp.ones(X.shape[0], dtype=X.dtype, device=X.device)
    sums, counts = kernels.segment_sum(X, labels, weights, K, xp=xp)
    empty = np.flatnonzero(to_numpy(counts == 0))
    if empty.size:
        msg = f"centroid(s) {empty.tolist()} have no example assigned; their mean is undefined"
        raise EmptyClusterError(msg)
    return xp.astype(sums / counts[:, None], X.dtype)


def kmeans_init_centroids(X: Any, K: int, random_state: Any = None) -> Any:
    """K distinct examples chosen at random as initial centroids (the course's
    ``kMeansInitCentroids``).

    Examples
    --------
    >>> import numpy as np
    >>> from gkmeans import kmeans_init_centroids
    >>> kmeans_init_centroids(np.arange(10.0).reshape(5, 2), 3, random_state=0).shape
    (3, 2)
    """
    X, xp = check_array(X)
    K = check_int(K, "K", 1)
    check_n_clusters_vs_samples(K, X.shape[0])
    order = make_rng(random_state).permutation(X.shape[0])[:K]
    return xp.take(X, xp.asarray(order.astype(np.int64), device=X.device), axis=0)


def run_kmeans(X: Any, initial_centroids: Any, max_iters: int = 10) -> tuple[Any, Any]:
    """Run ``max_iters`` k-means steps from ``initial_centroids`` (the course's ``runkMeans``).

    Each step assigns every example to its closest centroid, then moves every
    centroid to the mean of its examples; a centroid left with no example
    keeps its place.

    Returns
    -------
    centroids : array of shape (K, n)
        After the last update.
    idx : int64 array of shape (m,)
        The last assignment (the one the final centroids were computed from).

    Examples
    --------
    >>> import numpy as np
    >>> from gkmeans import run_kmeans
    >>> X = np.array([[0.0], [1.0], [9.0], [10.0]])
    >>> centroids, idx = run_kmeans(X, np.array([[0.0], [1.0]]), max_iters=5)
    >>> centroids.ravel().tolist(), idx.tolist()
    ([0.5, 9.5], [0, 0, 1, 1])
    """
    X, xp = check_array(X)
    centroids = _centroids_like(initial_centroids, X, xp)
    max_iters = check_int(max_iters, "max_iters", 1)
    K = centroids.shape[0]
    weights = xp.ones(X.shape[0], dtype=X.dtype, device=X.device)
    idx = None
    for _ in range(max_iters):
        idx, _ = predict_labels(X, centroids, xp)
        sums, counts = kernels.segment_sum(X, idx, weights, K, xp=xp)
        filled = counts > 0
        means = xp.astype(sums / xp.where(filled, counts, xp.ones_like(counts))[:, None], X.dtype)
        centroids = xp.where(filled[:, None], means, centroids)
    return centroids, idx


def cost(X: Any, idx: Any, centroids: Any) -> float:
    """The cost J: mean squared distance of the examples to their centroids (inertia / m).

    Examples
    --------
    >>> import numpy as np
    >>> from gkmeans import cost
    >>> cost(np.array([[0.0], [2.0]]), np.array([0, 0]), np.array([[1.0]]))
    1.0
    """
    X, xp = check_array(X)
    centroids = _centroids_like(centroids, X, xp)
    labels = _labels_like(idx, X, xp, centroids.shape[0])
    weights = xp.ones(X.shape[0], dtype=X.dtype, device=X.device)
    return float(kernels.weighted_inertia(X, centroids, labels, weights, xp=xp)) / X.shape[0]


def _centroids_like(centroids: Any, X: Any, xp: Any) -> Any:
    centroids, c_xp = check_array(centroids, name="centroids")
    if centroids.shape[1] != X.shape[1]:
        msg = (
            f"centroids have {centroids.shape[1]} features but X has {X.shape[1]}; they must match"
        )
        raise ValueError(msg)
    if c_xp is not xp:
        centroids = xp.asarray(to_numpy(centroids), device=X.device)
    return xp.astype(centroids, X.dtype)


def _labels_like(idx: Any, X: Any, xp: Any, K: int) -> Any:
    labels, l_xp = as_array(idx, "idx")
    if labels.ndim != 1 or labels.shape[0] != X.shape[0]:
        msg = (
            f"idx has shape {tuple(labels.shape)}; expected ({X.shape[0]},), one index per example"
        )
        raise ValueError(msg)
    if not l_xp.isdtype(labels.dtype, "integral"):
        msg = f"idx has dtype {labels.dtype}; expected integer cluster indices"
        raise TypeError(msg)
    if l_xp is not xp:
        labels = xp.asarray(to_numpy(labels), device=X.device)
    labels = xp.astype(labels, xp.int64)
    low, high = int(xp.min(labels)), int(xp.max(labels))
    if low < 0 or high >= K:
        msg = (
            f"idx has values in [{low}, {high}]; expected cluster indices in [0, {K - 1}] for K={K}"
        )
        raise ValueError(msg)
    return labels
