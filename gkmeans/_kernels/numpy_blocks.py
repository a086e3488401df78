"""The NumPy pass's blocks: shift a block of rows, label it, add it to the cluster sums.

:class:`BlockLabeller` is the plain NumPy version (BLAS product, NumPy argmin, one-hot or sorted
sums); :class:`CompiledBlockLabeller` compiles the argmin and the sums (:mod:`.numba_pass`), and
below :data:`SMALL_D_MAX_FEATURES` features labels without a product; :class:`ExactBlockLabeller`
decides near ties exactly (:mod:`.near_ties`). :mod:`.numpy_` shares the blocks among threads.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gkmeans import config
from gkmeans._kernels import near_ties


class RowShifter:
    """Writes blocks of rows of ``X - shift`` into per-thread buffers reused from block to block
    (X's own rows when there is no shift): the subtraction every blocked pass starts with.
    """

    def __init__(self, X: np.ndarray, shift: np.ndarray | None, block_rows: int) -> None:
        self.X, self.shift = X, shift
        self.block_rows = max(1, min(block_rows, X.shape[0]))

    def buffer(self) -> np.ndarray | None:
        """A thread's own (block x d) buffer (None without a shift)."""
        return (
            None
            if self.shift is None
            else np.empty((self.block_rows, self.X.shape[1]), dtype=self.X.dtype)
        )

    def __call__(self, start: int, stop: int, buffer: np.ndarray | None) -> np.ndarray:
        """Rows ``start:stop`` (at most ``block_rows`` of them) of ``X - shift``."""
        if self.shift is None:
            return self.X[start:stop]
        return np.subtract(self.X[start:stop], self.shift, out=buffer[: stop - start])


class BlockLabeller:
    """The part of a pass every NumPy kernel shares: shift a block, label it, record distances.

    Labels come from the argmin of ``-2 x.c + ||c||^2`` built in a reused buffer (the same
    arithmetic, in the same order, as :func:`.agnostic.assign`, so the same labels).
    """

    def __init__(
        self,
        X: np.ndarray,
        centers: np.ndarray,
        xp: Any,
        x_sq_norms: Any,
        shift: Any,
        block_rows: int,
    ) -> None:
        self.X, self.xp, self.x_sq_norms = X, xp, x_sq_norms
        self.shifter = RowShifter(X, shift, block_rows)
        self.c_sq = np.sum(centers * centers, axis=1)
        self.centers_t_neg2 = np.ascontiguousarray(-2 * centers.T)
        self.labels = np.empty(X.shape[0], dtype=np.int64)
        self.min_sq = np.empty(X.shape[0], dtype=X.dtype)

    def buffers(self) -> tuple[np.ndarray, np.ndarray | None]:
        """A thread's own (block x k) distance buffer and (block x d) shifted-rows buffer (None
        without a shift)."""
        return (
            np.empty((self.shifter.block_rows, self.c_sq.shape[0]), dtype=self.X.dtype),
            self.shifter.buffer(),
        )

    def _shifted_block(
        self, start: int, stop: int, shifted: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        block = self.shifter(start, stop, shifted)
        block_sq = (
            self.xp.vecdot(block, block) if self.x_sq_norms is None else self.x_sq_norms[start:stop]
        )
        return block, block_sq

    def label(self, start: int, stop: int, scratch: Any) -> tuple[np.ndarray, np.ndarray]:
        """Label rows ``start:stop``; returns the shifted block and its labels (scratch[0] holds the
        distances)."""
        partial, shifted = scratch[0][: stop - start], scratch[1]
        block, block_sq = self._shifted_block(start, stop, shifted)
        np.matmul(block, self.centers_t_neg2, out=partial)
        partial += self.c_sq
        nearest = partial.argmin(axis=1)
        self.labels[start:stop] = nearest
        best = np.take_along_axis(partial, nearest[:, None], axis=1)[:, 0]
        np.add(best, block_sq, out=self.min_sq[start:stop])
        return block, nearest

    def label_and_sum(
        self,
        start: int,
        stop: int,
        scratch: Any,
        weights: np.ndarray,
        sums: np.ndarray,
        weight_sums: np.ndarray,
    ) -> None:
        """:meth:`label`, then add the block's weighted rows to ``sums``: through a one-hot
        product built in the distance buffer while it is still in cache, or, from
        :data:`gkmeans.config.NUMPY_SORTED_SUMS_MIN_CLUSTERS` clusters, by sorting the rows by
        label and summing each run of them (``reduceat``): the one-hot product costs as much as
        the distance product (k x d per row), the sort a few passes over the block."""
        rows = stop - start
        block, nearest = self.label(start, stop, scratch)
        block_weights = weights[start:stop]
        if sums.shape[0] >= config.NUMPY_SORTED_SUMS_MIN_CLUSTERS:
            order = np.argsort(nearest, kind="stable")
            sorted_labels = nearest[order]
            starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
            weighted = block[order]
            weighted *= block_weights[order, None]
            sums[sorted_labels[starts]] += np.add.reduceat(weighted, starts, axis=0)
        else:
            partial = scratch[0][:rows]
            partial.fill(0)  # the distance buffer becomes the weighted one-hot matrix
            partial[np.arange(rows), nearest] = block_weights
            sums += partial.T @ block
        weight_sums += np.bincount(nearest, weights=block_weights, minlength=sums.shape[0])

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        np.maximum(self.min_sq, 0, out=self.min_sq)
        return self.labels, self.min_sq


#: Up to this many clusters the compiled pass forms the products row-major, ``block @ (-2 C).T``
#: (the NumPy pass's own call: its labels bit for bit at equal blocks), and finds each row's
#: minimum in turn: OpenBLAS forms that layout about 2x faster than the transposed one for so
#: few centres, which more than pays for the row-at-a-time argmin (measured, one thread, per 10^5
#: rows of d = 32: k = 8, 1.9 against 2.6 ms; k = 16, 2.3 against 2.8; k = 32, 4.8 against 4.2).
ROW_MAJOR_MAX_CLUSTERS = 16


#: Up to this many features the compiled
#: pass forms ``-2 x.c + ||c||^2`` in its own loop instead of a matrix product
#: (:func:`.numba_pass.kernels`' ``nearest_small_d``): BLAS's product of so few terms a row is
#: bound by writing and re-reading the k x rows block. Measured per pass, side by side (n =
#: 273,280, k = 256, float32, 2 threads; product and argmin / this loop): d = 2, 12.4 / 3.4 ms;
#: d = 3, 14.7 / 3.8; d = 4, 17.5 / 4.3; d = 8, 16.8 / 11.9; d = 12, 18.4 / 19.5.
SMALL_D_MAX_FEATURES = 8
#: ... at any number of centres: at k <= 16 too it beats the row-major product and argmin
#: (2 threads, float32: n = 2 x 10^5, d = 2, k = 8: 0.8-0.9 against 1.8-2.0 ms a pass;
#: n = 273,280, d = 3, k = 16: 1.1-1.2 against 2.6-3.0; n = 2 x 10^5, d = 8, k = 16: 2.0 against
#: 3.0-3.1).
SMALL_D_MIN_CLUSTERS = 0


def small_d_pass(n_features: int, n_clusters: int) -> bool:
    """Whether the compiled pass labels without a matrix product (see
    :data:`SMALL_D_MAX_FEATURES`)."""
    return n_features <= SMALL_D_MAX_FEATURES and n_clusters > SMALL_D_MIN_CLUSTERS


class CompiledBlockLabeller(BlockLabeller):
    """:class:`BlockLabeller` whose argmin and cluster sums are compiled loops
    (:mod:`.numba_pass`).

    Above :data:`ROW_MAJOR_MAX_CLUSTERS` the products are computed transposed,
    ``(-2 C) @ block.T`` (k x rows), so that the compiled argmin compares whole rows of points
    at once; BLAS may round them differently in the last bit from the NumPy path's
    ``block @ (-2 C).T``, so only points within rounding of two centres can be labelled
    differently. Up to it, the products are the NumPy path's.
    """

    def __init__(
        self,
        X: np.ndarray,
        centers: np.ndarray,
        xp: Any,
        x_sq_norms: Any,
        shift: Any,
        block_rows: int,
        compiled: Any,
    ) -> None:
        super().__init__(X, centers, xp, x_sq_norms, shift, block_rows)
        self.compiled = compiled
        k, d = centers.shape
        self.small_d = small_d_pass(d, k)
        self.row_major = not self.small_d and k <= ROW_MAJOR_MAX_CLUSTERS
        # -2 C for the transposed products (above ROW_MAJOR_MAX_CLUSTERS only), or padded with
        # zero columns to a multiple of 4 features for the small-d loop.
        self.neg2_centers = None if self.row_major else np.ascontiguousarray(-2 * centers)
        if self.small_d:
            padded = np.zeros((k, -(-d // 4) * 4), dtype=X.dtype)
            padded[:, :d] = -2 * centers
            self.neg2_centers = padded

    def buffers(self) -> tuple[np.ndarray | None, ...]:
        """A thread's own products (flat, viewed as block x k or k x block), shifted rows, and the
        running minimum of the transposed layout (None for the row-major one)."""
        rows = self.shifter.block_rows
        shifted = self.shifter.buffer()
        if self.small_d:
            dtype = self.X.dtype
            columns = np.empty(self.neg2_centers.shape[1] * rows, dtype=dtype)
            best, partial, second = (np.empty(rows, dtype=dtype) for _ in range(3))
            return columns, shifted, best, np.empty(rows, dtype=np.int32), partial, second
        products = np.empty(self.c_sq.shape[0] * rows, dtype=self.X.dtype)
        if self.row_major:
            return products, shifted, None, None
        return products, shifted, np.empty(rows, dtype=self.X.dtype), np.empty(rows, dtype=np.int32)

    def label(self, start: int, stop: int, scratch: Any) -> tuple[np.ndarray, np.ndarray]:
        rows = stop - start
        k = self.c_sq.shape[0]
        flat, shifted, best, nearest = scratch[:4]
        block, block_sq = self._shifted_block(start, stop, shifted)
        labels = self.labels[start:stop]
        if self.small_d:
            self._small_d(block, block_sq, start, stop, scratch, keep_second=False)
            return block, labels
        if self.row_major:
            products = flat[: rows * k].reshape(rows, k)
            np.matmul(block, self.centers_t_neg2, out=products)
            self.compiled.nearest_of_rows(
                products, self.c_sq, block_sq, labels, self.min_sq[start:stop]
            )
            return block, labels
        products = flat[: k * rows].reshape(k, rows)
        np.matmul(self.neg2_centers, block.T, out=products)
        self.compiled.nearest_of_block(
            products,
            self.c_sq,
            block_sq,
            best[:rows],
            nearest[:rows],
            labels,
            self.min_sq[start:stop],
        )
        return block, labels

    def _small_d(
        self,
        block: np.ndarray,
        block_sq: np.ndarray,
        start: int,
        stop: int,
        scratch: Any,
        *,
        keep_second: bool,
    ) -> None:
        """The small-d loop on rows ``start:stop`` (``keep_second``: their runner-up values too,
        left in ``scratch[5]``)."""
        rows = stop - start
        flat, _, best, nearest, partial, second = scratch
        padded = self.neg2_centers.shape[1]
        self.compiled.nearest_small_d(
            block,
            self.neg2_centers,
            self.c_sq,
            block_sq,
            flat[: padded * rows].reshape(padded, rows),
            partial[:rows],
            best[:rows],
            nearest[:rows],
            second[:rows],
            keep_second,
            self.labels[start:stop],
            self.min_sq[start:stop],
        )

    def label_and_sum(
        self,
        start: int,
        stop: int,
        scratch: Any,
        weights: np.ndarray,
        sums: np.ndarray,
        weight_sums: np.ndarray,
    ) -> None:
        block, labels = self.label(start, stop, scratch)
        self.compiled.add_to_clusters(block, weights[start:stop], labels, sums, weight_sums)

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        return self.labels, self.min_sq  # clamped by the compiled loop


class ExactBlockLabeller(CompiledBlockLabeller):
    """:class:`CompiledBlockLabeller` for passes that decide their near ties exactly
    (:func:`gkmeans._kernels.near_ties.assign_exact`): the compiled argmin keeps each row's
    runner-up too, and a row whose two values lie within the expansion's rounding bound is
    decided again from its float64 differences to every centre. Products are transposed (the
    runner-up is kept across whole rows of points), or there are none (the small-d loop)."""

    def __init__(
        self,
        X: np.ndarray,
        centers: np.ndarray,
        xp: Any,
        x_sq_norms: Any,
        shift: Any,
        block_rows: int,
        compiled: Any,
    ) -> None:
        super().__init__(X, centers, xp, x_sq_norms, shift, block_rows, compiled)
        if not self.small_d:
            self.row_major = False
            self.neg2_centers = np.ascontiguousarray(-2 * centers)
        self.centers64 = np.ascontiguousarray(centers, dtype=np.float64)
        self.shift64 = (
            np.zeros(X.shape[1]) if shift is None else np.asarray(shift, dtype=np.float64)
        )
        self.scale = near_ties.tie_scale(X.shape[1], X.dtype, np)
        self.c_sq_max = float(np.max(self.c_sq)) if self.c_sq.shape[0] else 0.0

    def buffers(self) -> tuple[np.ndarray | None, ...]:
        if self.small_d:
            return super().buffers()
        rows = self.shifter.block_rows
        products = np.empty(self.c_sq.shape[0] * rows, dtype=self.X.dtype)
        best, second = (np.empty(rows, dtype=self.X.dtype) for _ in range(2))
        return products, self.shifter.buffer(), best, np.empty(rows, dtype=np.int32), None, second

    def label(self, start: int, stop: int, scratch: Any) -> tuple[np.ndarray, np.ndarray]:
        rows, k = stop - start, self.c_sq.shape[0]
        flat, shifted, best, nearest, _, second = scratch
        block, block_sq = self._shifted_block(start, stop, shifted)
        labels = self.labels[start:stop]
        if self.small_d:
            self._small_d(block, block_sq, start, stop, scratch, keep_second=True)
            self.compiled.decide_near_ties(
                best[:rows],
                second[:rows],
                nearest[:rows],
                block_sq,
                self.X[start:stop],
                self.shift64,
                self.centers64,
                self.scale,
                self.c_sq_max,
                labels,
                self.min_sq[start:stop],
            )
            return block, labels
        products = flat[: k * rows].reshape(k, rows)
        np.matmul(self.neg2_centers, block.T, out=products)
        self.compiled.nearest_exact_of_block(
            products,
            self.c_sq,
            block_sq,
            self.X[start:stop],
            self.shift64,
            self.centers64,
            self.scale,
            self.c_sq_max,
            best[:rows],
            second[:rows],
            nearest[:rows],
            labels,
            self.min_sq[start:stop],
        )
        return block, labels
