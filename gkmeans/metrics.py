"""Cluster-quality metrics, written once against the Array API and chunked so memory stays bounded.

Every function takes any Array API array (or array-like) and computes where the
data is (``device=`` as for :class:`gkmeans.KMeans`). Sparse matrices (SciPy, CuPy, PyTorch)
are taken as they are and never made dense: centroids, distances to them and blocks of
pairwise distances come from the kernels' sparse primitives. Pairwise quantities
(silhouette, Dunn index) are exact and built one block of rows at a time: the
n x n distance matrix never exists whole. Scores come back as Python floats,
per-sample and per-cluster values in the caller's namespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from gkmeans import _kernels as kernels
from gkmeans._compat import is_numpy_array, to_numpy
from gkmeans._kernels.agnostic import row_chunks
from gkmeans._random import make_rng
from gkmeans._sparse import is_sparse_rows
from gkmeans._validation import as_array, check_array, check_int, check_sample_weight
from gkmeans.device import Placement, resolve_placement

__all__ = [
    "inertia",
    "cost",
    "silhouette_samples",
    "silhouette_score",
    "sample_rows",
    "calinski_harabasz_score",
    "davies_bouldin_score",
    "dunn_index",
    "intra_cluster_distances",
    "inter_cluster_distances",
    "IntraClusterDistances",
    "InterClusterDistances",
]


@dataclass(frozen=True)
class _Labelled:
    """Data and integer-coded labels on the compute device."""

    X: Any
    codes: Any
    n_clusters: int
    counts: Any
    xp: ModuleType
    placement: Placement


def _prepare(X: Any, labels: Any, device: Any, *, work_per_sample: int = 1) -> _Labelled:
    # Sparse input stays sparse: every score here runs on sparse rows through the kernels'
    # sparse primitives (centroids, distances to them, blocks of pairwise distances).
    X, caller_xp = check_array(X, sparse=True)
    n = X.shape[0]
    placement = resolve_placement(X, caller_xp, device, work=n * X.shape[1] * work_per_sample)
    xp = placement.xp
    X_dev = placement.to_compute(X)
    raw, raw_xp = as_array(labels, "labels")
    if raw.ndim != 1 or raw.shape[0] != n:
        msg = f"labels has shape {tuple(raw.shape)}; expected ({n},), one label per sample"
        raise ValueError(msg)
    if is_numpy_array(raw) and raw.dtype.kind not in "biuf":
        # strings or other objects: encode on the host, like scikit-learn's LabelEncoder
        _, inverse = np.unique(raw, return_inverse=True)
        codes = xp.asarray(inverse.astype(np.int64), device=X_dev.device)
    else:
        _, inverse = raw_xp.unique_inverse(raw)
        codes = xp.astype(placement.to_compute(inverse), xp.int64)
    n_clusters = int(xp.max(codes)) + 1
    ones = xp.ones(n, dtype=X_dev.dtype, device=X_dev.device)
    _, counts = kernels.segment_sum(ones[:, None], codes, ones, n_clusters, xp=xp)
    return _Labelled(X_dev, codes, n_clusters, counts, xp, placement)


def _check_number_of_labels(n_labels: int, n_samples: int) -> None:
    if not 1 < n_labels < n_samples:
        msg = f"Number of labels is {n_labels}. Valid values are 2 to n_samples - 1 (inclusive)"
        raise ValueError(msg)


def _centroids(data: _Labelled, weights: Any = None) -> Any:
    """The (weighted) mean of every cluster of ``data``."""
    xp = data.xp
    if weights is None:
        weights = xp.ones(data.X.shape[0], dtype=data.X.dtype, device=data.X.device)
    sums, weight_sums = kernels.segment_sum(data.X, data.codes, weights, data.n_clusters, xp=xp)
    safe = xp.where(weight_sums > 0, weight_sums, xp.ones_like(weight_sums))
    return xp.astype(sums / safe[:, None], data.X.dtype)


def _given_centers(data: _Labelled, labels: Any, centers: Any) -> tuple[Any, Any]:
    """Caller's centres on the compute device, and the raw labels as indices into them (checked)."""
    xp = data.xp
    centers_dev = xp.astype(
        data.placement.to_compute(check_array(centers, name="centers")[0]), data.X.dtype
    )
    if centers_dev.shape[1] != data.X.shape[1]:
        msg = (
            f"centers have {centers_dev.shape[1]} features but X has {data.X.shape[1]}; they must "
            "match"
        )
        raise ValueError(msg)
    codes = xp.astype(data.placement.to_compute(as_array(labels, "labels")[0]), xp.int64)
    low, high = int(xp.min(codes)), int(xp.max(codes))
    if low < 0 or high >= centers_dev.shape[0]:
        msg = (
            f"labels have values in [{low}, {high}]; expected indices into the "
            f"{centers_dev.shape[0]} centers"
        )
        raise ValueError(msg)
    return centers_dev, codes


