"""Pure Array API primitives: the reference implementation and the fallback for any namespace.

Every function takes the namespace ``xp`` explicitly and touches nothing outside
the standard, so array-api-strict runs it unchanged.
"""

from __future__ import annotations

import contextlib
from types import ModuleType
from typing import Any, Callable

from gkmeans._compat import array_namespace, move


def row_chunks(n_rows: int, chunk_rows: int):
    """Yield ``(start, stop)`` pairs covering ``range(n_rows)`` in blocks of ``chunk_rows``."""
    step = max(1, int(chunk_rows))
    for start in range(0, n_rows, step):
        yield start, min(start + step, n_rows)


def assign(
    X: Any,
    centers: Any,
    *,
    xp: ModuleType,
    chunk_rows: int,
    x_sq_norms: Any | None = None,
    shift: Any | None = None,
) -> tuple[Any, Any]:
    """Nearest centre of every row and its squared distance.

    Uses ``||x||^2 - 2 x.c + ||c||^2`` one block of ``chunk_rows`` rows at a time,
    so the full n x k distance matrix never exists. When ``shift`` is given, it
    is subtracted from every block and from the centres first (shift-invariant,
    and it keeps float32 from cancelling on data far from the origin).
    ``x_sq_norms`` (squared norms of the rows of ``X - shift``) saves recomputing them.

    Returns
    -------
    labels : int64 array of shape (n_samples,)
        Index of the nearest centre; ties go to the lowest index.
    min_sq_dist : array of shape (n_samples,)
        Squared distance to it, clamped at 0.
    """
    n = X.shape[0]
    dev = X.device
    c_sq = xp.sum(centers * centers, axis=1)
    # -2 folded into the centres once: one pass less over every n x k block.
    centers_t_neg2 = -2 * xp.permute_dims(centers, (1, 0))
    labels = xp.empty(n, dtype=xp.int64, device=dev)
    min_sq = xp.empty(n, dtype=X.dtype, device=dev)
    gather = getattr(xp, "take_along_axis", None)  # in the standard from 2024.12
    for start, stop in row_chunks(n, chunk_rows):
        block = X[start:stop, :]
        if shift is not None:
            block = block - shift
        block_sq = xp.vecdot(block, block) if x_sq_norms is None else x_sq_norms[start:stop]
        # ||x||^2 is constant along a row: leave it out of the argmin.
        partial = block @ centers_t_neg2 + c_sq[None, :]
        nearest = xp.astype(xp.argmin(partial, axis=1), xp.int64)
        labels[start:stop] = nearest
        if gather is not None:
            best = gather(partial, nearest[:, None], axis=1)[:, 0]
        else:
            best = xp.min(partial, axis=1)
        min_sq[start:stop] = xp.clip(best + block_sq, min=0)
    return labels, min_sq


#: From this many clusters on, cluster sums come from sorting each block by label and
#: differencing prefix sums (O(m log m + m d) per block) rather than a one-hot product
#: (O(m k d)). Measured on 10^5 x 32 rows: equal at k = 32-64, 3.7x faster at k = 256,
#: 17-27x at k = 1024 (NumPy and array-api-strict through this module).
SORTED_SEGMENT_MIN_CLUSTERS = 64


def segment_sum(
    X: Any,
    labels: Any,
    weights: Any,
    n_clusters: int,
    *,
    xp: ModuleType,
    acc_dtype: Any,
    chunk_rows: int,
) -> tuple[Any, Any]:
    """Weighted sum of the rows of each cluster, and the weight of each cluster.

    The standard has no scatter-add. Few clusters: a one-hot matrix product per block
    of rows; many (:data:`SORTED_SEGMENT_MIN_CLUSTERS`): :func:`sorted_segment_sum`.

    Returns
    -------
    sums : array of shape (n_clusters, n_features), dtype ``acc_dtype``
    weight_sums : array of shape (n_clusters,), dtype ``acc_dtype``
    """
    if n_clusters >= SORTED_SEGMENT_MIN_CLUSTERS:
        return sorted_segment_sum(
            X, labels, weights, n_clusters, xp=xp, acc_dtype=acc_dtype, chunk_rows=chunk_rows
        )
    n, d = X.shape
    dev = X.device
    cluster_ids = xp.arange(n_clusters, dtype=labels.dtype, device=dev)
    sums = xp.zeros((n_clusters, d), dtype=acc_dtype, device=dev)
    weight_sums = xp.zeros(n_clusters, dtype=acc_dtype, device=dev)
    for start, stop in row_chunks(n, chunk_rows):
        w = xp.astype(weights[start:stop], acc_dtype)
        one_hot = (
            xp.astype(labels[start:stop, None] == cluster_ids[None, :], acc_dtype) * w[:, None]
        )
        sums = sums + xp.permute_dims(one_hot, (1, 0)) @ xp.astype(X[start:stop, :], acc_dtype)
        weight_sums = weight_sums + xp.sum(one_hot, axis=0)
    return sums, weight_sums


