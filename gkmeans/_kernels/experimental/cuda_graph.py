"""The cuBLAS assignment on cache-sized chunks, replayed as one CUDA graph per pass.

``GKMEANS_CUDA_ASSIGN=graph``. Chunks small enough for the L2 cache keep the n x k block of
the products out of device memory (the GEMM writes a chunk, the row-argmin kernel of
``cuda/row_argmin.cu`` reads it back from L2), but they are many: at n = 10^7, k = 1024 on an
H100 about 1,600 per pass, each three launches. Issued from Python that is thousands of
launches per Lloyd iteration, more host time than the GPU needs for the work. So every buffer
of the pass is allocated once (:class:`ChunkedGemmAssign`), the pass is captured once as a
CUDA graph, and each iteration copies the new centres into their fixed buffer and launches
the graph: one launch from Python per pass.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable

import numpy as np

from gkmeans import config
from gkmeans._kernels.agnostic import row_chunks
from gkmeans._kernels.experimental.cuda_sources import cuda_kernel

#: Launch shape of the row-argmin kernel: 8 warps, one row each.
ROW_ARGMIN_THREADS = 256
ROWS_PER_ARGMIN_BLOCK = ROW_ARGMIN_THREADS // 32

#: Share of the L2 cache one chunk's (rows x k) product block may take (the rest holds the
#: rows and centres being read).
L2_SHARE = 0.5
#: Fewest rows per chunk: below this the products are too small to fill the GPU.
MIN_GRAPH_CHUNK_ROWS = 1024

ArgminRows = Callable[..., None]


class ChunkedGemmAssign:
    """Every buffer of a chunked GEMM assignment, allocated once so that a pass can be replayed.

    A pass (:meth:`run`) reads only fixed buffers, ``X`` and ``x_sq_norms``: :attr:`centers`
    (and :attr:`shift`) are filled before it, :attr:`labels` and :attr:`min_sq` hold its
    result. It performs the arithmetic of :func:`.agnostic.assign` in the same order, so the
    labels are that path's. It keeps no reference to X (a cached pass must not keep the
    caller's data alive).

    Parameters
    ----------
    xp : module
        CuPy (NumPy stands in for it in the CPU tests of the chunk logic).
    shape : (n, d)
        Shape of X.
    dtype : dtype of X
    n_clusters : int
    chunk_rows : int
    with_shift : bool
        Whether the rows are shifted (by :attr:`shift`) before the products.
    argmin_rows : callable
        ``argmin_rows(G, c_sq, block, row_sq, labels_out, min_sq_out)``: for every row of
        ``G`` (rows x k), the argmin of ``G + c_sq`` (ties to the lowest index) into
        ``labels_out`` and that value plus ``row_sq`` (or the squared norm of the row of
        ``block`` when ``row_sq`` is None), clamped at 0, into ``min_sq_out``.
    """

    def __init__(
        self,
        xp: Any,
        shape: tuple[int, int],
        dtype: Any,
        n_clusters: int,
        chunk_rows: int,
        *,
        with_shift: bool,
        argmin_rows: ArgminRows,
    ) -> None:
        n, d = shape
        rows = max(1, min(int(chunk_rows), n))
        self.xp, self.argmin_rows, self.n_rows, self.chunk_rows = xp, argmin_rows, n, rows
        self.centers = xp.empty((n_clusters, d), dtype=dtype)
        self.shift = xp.empty(d, dtype=dtype) if with_shift else None
        # -2 C^T in the layout the array path's ``-2 * centers.T`` has in this library (NumPy keeps
        # the transpose's F order, CuPy's elementwise results are C-contiguous), so that BLAS gets
        # the same operands, is called the same way, and sums in the same order.
        self.centers_t_neg2 = (
            -2 * xp.zeros((n_clusters, d), dtype=dtype).T
        )  # zeros: no arithmetic on garbage
        self.c_sq = xp.empty(n_clusters, dtype=dtype)
        self.products = xp.empty((rows, n_clusters), dtype=dtype)
        self.shifted = xp.empty((rows, d), dtype=dtype) if with_shift else None
        self.labels = xp.empty(n, dtype=xp.int64)
        self.min_sq = xp.empty(n, dtype=dtype)

    def load(self, centers: Any, shift: Any) -> None:
        """Copy this pass's centres (and shift) into the fixed buffers."""
        self.centers[...] = centers
        if self.shift is not None:
            self.shift[...] = shift

    def run(self, X: Any, x_sq_norms: Any) -> None:
        """One assignment pass over X (C-contiguous, the shape given) on the fixed buffers: what a
        CUDA graph captures. ``x_sq_norms``: squared norms of the rows of ``X - shift``, or None
        to let ``argmin_rows`` compute them."""
        xp = self.xp
        # The array path's c_sq and -2 C^T, computed the same way (the factor -2 is exact).
        xp.sum(self.centers * self.centers, axis=1, out=self.c_sq)
        xp.multiply(self.centers.T, -2, out=self.centers_t_neg2)
        for start, stop in row_chunks(self.n_rows, self.chunk_rows):
            rows = stop - start
            block = X[start:stop]
            if self.shift is not None:
                block = xp.subtract(block, self.shift, out=self.shifted[:rows])
            products = xp.matmul(block, self.centers_t_neg2, out=self.products[:rows])
            row_sq = None if x_sq_norms is None else x_sq_norms[start:stop]
            self.argmin_rows(
                products, self.c_sq, block, row_sq, self.labels[start:stop], self.min_sq[start:stop]
            )


