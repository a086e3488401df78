"""The kernel primitives for sparse rows (:class:`gkmeans._sparse.SparseRows`), written once over a
few operations each sparse library provides (``ops``: ``sparse_scipy``, ``sparse_torch``,
``sparse_cupy``).

Sparse rows are never made dense, nor centred: centres stay dense (k x d) and distances come from
the sparse x dense product ``X @ C.T`` and the rows' squared norms, summed from the stored values.
A ``shift`` given by a caller (the centred frame of dense data, the predict rule's shift) is
undone on the centres, which is the same arithmetic: ``||(x - s) - (c - s)|| = ||x - c||``.
Cluster sums are one sparse reduction by label over X. Every function takes the arguments of its
dense twin in :mod:`gkmeans._kernels.agnostic`, plus ``ops``.

The operations a library module provides:

- ``block(X, start, stop)``: rows ``start:stop`` as the library's CSR matrix (no dense copy);
- ``matmul(B, dense)``: the sparse block times a dense (d, m) array, dense (rows, m);
- ``parts(B)``: stored values, their columns and their rows (local), dense 1-D arrays;
- ``scatter_sum(ids, values, length, acc)``: sums of ``values`` by ``ids``, shape (length,);
- ``label_sums(X, labels, weights, k, acc)``: (k, d) weighted row sums per label, and (k,)
  weights;
- ``take(X, indices)``: rows as :class:`~gkmeans._sparse.SparseRows`; ``dense(B)``: a few rows
  made dense; ``gram(B, X)``: ``B @ X.T``, dense (rows, n); ``column_bounds(X)``: columns'
  minima and maxima (implicit zeros included).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from gkmeans._kernels.agnostic import CANCELLATION_SHARE, row_chunks
from gkmeans._sparse import SparseRows

#: Rows per block of the passes whose temporaries are as wide as a sparse row (norms, inertia,
#: products with a few rows): the dense policy sizes those by n_features, which sparse rows do
#: not take. 2^20 stored values a block.
STORED_PER_BLOCK = 2**20


def _value_rows(X: SparseRows, chunk_rows: int) -> int:
    """Rows per block for a pass over stored values: about :data:`STORED_PER_BLOCK` of them."""
    per_row = max(1.0, X.nnz / max(1, X.shape[0]))
    return max(int(chunk_rows), int(STORED_PER_BLOCK / per_row), 1)


def _raw(centers: Any, shift: Any) -> Any:
    """Centres given in the frame of ``X - shift`` back in X's own frame."""
    return centers if shift is None else centers + shift


def raw_sq_norms(X: SparseRows, ops: ModuleType) -> Any:
    """Squared norms of X's rows, summed in the accumulator dtype from the stored values (computed
    once per matrix)."""
    cached = X.cache.get("sq_norms")
    if cached is not None:
        return cached
    xp = X.xp
    acc = ops.acc_dtype(X)
    out = xp.empty(X.shape[0], dtype=X.dtype, device=X.device)
    for start, stop in row_chunks(X.shape[0], _value_rows(X, 1)):
        values, _, rows = ops.parts(ops.block(X, start, stop))
        values = xp.astype(values, acc)
        out[start:stop] = xp.astype(
            ops.scatter_sum(rows, values * values, stop - start, acc), X.dtype
        )
    X.cache["sq_norms"] = out
    return out


def row_sq_norms(
    X: SparseRows, *, xp: ModuleType, chunk_rows: int, shift: Any = None, ops: ModuleType
) -> Any:
    """Squared norm of every row of ``X - shift`` (by the expansion when shifted)."""
    norms = raw_sq_norms(X, ops)
    if shift is None:
        return xp.asarray(norms, copy=True)
    product = _products(X, xp.reshape(shift, (-1, 1)), chunk_rows, ops)[:, 0]
    return xp.clip(norms - 2 * product + xp.sum(shift * shift), min=0)


def _products(X: SparseRows, dense_t: Any, chunk_rows: int, ops: ModuleType) -> Any:
    """``X @ dense_t`` (dense_t of shape (d, m)), dense (n, m), a block at a time."""
    xp = X.xp
    out = xp.empty((X.shape[0], dense_t.shape[1]), dtype=dense_t.dtype, device=X.device)
    for start, stop in row_chunks(X.shape[0], _value_rows(X, chunk_rows)):
        out[start:stop, :] = ops.matmul(ops.block(X, start, stop), dense_t)
    return out


