"""Empty clusters: the ``empty_cluster=`` policies and the centre updates they make.

Shared by one run (:mod:`.lloyd`), restarts run together (:mod:`.batched_restarts`) and the
fits over chunks (:mod:`gkmeans.pipelines.out_of_core`).
"""

from __future__ import annotations

import warnings
from types import ModuleType
from typing import Any

import numpy as np

from gkmeans import _kernels as kernels
from gkmeans._compat import to_numpy
from gkmeans.algorithms.frame import LloydData, frame_rows
from gkmeans.exceptions import EmptyClusterError, EmptyClusterWarning

#: ``empty_cluster=`` options: move the centre to the points farthest from their
#: centres (scikit-learn's rule), to random data points, drop it, or raise.
EMPTY_CLUSTER_POLICIES = ("relocate", "random", "drop", "error")


def one_hot(ids: Any, n_clusters: int, dtype: Any, xp: ModuleType) -> Any:
    cluster_ids = xp.arange(n_clusters, dtype=ids.dtype, device=ids.device)
    return xp.astype(ids[:, None] == cluster_ids[None, :], dtype)


def cluster_means(sums: Any, weight_sums: Any, fallback: Any, xp: ModuleType) -> Any:
    """sums / weights per cluster; a cluster of zero weight keeps ``fallback``'s row.

    Leading axes broadcast: (k, d) sums of one run or (r, k, d) sums of a batch of runs.
    """
    has_weight = weight_sums > 0
    safe = xp.where(has_weight, weight_sums, xp.ones_like(weight_sums))
    means = xp.astype(sums / safe[..., None], fallback.dtype)
    return xp.where(has_weight[..., None], means, fallback)


def relocate(
    data: LloydData, centers: Any, labels: Any, sums: Any, weight_sums: Any, n_empty: int
) -> Any:
    """scikit-learn's rule: each empty cluster takes one of the points farthest from
    their centre; that point's weight leaves its old cluster's sums. Labels are
    left as they are and are recomputed by the next assignment."""
    xp, X = data.xp, data.X
    acc = sums.dtype
    in_x_frame = centers if data.shift is None else centers + data.shift
    dist = kernels.sq_distances_to_assigned(X, in_x_frame, labels, xp=xp)
    # Zero-weight points would relocate nothing: rank them last.
    score = xp.where(data.weights > 0, dist, xp.full_like(dist, -1))
    if not bool(xp.max(score) > 0):
        # More clusters than distinct points: moving a duplicate changes nothing.
        return cluster_means(sums, weight_sums, centers, xp)
    farthest = xp.argsort(score, descending=True, stable=True)[:n_empty]
    moved = xp.astype(frame_rows(data, farthest), acc)
    moved_w = xp.astype(xp.take(data.weights, farthest), acc)
    return relocated_means(
        centers, sums, weight_sums, moved, moved_w, xp.take(labels, farthest), xp
    )


def relocated_means(
    centers: Any,
    sums: Any,
    weight_sums: Any,
    moved: Any,
    moved_weights: Any,
    moved_labels: Any,
    xp: ModuleType,
) -> Any:
    """New centres when the empty clusters take the points ``moved`` (shifted frame,
    accumulator dtype, one per empty cluster in cluster order), which leave the
    clusters ``moved_labels``. Shared by in-memory, streaming and Dask fits.

    With fewer points than empty clusters (data of fewer rows than clusters, as the candidates
    of k-means|| can be), the first empty clusters take them and the others keep their centres.
    """
    k = centers.shape[0]
    acc = sums.dtype
    weighted = moved * moved_weights[:, None]
    leave = xp.permute_dims(one_hot(moved_labels, k, acc, xp), (1, 0))
    empty_ids = xp.nonzero(weight_sums == 0)[0][: moved.shape[0]]
    arrive = xp.permute_dims(one_hot(empty_ids, k, acc, xp), (1, 0))
    sums = sums - leave @ weighted + arrive @ weighted
    weight_sums = weight_sums - leave @ moved_weights + arrive @ moved_weights
    return cluster_means(sums, weight_sums, centers, xp)