def graph_chunk_rows(chunk_rows: int, n_clusters: int, itemsize: int, l2_bytes: int) -> int:
    """Rows per chunk for the graph path: an L2-sized product block unless
    ``GKMEANS_GPU_CHUNK_BYTES`` chose the chunk (then ``chunk_rows``, which already follows it),
    never more than ``chunk_rows`` (the memory policy may have halved it)."""
    if config.is_set("GKMEANS_GPU_CHUNK_BYTES"):
        return chunk_rows
    l2_rows = int(l2_bytes * L2_SHARE) // max(1, n_clusters * itemsize)
    return max(1, min(chunk_rows, max(MIN_GRAPH_CHUNK_ROWS, l2_rows)))


# ---------------------------------------------------------------------------------------------
# CuPy only from here: the kernel, the capture and the cache of captured passes.


@functools.lru_cache(maxsize=None)
def _l2_cache_bytes(device_id: int) -> int:
    """The L2 cache of a GPU, in bytes (read once: ``Device.attributes`` queries every
    attribute)."""
    import cupy

    return int(cupy.cuda.Device(device_id).attributes["L2CacheSize"])


def cuda_argmin_rows(
    G: Any, c_sq: Any, block: Any, row_sq: Any, labels_out: Any, min_sq_out: Any
) -> None:
    """:class:`ChunkedGemmAssign`'s ``argmin_rows`` as one launch of the row-argmin kernel."""
    rows, k = G.shape
    grid = ((rows + ROWS_PER_ARGMIN_BLOCK - 1) // ROWS_PER_ARGMIN_BLOCK,)
    has_row_sq = row_sq is not None
    cuda_kernel("row_argmin.cu", G.dtype)(
        grid,
        (ROW_ARGMIN_THREADS,),
        (
            G,
            c_sq,
            block,
            row_sq if has_row_sq else c_sq,
            np.int32(has_row_sq),
            np.int32(rows),
            np.int32(k),
            np.int32(block.shape[1]),
            labels_out,
            min_sq_out,
        ),
    )


def _loaded_pass(
    X: Any, n_clusters: int, chunk_rows: int, centers: Any, shift: Any
) -> ChunkedGemmAssign:
    """A CuPy :class:`ChunkedGemmAssign` for X, with the row-argmin kernel, its centres (and shift)
    loaded."""
    import cupy

    work = ChunkedGemmAssign(
        cupy,
        X.shape,
        X.dtype,
        n_clusters,
        chunk_rows,
        with_shift=shift is not None,
        argmin_rows=cuda_argmin_rows,
    )
    work.load(centers, shift)
    return work


class _CapturedPass:
    """A :class:`ChunkedGemmAssign` whose pass has been captured as a CUDA graph.

    Its buffers, and every temporary the capture allocated, come from a memory pool of its
    own: the graph holds their addresses, so no other array may ever be given that memory.
    If the capture fails (a driver or library that refuses it), the pass runs eagerly on the
    same buffers, with one warning per process.
    """

    def __init__(
        self, X: Any, n_clusters: int, chunk_rows: int, x_sq_norms: Any, centers: Any, shift: Any
    ) -> None:
        import cupy

        self.pool = cupy.cuda.MemoryPool()
        with cupy.cuda.using_allocator(self.pool.malloc):
            self.work = _loaded_pass(X, n_clusters, chunk_rows, centers, shift)
            self.graph = _capture(self.work, X, x_sq_norms)

    def __call__(self, X: Any, x_sq_norms: Any, centers: Any, shift: Any) -> tuple[Any, Any]:
        import cupy

        self.work.load(centers, shift)
        if self.graph is not None:
            # The cache key guarantees X and x_sq_norms sit at the captured addresses.
            self.graph.launch()  # on the current stream, after the copies above
        else:
            with cupy.cuda.using_allocator(self.pool.malloc):
                self.work.run(X, x_sq_norms)
        # Copies: the next launch overwrites the buffers while the caller still compares labels.
        return self.work.labels.copy(), self.work.min_sq.copy()


_capture_failed_warned = False


def _capture(work: ChunkedGemmAssign, X: Any, x_sq_norms: Any) -> Any:
    """Run the pass once (compiles the kernel, sets cuBLAS up, fills the private pool), then
    capture it on a side stream; the graph, or None when capturing failed."""
    import cupy

    global _capture_failed_warned
    current = cupy.cuda.get_current_stream()
    side = cupy.cuda.Stream(non_blocking=True)
    side.wait_event(current.record())
    graph = None
    with side:
        work.run(X, x_sq_norms)
        try:
            side.begin_capture()
            try:
                work.run(X, x_sq_norms)
            finally:
                captured = side.end_capture()
            graph = captured
        except Exception as error:  # noqa: BLE001 - any refusal means: run eagerly instead
            if not _capture_failed_warned:
                warnings.warn(
                    f"gkmeans: capturing the assignment as a CUDA graph failed ({error!r}); "
                    "running it without a graph",
                    RuntimeWarning,
                    stacklevel=4,
                )
                _capture_failed_warned = True
    current.wait_event(side.record())
    return graph


#: The captured pass of the fit in progress (one at a time: a new key frees the old graph and
#: its memory pool), and the key of the last pass run without a graph.
_CACHE: dict[tuple, _CapturedPass] = {}
_last_uncaptured: list[tuple] = []


def graph_assign(
    X: Any, centers: Any, *, chunk_rows: int, x_sq_norms: Any = None, shift: Any = None
) -> tuple[Any, Any]:
    """Labels and squared distances from the chunked-GEMM pass with the row-argmin kernel.

    A capture costs a few passes' worth of host time, so it is made only for a pass that
    repeats: the first call for an X (its address, shape, chunking, centres' count, norms and
    cuBLAS compute type) runs eagerly; a second call with the same key in a row, as in a Lloyd
    loop, captures the pass, and the calls after replay it. One-off calls (``predict``,
    mini-batches) therefore never capture.
    """
    from cupy._core import _routines_linalg as linalg

    with X.device:
        centers = centers.astype(X.dtype, copy=False)
        shift = None if shift is None else shift.astype(X.dtype, copy=False)
        l2_bytes = _l2_cache_bytes(X.device.id)
        rows = graph_chunk_rows(chunk_rows, centers.shape[0], X.dtype.itemsize, l2_bytes)
        key = (
            X.device.id,
            X.data.ptr,
            X.shape,
            X.strides,
            X.dtype.str,
            centers.shape[0],
            rows,
            shift is not None,
            None if x_sq_norms is None else (x_sq_norms.data.ptr, x_sq_norms.dtype.str),
            linalg.get_compute_type(X.dtype),
        )
        captured = _CACHE.get(key)
        if captured is None and _last_uncaptured == [key]:
            _CACHE.clear()
            captured = _CACHE[key] = _CapturedPass(
                X, centers.shape[0], rows, x_sq_norms, centers, shift
            )
        if captured is not None:
            return captured(X, x_sq_norms, centers, shift)
        _last_uncaptured[:] = [key]
        work = _loaded_pass(X, centers.shape[0], rows, centers, shift)
        work.run(X, x_sq_norms)
        return work.labels, work.min_sq


def release() -> None:
    """Drop the captured pass and its memory pool (done at the end of every fit, and when
    another pass is captured)."""
    _CACHE.clear()
    _last_uncaptured.clear()
