"""Compiled halves of the NumPy Lloyd pass (Numba, the ``fast`` extra).

BLAS computes each block's products ``P = (-2 C) @ block.T`` (k x rows, rows contiguous);
what NumPy then needs five passes and a one-hot product for — add ||c||^2, argmin, gather,
scatter, cluster sums — is one compiled loop here. The argmin walks the centres in order
and compares whole rows of ``P`` at once (vectorised across points), keeping the first
minimum as ``argmin`` does, on ``P + c_sq`` in X's dtype as the NumPy path. The products are
the same dot products, but BLAS may sum a transposed product in another order (the last bit of
about a third of the shapes tried), so a point within rounding of two centres can take the
other one; elsewhere the labels are the NumPy path's (at k <= 16 the products are the NumPy
path's own). Cluster sums are accumulated in float64 straight from the rows (the NumPy path
sums a block in X's dtype first).

Numba is imported only when a kernel is first asked for; compiled code is cached on disk.
"""

from __future__ import annotations

import functools
from typing import Any

from gkmeans._kernels.numba_jit import njit_cached


@functools.lru_cache(maxsize=1)
def kernels() -> Any:
    """The compiled kernels as a namespace; raises ImportError without Numba."""
    import numpy as np

    jit = njit_cached

    @jit
    def nearest_of_block(
        products: Any,
        c_sq: Any,
        block_sq: Any,
        best: Any,
        nearest: Any,
        labels_out: Any,
        min_sq_out: Any,
    ) -> None:
        """Labels and squared distances of one block; ``best`` / ``nearest`` are per-thread
        scratch."""
        k, rows = products.shape
        for i in range(rows):
            best[i] = products[0, i] + c_sq[0]
            nearest[i] = 0
        for j in range(1, k):
            cj = c_sq[j]
            label = np.int32(j)
            for i in range(rows):  # branch-free, so that it vectorises across points
                value = products[j, i] + cj
                closer = value < best[i]
                best[i] = value if closer else best[i]
                nearest[i] = label if closer else nearest[i]
        for i in range(rows):
            labels_out[i] = nearest[i]
            distance = best[i] + block_sq[i]
            min_sq_out[i] = distance if distance > 0 else 0

    @jit
    def nearest_of_rows(
        products: Any, c_sq: Any, block_sq: Any, labels_out: Any, min_sq_out: Any
    ) -> None:
        """Labels and squared distances of one block from row-major products (rows x k), a row at
        a time: the NumPy pass's ``P + c_sq``, first minimum, ``+ ||x||^2`` clamped at 0."""
        rows, k = products.shape
        for i in range(rows):
            best = products[i, 0] + c_sq[0]
            label = 0
            for j in range(1, k):
                value = products[i, j] + c_sq[j]
                if value < best:
                    best = value
                    label = j
            labels_out[i] = label
            distance = best + block_sq[i]
            min_sq_out[i] = distance if distance > 0 else 0

    @jit
    def add_to_clusters(block: Any, weights: Any, labels: Any, sums: Any, weight_sums: Any) -> None:
        """``sums[label] += w * row`` and ``weight_sums[label] += w`` for the rows of a block, in
        float64."""
        rows, d = block.shape
        for i in range(rows):
            label = labels[i]
            w = np.float64(weights[i])
            for f in range(d):
                sums[label, f] += np.float64(block[i, f]) * w
            weight_sums[label] += w

    @jit
    def weighted_inertia(X: Any, centers: Any, labels: Any, weights: Any) -> float:
        """Sum of ``w_i * ||x_i - c_{label_i}||^2`` from differences, in float64, in one pass."""
        rows, d = X.shape
        total = 0.0
        for i in range(rows):
            label = labels[i]
            row = 0.0
            for f in range(d):
                diff = np.float64(X[i, f]) - np.float64(centers[label, f])
                row += diff * diff
            total += np.float64(weights[i]) * row
        return total

    @jit
    def closer_of_block(
        products: Any,
        r_sq: Any,
        x_sq: Any,
        closest: Any,
        weights: Any,
        closer_out: Any,
        potential: Any,
    ) -> None:
        """The k-means++ candidates' step on one block, from its products ``rows @ block.T``:
        the array path's ``max(r_sq - 2 p + ||x||^2, 0)`` in X's dtype (``p + p`` is its exact
        ``2 p``), then the minimum with ``closest`` and the weighted potential in float64."""
        m, size = products.shape
        for c in range(m):
            r = r_sq[c]
            total = 0.0
            for i in range(size):
                p = products[c, i]
                value = (r - (p + p)) + x_sq[i]
                distance = np.float64(value) if value > 0 else 0.0
                nearest = closest[i]
                closer = distance if distance < nearest else nearest
                closer_out[c, i] = closer
                total += closer * weights[i]
            potential[c] += total

    # Compile (or load from the disk cache) the float32 and float64 versions now, so that the
    # cost falls on loading, not on the first pass.
    for dtype in (np.float32, np.float64):
        one = np.ones(1, dtype=dtype)
        nearest_of_block(
            np.ones((1, 1), dtype=dtype),
            one,
            one,
            one.copy(),
            np.zeros(1, dtype=np.int32),
            np.zeros(1, dtype=np.int64),
            one.copy(),
        )
        nearest_of_rows(
            np.ones((1, 1), dtype=dtype), one, one, np.zeros(1, dtype=np.int64), one.copy()
        )
        add_to_clusters(
            np.ones((1, 1), dtype=dtype),
            one,
            np.zeros(1, dtype=np.int64),
            np.zeros((1, 1)),
            np.zeros(1),
        )
        weighted_inertia(
            np.ones((1, 1), dtype=dtype),
            np.ones((1, 1), dtype=dtype),
            np.zeros(1, dtype=np.int64),
            one,
        )
        closer_of_block(
            np.ones((1, 1), dtype=dtype),
            one,
            one,
            np.ones(1),
            np.ones(1),
            np.zeros((1, 2))[:, :1],
            np.zeros(1),
        )  # a column block of the (m, n) result
    return _Kernels(
        nearest_of_block=nearest_of_block,
        nearest_of_rows=nearest_of_rows,
        add_to_clusters=add_to_clusters,
        weighted_inertia=weighted_inertia,
        closer_of_block=closer_of_block,
    )


class _Kernels:
    """The compiled kernels by name (every one of them: callers need no checks)."""

    def __init__(
        self,
        *,
        nearest_of_block: Any,
        nearest_of_rows: Any,
        add_to_clusters: Any,
        weighted_inertia: Any,
        closer_of_block: Any,
    ) -> None:
        self.nearest_of_block = nearest_of_block
        self.nearest_of_rows = nearest_of_rows
        self.add_to_clusters = add_to_clusters
        self.weighted_inertia = weighted_inertia
        self.closer_of_block = closer_of_block
