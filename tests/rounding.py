"""Comparing two assignment paths that may round differently.

Two paths whose BLAS calls differ (operand layout, block height, a matrix-vector product for a
one-row block, the number of BLAS threads) get the same dot products summed in another order,
and some BLAS kernels even round one product differently by its position in the result
(OpenBLAS's Haswell kernels: equal centres in one product do not give equal distances). So
between such paths bit equality cannot be promised: labels can differ only where two centres
are within rounding of each other, and distances only by that rounding.
"""

from __future__ import annotations

import numpy as np


def expansion_tolerance(shifted_rows: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact squared distances (float64, n x k) and, per row, how far apart two paths' values
    of ``||x||^2 - 2 x.c + ||c||^2`` formed in the rows' dtype may lie: each is within
    (d + 2) units of rounding of ``||x||^2 + ||c||^2`` of the exact value (d-term dot products
    in any order), and a path's pick within twice that; doubled again for the reference's own
    rounding (float64 data)."""
    d = shifted_rows.shape[1]
    rows, cents = shifted_rows.astype(np.float64), centers.astype(np.float64)
    x_sq = np.einsum("ij,ij->i", rows, rows)
    c_sq = np.einsum("ij,ij->i", cents, cents)
    exact = np.maximum(x_sq[:, None] - 2 * (rows @ cents.T) + c_sq[None, :], 0)
    unit = np.finfo(shifted_rows.dtype).eps / 2
    return exact, 4 * (d + 2) * unit * (x_sq + c_sq.max())


def assert_labels_equal_up_to_rounding(labels: np.ndarray, expected: np.ndarray, shifted_rows: np.ndarray,
                                       centers: np.ndarray) -> None:
    """``labels`` equal ``expected`` on every row whose nearest centre beats the others by more
    than the rounding; on the rest (near or exact ties) both name a centre within it of the
    nearest. Most rows must be of the first kind, so that the comparison says something."""
    exact, tolerance = expansion_tolerance(shifted_rows, centers)
    best = exact.min(axis=1)
    within = exact <= (best + tolerance)[:, None]  # the centres either path may pick
    decided = within.sum(axis=1) == 1
    assert np.count_nonzero(decided) >= 0.8 * labels.shape[0], "too many near-ties for a meaningful comparison"
    np.testing.assert_array_equal(labels[decided], expected[decided])
    rows = np.arange(labels.shape[0])
    assert np.all(within[rows, labels]) and np.all(within[rows, expected])


def assert_distances_equal_up_to_rounding(min_sq: np.ndarray, expected: np.ndarray, shifted_rows: np.ndarray,
                                          centers: np.ndarray) -> None:
    """Two paths' squared distances to the nearest centre differ by no more than the rounding."""
    _, tolerance = expansion_tolerance(shifted_rows, centers)
    gap = np.abs(min_sq.astype(np.float64) - expected.astype(np.float64))
    assert np.all(gap <= tolerance), f"off by up to {np.max(gap / tolerance):.3g} times the rounding bound"