def assign(
    X: SparseRows,
    centers: Any,
    *,
    xp: ModuleType,
    chunk_rows: int,
    x_sq_norms: Any = None,
    shift: Any = None,
    ops: ModuleType,
) -> tuple[Any, Any]:
    """Nearest centre of every row and its squared distance (see :func:`.agnostic.assign`)."""
    n = X.shape[0]
    centers = _raw(centers, shift)
    x_sq = raw_sq_norms(X, ops)
    c_sq = xp.sum(centers * centers, axis=1)
    neg2_t = -2 * xp.permute_dims(centers, (1, 0))
    labels = xp.empty(n, dtype=xp.int64, device=X.device)
    min_sq = xp.empty(n, dtype=X.dtype, device=X.device)
    for start, stop in row_chunks(n, chunk_rows):
        partial = ops.matmul(ops.block(X, start, stop), neg2_t) + c_sq[None, :]
        nearest = xp.astype(xp.argmin(partial, axis=1), xp.int64)
        labels[start:stop] = nearest
        min_sq[start:stop] = xp.clip(xp.min(partial, axis=1) + x_sq[start:stop], min=0)
    return labels, min_sq


def segment_sum(
    X: SparseRows,
    labels: Any,
    weights: Any,
    n_clusters: int,
    *,
    xp: ModuleType,
    acc_dtype: Any,
    chunk_rows: int,
    ops: ModuleType,
) -> tuple[Any, Any]:
    """Weighted row sums and weights per cluster: one sparse reduction by label over X."""
    return ops.label_sums(X, labels, weights, n_clusters, acc_dtype)


def assign_and_sum(
    X: SparseRows,
    centers: Any,
    weights: Any,
    *,
    xp: ModuleType,
    chunk_rows: int,
    x_sq_norms: Any = None,
    shift: Any = None,
    ops: ModuleType,
) -> tuple[Any, Any, Any, Any]:
    """One Lloyd pass: labels, distances, and the cluster sums (of rows in the frame of
    ``X - shift``) and weights."""
    labels, min_sq = assign(X, centers, xp=xp, chunk_rows=chunk_rows, shift=shift, ops=ops)
    sums, weight_sums = ops.label_sums(X, labels, weights, centers.shape[0], ops.acc_dtype(X))
    if shift is not None:
        sums = sums - weight_sums[:, None] * xp.astype(shift, sums.dtype)[None, :]
    return labels, min_sq, sums, weight_sums


def assign_and_sum_batched(
    X: SparseRows,
    centers: Any,
    weights: Any,
    *,
    xp: ModuleType,
    acc_dtype: Any,
    chunk_rows: int,
    x_sq_norms: Any = None,
    shift: Any = None,
    exact: Any = None,
    ops: ModuleType,
) -> tuple[Any, Any, Any, Any]:
    """:func:`assign_and_sum` for the (r, k, d) centres of r runs, stacked as the dense pass's."""
    parts = [
        assign_and_sum(
            X, centers[run, ...], weights, xp=xp, chunk_rows=chunk_rows, shift=shift, ops=ops
        )
        for run in range(centers.shape[0])
    ]
    return (
        xp.stack([p[0] for p in parts], axis=1),
        xp.stack([p[1] for p in parts], axis=1),
        xp.stack([xp.astype(p[2], acc_dtype) for p in parts]),
        xp.stack([xp.astype(p[3], acc_dtype) for p in parts]),
    )


def _assigned_sq(X: SparseRows, centers: Any, labels: Any, chunk_rows: int, ops: ModuleType):
    """Yield ``(start, stop, ||x - c_label||^2)`` per block, in the accumulator dtype, as
    scikit-learn's sparse inertia: ``||c||^2 + sum over stored (x - c)^2 - c^2``."""
    xp = X.xp
    acc = ops.acc_dtype(X)
    centers = xp.astype(centers, acc)
    d = X.shape[1]
    flat = xp.reshape(centers, (-1,))
    c_sq = xp.sum(centers * centers, axis=1)
    for start, stop in row_chunks(X.shape[0], _value_rows(X, chunk_rows)):
        values, cols, rows = ops.parts(ops.block(X, start, stop))
        block_labels = labels[start:stop]
        c_values = xp.take(flat, xp.take(block_labels, rows) * d + cols)
        diff = xp.astype(values, acc) - c_values
        per_value = diff * diff - c_values * c_values
        sq = ops.scatter_sum(rows, per_value, stop - start, acc) + xp.take(c_sq, block_labels)
        yield start, stop, xp.clip(sq, min=0)


