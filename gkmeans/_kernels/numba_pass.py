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

    # Module globals, not closure variables of the kernels that call them: Numba keys its disk
    # cache on a closure's contents, which differ in every process (see numba_bounds).
    global _decide_near_ties

    @jit
    def decide_near_ties(
        best: Any,
        second: Any,
        nearest: Any,
        block_sq: Any,
        raw: Any,
        shift: Any,
        centers: Any,
        scale: float,
        c_sq_max: float,
        labels_out: Any,
        min_sq_out: Any,
    ) -> int:
        """Labels and distances of a block from its nearest and runner-up values, the rows whose
        runner-up lies within ``scale * (||x||^2 + c_sq_max)`` of the nearest decided again
        among all centres from the differences ``(raw - shift) - c`` in float64 (``centers``
        float64, first minimum), as :func:`gkmeans._kernels.near_ties.assign_exact`. Returns how
        many rows were decided so."""
        k, d = centers.shape
        decided = 0
        for i in range(best.shape[0]):
            if second[i] - best[i] <= scale * (np.float64(block_sq[i]) + c_sq_max):
                decided += 1
                exact_best = np.inf
                exact_label = 0
                for j in range(k):
                    total = 0.0
                    for f in range(d):
                        diff = (np.float64(raw[i, f]) - np.float64(shift[f])) - centers[j, f]
                        total += diff * diff
                    if total < exact_best:
                        exact_best = total
                        exact_label = j
                labels_out[i] = exact_label
                min_sq_out[i] = exact_best
            else:
                labels_out[i] = nearest[i]
                distance = best[i] + block_sq[i]
                min_sq_out[i] = distance if distance > 0 else 0
        return decided

    _decide_near_ties = decide_near_ties

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
        # Four centres a sweep, as the small-d loop: each point's running minimum is read and
        # written once for four rows of products (one thread, k = 64-1,024: 17-21 against
        # 10-13 x 10^9 products a second); compared in centre order, strictly (first minimum).
        j = 1
        while j + 3 < k:
            ka, kb, ke, kg = c_sq[j], c_sq[j + 1], c_sq[j + 2], c_sq[j + 3]
            la, lb, le, lg = np.int32(j), np.int32(j + 1), np.int32(j + 2), np.int32(j + 3)
            pa, pb, pe, pg = products[j], products[j + 1], products[j + 2], products[j + 3]
            for i in range(rows):  # branch-free, so that it vectorises across points
                low, near = best[i], nearest[i]
                value = pa[i] + ka
                closer = value < low
                low, near = (value if closer else low), (la if closer else near)
                value = pb[i] + kb
                closer = value < low
                low, near = (value if closer else low), (lb if closer else near)
                value = pe[i] + ke
                closer = value < low
                low, near = (value if closer else low), (le if closer else near)
                value = pg[i] + kg
                closer = value < low
                best[i], nearest[i] = (value if closer else low), (lg if closer else near)
            j += 4
        for j in range(j, k):
            cj = c_sq[j]
            label = np.int32(j)
            for i in range(rows):
                value = products[j, i] + cj
                closer = value < best[i]
                best[i] = value if closer else best[i]
                nearest[i] = label if closer else nearest[i]
        for i in range(rows):
            labels_out[i] = nearest[i]
            distance = best[i] + block_sq[i]
            min_sq_out[i] = distance if distance > 0 else 0

    @jit
    def nearest_small_d(
        block: Any,
        neg2_centers: Any,
        c_sq: Any,
        block_sq: Any,
        columns: Any,
        partial: Any,
        best: Any,
        nearest: Any,
        second: Any,
        keep_second: bool,
        labels_out: Any,
        min_sq_out: Any,
    ) -> None:
        """Labels and squared distances of one block without a matrix product, for few features:
        the block is transposed into ``columns`` (features padded with zeros to
        ``neg2_centers.shape[1]``, a multiple of 4), and each centre's ``-2 x.c + ||c||^2`` is
        formed four features at a time for a whole row of points, compared as it is formed
        (``partial`` holds it between groups of four beyond the first). A product with so few
        terms leaves BLAS moving a k x rows block through memory for a few operations an element;
        here nothing but the block's columns is read. The sums run in feature order, so a point
        within rounding of two centres may take the other one than BLAS's product would.
        ``keep_second``: also keep each point's runner-up value in ``second`` (for
        ``decide_near_ties``; the loop without it is compiled apart, the test being
        invariant)."""
        rows, d = block.shape
        k, padded = neg2_centers.shape
        for f in range(padded):
            if f < d:
                for i in range(rows):
                    columns[f, i] = block[i, f]
            else:
                for i in range(rows):
                    columns[f, i] = 0
        for i in range(rows):
            best[i] = np.inf
            second[i] = np.inf
            nearest[i] = 0
        x0, x1, x2, x3 = columns[0], columns[1], columns[2], columns[3]
        first = 0
        if padded == 4:
            # Four centres a sweep: each point's columns and running minimum are read once for
            # four centres (measured, one thread, 1,024-4,096 points, k = 256: 15-18 against
            # 7-9 x 10^9 pairs a second one centre a sweep). The comparisons stay in centre
            # order, strict, so the first minimum is kept.
            c = neg2_centers
            for j in range(0, k - 3, 4):
                a0, a1, a2, a3, ka = c[j, 0], c[j, 1], c[j, 2], c[j, 3], c_sq[j]
                b0, b1, b2, b3, kb = c[j + 1, 0], c[j + 1, 1], c[j + 1, 2], c[j + 1, 3], c_sq[j + 1]
                e0, e1, e2, e3, ke = c[j + 2, 0], c[j + 2, 1], c[j + 2, 2], c[j + 2, 3], c_sq[j + 2]
                g0, g1, g2, g3, kg = c[j + 3, 0], c[j + 3, 1], c[j + 3, 2], c[j + 3, 3], c_sq[j + 3]
                la, lb = np.int32(j), np.int32(j + 1)
                le, lg = np.int32(j + 2), np.int32(j + 3)
                for i in range(rows):  # branch-free, so that it vectorises across points
                    p0, p1, p2, p3 = x0[i], x1[i], x2[i], x3[i]
                    va = (((a0 * p0 + a1 * p1) + a2 * p2) + a3 * p3) + ka
                    vb = (((b0 * p0 + b1 * p1) + b2 * p2) + b3 * p3) + kb
                    ve = (((e0 * p0 + e1 * p1) + e2 * p2) + e3 * p3) + ke
                    vg = (((g0 * p0 + g1 * p1) + g2 * p2) + g3 * p3) + kg
                    low, near, runner = best[i], nearest[i], second[i]
                    runner = min(runner, max(va, low))
                    closer = va < low
                    low, near = (va if closer else low), (la if closer else near)
                    runner = min(runner, max(vb, low))
                    closer = vb < low
                    low, near = (vb if closer else low), (lb if closer else near)
                    runner = min(runner, max(ve, low))
                    closer = ve < low
                    low, near = (ve if closer else low), (le if closer else near)
                    runner = min(runner, max(vg, low))
                    closer = vg < low
                    best[i], nearest[i] = (vg if closer else low), (lg if closer else near)
                    if keep_second:
                        second[i] = runner
            first = k - k % 4
        for j in range(first, k):
            c0, c1, c2, c3 = (
                neg2_centers[j, 0],
                neg2_centers[j, 1],
                neg2_centers[j, 2],
                neg2_centers[j, 3],
            )
            cj = c_sq[j]
            label = np.int32(j)
            if padded == 4:
                for i in range(rows):
                    value = (((c0 * x0[i] + c1 * x1[i]) + c2 * x2[i]) + c3 * x3[i]) + cj
                    if keep_second:
                        second[i] = min(second[i], max(value, best[i]))
                    closer = value < best[i]
                    best[i] = value if closer else best[i]
                    nearest[i] = label if closer else nearest[i]
                continue
            for i in range(rows):
                partial[i] = ((c0 * x0[i] + c1 * x1[i]) + c2 * x2[i]) + c3 * x3[i]
            for f in range(4, padded, 4):
                e0, e1, e2, e3 = (
                    neg2_centers[j, f],
                    neg2_centers[j, f + 1],
                    neg2_centers[j, f + 2],
                    neg2_centers[j, f + 3],
                )
                y0, y1, y2, y3 = columns[f], columns[f + 1], columns[f + 2], columns[f + 3]
                for i in range(rows):
                    partial[i] += ((e0 * y0[i] + e1 * y1[i]) + e2 * y2[i]) + e3 * y3[i]
            for i in range(rows):
                value = partial[i] + cj
                if keep_second:
                    second[i] = min(second[i], max(value, best[i]))
                closer = value < best[i]
                best[i] = value if closer else best[i]
                nearest[i] = label if closer else nearest[i]
        for i in range(rows):
            labels_out[i] = nearest[i]
            distance = best[i] + block_sq[i]
            min_sq_out[i] = distance if distance > 0 else 0

    @jit
    def nearest_exact_of_block(
        products: Any,
        c_sq: Any,
        block_sq: Any,
        raw: Any,
        shift: Any,
        centers: Any,
        scale: float,
        c_sq_max: float,
        best: Any,
        second: Any,
        nearest: Any,
        labels_out: Any,
        min_sq_out: Any,
    ) -> int:
        """:func:`nearest_of_block` that also keeps each row's runner-up, and decides again
        the rows whose runner-up lies within ``scale * (||x||^2 + c_sq_max)`` of the nearest
        (:func:`gkmeans._kernels.near_ties.assign_exact`): among all centres, from the
        differences ``(raw - shift) - c`` in float64 (``centers`` float64, first minimum).
        Returns how many rows were decided so."""
        k, rows = products.shape
        for i in range(rows):
            best[i] = products[0, i] + c_sq[0]
            second[i] = np.inf
            nearest[i] = 0
        for j in range(1, k):
            cj = c_sq[j]
            label = np.int32(j)
            for i in range(rows):  # branch-free, so that it vectorises across points
                value = products[j, i] + cj
                current = best[i]
                closer = value < current
                second[i] = min(second[i], max(value, current))
                best[i] = value if closer else current
                nearest[i] = label if closer else nearest[i]
        return _decide_near_ties(
            best,
            second,
            nearest,
            block_sq,
            raw,
            shift,
            centers,
            scale,
            c_sq_max,
            labels_out,
            min_sq_out,
        )

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

    # Nothing is compiled here: each kernel is compiled (or, far more often, loaded from the disk
    # cache, about 40 ms each) for the dtypes it is first called with, so that a fit loads the
    # few it uses (loading all 14 up front took 0.6 s on top of Numba's own 0.3 s import).
    return _Kernels(
        nearest_of_block=nearest_of_block,
        nearest_exact_of_block=nearest_exact_of_block,
        nearest_small_d=nearest_small_d,
        decide_near_ties=decide_near_ties,
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
        nearest_exact_of_block: Any,
        nearest_small_d: Any,
        decide_near_ties: Any,
        nearest_of_rows: Any,
        add_to_clusters: Any,
        weighted_inertia: Any,
        closer_of_block: Any,
    ) -> None:
        self.nearest_of_block = nearest_of_block
        self.nearest_exact_of_block = nearest_exact_of_block
        self.nearest_small_d = nearest_small_d
        self.decide_near_ties = decide_near_ties
        self.nearest_of_rows = nearest_of_rows
        self.add_to_clusters = add_to_clusters
        self.weighted_inertia = weighted_inertia
        self.closer_of_block = closer_of_block
