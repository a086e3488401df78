"""NumPy fast paths."""

from __future__ import annotations

from typing import Any

import numpy as np

from .agnostic import row_chunks


def assign(
    X: np.ndarray,
    centers: np.ndarray,
    *,
    xp: Any,
    chunk_rows: int,
    x_sq_norms: np.ndarray | None = None,
    shift: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`.agnostic.assign` with one reused block buffer and in-place updates.

    The same arithmetic in the same order as the agnostic version (so the same
    labels), without a fresh n x k temporary per operation: 2.7x faster at
    n=10^6, d=32, k=64 on two cores.
    """
    n = X.shape[0]
    if shift is not None:
        centers = centers - shift
    c_sq = np.sum(centers * centers, axis=1)
    centers_t_neg2 = np.ascontiguousarray(-2 * centers.T)
    labels = np.empty(n, dtype=np.int64)
    min_sq = np.empty(n, dtype=X.dtype)
    block_buffer = np.empty((min(chunk_rows, n), centers.shape[0]), dtype=X.dtype)
    for start, stop in row_chunks(n, chunk_rows):
        block = X[start:stop]
        if shift is not None:
            block = block - shift
        if x_sq_norms is None or shift is not None:
            block_sq = np.sum(block * block, axis=1)
        else:
            block_sq = x_sq_norms[start:stop]
        partial = block_buffer[: stop - start]
        np.matmul(block, centers_t_neg2, out=partial)
        partial += c_sq
        nearest = partial.argmin(axis=1)
        labels[start:stop] = nearest
        best = np.take_along_axis(partial, nearest[:, None], axis=1)[:, 0]
        np.add(best, block_sq, out=min_sq[start:stop])
    np.maximum(min_sq, 0, out=min_sq)
    return labels, min_sq


def segment_sum(
    X: np.ndarray, labels: np.ndarray, weights: np.ndarray, n_clusters: int, *, xp: Any, acc_dtype: Any, chunk_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster sums through one ``bincount`` over (label, feature) pairs per block.

    A flat bincount reads the block once, contiguously; a per-column bincount
    reads X ``n_features`` times with a stride and is 3x slower (measured at
    n=10^6, d=32, k=64). Accumulates in float64.
    """
    n, d = X.shape
    feature_offsets = np.arange(d)
    sums = np.zeros(n_clusters * d, dtype=np.float64)
    for start, stop in row_chunks(n, chunk_rows):
        block_labels = labels[start:stop]
        flat_index = (block_labels[:, None] * d + feature_offsets).ravel()
        weighted = X[start:stop] * weights[start:stop, None]
        sums += np.bincount(flat_index, weights=weighted.ravel(), minlength=n_clusters * d)
    weight_sums = np.bincount(labels, weights=weights, minlength=n_clusters).astype(np.float64, copy=False)
    return sums.reshape(n_clusters, d), weight_sums


def cluster_distance_sums(
    X: np.ndarray, x_sq_norms: np.ndarray, one_hot: np.ndarray, *, xp: Any, chunk_rows: int
) -> np.ndarray:
    """:func:`.agnostic.cluster_distance_sums` with one reused block buffer, updated in place."""
    n = X.shape[0]
    out = np.empty((n, one_hot.shape[1]), dtype=X.dtype)
    X_t_neg2 = np.ascontiguousarray(-2 * X.T)
    block_buffer = np.empty((min(chunk_rows, n), n), dtype=X.dtype)
    for start, stop in row_chunks(n, chunk_rows):
        sq = block_buffer[: stop - start]
        np.matmul(X[start:stop], X_t_neg2, out=sq)
        sq += x_sq_norms[None, :]
        sq += x_sq_norms[start:stop, None]
        np.maximum(sq, 0, out=sq)
        np.sqrt(sq, out=sq)
        np.matmul(sq, one_hot, out=out[start:stop])
    return out


def free_memory(device: Any) -> int | None:
    """Host memory available now, in bytes (None where the OS does not say)."""
    from .memory import host_available_bytes

    return host_available_bytes()