def weighted_inertia(
    X: SparseRows,
    centers: Any,
    labels: Any,
    weights: Any,
    *,
    xp: ModuleType,
    acc_dtype: Any,
    chunk_rows: int,
    ops: ModuleType,
) -> Any:
    """Sum of weighted squared distances to the assigned centres (0-d, ``acc_dtype``)."""
    total = xp.zeros((), dtype=acc_dtype, device=X.device)
    for start, stop, sq in _assigned_sq(X, centers, labels, chunk_rows, ops):
        total = total + xp.sum(xp.astype(sq, acc_dtype) * xp.astype(weights[start:stop], acc_dtype))
    return total


def sq_distances_to_assigned(
    X: SparseRows, centers: Any, labels: Any, *, xp: ModuleType, chunk_rows: int, ops: ModuleType
) -> Any:
    """``||x_i - c_{label_i}||^2`` for every row."""
    out = xp.empty(X.shape[0], dtype=X.dtype, device=X.device)
    for start, stop, sq in _assigned_sq(X, centers, labels, chunk_rows, ops):
        out[start:stop] = xp.astype(sq, X.dtype)
    return out


def sq_distances_to_rows(
    X: SparseRows,
    x_sq_norms: Any,
    rows: Any,
    *,
    xp: ModuleType,
    chunk_rows: int,
    shift: Any = None,
    ops: ModuleType,
) -> Any:
    """Squared distances from each of ``rows`` (m, d) to every row of X: shape (m, n)."""
    rows = _raw(rows, shift)
    r_sq = xp.sum(rows * rows, axis=1)
    products = _products(X, xp.permute_dims(rows, (1, 0)), chunk_rows, ops)
    x_sq = raw_sq_norms(X, ops)
    dist = r_sq[:, None] - 2 * xp.permute_dims(products, (1, 0)) + x_sq[None, :]
    return xp.clip(dist, min=0)


def closer_distances(
    X: SparseRows,
    x_sq_norms: Any,
    rows: Any,
    closest: Any,
    weights: Any,
    *,
    xp: ModuleType,
    chunk_rows: int,
    shift: Any = None,
    ops: ModuleType,
) -> tuple[Any, Any]:
    """The k-means++ candidates' step (see :func:`.agnostic.closer_distances`)."""
    dist = sq_distances_to_rows(
        X, x_sq_norms, rows, xp=xp, chunk_rows=chunk_rows, shift=shift, ops=ops
    )
    closer = xp.minimum(closest[None, :], xp.astype(dist, closest.dtype))
    return closer, closer @ weights


def weighted_column_sums(
    X: SparseRows,
    weights: Any,
    *,
    xp: ModuleType,
    acc_dtype: Any,
    chunk_rows: int,
    shift: Any = None,
    ops: ModuleType,
) -> Any:
    """``sum_i w_i (x_i - shift)``, shape (n_features,), in ``acc_dtype``."""
    labels = xp.zeros(X.shape[0], dtype=xp.int64, device=X.device)
    sums, total = ops.label_sums(X, labels, weights, 1, acc_dtype)
    sums = xp.astype(sums[0, :], acc_dtype)
    if shift is not None:
        sums = sums - xp.astype(total[0], acc_dtype) * xp.astype(shift, acc_dtype)
    return sums


def column_mean(X: SparseRows, *, xp: ModuleType, ops: ModuleType) -> Any:
    """Mean of the rows (implicit zeros included), dense (n_features,)."""
    ones = xp.ones(X.shape[0], dtype=X.dtype, device=X.device)
    sums = weighted_column_sums(X, ones, xp=xp, acc_dtype=ops.acc_dtype(X), chunk_rows=1, ops=ops)
    return xp.astype(sums / X.shape[0], X.dtype)