def random_reseed(
    data: LloydData,
    centers: Any,
    sums: Any,
    weight_sums: Any,
    n_empty: int,
    rng: np.random.Generator,
) -> Any:
    """Each empty cluster restarts at a data point drawn proportionally to weight."""
    xp, X = data.xp, data.X
    p = data.weights_host / data.weights_host.sum()
    replace = int(np.count_nonzero(p)) < n_empty
    picks = rng.choice(X.shape[0], size=n_empty, replace=replace, p=p)
    new_rows = frame_rows(data, xp.asarray(picks.astype(np.int64), device=X.device))
    return reseeded_means(centers, sums, weight_sums, new_rows, xp)


def reseeded_means(centers: Any, sums: Any, weight_sums: Any, new_rows: Any, xp: ModuleType) -> Any:
    """Means of the non-empty clusters; the empty ones (in cluster order) restart at ``new_rows``.

    The rows are placed by index, not by a one-hot product: a product would round them in a
    reduced-precision (TF32) fit."""
    empty = weight_sums == 0
    # The i-th empty cluster takes row i: its position among the empty clusters.
    rank = xp.cumulative_sum(xp.astype(empty, xp.int64)) - 1
    placed = xp.take(new_rows, xp.clip(rank, min=0, max=new_rows.shape[0] - 1), axis=0)
    return xp.where(
        empty[:, None],
        xp.astype(placed, centers.dtype),
        cluster_means(sums, weight_sums, centers, xp),
    )


def warn_dropped_clusters(n_clusters: int, n_found: int, stacklevel: int) -> None:
    """The EmptyClusterWarning of ``empty_cluster='drop'`` when fewer than k clusters are left
    (``stacklevel`` as seen from the caller of this function)."""
    if n_found < n_clusters:
        warnings.warn(
            f"{n_clusters - n_found} empty cluster(s) were dropped (empty_cluster='drop'): "
            f"returning {n_found} clusters instead of n_clusters={n_clusters}.",
            EmptyClusterWarning,
            stacklevel=stacklevel + 1,
        )


def empty_cluster_message(weight_sums: np.ndarray, n_iter: int) -> str:
    """The EmptyClusterError text for ``empty_cluster='error'``."""
    empty_ids = np.flatnonzero(weight_sums == 0)
    return (
        f"cluster(s) {empty_ids.tolist()} became empty at iteration {n_iter} "
        "with empty_cluster='error'; use 'relocate', 'random' or 'drop', or another init"
    )


def apply_policy(
    data: LloydData,
    centers: Any,
    new_centers: Any,
    labels: Any,
    sums: Any,
    weight_sums: Any,
    n_empty: int,
    empty_cluster: str,
    rng: np.random.Generator,
    n_iter: int,
) -> tuple[Any, float]:
    """``empty_cluster``'s answer to ``n_empty`` (> 0) empty clusters after one Lloyd update:
    the new centres and their shift from the old ones (after "drop", from the old ones kept).
    "error" raises :class:`EmptyClusterError` naming the clusters."""
    xp = data.xp
    kept = centers
    if empty_cluster == "relocate":
        new_centers = relocate(data, centers, labels, sums, weight_sums, n_empty)
    elif empty_cluster == "random":
        new_centers = random_reseed(data, centers, sums, weight_sums, n_empty, rng)
    elif empty_cluster == "drop":
        keep = xp.nonzero(weight_sums > 0)[0]
        new_centers = xp.take(new_centers, keep, axis=0)
        kept = xp.take(centers, keep, axis=0)
    else:
        raise EmptyClusterError(empty_cluster_message(to_numpy(weight_sums), n_iter))
    return new_centers, float(xp.sum((new_centers - kept) ** 2))
