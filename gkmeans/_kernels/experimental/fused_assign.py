"""``GKMEANS_CUDA_ASSIGN=fused``: distance and argmin in one CUDA kernel (``cuda/fused_assign.cu``,
CUDA cores, exact precision), which never writes the n x k block."""

from __future__ import annotations

from typing import Any

import numpy as np

from gkmeans._kernels.experimental.cuda_sources import cuda_kernel

#: Rows per block and threads per block of the fused kernel (see the .cu file).
FUSED_ROWS_PER_BLOCK = 64
FUSED_BLOCK = (16, 16)


def fused_assign(
    X: Any, centers: Any, *, x_sq_norms: Any = None, shift: Any = None
) -> tuple[Any, Any]:
    """Labels and squared distances from the fused CUDA kernel: one launch, no n x k block and no
    n x d temporary in device memory (the rows' norms are accumulated by the kernel itself, so
    ``x_sq_norms`` is not needed)."""
    import cupy

    with X.device:
        X = cupy.ascontiguousarray(X)
        centers = cupy.ascontiguousarray(centers.astype(X.dtype, copy=False))
        n, d = X.shape
        k = centers.shape[0]
        shift = (
            cupy.zeros(d, dtype=X.dtype)
            if shift is None
            else cupy.ascontiguousarray(shift.astype(X.dtype))
        )
        c_sq = cupy.sum(centers * centers, axis=1)
        labels = cupy.empty(n, dtype=cupy.int64)
        min_sq = cupy.empty(n, dtype=X.dtype)
        grid = ((n + FUSED_ROWS_PER_BLOCK - 1) // FUSED_ROWS_PER_BLOCK,)
        cuda_kernel("fused_assign.cu", X.dtype)(
            grid,
            FUSED_BLOCK,
            (X, shift, centers, c_sq, np.int64(n), np.int32(k), np.int32(d), labels, min_sq),
        )
        return labels, min_sq
