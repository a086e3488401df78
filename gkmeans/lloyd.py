"""Lloyd's algorithm, written once against the Array API.

One run: assign every point to its nearest centre, move every centre to the
weighted mean of its points, repeat until no label changes, the squared centre
shift falls to ``tol``, or ``max_iter`` is reached (scikit-learn's rules).
Empty clusters are handled by the policy the caller chose.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

import numpy as np

from . import _kernels as kernels
from ._compat import to_numpy
from ._validation import inertia_overflow
from .exceptions import EmptyClusterError, EmptyClusterWarning
from .init import frame_rows

#: ``empty_cluster=`` options: move the centre to the points farthest from their
#: centres (scikit-learn's rule), to random data points, drop it, or raise.
EMPTY_CLUSTER_POLICIES = ("relocate", "random", "drop", "error")


@dataclass(frozen=True)
class LloydData:
    """Data of one fit on the compute device.

    ``X`` is the caller's data and ``shift`` its column mean, subtracted block by block
    (or X is already a shifted copy of small data and ``shift`` None); centres live in
    that shifted frame, so float32 distances do not cancel far from the origin.
    ``x_sq_norms`` are the squared norms of the shifted rows; ``weights_host`` is
    NumPy, for host-side draws.
    """

    X: Any
    shift: Any
    x_sq_norms: Any
    weights: Any
    weights_host: np.ndarray
    xp: ModuleType


@dataclass(frozen=True)
class LloydResult:
    """Outcome of one run: centres (shifted frame), labels matching them and their inertia
    (None and NaN when the run was not scored), iterations."""

    centers: Any
    labels: Any
    inertia: float
    n_iter: int


def _one_hot(ids: Any, n_clusters: int, dtype: Any, xp: ModuleType) -> Any:
    cluster_ids = xp.arange(n_clusters, dtype=ids.dtype, device=ids.device)
    return xp.astype(ids[:, None] == cluster_ids[None, :], dtype)


def _means(sums: Any, weight_sums: Any, fallback: Any, xp: ModuleType) -> Any:
    """sums / weights per cluster; a cluster of zero weight keeps ``fallback``'s row.

    Leading axes broadcast: (k, d) sums of one run or (r, k, d) sums of a batch of runs.
    """
    has_weight = weight_sums > 0
    safe = xp.where(has_weight, weight_sums, xp.ones_like(weight_sums))
    means = xp.astype(sums / safe[..., None], fallback.dtype)
    return xp.where(has_weight[..., None], means, fallback)


def _relocate(data: LloydData, centers: Any, labels: Any, sums: Any, weight_sums: Any, n_empty: int) -> Any:
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
        return _means(sums, weight_sums, centers, xp)
    farthest = xp.argsort(score, descending=True, stable=True)[:n_empty]
    moved = xp.astype(frame_rows(data, farthest), acc)
    moved_w = xp.astype(xp.take(data.weights, farthest), acc)
    return relocated_means(centers, sums, weight_sums, moved, moved_w, xp.take(labels, farthest), xp)


def relocated_means(
    centers: Any, sums: Any, weight_sums: Any, moved: Any, moved_weights: Any, moved_labels: Any, xp: ModuleType
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
    leave = xp.permute_dims(_one_hot(moved_labels, k, acc, xp), (1, 0))
    empty_ids = xp.nonzero(weight_sums == 0)[0][:moved.shape[0]]
    arrive = xp.permute_dims(_one_hot(empty_ids, k, acc, xp), (1, 0))
    sums = sums - leave @ weighted + arrive @ weighted
    weight_sums = weight_sums - leave @ moved_weights + arrive @ moved_weights
    return _means(sums, weight_sums, centers, xp)


def _random_reseed(
    data: LloydData, centers: Any, sums: Any, weight_sums: Any, n_empty: int, rng: np.random.Generator
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
    return xp.where(empty[:, None], xp.astype(placed, centers.dtype), _means(sums, weight_sums, centers, xp))


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


def lloyd(
    data: LloydData,
    centers: Any,
    *,
    max_iter: int,
    tol: float,
    empty_cluster: str,
    rng: np.random.Generator,
    verbose: bool = False,
    progress: Callable[[int], None] | None = None,
    score: bool = True,
) -> LloydResult:
    """Run Lloyd iterations from ``centers`` (shifted frame, dtype of X).

    Parameters
    ----------
    data : LloydData
    centers : array of shape (k, n_features)
    max_iter : int
    tol : float
        Absolute tolerance on the sum of squared centre shifts.
    empty_cluster : {"relocate", "random", "drop", "error"}
    rng : numpy.random.Generator
        Used by ``empty_cluster="random"``.
    verbose : bool
        Print the inertia of every iteration and why the run stopped.
    progress : callable, optional
        Called with the iteration number after every iteration (the command line's bar).
    score : bool, default True
        Also return labels matching the final centres and their inertia (needed to
        compare restarts; a single run's caller computes its own).

    Returns
    -------
    LloydResult
        Labels are the argmin for the returned centres; with ``"drop"`` there
        may be fewer than k centres.
    """
    xp, X = data.xp, data.X
    labels_old = None
    strict_convergence = False
    labels = None
    n_iter = 0
    for iteration in range(max_iter):
        n_iter = iteration + 1
        k = centers.shape[0]
        labels, min_sq, sums, weight_sums = kernels.assign_and_sum(
            X, centers, data.weights, xp=xp, x_sq_norms=data.x_sq_norms, shift=data.shift
        )
        new_centers = _means(sums, weight_sums, centers, xp)
        # One host synchronisation per iteration: the empty count, the centre shift (in X's
        # dtype, as scikit-learn) and whether any label changed, brought over together.
        acc = sums.dtype
        unchanged = (xp.zeros((), dtype=acc, device=X.device) if labels_old is None
                     else xp.astype(xp.all(labels == labels_old), acc))
        state = to_numpy(xp.stack([xp.sum(xp.astype(weight_sums == 0, acc)),
                                   xp.astype(xp.sum((new_centers - centers) ** 2), acc), unchanged]))
        n_empty, center_shift, labels_unchanged = int(state[0]), float(state[1]), bool(state[2])
        kept = centers
        if n_empty > 0:
            if empty_cluster == "relocate":
                new_centers = _relocate(data, centers, labels, sums, weight_sums, n_empty)
            elif empty_cluster == "random":
                new_centers = _random_reseed(data, centers, sums, weight_sums, n_empty, rng)
            elif empty_cluster == "drop":
                keep = xp.nonzero(weight_sums > 0)[0]
                new_centers = xp.take(new_centers, keep, axis=0)
                kept = xp.take(centers, keep, axis=0)
            else:
                raise EmptyClusterError(empty_cluster_message(to_numpy(weight_sums), n_iter))
            center_shift = float(xp.sum((new_centers - kept) ** 2))
        if verbose:
            inertia = float(xp.sum(min_sq * data.weights))
            print(f"Iteration {iteration}, inertia {inertia}.")
        centers = new_centers
        if progress is not None:
            progress(n_iter)
        if new_centers.shape[0] != k:
            labels_old = None  # label numbers changed with the drop
            continue
        if labels_unchanged:
            if verbose:
                print(f"Converged at iteration {iteration}: strict convergence.")
            # As scikit-learn, stop; but centres an empty-cluster fix has just moved may no longer
            # have these labels, so they are assigned again below (batched runs do the same).
            strict_convergence = n_empty == 0
            break
        if center_shift <= tol:
            if verbose:
                print(f"Converged at iteration {iteration}: center shift {center_shift} within tolerance {tol}.")
            break
        labels_old = labels
    if not score:
        return LloydResult(centers, None, float("nan"), n_iter)
    if not strict_convergence:
        # Labels must be the argmin for the centres we return.
        labels, min_sq = kernels.assign(X, centers, xp=xp, x_sq_norms=data.x_sq_norms, shift=data.shift)
    # The expansion's distances rank restarts; the fit computes the winner's exact inertia.
    inertia = float(xp.sum(min_sq * data.weights))
    if not math.isfinite(inertia):
        raise inertia_overflow(inertia, X.dtype)
    return LloydResult(centers, labels, inertia, n_iter)