def inertia(
    X: Any, labels: Any, centers: Any = None, *, sample_weight: Any = None, device: Any = None
) -> float:
    """Within-cluster sum of squares (WCSS): ``sum_i w_i ||x_i - c_{label_i}||^2``.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    labels : array of shape (n_samples,)
        Integer cluster index of every sample (``0..k-1`` when ``centers`` is given).
    centers : array of shape (k, n_features), optional
        The centres; by default the (weighted) mean of each cluster.
    sample_weight : array of shape (n_samples,), optional

    Examples
    --------
    >>> import numpy as np
    >>> from gkmeans.metrics import inertia
    >>> inertia(np.array([[0.0], [2.0], [10.0]]), np.array([0, 0, 1]))
    2.0
    """
    data = _prepare(X, labels, device)
    xp = data.xp
    weights, _ = check_sample_weight(
        sample_weight, data.X.shape[0], xp, data.X.dtype, data.X.device
    )
    if centers is None:
        centers_dev, codes = _centroids(data, weights), data.codes
    else:
        centers_dev, codes = _given_centers(data, labels, centers)
    return float(kernels.weighted_inertia(data.X, centers_dev, codes, weights, xp=xp))


def cost(
    X: Any, labels: Any, centers: Any = None, *, sample_weight: Any = None, device: Any = None
) -> float:
    """The cost J = inertia / (total weight): the mean squared distance to the centres.

    Examples
    --------
    >>> import numpy as np
    >>> from gkmeans.metrics import cost
    >>> cost(np.array([[0.0], [2.0], [10.0]]), np.array([0, 0, 1]))
    0.6666666666666666
    """
    X_checked, xp = check_array(X, sparse=True)
    total = (
        X_checked.shape[0]
        if sample_weight is None
        else float(
            check_sample_weight(
                sample_weight, X_checked.shape[0], xp, X_checked.dtype, X_checked.device
            )[1].sum()
        )
    )
    return inertia(X_checked, labels, centers, sample_weight=sample_weight, device=device) / total


def _pairwise_chunk_rows(n: int, k: int, xp: ModuleType, X: Any) -> int:
    itemsize = xp.finfo(X.dtype).bits // 8
    return kernels.chunk_rows_for(n, (3 * n + 2 * k) * itemsize, xp, X.device)


def _silhouette_on(data: _Labelled) -> Any:
    xp, X = data.xp, data.X
    if is_sparse_rows(X):  # sparse rows stay as they are (centring would make them dense)
        norms = kernels.row_sq_norms(X, xp=xp)
    else:
        X = X - xp.mean(X, axis=0)  # centring keeps the distance expansion accurate
        norms = xp.vecdot(X, X)
    cluster_ids = xp.arange(data.n_clusters, dtype=xp.int64, device=X.device)
    one_hot = xp.astype(data.codes[:, None] == cluster_ids[None, :], X.dtype)
    per_cluster = kernels.cluster_distance_sums(X, norms, one_hot, xp=xp)
    counts = xp.astype(data.counts, X.dtype)
    own = one_hot > 0
    own_count = xp.sum(xp.where(own, counts[None, :], 0), axis=1)
    own_sum = xp.sum(xp.where(own, per_cluster, 0), axis=1)
    a = own_sum / xp.where(own_count > 1, own_count - 1, 1)
    inf = xp.asarray(float("inf"), dtype=X.dtype, device=X.device)
    b = xp.min(xp.where(own, inf, per_cluster / counts[None, :]), axis=1)
    denominator = xp.maximum(a, b)
    s = (b - a) / xp.where(denominator > 0, denominator, 1)
    return xp.where(own_count > 1, s, 0)