def pairwise_sq_distances(
    X: SparseRows,
    centers: Any,
    *,
    xp: ModuleType,
    chunk_rows: int,
    acc_dtype: Any,
    root: bool = False,
    ops: ModuleType,
) -> Any:
    """Squared distances (``root``: distances) from every row to every centre, (n, k), by the
    expansion in ``acc_dtype``; an entry where it cancels (a row on or next to a centre, below
    :data:`CANCELLATION_SHARE` of ``||x||^2 + ||c||^2``) is recomputed from the stored values."""
    n, k = X.shape[0], centers.shape[0]
    centers_acc = xp.astype(centers, acc_dtype)
    c_sq = xp.sum(centers_acc * centers_acc, axis=1)
    x_sq = xp.astype(raw_sq_norms(X, ops), acc_dtype)
    neg2_t = -2 * xp.permute_dims(centers_acc, (1, 0))
    out = xp.empty((n, k), dtype=X.dtype, device=X.device)
    for start, stop in row_chunks(n, chunk_rows):
        block = ops.block(X, start, stop)
        scale = x_sq[start:stop, None] + c_sq[None, :]
        sq = xp.astype(ops.matmul(block, neg2_t), acc_dtype) + scale
        if bool(xp.any(sq < CANCELLATION_SHARE * scale)):
            sq = _exact_block(X, start, stop, centers, ops)
        sq = xp.clip(sq, min=0)
        out[start:stop, :] = xp.astype(xp.sqrt(sq) if root else sq, X.dtype)
    return out


def _exact_block(X: SparseRows, start: int, stop: int, centers: Any, ops: ModuleType) -> Any:
    """The block's (rows, k) squared distances from the stored values, one centre at a time."""
    xp = X.xp
    block = ops.take(X, xp.arange(start, stop, dtype=xp.int64, device=X.device))
    columns = []
    for j in range(centers.shape[0]):
        labels = xp.full(stop - start, j, dtype=xp.int64, device=X.device)
        columns.append(next(_assigned_sq(block, centers, labels, stop - start, ops))[2])
    return xp.stack(columns, axis=1)


def cluster_distance_sums(
    X: SparseRows,
    x_sq_norms: Any,
    one_hot: Any,
    *,
    xp: ModuleType,
    chunk_rows: int,
    ops: ModuleType,
) -> Any:
    """For every row, the sum of its Euclidean distances to the members of each cluster, (n, k);
    the (rows, n) distances come from the sparse product ``B @ X.T`` one block at a time."""
    n = X.shape[0]
    x_sq = raw_sq_norms(X, ops)
    out = xp.empty((n, one_hot.shape[1]), dtype=X.dtype, device=X.device)
    for start, stop in row_chunks(n, chunk_rows):
        gram = xp.astype(ops.gram(ops.block(X, start, stop), X), X.dtype)
        sq = x_sq[start:stop, None] + x_sq[None, :] - 2 * gram
        out[start:stop, :] = xp.sqrt(xp.clip(sq, min=0)) @ one_hot
    return out


def distance_block(
    X: SparseRows, x_sq_norms: Any, start: int, stop: int, *, xp: ModuleType, ops: ModuleType
) -> Any:
    """Euclidean distances from rows ``start:stop`` to every row, (stop - start, n), from the
    sparse product ``B @ X.T`` and the rows' squared norms."""
    gram = xp.astype(ops.gram(ops.block(X, start, stop), X), X.dtype)
    sq = x_sq_norms[start:stop, None] + x_sq_norms[None, :] - 2 * gram
    return xp.sqrt(xp.clip(sq, min=0))


def take_rows(
    X: SparseRows, indices: Any, *, xp: ModuleType, dense: bool = False, ops: ModuleType
) -> Any:
    """Rows ``indices`` of X: sparse rows, or (``dense``, for a few rows only) a dense array."""
    rows = ops.take(X, indices)
    return ops.dense(rows.matrix) if dense else rows


def column_bounds(X: SparseRows, keep: Any, *, xp: ModuleType, ops: ModuleType) -> tuple[Any, Any]:
    """Columns' minima and maxima over the rows where ``keep`` (implicit zeros included)."""
    kept = ops.take(X, xp.astype(xp.nonzero(keep)[0], xp.int64))
    return ops.column_bounds(kept)


#: The primitives above, by name (what :func:`bound` hands out).
PRIMITIVES = (
    "assign",
    "assign_and_sum",
    "assign_and_sum_batched",
    "closer_distances",
    "cluster_distance_sums",
    "column_bounds",
    "column_mean",
    "distance_block",
    "pairwise_sq_distances",
    "row_sq_norms",
    "segment_sum",
    "sq_distances_to_assigned",
    "sq_distances_to_rows",
    "take_rows",
    "weighted_column_sums",
    "weighted_inertia",
)


def bound(name: str, ops: ModuleType) -> Any:
    """The primitive ``name`` running on the operations ``ops``, or None when sparse rows have
    no such primitive."""
    if name not in PRIMITIVES:
        return None
    function = globals()[name]
    return lambda *args, **kwargs: function(*args, ops=ops, **kwargs)
