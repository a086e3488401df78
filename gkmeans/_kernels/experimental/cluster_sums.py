"""``GKMEANS_CUDA_UPDATE=rows``: the centre update as one CUDA kernel (``cuda/cluster_sums.cu``):
each element cast and weighted in registers and added to its cluster's float64 sum by an atomic,
one read of the rows and no float64 copy."""

from __future__ import annotations

from typing import Any

import numpy as np

from gkmeans._kernels.experimental.cuda_sources import cuda_kernel

#: Threads a block, and the most blocks, of the cluster-sums kernel (a grid-stride loop covers the
#: rest).
CLUSTER_SUMS_THREADS = 256
CLUSTER_SUMS_MAX_BLOCKS = 8192


def cluster_sums(X: Any, labels: Any, weights: Any, n_clusters: int) -> tuple[Any, Any]:
    """float64 sums of the weighted rows of each cluster and the clusters' weights, by the kernel of
    ``cuda/cluster_sums.cu``: one launch, no temporaries."""
    import cupy

    n, d = X.shape
    with X.device:
        X = cupy.ascontiguousarray(X)
        weights = cupy.ascontiguousarray(weights.astype(X.dtype, copy=False))
        labels = cupy.ascontiguousarray(labels.astype(cupy.int64, copy=False))
        sums = cupy.zeros((n_clusters, d), dtype=cupy.float64)
        weight_sums = cupy.zeros(n_clusters, dtype=cupy.float64)
        blocks = max(1, min(CLUSTER_SUMS_MAX_BLOCKS, -(-n * d // CLUSTER_SUMS_THREADS)))
        cuda_kernel("cluster_sums.cu", X.dtype)(
            (blocks,),
            (CLUSTER_SUMS_THREADS,),
            (X, weights, labels, np.int64(n), np.int32(d), sums, weight_sums),
        )
        return sums, weight_sums