def silhouette_samples(X: Any, labels: Any, *, device: Any = None) -> Any:
    """Silhouette coefficient of every sample (exact, Euclidean).

    ``s(i) = (b(i) - a(i)) / max(a(i), b(i))`` where ``a(i)`` is the mean distance
    to the other members of its cluster and ``b(i)`` the mean distance to the
    members of the nearest other cluster; 0 for a sample alone in its cluster.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    labels : array of shape (n_samples,)
        Any labels (integers or, for NumPy, strings); 2 to n_samples - 1 distinct values.

    Returns
    -------
    array of shape (n_samples,), in X's namespace and device

    Examples
    --------
    >>> import numpy as np
    >>> from gkmeans.metrics import silhouette_samples
    >>> X = np.array([[0.0], [1.0], [10.0], [11.0]])
    >>> silhouette_samples(X, [0, 0, 1, 1]).round(3).tolist()
    [0.905, 0.895, 0.895, 0.905]
    """
    X_checked, _ = check_array(X, sparse=True)
    data = _prepare(X_checked, labels, device, work_per_sample=X_checked.shape[0])
    _check_number_of_labels(data.n_clusters, data.X.shape[0])
    return data.placement.to_caller(_silhouette_on(data))


def sample_rows(n_samples: int, sample_size: int, random_state: Any = None) -> np.ndarray:
    """Indices of ``sample_size`` distinct rows out of ``n_samples``, drawn at random.

    The draw the sampled scores (``silhouette_score``, ``dunn_index``, the silhouette
    of :func:`gkmeans.selection.elbow`) share: ``numpy.random.Generator.choice``
    without replacement, from the host generator made from ``random_state``.

    Parameters
    ----------
    n_samples : int
        Rows to draw from.
    sample_size : int
        Rows to draw, 2 to ``n_samples``.
    random_state : None, int, numpy.random.Generator or RandomState

    Returns
    -------
    int64 ndarray of shape (sample_size,)

    Examples
    --------
    >>> from gkmeans.metrics import sample_rows
    >>> sample_rows(10, 4, random_state=0).shape
    (4,)
    """
    sample_size = check_int(sample_size, "sample_size", 2)
    if sample_size > n_samples:
        msg = f"sample_size={sample_size} must be <= n_samples={n_samples}"
        raise ValueError(msg)
    return (
        make_rng(random_state).choice(n_samples, size=sample_size, replace=False).astype(np.int64)
    )


def _sampled(
    X: Any, labels: Any, sample_size: Any, random_state: Any, sparse: bool = False
) -> tuple[Any, Any]:
    """X (checked; ``sparse``: sparse rows kept sparse) and labels, or ``sample_size`` rows of both
    drawn by :func:`sample_rows`."""
    X_checked, xp = check_array(X, sparse=sparse)
    if sample_size is None:
        return X_checked, labels
    n = X_checked.shape[0]
    pick = sample_rows(n, sample_size, random_state)
    labels_host = np.asarray(to_numpy(as_array(labels, "labels")[0]))
    if labels_host.ndim != 1 or labels_host.shape[0] != n:
        msg = f"labels has shape {labels_host.shape}; expected ({n},), one label per sample"
        raise ValueError(msg)
    rows = kernels.take_rows(X_checked, xp.asarray(pick, device=X_checked.device), xp=xp)
    return rows, labels_host[pick]


