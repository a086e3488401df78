"""CuPy fast paths."""

from __future__ import annotations

from typing import Any

from .agnostic import row_chunks


def segment_sum(
    X: Any, labels: Any, weights: Any, n_clusters: int, *, xp: Any, acc_dtype: Any, chunk_rows: int
) -> tuple[Any, Any]:
    """Cluster sums through ``cupyx.scatter_add`` (atomic adds), in ``acc_dtype``.

    float64 atomics are native from compute capability 6.0, so the sums carry
    no float32 rounding error whatever the cluster sizes.
    """
    import cupy
    import cupyx

    d = X.shape[1]
    with X.device:  # allocate and launch on the data's GPU, not the current one
        sums = cupy.zeros((n_clusters, d), dtype=acc_dtype)
        weight_sums = cupy.zeros(n_clusters, dtype=acc_dtype)
        for start, stop in row_chunks(X.shape[0], chunk_rows):
            w = weights[start:stop].astype(acc_dtype)
            block_labels = labels[start:stop]
            cupyx.scatter_add(sums, block_labels, X[start:stop].astype(acc_dtype) * w[:, None])
            cupyx.scatter_add(weight_sums, block_labels, w)
    return sums, weight_sums


def free_memory(device: Any) -> int | None:
    """Free memory on the CUDA device, in bytes (CuPy's pool counts as free)."""
    import cupy

    with device:
        free, _total = cupy.cuda.runtime.memGetInfo()
        pool = cupy.get_default_memory_pool()
        return int(free + pool.free_bytes())
