"""NumPy fast paths."""

from __future__ import annotations

from typing import Any

import numpy as np

from gkmeans import config
from gkmeans._kernels import agnostic, near_ties
from gkmeans._kernels.agnostic import CentredCenters, row_chunks
from gkmeans._kernels.cpu_threads import in_threads, one_blas_thread

# The bound-based step is this backend's too (dispatch looks it up here by name).
from gkmeans._kernels.numba_bounds import bounds_available, bounds_pass  # noqa: F401
from gkmeans._kernels.numpy_blocks import (  # noqa: F401 (tests and benchmarks read them here)
    ROW_MAJOR_MAX_CLUSTERS,
    SMALL_D_MAX_FEATURES,
    BlockLabeller,
    CompiledBlockLabeller,
    ExactBlockLabeller,
    RowShifter,
    small_d_pass,
)
from gkmeans.host_memory import host_available_bytes

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
#: :data:`COMPILED_MIN_WORK` for the labelling passes of the small-d loop
#: (:func:`.numpy_blocks.small_d_pass`), which saves far more a pair: the NumPy pass took
#: 2.8-4.4 ns a pair at d = 2-3, k = 8-16 (2 threads, float32), the loop 0.2 ns. Loading Numba and
#: the kernels a fit uses costs about 0.6 s in a new process (0.35 s importing Numba, about 40 ms
#: a kernel from the disk cache): about a hundred passes of this many pairs repay it.
COMPILED_MIN_WORK_SMALL_D = 2**20


def compiled_pass(
    work: int = COMPILED_MIN_WORK, dtype: Any = np.float64, min_work: int = COMPILED_MIN_WORK
) -> Any:
    """The compiled kernels a NumPy pass over ``work`` (row, centre) pairs of ``dtype`` data uses,
    or None for plain NumPy.

    Float32 and float64 data only (the kernels take those). Under "auto" (:data:`CPU_PASSES`)
    the choice depends on the problem alone: the compiled kernels iff ``work`` >= ``min_work``
    (:data:`COMPILED_MIN_WORK`, or :data:`COMPILED_MIN_WORK_SMALL_D` for the small-d loop) and
    Numba is installed; "numba" always uses them, "numpy" never.
    """
    if dtype not in (np.float32, np.float64):
        return None
    choice = config.cpu_pass()
    if choice == "numpy" or (choice == "auto" and work < min_work):
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


def _min_work(X: np.ndarray, centers: np.ndarray) -> int:
    """The ``min_work`` of :func:`compiled_pass` for a fit's passes over X against ``centers``:
    one rule for all of them (labelling, exact ties, inertia), so that a fit whose labelling is
    compiled also scores compiled."""
    small_d = small_d_pass(X.shape[1], centers.shape[-2])
    return COMPILED_MIN_WORK_SMALL_D if small_d else COMPILED_MIN_WORK


def _labeller(
    X: np.ndarray, centers: np.ndarray, xp: Any, x_sq_norms: Any, shift: Any, chunk_rows: int
) -> tuple[BlockLabeller, int]:
    """The labeller for this pass and its block size."""
    compiled = compiled_pass(X.shape[0] * centers.shape[0], X.dtype, _min_work(X, centers))
    if compiled is None:
        return BlockLabeller(X, centers, xp, x_sq_norms, shift, chunk_rows), chunk_rows
    block_rows = labeller_block_rows(X, centers, chunk_rows)
    return CompiledBlockLabeller(
        X, centers, xp, x_sq_norms, shift, block_rows, compiled
    ), block_rows


def labeller_block_rows(X: np.ndarray, centers: np.ndarray, chunk_rows: int) -> int:
    """Rows per block of a compiled labeller (:func:`compiled_block_rows`, or the small-d
    loop's)."""
    k, d = centers.shape
    if small_d_pass(d, k) and d <= 4:
        # No k x rows block to keep in cache, only the rows' four columns: blocks as large as the
        # pass's own limit spread the Python work per block over more points (n = 273,280, d = 3,
        # k = 256, 2 threads: 4.0 against 5.5-6.2 ms a pass at 1,024 rows). With more columns the
        # loop sweeps them once per centre, and 1,024-row blocks keep them in the L1 cache.
        return max(1, min(X.shape[0], COMPILED_MAX_ROWS))
    return compiled_block_rows(k, X.dtype.itemsize, chunk_rows)


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
    return _labelled_pass(labeller, X.shape[0], chunk_rows)