def _check_sampled_labels(data: _Labelled, sample_size: Any) -> None:
    n_labels, n = data.n_clusters, data.X.shape[0]
    if sample_size is not None and not 1 < n_labels < n:
        msg = (
            f"the sample of sample_size={sample_size} rows holds {n_labels} distinct labels; "
            f"a score needs 2 to {n - 1}: draw a larger sample"
        )
        raise ValueError(msg)
    _check_number_of_labels(n_labels, n)


def silhouette_score(
    X: Any,
    labels: Any,
    *,
    sample_size: int | None = None,
    random_state: Any = None,
    device: Any = None,
) -> float:
    """Mean silhouette coefficient over all samples (or a random subset of ``sample_size``).

    The exact score compares every pair of rows: O(n^2) work, built one block of rows at
    a time on the data's device (a GPU when the data are there), so memory stays bounded.
    ``sample_size`` estimates it from a random subset instead, as scikit-learn's
    ``silhouette_score(..., sample_size=)`` does: O(sample_size^2) work.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    labels : array of shape (n_samples,)
        Any labels (integers or, for NumPy, strings); 2 to n_samples - 1 distinct values.
    sample_size : int, optional
        Score a random subset of this many rows (2 to n_samples), drawn without
        replacement with ``numpy.random.Generator.choice`` (:func:`sample_rows`);
        None (default) scores every row.
    random_state : None, int, numpy.random.Generator or RandomState
        Seeds the draw of the subset (used only with ``sample_size``).
    device : {"auto", "cpu", "gpu", "cuda:N"}, optional

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from gkmeans.metrics import silhouette_score
    >>> round(silhouette_score(np.array([[0.0], [1.0], [10.0], [11.0]]), [0, 0, 1, 1]), 4)
    0.8997
    """
    X_used, labels_used = _sampled(X, labels, sample_size, random_state, sparse=True)
    data = _prepare(X_used, labels_used, device, work_per_sample=X_used.shape[0])
    _check_sampled_labels(data, sample_size)
    return float(data.xp.mean(_silhouette_on(data)))


def calinski_harabasz_score(X: Any, labels: Any, *, device: Any = None) -> float:
    """Calinski-Harabasz index: between-cluster over within-cluster dispersion, scaled
    by ``(n - k) / (k - 1)``. Higher is better; 1.0 when every cluster is a single point value.

    Examples
    --------
    >>> import numpy as np
    >>> from gkmeans.metrics import calinski_harabasz_score
    >>> calinski_harabasz_score(np.array([[0.0], [1.0], [10.0], [11.0]]), [0, 0, 1, 1])
    200.0
    """
    data = _prepare(X, labels, device)
    n = data.X.shape[0]
    k = data.n_clusters
    _check_number_of_labels(k, n)
    xp = data.xp
    means = _centroids(data)
    overall = _column_mean(data)
    counts = xp.astype(data.counts, data.X.dtype)
    extra = float(xp.sum(counts * xp.sum((means - overall) ** 2, axis=1)))
    ones = xp.ones(n, dtype=data.X.dtype, device=data.X.device)
    intra = float(kernels.weighted_inertia(data.X, means, data.codes, ones, xp=xp))
    return 1.0 if intra == 0.0 else extra * (n - k) / (intra * (k - 1.0))


def _column_mean(data: _Labelled) -> Any:
    """Mean of the rows of ``data.X`` (sparse rows: from the stored values, never dense)."""
    if is_sparse_rows(data.X):
        return kernels.column_mean(data.X, xp=data.xp)
    return data.xp.mean(data.X, axis=0)


def _distance_to_own_centre(data: _Labelled, centers: Any) -> Any:
    return data.xp.sqrt(kernels.sq_distances_to_assigned(data.X, centers, data.codes, xp=data.xp))