def sorted_segment_sum(
    X: Any,
    labels: Any,
    weights: Any,
    n_clusters: int,
    *,
    xp: ModuleType,
    acc_dtype: Any,
    chunk_rows: int,
) -> tuple[Any, Any]:
    """Cluster sums by sorting: per block, rows ordered by label, prefix sums, differences at the
    cluster boundaries (found by ``searchsorted``). No atomics and no k-wide temporaries; prefix
    sums run over one block at a time in ``acc_dtype``, which keeps their cancellation small."""
    n, d = X.shape
    dev = X.device
    sums = xp.zeros((n_clusters, d), dtype=acc_dtype, device=dev)
    weight_sums = xp.zeros(n_clusters, dtype=acc_dtype, device=dev)
    boundaries = xp.arange(n_clusters + 1, dtype=labels.dtype, device=dev)
    for start, stop in row_chunks(n, chunk_rows):
        block_labels = labels[start:stop]
        order = xp.argsort(block_labels, stable=True)
        w = xp.astype(xp.take(weights[start:stop], order), acc_dtype)
        rows = xp.astype(xp.take(X[start:stop, :], order, axis=0), acc_dtype) * w[:, None]
        row_prefix = xp.cumulative_sum(rows, axis=0, include_initial=True)
        weight_prefix = xp.cumulative_sum(w, include_initial=True)
        edges = xp.searchsorted(xp.take(block_labels, order), boundaries)
        sums = sums + (
            xp.take(row_prefix, edges[1:], axis=0) - xp.take(row_prefix, edges[:-1], axis=0)
        )
        weight_sums = weight_sums + (
            xp.take(weight_prefix, edges[1:]) - xp.take(weight_prefix, edges[:-1])
        )
    return sums, weight_sums


def sq_distances_to_rows(
    X: Any, x_sq_norms: Any, rows: Any, *, xp: ModuleType, chunk_rows: int, shift: Any | None = None
) -> Any:
    """Squared distances from each of ``rows`` (m, d) to every row of ``X - shift``: shape (m, n).

    ``rows`` are in the shifted frame and ``x_sq_norms`` are the squared norms of
    the shifted rows; X is shifted one block at a time, never copied whole.
    """
    n = X.shape[0]
    r_sq = xp.vecdot(rows, rows)
    out = xp.empty((rows.shape[0], n), dtype=X.dtype, device=X.device)
    for start, stop in row_chunks(n, chunk_rows):
        block = X[start:stop, :] if shift is None else X[start:stop, :] - shift
        dist = (
            r_sq[:, None]
            - 2 * (rows @ xp.permute_dims(block, (1, 0)))
            + x_sq_norms[None, start:stop]
        )
        out[:, start:stop] = xp.clip(dist, min=0)
    return out


def closer_distances(
    X: Any,
    x_sq_norms: Any,
    rows: Any,
    closest: Any,
    weights: Any,
    *,
    xp: ModuleType,
    chunk_rows: int,
    shift: Any | None = None,
) -> tuple[Any, Any]:
    """The k-means++ candidates' step: for each of ``rows`` (m, d, shifted frame), the squared
    distance of every row of ``X - shift`` to its nearest centre were that row added,
    ``min(closest, ||x - row||^2)`` (m, n), and the potential ``sum(w * that)`` (m,).

    ``closest`` and ``weights`` are in the accumulator dtype, and so are the results.
    """
    dist = sq_distances_to_rows(X, x_sq_norms, rows, xp=xp, chunk_rows=chunk_rows, shift=shift)
    closer = xp.minimum(closest[None, :], xp.astype(dist, closest.dtype))
    return closer, closer @ weights


def distinct_labels(labels: Any, n_clusters: int, *, xp: ModuleType) -> int:
    """How many different cluster ids (of ``0 .. n_clusters - 1``) occur in ``labels``."""
    return int(xp.unique_values(labels).shape[0])


