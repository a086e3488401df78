"""Sparse primitives for SciPy CSR matrices on the CPU (:mod:`.sparse_common` over SciPy), with
the Lloyd pass compiled by Numba (:mod:`.sparse_numba`) where it is installed.

SciPy's ``csr @ dense`` runs in one thread; the compiled pass shares row blocks among the CPU
threads (:func:`.cpu_threads.in_threads`), each thread summing its clusters in its own float64
(k, d) array. Without Numba (or with ``GKMEANS_CPU_PASS=numpy``) the SciPy operations run: the
same results up to the order of the sums.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable

import numpy as np

from gkmeans import config
from gkmeans._kernels import sparse_common
from gkmeans._kernels.cpu_threads import cpu_threads, in_threads
from gkmeans._sparse import SparseRows

#: Rows per block of the compiled pass (each thread takes blocks in turn).
COMPILED_BLOCK_ROWS = 2048
#: Each thread of the compiled pass sums its clusters in its own float64 (k, d) array; when
#: those arrays together would take more than this, the pass runs in one thread (k x d is the
#: centres' size, which wide data and many clusters make large).
THREAD_SUMS_MAX_BYTES = 256 * 2**20


def acc_dtype(X: SparseRows) -> Any:
    return np.float64


def block(X: SparseRows, start: int, stop: int) -> Any:
    return X.matrix[start:stop]


def matmul(B: Any, dense: np.ndarray) -> np.ndarray:
    return np.asarray(B @ dense)


def parts(B: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = np.repeat(np.arange(B.shape[0], dtype=np.int64), np.diff(B.indptr))
    return B.data, B.indices.astype(np.int64), rows


def scatter_sum(ids: np.ndarray, values: np.ndarray, length: int, acc: Any) -> np.ndarray:
    return np.bincount(ids, weights=values, minlength=length).astype(acc, copy=False)


def label_sums(
    X: SparseRows, labels: np.ndarray, weights: np.ndarray, k: int, acc: Any
) -> tuple[np.ndarray, np.ndarray]:
    """A sparse one-hot (k x n) times X: the weighted row sums per label, and the weights."""
    import scipy.sparse as sp

    n = X.shape[0]
    w = np.asarray(weights, dtype=np.float64)
    one_hot = sp.csr_matrix((w, np.asarray(labels), np.arange(n + 1)), shape=(n, k)).T.tocsr()
    sums = (one_hot @ X.matrix.astype(np.float64, copy=False)).toarray()
    return sums.astype(acc, copy=False), np.bincount(labels, weights=w, minlength=k).astype(acc)


def take(X: SparseRows, indices: Any) -> SparseRows:
    matrix = X.matrix[np.asarray(indices, dtype=np.int64)]
    return SparseRows(matrix, X.kind, X.xp, matrix.shape, X.dtype, X.device, matrix)


def dense(B: Any) -> np.ndarray:
    return B.toarray()


def gram(B: Any, X: SparseRows) -> np.ndarray:
    return (B @ X.matrix.T).toarray()


def column_bounds(X: SparseRows) -> tuple[np.ndarray, np.ndarray]:
    low = X.matrix.min(axis=0).toarray().ravel()
    high = X.matrix.max(axis=0).toarray().ravel()
    return low.astype(X.dtype), high.astype(X.dtype)


def _compiled() -> Any:
    """The Numba kernels, or None (no Numba, or ``GKMEANS_CPU_PASS=numpy``)."""
    choice = config.cpu_pass()
    if choice == "numpy":
        return None
    from gkmeans._kernels import sparse_numba

    try:
        return sparse_numba.kernels()
    except ImportError:
        if choice == "numba":
            raise ImportError(
                "GKMEANS_CPU_PASS=numba needs Numba: pip install 'gkmeans[fast]'"
            ) from None
        return None


def _compiled_pass(
    X: SparseRows, centers: np.ndarray, weights: Any, shift: Any, with_sums: bool
) -> tuple[np.ndarray, ...] | None:
    """Labels, distances (and cluster sums and weights) by the compiled loop, or None."""
    compiled = _compiled()
    if compiled is None:
        return None
    matrix = X.matrix
    n, d = X.shape
    k = centers.shape[0]
    if shift is not None:
        centers = centers + shift
    centers = np.asarray(centers, dtype=X.dtype)
    centers_t = np.ascontiguousarray(centers.T)
    c_sq = np.einsum("ij,ij->i", centers, centers)
    x_sq = sparse_common.raw_sq_norms(X, _OPS)
    labels = np.empty(n, dtype=np.int64)
    min_sq = np.empty(n, dtype=X.dtype)
    w = np.ones(1) if weights is None else np.asarray(weights)

    def work(share: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        sums = np.zeros((k, d) if with_sums else (1, 1), dtype=np.float64)
        weight_sums = np.zeros(k, dtype=np.float64)
        # All the share's labels, then all its sums: interleaved block by block, the centres
        # and the sums evicted each other from the cache (measured 1.6x slower in float32).
        for start, stop in share:
            compiled.assign_rows(
                start, stop, matrix.data, matrix.indices, matrix.indptr, centers_t, c_sq, x_sq,
                labels, min_sq,
            )  # fmt: skip
        for start, stop in share if with_sums else ():
            compiled.sum_rows(
                start, stop, matrix.data, matrix.indices, matrix.indptr, labels, w, sums,
                weight_sums,
            )  # fmt: skip
        return sums, weight_sums

    block_rows = COMPILED_BLOCK_ROWS
    if with_sums and k * d * 8 * cpu_threads() > THREAD_SUMS_MAX_BYTES:
        block_rows = n  # one block: one thread, one (k, d) array of sums
    results = in_threads(n, block_rows, work)
    if not with_sums:
        return labels, min_sq
    sums = functools.reduce(np.add, [r[0] for r in results])
    weight_sums = functools.reduce(np.add, [r[1] for r in results])
    if shift is not None:
        sums = sums - weight_sums[:, None] * shift[None, :]
    return labels, min_sq, sums, weight_sums


def assign(X: SparseRows, centers: np.ndarray, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    """:func:`.sparse_common.assign`, by the compiled loop where Numba is installed."""
    fast = _compiled_pass(X, centers, None, kwargs.get("shift"), with_sums=False)
    return fast if fast is not None else sparse_common.assign(X, centers, ops=_OPS, **kwargs)


def assign_and_sum(
    X: SparseRows, centers: np.ndarray, weights: np.ndarray, **kwargs: Any
) -> tuple[np.ndarray, ...]:
    """:func:`.sparse_common.assign_and_sum`, one compiled pass where Numba is installed."""
    fast = _compiled_pass(X, centers, weights, kwargs.get("shift"), with_sums=True)
    if fast is not None:
        return fast
    return sparse_common.assign_and_sum(X, centers, weights, ops=_OPS, **kwargs)


_OWN = {"assign": assign, "assign_and_sum": assign_and_sum}
#: This module: the operations :mod:`.sparse_common` calls.
_OPS = sys.modules[__name__]


def primitive(name: str) -> Callable[..., Any] | None:
    """The primitive ``name`` for SciPy sparse rows, or None when sparse rows have none."""
    if name in _OWN:
        return _OWN[name]
    return sparse_common.bound(name, _OPS)