def davies_bouldin_score(X: Any, labels: Any, *, device: Any = None) -> float:
    """Davies-Bouldin index: mean over clusters of the worst ratio
    ``(s_i + s_j) / d(c_i, c_j)``, where ``s_i`` is the mean distance of cluster i's
    members to its centroid. Lower is better; 0 is the minimum.

    Examples
    --------
    >>> import numpy as np
    >>> from gkmeans.metrics import davies_bouldin_score
    >>> round(davies_bouldin_score(np.array([[0.0], [1.0], [10.0], [11.0]]), [0, 0, 1, 1]), 4)
    0.1
    """
    data = _prepare(X, labels, device)
    _check_number_of_labels(data.n_clusters, data.X.shape[0])
    xp = data.xp
    centers = _centroids(data)
    dist = _distance_to_own_centre(data, centers)
    ones = xp.ones(data.X.shape[0], dtype=data.X.dtype, device=data.X.device)
    sums, counts = kernels.segment_sum(dist[:, None], data.codes, ones, data.n_clusters, xp=xp)
    intra = to_numpy(sums[:, 0] / counts).astype(np.float64)
    between = np.sqrt(
        to_numpy(kernels.pairwise_sq_distances(centers, centers, xp=xp)).astype(np.float64)
    )
    if np.allclose(intra, 0) or np.allclose(between, 0):
        return 0.0
    between[between == 0] = np.inf
    return float(np.mean(np.max((intra[:, None] + intra[None, :]) / between, axis=1)))


def dunn_index(
    X: Any,
    labels: Any,
    *,
    sample_size: int | None = None,
    random_state: Any = None,
    device: Any = None,
) -> float:
    """Dunn index: the smallest distance between two points of different clusters
    (single linkage) over the largest distance between two points of one cluster
    (complete diameter). Higher is better. Exact, O(n^2) in blocks of rows.

    Returns ``inf`` when every cluster is a single point value (zero diameter).

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    labels : array of shape (n_samples,)
    sample_size : int, optional
        Compute it on a random subset of this many rows (as for :func:`silhouette_score`).
        A subset's closest pair across clusters is no closer, and its widest cluster no
        wider, than the whole data's, so the sampled index is at least the exact one: an
        optimistic estimate, for comparing clusterings on the same subset.
    random_state : None, int, numpy.random.Generator or RandomState
        Seeds the draw of the subset.
    device : {"auto", "cpu", "gpu", "cuda:N"}, optional

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from gkmeans.metrics import dunn_index
    >>> dunn_index(np.array([[0.0], [1.0], [10.0], [11.0]]), [0, 0, 1, 1])
    9.0
    """
    X_used, labels_used = _sampled(X, labels, sample_size, random_state, sparse=True)
    data = _prepare(X_used, labels_used, device, work_per_sample=X_used.shape[0])
    _check_sampled_labels(data, sample_size)
    xp, X_c = data.xp, data.X
    if is_sparse_rows(X_c):  # sparse rows stay as they are (centring would make them dense)
        x_sq = kernels.row_sq_norms(X_c, xp=xp)
    else:
        X_c = X_c - xp.mean(X_c, axis=0)  # centring keeps the distance expansion accurate
        x_sq = xp.vecdot(X_c, X_c)
    n = X_c.shape[0]
    inf = xp.asarray(float("inf"), dtype=X_c.dtype, device=X_c.device)
    separation, diameter = float("inf"), 0.0
    for start, stop in row_chunks(n, _pairwise_chunk_rows(n, 0, xp, X_c)):
        dist = kernels.distance_block(X_c, x_sq, start, stop, xp=xp)
        same = data.codes[start:stop, None] == data.codes[None, :]
        separation = min(separation, float(xp.min(xp.where(same, inf, dist))))
        diameter = max(diameter, float(xp.max(xp.where(same, dist, 0))))
    return float("inf") if diameter == 0 else separation / diameter


@dataclass(frozen=True)
class IntraClusterDistances:
    """Compactness of each cluster: sizes, mean and max distance of the members to the centre."""

    sizes: Any
    mean: Any
    max: Any