def weighted_column_sums(
    X: Any,
    weights: Any,
    *,
    xp: ModuleType,
    acc_dtype: Any,
    chunk_rows: int,
    shift: Any | None = None,
) -> Any:
    """``sum_i w_i (x_i - shift)``, shape (n_features,), in ``acc_dtype``, a block of rows at a
    time."""
    total = xp.zeros(X.shape[1], dtype=acc_dtype, device=X.device)
    for start, stop in row_chunks(X.shape[0], chunk_rows):
        block = X[start:stop, :] if shift is None else X[start:stop, :] - shift
        total = total + xp.astype(weights[start:stop], acc_dtype) @ xp.astype(block, acc_dtype)
    return total


def column_mean(X: Any, *, xp: ModuleType) -> Any:
    """Mean of the rows of X, shape (n_features,): the shift of the centred frame."""
    return xp.mean(X, axis=0)


def row_sq_norms(X: Any, *, xp: ModuleType, chunk_rows: int, shift: Any | None = None) -> Any:
    """Squared norm of every row of ``X - shift``, without copying X whole."""
    out = xp.empty(X.shape[0], dtype=X.dtype, device=X.device)
    for start, stop in row_chunks(X.shape[0], chunk_rows):
        block = X[start:stop, :] if shift is None else X[start:stop, :] - shift
        out[start:stop] = xp.vecdot(block, block)
    return out


def weighted_inertia(
    X: Any,
    centers: Any,
    labels: Any,
    weights: Any,
    *,
    xp: ModuleType,
    acc_dtype: Any,
    chunk_rows: int,
) -> Any:
    """Sum of ``w_i * ||x_i - c_{label_i}||^2`` computed from differences (no cancellation).

    Returns a 0-d array of dtype ``acc_dtype``.
    """
    total = xp.zeros((), dtype=acc_dtype, device=X.device)
    for start, stop in row_chunks(X.shape[0], chunk_rows):
        diff = X[start:stop, :] - xp.take(centers, labels[start:stop], axis=0)
        sq = xp.astype(xp.sum(diff * diff, axis=1), acc_dtype)
        total = total + xp.sum(sq * xp.astype(weights[start:stop], acc_dtype))
    return total


def sq_distances_to_assigned(
    X: Any, centers: Any, labels: Any, *, xp: ModuleType, chunk_rows: int
) -> Any:
    """``||x_i - c_{label_i}||^2`` for every row, from differences (exact, no cancellation)."""
    out = xp.empty(X.shape[0], dtype=X.dtype, device=X.device)
    for start, stop in row_chunks(X.shape[0], chunk_rows):
        diff = X[start:stop, :] - xp.take(centers, labels[start:stop], axis=0)
        out[start:stop] = xp.sum(diff * diff, axis=1)
    return out


#: An entry of :func:`pairwise_sq_distances` whose expanded value is below this share of
#: ``||x||^2 + ||c||^2`` (both after centring on the centres' mean) is recomputed from the
#: differences: the expansion's rounding error is about ``eps * (||x||^2 + ||c||^2)``, so every
#: entry kept is within ``eps / CANCELLATION_SHARE`` (2e-12 relative in float64) of the exact value.
CANCELLATION_SHARE = 1e-4


def pairwise_sq_distances(
    X: Any, centers: Any, *, xp: ModuleType, chunk_rows: int, acc_dtype: Any, root: bool = False
) -> Any:
    """Squared distances from every row to every centre, shape (n, k), in X's dtype (with
    ``root``, the distances themselves, the square root taken before rounding to X's dtype).

    By the expansion ``||x||^2 - 2 x.c + ||c||^2`` in ``acc_dtype`` (float64 where the device
    has it: one matrix product a block), on data and centres centred on the centres' mean;
    a block with an entry where the expansion cancels (below :data:`CANCELLATION_SHARE` of
    ``||x||^2 + ||c||^2``: a point on or next to a centre) is recomputed from the differences,
    so distances stay exact near zero, where a square root would magnify a rounding residue.
    """
    frame = CentredCenters(centers, xp, acc_dtype)
    out = xp.empty((X.shape[0], centers.shape[0]), dtype=X.dtype, device=X.device)
    for start, stop in row_chunks(X.shape[0], chunk_rows):
        out[start:stop, :] = frame.sq_distances(X[start:stop, :], chunk_rows, root)
    return out


