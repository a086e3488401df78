"""Sparse primitives for CuPy CSR matrices (``cupyx.scipy.sparse``) on a GPU: the operations of
:mod:`.sparse_common` through cuSPARSE products, ``cupy.bincount`` sums and a sparse one-hot product
for the cluster sums. Not measured on a GPU (no test machine has one); the same operations as the
SciPy module, which the CPU tests check."""

from __future__ import annotations

import sys
from typing import Any, Callable

from gkmeans._kernels import sparse_common
from gkmeans._sparse import SparseRows


def acc_dtype(X: SparseRows) -> Any:
    return X.xp.float64


def block(X: SparseRows, start: int, stop: int) -> Any:
    return X.matrix[start:stop]


def matmul(B: Any, dense: Any) -> Any:
    if B.dtype != dense.dtype:
        B = B.astype(dense.dtype)
    return B @ dense


def parts(B: Any) -> tuple[Any, Any, Any]:
    import cupy

    # The row of every stored value, found on the device (no copy of the row lengths to the host).
    positions = cupy.arange(B.data.shape[0], dtype=B.indptr.dtype)
    rows = cupy.searchsorted(B.indptr[1:], positions, side="right").astype(cupy.int64)
    return B.data, B.indices.astype(cupy.int64), rows


def scatter_sum(ids: Any, values: Any, length: int, acc: Any) -> Any:
    import cupy

    return cupy.bincount(ids, weights=values, minlength=length).astype(acc, copy=False)


def label_sums(X: SparseRows, labels: Any, weights: Any, k: int, acc: Any) -> tuple[Any, Any]:
    """A sparse one-hot (k x n) times X, as :func:`.sparse_scipy.label_sums`."""
    import cupy
    import cupyx.scipy.sparse as cupy_sparse

    n = X.shape[0]
    w = weights.astype(cupy.float64)
    one_hot = cupy_sparse.csr_matrix(
        (w, labels.astype(cupy.int32), cupy.arange(n + 1, dtype=cupy.int32)), shape=(n, k)
    ).T.tocsr()
    sums = (one_hot @ X.matrix.astype(cupy.float64)).toarray()
    return sums.astype(acc, copy=False), cupy.bincount(labels, weights=w, minlength=k).astype(acc)


def take(X: SparseRows, indices: Any) -> SparseRows:
    matrix = X.matrix[indices]
    return SparseRows(matrix, X.kind, X.xp, matrix.shape, X.dtype, X.device, matrix)


def dense(B: Any) -> Any:
    return B.toarray()


def gram(B: Any, X: SparseRows) -> Any:
    return (B @ X.matrix.T).toarray()


def column_bounds(X: SparseRows) -> tuple[Any, Any]:
    low = X.matrix.min(axis=0).toarray().ravel()
    high = X.matrix.max(axis=0).toarray().ravel()
    return low.astype(X.dtype), high.astype(X.dtype)


#: This module: the operations :mod:`.sparse_common` calls.
_OPS = sys.modules[__name__]


def primitive(name: str) -> Callable[..., Any] | None:
    """The primitive ``name`` for CuPy sparse rows, or None when sparse rows have none."""
    return sparse_common.bound(name, _OPS)