def intra_cluster_distances(
    X: Any, labels: Any, centers: Any = None, *, device: Any = None
) -> IntraClusterDistances:
    """Per cluster: the number of members and their mean and max Euclidean distance to the centre.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    labels : integer array of shape (n_samples,), values ``0..k-1``
    centers : array of shape (k, n_features), optional
        Default: the mean of each cluster.

    Returns
    -------
    IntraClusterDistances
        ``sizes``, ``mean``, ``max``: arrays of shape (k,) in X's namespace; an empty
        cluster has size 0 and NaN distances.

    Examples
    --------
    >>> import numpy as np
    >>> from gkmeans.metrics import intra_cluster_distances
    >>> d = intra_cluster_distances(np.array([[0.0], [2.0], [10.0]]), np.array([0, 0, 1]))
    >>> d.mean.tolist(), d.max.tolist()
    ([1.0, 0.0], [1.0, 0.0])
    """
    data = _prepare(X, labels, device)
    xp = data.xp
    if centers is None:
        centers_dev, codes = _centroids(data), data.codes
    else:
        centers_dev, codes = _given_centers(data, labels, centers)
    k = centers_dev.shape[0]
    labelled = _Labelled(data.X, codes, k, data.counts, xp, data.placement)
    dist = _distance_to_own_centre(labelled, centers_dev)
    ones = xp.ones(data.X.shape[0], dtype=data.X.dtype, device=data.X.device)
    sums, sizes = kernels.segment_sum(dist[:, None], codes, ones, k, xp=xp)
    nan = xp.asarray(float("nan"), dtype=sums.dtype, device=data.X.device)
    mean = xp.where(sizes > 0, sums[:, 0] / xp.where(sizes > 0, sizes, 1), nan)
    cluster_ids = xp.arange(k, dtype=xp.int64, device=data.X.device)
    largest = xp.full(k, -1.0, dtype=data.X.dtype, device=data.X.device)
    for start, stop in row_chunks(
        data.X.shape[0], kernels.chunk_rows_for(data.X.shape[0], 16 * k, xp, data.X.device)
    ):
        member = codes[start:stop, None] == cluster_ids[None, :]
        largest = xp.maximum(
            largest, xp.max(xp.where(member, dist[start:stop, None], -1.0), axis=0)
        )
    largest = xp.where(sizes > 0, xp.astype(largest, sums.dtype), nan)
    to_caller = data.placement.to_caller
    return IntraClusterDistances(
        sizes=to_caller(xp.astype(sizes, xp.int64)), mean=to_caller(mean), max=to_caller(largest)
    )


@dataclass(frozen=True)
class InterClusterDistances:
    """Separation: the centre-to-centre distance matrix and its closest pair."""

    matrix: Any
    closest_pair: tuple[int, int]
    min_distance: float


def inter_cluster_distances(centers: Any) -> InterClusterDistances:
    """Euclidean distances between every pair of centres, and the closest pair.

    Examples
    --------
    >>> import numpy as np
    >>> from gkmeans.metrics import inter_cluster_distances
    >>> d = inter_cluster_distances(np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]]))
    >>> d.closest_pair, d.min_distance
    ((0, 2), 1.0)
    """
    centers, xp = check_array(centers, name="centers")
    k = centers.shape[0]
    if k < 2:
        msg = f"inter-cluster distances need at least 2 centers; got {k}"
        raise ValueError(msg)
    matrix = kernels.pairwise_sq_distances(centers, centers, xp=xp, root=True)
    host = to_numpy(matrix).astype(np.float64)
    off_diagonal = host + np.diag(np.full(k, np.inf))
    i, j = np.unravel_index(int(np.argmin(off_diagonal)), off_diagonal.shape)
    pair = (int(min(i, j)), int(max(i, j)))
    return InterClusterDistances(
        matrix=matrix, closest_pair=pair, min_distance=float(off_diagonal[i, j])
    )