def _labelled_pass(
    labeller: BlockLabeller, n_rows: int, block_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """The blocks of ``labeller`` labelled, shared among the CPU threads; labels and distances."""

    def work(share: list[tuple[int, int]]) -> None:
        scratch = labeller.buffers()
        for start, stop in share:
            labeller.label(start, stop, scratch)

    in_threads(n_rows, block_rows, work)
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
    labeller, chunk_rows = _labeller(X, centers, xp, x_sq_norms, shift, chunk_rows)
    return _summed_pass(labeller, X, centers, weights, chunk_rows)


def _summed_pass(
    labeller: BlockLabeller,
    X: np.ndarray,
    centers: np.ndarray,
    weights: np.ndarray,
    block_rows: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The blocks of ``labeller`` labelled and summed, shared among the CPU threads; labels,
    distances, cluster sums and weights (float64)."""
    k, d = centers.shape

    def work(share: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        scratch = labeller.buffers()
        sums = np.zeros((k, d), dtype=np.float64)
        weight_sums = np.zeros(k, dtype=np.float64)
        for start, stop in share:
            labeller.label_and_sum(start, stop, scratch, weights, sums, weight_sums)
        return sums, weight_sums

    results = in_threads(X.shape[0], block_rows, work)
    labels, min_sq = labeller.finish()
    return (
        labels,
        min_sq,
        np.sum([r[0] for r in results], axis=0),
        np.sum([r[1] for r in results], axis=0),
    )


def _exact_labeller(
    X: np.ndarray, centers: np.ndarray, xp: Any, x_sq_norms: Any, shift: Any, chunk_rows: int
) -> tuple[ExactBlockLabeller, int] | None:
    """The compiled exact labeller and its block size, or None where the pass is not compiled
    (the same rule as :func:`_labeller`)."""
    compiled = compiled_pass(X.shape[0] * centers.shape[0], X.dtype, _min_work(X, centers))
    if compiled is None:
        return None
    block_rows = labeller_block_rows(X, centers, chunk_rows)
    labeller = ExactBlockLabeller(X, centers, xp, x_sq_norms, shift, block_rows, compiled)
    return labeller, block_rows


def assign_exact(
    X: np.ndarray,
    centers: np.ndarray,
    *,
    xp: Any,
    chunk_rows: int,
    x_sq_norms: np.ndarray | None = None,
    shift: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`.near_ties.assign_exact` as one compiled pass (:class:`ExactBlockLabeller`), the
    blocks shared among CPU threads; the Array API version where the pass is not compiled."""
    chosen = _exact_labeller(X, centers, xp, x_sq_norms, shift, chunk_rows)
    if chosen is None:
        return near_ties.assign_exact(
            X, centers, xp=xp, chunk_rows=chunk_rows, x_sq_norms=x_sq_norms, shift=shift
        )
    labeller, block_rows = chosen
    return _labelled_pass(labeller, X.shape[0], block_rows)


def assign_and_sum_exact(
    X: np.ndarray,
    centers: np.ndarray,
    weights: np.ndarray,
    *,
    xp: Any,
    acc_dtype: Any,
    chunk_rows: int,
    x_sq_norms: np.ndarray | None = None,
    shift: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`.near_ties.assign_and_sum_exact` as :func:`assign_and_sum` with the exact labeller
    (centres (k, d)); the Array API version where the pass is not compiled or for batched
    centres."""
    chosen = None
    if centers.ndim == 2:
        chosen = _exact_labeller(X, centers, xp, x_sq_norms, shift, chunk_rows)
    if chosen is None:
        return near_ties.assign_and_sum_exact(
            X,
            centers,
            weights,
            xp=xp,
            acc_dtype=acc_dtype,
            chunk_rows=chunk_rows,
            x_sq_norms=x_sq_norms,
            shift=shift,
        )
    labeller, block_rows = chosen
    return _summed_pass(labeller, X, centers, weights, block_rows)


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
    compiled = compiled_pass(X.shape[0] * centers.shape[0], X.dtype, _min_work(X, centers))
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

    shifter = RowShifter(X, shift, chunk_rows)

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
    shifter = RowShifter(X, shift, chunk_rows)

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


#: From this many centres (float32) the screen of :mod:`.near_ties` first looks at the centres'
#: separations in float32 (:func:`screen_ratio`): its float64 k x k Gram took 13 ms an iteration
#: at k = 1,024, d = 128 (8% of a Lloyd iteration at n = 10^5); in float32, about a quarter.
SCREEN_FLOAT32_MIN_CLUSTERS = 128


def screen_ratio(centers: np.ndarray, x_sq_max: Any, dtype: Any, *, xp: Any) -> np.ndarray:
    """:func:`.near_ties.screen_ratio`, the same decision (:func:`.near_ties.exceeds`), sooner.

    Float32 centres, from :data:`SCREEN_FLOAT32_MIN_CLUSTERS` of them: the separations of every
    two centres are first formed in float32 (centred, Gram expansion) and lowered by a bound on
    that arithmetic's error (``4 tie_scale(d) max ||c||^2``, twice what the centring, the
    d-term products and the sums can add up to). When even the lowered smallest separation keeps
    the ratio within :data:`.near_ties.TIE_SHARE`, that ratio, an upper bound of the float64
    one, is returned: both are within the share, so the pass is decided the same. Otherwise
    (near or coincident centres, whose exclusion needs float64) the float64 screen runs.
    """
    k, d = centers.shape[-2], centers.shape[-1]
    if centers.dtype != np.float32 or k < SCREEN_FLOAT32_MIN_CLUSTERS:
        return near_ties.screen_ratio(centers, x_sq_max, dtype, xp=xp)
    runs = centers.reshape(-1, k, d)
    wide = runs.astype(np.float64)
    c_sq_max = float(np.max(np.einsum("rkd,rkd->rk", wide, wide)))
    err = near_ties.tie_scale(d, dtype, np) * (float(x_sq_max) + c_sq_max)
    c = runs - runs.mean(axis=1, keepdims=True)
    norms = np.einsum("rkd,rkd->rk", c, c)
    sep = norms[:, :, None] + norms[:, None, :] - 2 * (c @ c.transpose(0, 2, 1))
    diagonal = np.arange(k)
    sep[:, diagonal, diagonal] = np.inf
    smallest = float(np.min(sep)) - 4 * near_ties.tie_scale(d, np.float32, np) * float(norms.max())
    if smallest > 0 and not near_ties.exceeds(err / smallest):
        return np.asarray(err / smallest)
    return near_ties.screen_ratio(centers, x_sq_max, dtype, xp=xp)


def fit_scope(device: Any) -> Any:
    """BLAS held to one thread for a whole fit, as scikit-learn's ``KMeans.fit`` does.

    The passes hold it anyway (:func:`.cpu_threads.in_threads`); what this adds is the time
    between them. A product there at BLAS's own thread count (the tie screen's k x k Gram, a
    centre update) leaves OpenBLAS's threads spinning for a while after it returns, on the very
    cores the next pass's threads then need (measured, 2 cores, float32, per Lloyd iteration:
    10^5 x 128, k = 1,024: 205 -> 169 ms; 5 x 10^5 x 16, k = 256: 65 -> 37 ms; 10^6 x 32,
    k = 64: 48 -> 42 ms). What runs between the passes is k x d work or less, which one thread
    does in a fraction of that time.
    """
    return one_blas_thread()


def free_memory(device: Any) -> int | None:
    """Host memory available now, in bytes (None where the OS does not say)."""
    return host_available_bytes()


def handles(primitive: str, X: Any) -> bool:
    """Whether this module's ``primitive`` takes ``X``: the bound-based step needs Numba."""
    return primitive != "bounds_pass" or bounds_available(X.dtype)