class CentredCenters:
    """Centres in the accumulator dtype, centred on their mean, with what every block of
    :func:`pairwise_sq_distances` reuses (shared with the NumPy kernel's threads)."""

    def __init__(self, centers: Any, xp: ModuleType, acc_dtype: Any) -> None:
        centers_acc = xp.astype(centers, acc_dtype)
        self.xp, self.acc_dtype = xp, acc_dtype
        self.shift = xp.mean(centers_acc, axis=0)
        self.centred = centers_acc - self.shift
        self.c_sq = xp.sum(self.centred * self.centred, axis=1)
        # -2 folded into the centres (exact: a power of two), one pass less over every block
        self.neg2_centred_t = -2 * xp.permute_dims(self.centred, (1, 0))

    def sq_distances(self, rows: Any, chunk_rows: int, root: bool = False) -> Any:
        """The block's (rows x k) squared distances (``root``: distances), in the dtype of
        ``rows``."""
        xp = self.xp
        block = xp.astype(rows, self.acc_dtype) - self.shift
        scale = xp.sum(block * block, axis=1)[:, None] + self.c_sq[None, :]
        sq = block @ self.neg2_centred_t + scale
        if bool(xp.any(sq < CANCELLATION_SHARE * scale)):
            sq = _differences(block, self.centred, xp, max(1, chunk_rows // rows.shape[1]))
        sq = xp.clip(sq, min=0)
        return xp.astype(xp.sqrt(sq) if root else sq, rows.dtype)


def _differences(block: Any, centers: Any, xp: ModuleType, sub_rows: int) -> Any:
    """``sum((x - c)^2)`` for every row of ``block`` and centre, in sub-blocks of ``sub_rows`` rows
    (the (rows, k, d) differences are d times wider than the expansion's temporaries)."""
    out = xp.empty((block.shape[0], centers.shape[0]), dtype=block.dtype, device=block.device)
    for start, stop in row_chunks(block.shape[0], sub_rows):
        diff = block[start:stop, None, :] - centers[None, :, :]
        out[start:stop, :] = xp.sum(diff * diff, axis=2)
    return out


def cluster_distance_sums(
    X: Any, x_sq_norms: Any, one_hot: Any, *, xp: ModuleType, chunk_rows: int
) -> Any:
    """For every row, the sum of its Euclidean distances to the members of each cluster.

    ``one_hot`` (n, k) marks cluster membership; ``x_sq_norms`` are the squared row
    norms of X (centre X first for accuracy). Returns an (n, k) array; the n x n
    distance matrix is built one block of rows at a time and never whole.
    """
    n = X.shape[0]
    out = xp.empty((n, one_hot.shape[1]), dtype=X.dtype, device=X.device)
    X_t_neg2 = -2 * xp.permute_dims(X, (1, 0))
    for start, stop in row_chunks(n, chunk_rows):
        sq = X[start:stop, :] @ X_t_neg2 + x_sq_norms[None, :] + x_sq_norms[start:stop, None]
        out[start:stop, :] = xp.sqrt(xp.clip(sq, min=0)) @ one_hot
    return out


def distance_block(X: Any, x_sq_norms: Any, start: int, stop: int, *, xp: ModuleType) -> Any:
    """Euclidean distances from rows ``start:stop`` of X to every row of X, (stop - start, n);
    ``x_sq_norms`` are X's squared row norms (centre X first for accuracy)."""
    block = X[start:stop, :]
    products = block @ xp.permute_dims(X, (1, 0))
    sq = x_sq_norms[start:stop, None] - 2 * products + x_sq_norms[None, :]
    return xp.sqrt(xp.clip(sq, min=0))


def stream_to_device(batches: Any, *, xp: ModuleType, device: Any) -> Any:
    """Yield every batch (a tuple of arrays or None) moved to ``xp`` on ``device``, one at a time.

    The reference for backends without an overlapped copy: each batch is copied when
    it is asked for, so a copy and the work on the previous batch do not overlap.
    """
    for batch in batches:
        yield tuple(None if a is None else move(a, array_namespace(a), xp, device) for a in batch)


def assign_and_sum_batched(
    X: Any,
    centers: Any,
    weights: Any,
    *,
    xp: ModuleType,
    acc_dtype: Any,
    chunk_rows: int,
    x_sq_norms: Any | None = None,
    shift: Any | None = None,
    exact: Callable[[], Any] = contextlib.nullcontext,
) -> tuple[Any, Any, Any, Any]:
    """One Lloyd pass for ``r`` runs at once, centres of shape (r, k, d) in the shifted frame.

    Each block of rows meets all r * k centres in one matrix product, and all r runs'
    cluster sums come from one weighted one-hot product (every row is one-hot in each
    run), so X is read once per iteration for all the runs and the products are r times
    wider: the batched restarts of the course material without a Python loop over them.
    The sums' product runs inside ``exact()``: in a reduced-precision fit only the distances
    may lose mantissa bits, never the centres.

    Returns
    -------
    labels : int64 array of shape (n_samples, r)
    min_sq_dist : array of shape (n_samples, r)
    sums : array of shape (r, k, n_features), dtype ``acc_dtype`` (sums of shifted rows)
    weight_sums : array of shape (r, k), dtype ``acc_dtype``
    """
    runs, k, d = centers.shape
    n = X.shape[0]
    dev = X.device
    flat = xp.reshape(centers, (runs * k, d))
    c_sq = xp.sum(flat * flat, axis=1)
    centers_t_neg2 = -2 * xp.permute_dims(flat, (1, 0))
    cluster_ids = xp.arange(k, dtype=xp.int64, device=dev)
    labels = xp.empty((n, runs), dtype=xp.int64, device=dev)
    min_sq = xp.empty((n, runs), dtype=X.dtype, device=dev)
    sums = xp.zeros((runs * k, d), dtype=acc_dtype, device=dev)
    weight_sums = xp.zeros(runs * k, dtype=acc_dtype, device=dev)
    gather = getattr(xp, "take_along_axis", None)
    for start, stop in row_chunks(n, chunk_rows):
        rows = stop - start
        block = X[start:stop, :] if shift is None else X[start:stop, :] - shift
        block_sq = xp.vecdot(block, block) if x_sq_norms is None else x_sq_norms[start:stop]
        partial = xp.reshape(block @ centers_t_neg2 + c_sq[None, :], (rows, runs, k))
        nearest = xp.astype(xp.argmin(partial, axis=2), xp.int64)
        labels[start:stop, :] = nearest
        if gather is not None:
            best = gather(partial, nearest[:, :, None], axis=2)[:, :, 0]
        else:
            best = xp.min(partial, axis=2)
        min_sq[start:stop, :] = xp.clip(best + block_sq[:, None], min=0)
        w = weights[start:stop]
        one_hot = (
            xp.reshape(xp.astype(nearest[:, :, None] == cluster_ids, X.dtype), (rows, runs * k))
            * w[:, None]
        )
        with exact():
            sums = sums + xp.astype(xp.permute_dims(one_hot, (1, 0)) @ block, acc_dtype)
        weight_sums = weight_sums + xp.sum(xp.astype(one_hot, acc_dtype), axis=0)
    return labels, min_sq, xp.reshape(sums, (runs, k, d)), xp.reshape(weight_sums, (runs, k))


def take_rows(X: Any, indices: Any, *, xp: ModuleType, dense: bool = False) -> Any:
    """Rows ``indices`` of X (``dense`` changes nothing for a dense array)."""
    return xp.take(X, indices, axis=0)


def column_bounds(X: Any, keep: Any, *, xp: ModuleType) -> tuple[Any, Any]:
    """Columns' minima and maxima over the rows where ``keep`` is True."""
    inf = xp.asarray(float("inf"), dtype=X.dtype, device=X.device)
    low = xp.min(xp.where(keep[:, None], X, inf), axis=0)
    high = xp.max(xp.where(keep[:, None], X, -inf), axis=0)
    return low, high


def scatter_rows(full: Any, mask: Any, compressed: Any, xp: ModuleType) -> Any:
    """``full`` (1-D, or rows of a 2-D array) with the entries where ``mask`` holds replaced, in
    order, by ``compressed`` (the standard has no integer-array assignment)."""
    if compressed.shape[0] == 0:
        return full
    position = xp.cumulative_sum(xp.astype(mask, xp.int64)) - 1
    position = xp.clip(position, min=0, max=compressed.shape[0] - 1)
    expanded = xp.take(compressed, position, axis=0)
    where = mask if full.ndim == 1 else mask[:, None]
    return xp.where(where, expanded, full)
