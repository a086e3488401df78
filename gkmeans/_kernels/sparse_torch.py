"""Sparse primitives for PyTorch ``sparse_csr`` tensors (CPU, and CUDA where PyTorch supports the
operations): the operations of :mod:`.sparse_common` through ``csr @ dense`` and ``index_add_``.
Blocks of rows are built from the CSR parts (no copy of the values); their bounds come from a host
copy of the row pointers made once per matrix, so a pass of many blocks reads the device no more
than one of a block. Checked on the CPU; not measured on a GPU."""

from __future__ import annotations

import sys
from typing import Any, Callable

from gkmeans._kernels import sparse_common
from gkmeans._sparse import SparseRows


def acc_dtype(X: SparseRows) -> Any:
    import torch

    return torch.float64


def _csr(crow: Any, col: Any, values: Any, shape: tuple[int, int]) -> Any:
    import torch

    return torch.sparse_csr_tensor(crow, col, values, size=shape)


def _host_row_pointers(X: SparseRows) -> Any:
    """The row pointers as a NumPy array, copied to the host once per matrix: a block's bounds
    read from the tensor would wait for the device twice a block."""
    cached = X.cache.get("host_row_pointers")
    if cached is None:
        cached = X.matrix.crow_indices().cpu().numpy()
        X.cache["host_row_pointers"] = cached
    return cached


def block(X: SparseRows, start: int, stop: int) -> Any:
    crow = X.matrix.crow_indices()
    bounds = _host_row_pointers(X)
    first, last = int(bounds[start]), int(bounds[stop])
    return _csr(
        crow[start : stop + 1] - first,
        X.matrix.col_indices()[first:last],
        X.matrix.values()[first:last],
        (stop - start, X.shape[1]),
    )


def matmul(B: Any, dense: Any) -> Any:
    if B.dtype != dense.dtype:
        B = B.to(dense.dtype)
    return B @ dense


def _rows(crow: Any) -> Any:
    import torch

    counts = crow[1:] - crow[:-1]
    return torch.repeat_interleave(torch.arange(counts.shape[0], device=crow.device), counts)


def parts(B: Any) -> tuple[Any, Any, Any]:
    return B.values(), B.col_indices().long(), _rows(B.crow_indices())


def scatter_sum(ids: Any, values: Any, length: int, acc: Any) -> Any:
    import torch

    out = torch.zeros(length, dtype=acc, device=values.device)
    return out.index_add_(0, ids, values.to(acc))


def label_sums(X: SparseRows, labels: Any, weights: Any, k: int, acc: Any) -> tuple[Any, Any]:
    """Weighted row sums per label by one ``index_add_`` over the stored values."""
    values, cols, rows = parts(X.matrix)
    d = X.shape[1]
    w = weights.to(acc)
    flat = labels.long()[rows] * d + cols
    sums = scatter_sum(flat, values.to(acc) * w[rows], k * d, acc).reshape(k, d)
    return sums, scatter_sum(labels.long(), w, k, acc)


def take(X: SparseRows, indices: Any) -> SparseRows:
    """Rows ``indices`` as a new CSR tensor (their values gathered)."""
    import torch

    crow = X.matrix.crow_indices()
    indices = indices.long()
    counts = crow[indices + 1] - crow[indices]
    new_crow = torch.zeros(indices.shape[0] + 1, dtype=crow.dtype, device=crow.device)
    new_crow[1:] = torch.cumsum(counts, 0)
    starts = torch.repeat_interleave(crow[indices], counts)
    offsets = torch.arange(int(new_crow[-1]), device=crow.device) - torch.repeat_interleave(
        new_crow[:-1], counts
    )
    positions = starts + offsets
    matrix = _csr(
        new_crow,
        X.matrix.col_indices()[positions],
        X.matrix.values()[positions],
        (indices.shape[0], X.shape[1]),
    )
    return SparseRows(matrix, X.kind, X.xp, matrix.shape, X.dtype, X.device, matrix)


def dense(B: Any) -> Any:
    return B.to_dense()


def gram(B: Any, X: SparseRows) -> Any:
    # X times the block's rows (made dense: a block, never X): (n, rows), transposed.
    return (X.matrix @ B.to_dense().T).T


def column_bounds(X: SparseRows) -> tuple[Any, Any]:
    """Columns' minima and maxima, a column with a row not stored counting a zero."""
    import torch

    values, cols, _ = parts(X.matrix)
    n, d = X.shape
    inf = torch.full((d,), float("inf"), dtype=X.dtype, device=values.device)
    low = inf.scatter_reduce(0, cols, values, "amin")
    high = (-inf).scatter_reduce(0, cols, values, "amax")
    has_zero = torch.bincount(cols, minlength=d) < n
    zero = torch.zeros((), dtype=X.dtype, device=values.device)
    low = torch.where(has_zero, torch.minimum(low, zero), low)
    high = torch.where(has_zero, torch.maximum(high, zero), high)
    return low, high


#: This module: the operations :mod:`.sparse_common` calls.
_OPS = sys.modules[__name__]


def primitive(name: str) -> Callable[..., Any] | None:
    """The primitive ``name`` for PyTorch sparse rows, or None when sparse rows have none."""
    return sparse_common.bound(name, _OPS)
