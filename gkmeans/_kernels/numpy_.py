"""NumPy fast paths."""

from __future__ import annotations

from typing import Any

import numpy as np

from gkmeans import config
from gkmeans._kernels import agnostic
from gkmeans._kernels.agnostic import CentredCenters, row_chunks
from gkmeans._kernels.cpu_threads import in_threads

# The bound-based step is this backend's too (dispatch looks it up here by name).
from gkmeans._kernels.numba_bounds import bounds_available, bounds_pass  # noqa: F401
from gkmeans.host_memory import host_available_bytes


class _RowShifter:
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


class _BlockLabeller:
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
        self.shifter = _RowShifter(X, shift, block_rows)
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


class _CompiledBlockLabeller(_BlockLabeller):
    """:class:`_BlockLabeller` whose argmin and cluster sums are compiled loops
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
        self.row_major = centers.shape[0] <= ROW_MAJOR_MAX_CLUSTERS
        # -2 C for the transposed products (above ROW_MAJOR_MAX_CLUSTERS only).
        self.neg2_centers = None if self.row_major else np.ascontiguousarray(-2 * centers)

    def buffers(self) -> tuple[np.ndarray | None, ...]:
        """A thread's own products (flat, viewed as block x k or k x block), shifted rows, and the
        running minimum of the transposed layout (None for the row-major one)."""
        rows = self.shifter.block_rows
        products = np.empty(self.c_sq.shape[0] * rows, dtype=self.X.dtype)
        shifted = self.shifter.buffer()
        if self.row_major:
            return products, shifted, None, None
        return products, shifted, np.empty(rows, dtype=self.X.dtype), np.empty(rows, dtype=np.int32)

    def label(self, start: int, stop: int, scratch: Any) -> tuple[np.ndarray, np.ndarray]:
        rows = stop - start
        k = self.c_sq.shape[0]
        flat, shifted, best, nearest = scratch
        block, block_sq = self._shifted_block(start, stop, shifted)
        labels = self.labels[start:stop]
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


#: ``GKMEANS_CPU_PASS`` (:mod:`gkmeans.config`): "auto" (default) compiles the argmin and cluster
#: sums of the NumPy pass with Numba when it is installed (the ``fast`` extra), "numba" requires
#: it, "numpy" keeps NumPy operations only.
CPU_PASSES = config.CPU_PASSES
#: Blocks of the compiled pass: a (k x rows) product block of about this many bytes, within
#: [COMPILED_MIN_ROWS, COMPILED_MAX_ROWS] rows. Measured per iteration (d = 32, 2 cores): at
#: k = 64, 2,048-4,096 float32 rows beat 512-1,024, and 1,024 float64 rows beat 2,048-4,096;
#: at k = 8, 16,384 rows beat 1,024-4,096; at k = 1,024, 1,024 rows beat 128-256.
COMPILED_BLOCK_BYTES = 512 * 2**10
COMPILED_MIN_ROWS = 1024
COMPILED_MAX_ROWS = 16384


def compiled_block_rows(n_clusters: int, itemsize: int, chunk_rows: int) -> int:
    """Rows per block of the compiled pass; ``chunk_rows`` (the memory policy's chunk) caps it
    when it is below :data:`COMPILED_MIN_ROWS` (it is sized for the NumPy pass's larger
    temporaries)."""
    rows = COMPILED_BLOCK_BYTES // max(1, n_clusters * itemsize)
    rows = min(COMPILED_MAX_ROWS, max(COMPILED_MIN_ROWS, rows))
    return max(1, min(rows, max(chunk_rows, COMPILED_MIN_ROWS)))


#: Under "auto", a pass uses the compiled kernels iff it covers at least this many (row, centre)
#: pairs: loading Numba costs about 0.5 s and 130 MiB once per process (measured), which a pass
#: this size repays within a few dozen iterations. Many smaller passes together would repay it
#: too (measured at n = 10^4, d = 32, k = 64 on 2 cores: the NumPy pass loses 1.5 ns a pair in
#: float32 and 3.6 ns in float64 to the compiled one, and loading costs 0.62-0.72 s: break-even
#: at 4.3 x 10^8 and 1.8 x 10^8 pairs in all), but the rule is per problem (its work and dtype),
#: never the process's history (work done so far, Numba already loaded), so that results do not
#: depend on that history: the two passes round differently in the last bits, and re-running a
#: fit must give the same centres.
COMPILED_MIN_WORK = 2**24


def compiled_pass(work: int = COMPILED_MIN_WORK, dtype: Any = np.float64) -> Any:
    """The compiled kernels a NumPy pass over ``work`` (row, centre) pairs of ``dtype`` data uses,
    or None for plain NumPy.

    Float32 and float64 data only (the kernels take those). Under "auto" (:data:`CPU_PASSES`)
    the choice depends on the problem alone: the compiled kernels iff ``work`` >=
    :data:`COMPILED_MIN_WORK` and Numba is installed; "numba" always uses them, "numpy" never.
    """
    if dtype not in (np.float32, np.float64):
        return None
    choice = config.cpu_pass()
    if choice == "numpy" or (choice == "auto" and work < COMPILED_MIN_WORK):
        return None
    from gkmeans._kernels import numba_pass

    try:
        return numba_pass.kernels()
    except ImportError:
        if choice == "numba":
            raise ImportError(
                "GKMEANS_CPU_PASS=numba needs Numba: pip install 'gkmeans[fast]'"
            ) from None
        return None
    except (OSError, MemoryError):  # LLVM could not be loaded (an address-space limit, say)
        if choice == "numba":
            raise
        return None


def _labeller(
    X: np.ndarray, centers: np.ndarray, xp: Any, x_sq_norms: Any, shift: Any, chunk_rows: int
) -> tuple[_BlockLabeller, int]:
    """The labeller for this pass and its block size."""
    compiled = compiled_pass(X.shape[0] * centers.shape[0], X.dtype)
    if compiled is None:
        return _BlockLabeller(X, centers, xp, x_sq_norms, shift, chunk_rows), chunk_rows
    block_rows = compiled_block_rows(centers.shape[0], X.dtype.itemsize, chunk_rows)
    return _CompiledBlockLabeller(
        X, centers, xp, x_sq_norms, shift, block_rows, compiled
    ), block_rows


def assign(
    X: np.ndarray,
    centers: np.ndarray,
    *,
    xp: Any,
    chunk_rows: int,
    x_sq_norms: np.ndarray | None = None,
    shift: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`.agnostic.assign` with reused block buffers, in-place updates, CPU threads, and the
    compiled argmin of :mod:`.numba_pass` where Numba is installed."""
    labeller, chunk_rows = _labeller(X, centers, xp, x_sq_norms, shift, chunk_rows)

    def work(share: list[tuple[int, int]]) -> None:
        scratch = labeller.buffers()
        for start, stop in share:
            labeller.label(start, stop, scratch)

    in_threads(X.shape[0], chunk_rows, work)
    return labeller.finish()


def assign_and_sum(
    X: np.ndarray,
    centers: np.ndarray,
    weights: np.ndarray,
    *,
    xp: Any,
    chunk_rows: int,
    x_sq_norms: np.ndarray | None = None,
    shift: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One Lloyd pass fused per block of rows, the blocks shared among CPU threads.

    Each block is shifted, multiplied with the centres, reduced to labels, and
    summed into per-thread cluster sums while it is still in cache (the same labels
    as :func:`assign`): through a one-hot matrix product in NumPy (block sums in X's
    dtype, accumulated in float64), or by the compiled loop of :mod:`.numba_pass`
    (float64 throughout).

    Returns labels, squared distances, sums of the shifted rows (float64, (k, d))
    and cluster weights (float64, (k,)).
    """
    k, d = centers.shape
    labeller, chunk_rows = _labeller(X, centers, xp, x_sq_norms, shift, chunk_rows)

    def work(share: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        scratch = labeller.buffers()
        sums = np.zeros((k, d), dtype=np.float64)
        weight_sums = np.zeros(k, dtype=np.float64)
        for start, stop in share:
            labeller.label_and_sum(start, stop, scratch, weights, sums, weight_sums)
        return sums, weight_sums

    results = in_threads(X.shape[0], chunk_rows, work)
    labels, min_sq = labeller.finish()
    return (
        labels,
        min_sq,
        np.sum([r[0] for r in results], axis=0),
        np.sum([r[1] for r in results], axis=0),
    )


def weighted_inertia(
    X: np.ndarray,
    centers: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    *,
    xp: Any,
    acc_dtype: Any,
    chunk_rows: int,
) -> np.ndarray:
    """:func:`.agnostic.weighted_inertia`; with the compiled pass, one float64 pass over X shared
    among the CPU threads (no (rows x d) temporaries)."""
    compiled = compiled_pass(X.shape[0] * centers.shape[0], X.dtype)
    if compiled is None:
        return agnostic.weighted_inertia(
            X, centers, labels, weights, xp=xp, acc_dtype=acc_dtype, chunk_rows=chunk_rows
        )
    centers = np.ascontiguousarray(centers, dtype=X.dtype)
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    weights = np.ascontiguousarray(weights, dtype=X.dtype)

    def work(share: list[tuple[int, int]]) -> float:
        return sum(
            compiled.weighted_inertia(
                X[start:stop], centers, labels[start:stop], weights[start:stop]
            )
            for start, stop in share
        )

    # Shares of whole blocks: per-thread sums added in a fixed order, so the result does not
    # depend on thread timing.
    return np.asarray(sum(in_threads(X.shape[0], max(chunk_rows, 65536), work)), dtype=np.float64)


def closer_distances(
    X: np.ndarray,
    x_sq_norms: np.ndarray,
    rows: np.ndarray,
    closest: np.ndarray,
    weights: np.ndarray,
    *,
    xp: Any,
    chunk_rows: int,
    shift: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`.agnostic.closer_distances` block by block, in place, the blocks shared among the
    CPU threads: each block's (m x rows) distances are formed, clamped and compared while they
    are in cache, with the array path's operations in its order (so the same distances); the
    potentials are per-block products summed per thread, then in thread order."""
    n, d = X.shape
    m = rows.shape[0]
    rows = np.ascontiguousarray(rows, dtype=X.dtype)
    r_sq = xp.vecdot(rows, rows)[:, None]
    closer = np.empty((m, n), dtype=closest.dtype)
    compiled = compiled_pass(n * m, X.dtype)
    if compiled is not None:
        chunk_rows = max(chunk_rows, COMPILED_MIN_ROWS)

    shifter = _RowShifter(X, shift, chunk_rows)

    def work(share: list[tuple[int, int]]) -> np.ndarray:
        products_flat = np.empty(m * shifter.block_rows, dtype=X.dtype)
        shifted = shifter.buffer()
        potential = np.zeros(m, dtype=closest.dtype)
        for start, stop in share:
            size = stop - start
            block = shifter(start, stop, shifted)
            dist = products_flat[: m * size].reshape(m, size)
            np.matmul(rows, block.T, out=dist)
            if compiled is not None:
                compiled.closer_of_block(
                    dist,
                    r_sq[:, 0],
                    x_sq_norms[start:stop],
                    closest[start:stop],
                    weights[start:stop],
                    closer[:, start:stop],
                    potential,
                )
                continue
            # r_sq - 2 (rows @ block.T) + ||x||^2, clamped at 0: the array path's order
            np.multiply(dist, 2, out=dist)
            np.subtract(r_sq, dist, out=dist)
            np.add(dist, x_sq_norms[None, start:stop], out=dist)
            np.maximum(dist, 0, out=dist)
            target = closer[:, start:stop]
            np.minimum(closest[None, start:stop], dist, out=target)
            potential += target @ weights[start:stop]
        return potential

    potentials = in_threads(n, chunk_rows, work)
    return closer, np.sum(potentials, axis=0)


def column_mean(X: np.ndarray, *, xp: Any) -> np.ndarray:
    """:func:`.agnostic.column_mean`, NumPy's own: PyTorch CPU tensors take it on their views, so
    their shift, and with it every distance after, is NumPy's bit for bit (``torch.mean`` sums
    in another order)."""
    return np.mean(X, axis=0)


def row_sq_norms(
    X: np.ndarray, *, xp: Any, chunk_rows: int, shift: np.ndarray | None = None
) -> np.ndarray:
    """:func:`.agnostic.row_sq_norms` with the blocks shared among the CPU threads, each shifted
    into a reused buffer (the same ``vecdot``, so the same norms)."""
    n = X.shape[0]
    out = np.empty(n, dtype=X.dtype)
    shifter = _RowShifter(X, shift, chunk_rows)

    def work(share: list[tuple[int, int]]) -> None:
        shifted = shifter.buffer()
        for start, stop in share:
            block = shifter(start, stop, shifted)
            out[start:stop] = xp.vecdot(block, block)

    in_threads(n, chunk_rows, work)
    return out


def pairwise_sq_distances(
    X: np.ndarray,
    centers: np.ndarray,
    *,
    xp: Any,
    chunk_rows: int,
    acc_dtype: Any,
    root: bool = False,
) -> np.ndarray:
    """:func:`.agnostic.pairwise_sq_distances` with the blocks shared among the CPU threads (each
    block computed by the array path's own code, so the same distances)."""
    frame = CentredCenters(centers, xp, acc_dtype)
    out = np.empty((X.shape[0], centers.shape[0]), dtype=X.dtype)

    def work(share: list[tuple[int, int]]) -> None:
        for start, stop in share:
            out[start:stop] = frame.sq_distances(X[start:stop], chunk_rows, root)

    in_threads(X.shape[0], chunk_rows, work)
    return out


def distinct_labels(labels: np.ndarray, n_clusters: int, *, xp: Any) -> int:
    """:func:`.agnostic.distinct_labels` by counting (a hash-based ``unique`` took 17x longer
    at n = 10^5)."""
    return int(np.count_nonzero(np.bincount(labels, minlength=n_clusters)))


def segment_sum(
    X: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    n_clusters: int,
    *,
    xp: Any,
    acc_dtype: Any,
    chunk_rows: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster sums through one ``bincount`` over (label, feature) pairs per block.

    A flat bincount reads the block once, contiguously; a per-column bincount
    reads X ``n_features`` times with a stride and is 3x slower (measured at
    n=10^6, d=32, k=64). Accumulates in float64.
    """
    n, d = X.shape
    feature_offsets = np.arange(d)
    sums = np.zeros(n_clusters * d, dtype=np.float64)
    for start, stop in row_chunks(n, chunk_rows):
        block_labels = labels[start:stop]
        flat_index = (block_labels[:, None] * d + feature_offsets).ravel()
        weighted = X[start:stop] * weights[start:stop, None]
        sums += np.bincount(flat_index, weights=weighted.ravel(), minlength=n_clusters * d)
    weight_sums = np.bincount(labels, weights=weights, minlength=n_clusters).astype(
        np.float64, copy=False
    )
    return sums.reshape(n_clusters, d), weight_sums


def cluster_distance_sums(
    X: np.ndarray, x_sq_norms: np.ndarray, one_hot: np.ndarray, *, xp: Any, chunk_rows: int
) -> np.ndarray:
    """:func:`.agnostic.cluster_distance_sums` with one reused block buffer, updated in place."""
    n = X.shape[0]
    out = np.empty((n, one_hot.shape[1]), dtype=X.dtype)
    X_t_neg2 = np.ascontiguousarray(-2 * X.T)
    block_buffer = np.empty((min(chunk_rows, n), n), dtype=X.dtype)
    for start, stop in row_chunks(n, chunk_rows):
        sq = block_buffer[: stop - start]
        np.matmul(X[start:stop], X_t_neg2, out=sq)
        sq += x_sq_norms[None, :]
        sq += x_sq_norms[start:stop, None]
        np.maximum(sq, 0, out=sq)
        np.sqrt(sq, out=sq)
        np.matmul(sq, one_hot, out=out[start:stop])
    return out


def free_memory(device: Any) -> int | None:
    """Host memory available now, in bytes (None where the OS does not say)."""
    return host_available_bytes()


def handles(primitive: str, X: Any) -> bool:
    """Whether this module's ``primitive`` takes ``X``: the bound-based step needs Numba."""
    return primitive != "bounds_pass" or bounds_available(X.dtype)
