"""CuPy fast paths."""

from __future__ import annotations

from typing import Any

from .agnostic import row_chunks


def _choice(variable: str, choices: tuple[str, ...]) -> str:
    """A kernel choice from the environment (the first choice is the default)."""
    import os

    value = os.environ.get(variable, choices[0]).strip().lower()
    if value not in choices:
        raise ValueError(f"{variable}={value!r} is not recognised; expected one of {choices}")
    return value


#: ``GKMEANS_CUDA_UPDATE``: "scatter" (default: ``cupyx.scatter_add``, atomic adds of a float64
#: copy of each block, weighted), "sort" (sort by label and difference prefix sums: no contention
#: on a few large clusters) or "rows" (the kernel of ``cuda/cluster_sums.cu``: atomic adds of each
#: element cast and weighted in registers, one read of the rows and no copies). To be measured on a GPU.
UPDATE_METHODS = ("scatter", "sort", "rows")


def segment_sum(
    X: Any, labels: Any, weights: Any, n_clusters: int, *, xp: Any, acc_dtype: Any, chunk_rows: int
) -> tuple[Any, Any]:
    """Cluster sums through ``cupyx.scatter_add`` (atomic adds), in ``acc_dtype``, or by sorting
    (``GKMEANS_CUDA_UPDATE=sort``, :func:`.agnostic.sorted_segment_sum`).

    float64 atomics are native from compute capability 6.0, so the sums carry
    no float32 rounding error whatever the cluster sizes.
    """
    import cupy
    import cupyx

    method = _choice("GKMEANS_CUDA_UPDATE", UPDATE_METHODS)
    if method == "rows" and X.dtype in (cupy.float32, cupy.float64) and acc_dtype == cupy.float64:
        return cluster_sums(X, labels, weights, n_clusters)
    if method == "sort":
        from .agnostic import sorted_segment_sum

        with X.device:
            return sorted_segment_sum(X, labels, weights, n_clusters, xp=xp, acc_dtype=acc_dtype,
                                      chunk_rows=chunk_rows)

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


#: Threads a block, and the most blocks, of the cluster-sums kernel (a grid-stride loop covers the rest).
CLUSTER_SUMS_THREADS = 256
CLUSTER_SUMS_MAX_BLOCKS = 8192


def cluster_sums(X: Any, labels: Any, weights: Any, n_clusters: int) -> tuple[Any, Any]:
    """float64 sums of the weighted rows of each cluster and the clusters' weights, by the kernel of
    ``cuda/cluster_sums.cu``: one launch, no temporaries."""
    import cupy
    import numpy as np

    n, d = X.shape
    with X.device:
        X = cupy.ascontiguousarray(X)
        weights = cupy.ascontiguousarray(weights.astype(X.dtype, copy=False))
        labels = cupy.ascontiguousarray(labels.astype(cupy.int64, copy=False))
        sums = cupy.zeros((n_clusters, d), dtype=cupy.float64)
        weight_sums = cupy.zeros(n_clusters, dtype=cupy.float64)
        blocks = max(1, min(CLUSTER_SUMS_MAX_BLOCKS, -(-n * d // CLUSTER_SUMS_THREADS)))
        cuda_kernel("cluster_sums.cu", X.dtype)((blocks,), (CLUSTER_SUMS_THREADS,),
                                                (X, weights, labels, np.int64(n), np.int32(d), sums, weight_sums))
        return sums, weight_sums


def free_memory(device: Any) -> int | None:
    """Free memory on the CUDA device, in bytes (CuPy's pool counts as free)."""
    import cupy

    with device:
        free, _total = cupy.cuda.runtime.memGetInfo()
        pool = cupy.get_default_memory_pool()
        return int(free + pool.free_bytes())


def stream_to_device(batches: Any, *, xp: Any, device: Any) -> Any:
    """Copy host batches to the GPU through pinned buffers on a side stream, one batch ahead.

    While the caller's kernels run on batch i (enqueued on the current stream), the host
    copies batch i+1 into a pinned buffer and a non-blocking stream copies it to the
    device, so the bus and the GPU work at the same time. Two pinned buffer sets
    alternate; a set is refilled only once its previous copy has finished, and a batch's
    device memory is released only once the kernels enqueued on it have finished (the
    side stream could otherwise reuse it while they still read it).
    """
    import cupy
    import cupyx
    import numpy as np

    from .._compat import array_namespace, move

    copy_stream = cupy.cuda.Stream(non_blocking=True)
    pinned: list[dict[int, Any]] = [{}, {}]
    copied: list[Any] = [None, None]

    def stage(batch: tuple[Any, ...], slot: int) -> tuple[tuple[Any, ...], Any]:
        if copied[slot] is not None:
            copied[slot].synchronize()
        out = []
        for position, host in enumerate(batch):
            if host is None or not isinstance(host, np.ndarray):
                out.append(None if host is None else move(host, array_namespace(host), xp, device))
                continue
            host = np.ascontiguousarray(host)
            buffer = pinned[slot].get(position)
            if buffer is None or buffer.nbytes < host.nbytes:
                buffer = pinned[slot][position] = cupyx.empty_pinned(host.nbytes, dtype=np.uint8)
            view = buffer[: host.nbytes].view(host.dtype).reshape(host.shape)
            np.copyto(view, host)
            on_device = cupy.empty(host.shape, dtype=host.dtype)
            on_device.set(view, stream=copy_stream)
            out.append(on_device)
        copied[slot] = copy_stream.record()
        return tuple(out), copied[slot]

    iterator = iter(batches)
    first = next(iterator, None)
    if first is None:
        return
    with device:
        current, ready = stage(first, 0)
        slot, in_use = 1, None
        for batch in iterator:
            cupy.cuda.get_current_stream().wait_event(ready)
            yield current
            done = cupy.cuda.get_current_stream().record()
            if in_use is not None:
                in_use[1].synchronize()  # the batch before: its kernels are finished, its memory can go
            in_use = (current, done)
            current, ready = stage(batch, slot)
            slot = 1 - slot
        cupy.cuda.get_current_stream().wait_event(ready)
        yield current


def release_cached_memory(device: Any) -> None:
    """Give CuPy's cached blocks back to the driver before a smaller chunk is tried."""
    import cupy

    with device:
        cupy.get_default_memory_pool().free_all_blocks()
    release_workspaces()


def release_workspaces() -> None:
    """Free the buffers a captured assignment pass holds (:mod:`.cupy_graph`)."""
    from . import cupy_graph

    cupy_graph.release()


#: ``GKMEANS_CUDA_ASSIGN``, how the assignment runs on CuPy:
#:
#: - "gemm" (default): the array path, cuBLAS products on chunks sized from free memory
#:   (up to 2 GiB of n x k block), then add, argmin and gather as CuPy operations;
#: - "graph": cuBLAS products on L2-sized chunks into one reused buffer, reduced by the
#:   row-argmin kernel of ``cuda/row_argmin.cu``, the whole pass captured once as a CUDA graph
#:   and replayed every Lloyd iteration (:mod:`.cupy_graph`);
#: - "fused": the distance + argmin kernel of ``cuda/fused_assign.cu`` (CUDA cores, exact
#:   precision only), which never writes the n x k block at all;
#: - "triton": the distance + running-argmin kernel of :mod:`.triton_assign` (float32; tensor
#:   cores for TF32 / bf16, CUDA cores for exact float32), which never writes it either; with
#:   ``GKMEANS_CUDA_UPDATE=rows`` the same kernel adds the rows to their clusters too (one pass an
#:   iteration, :func:`assign_and_sum`). Needs PyTorch and Triton.
#:
#: The default stays the array path until the others have been measured against it on a GPU
#: (``ci/gpu.sh`` runs them all as peers).
ASSIGN_METHODS = ("gemm", "graph", "fused", "triton")


def assign_method() -> str:
    return _choice("GKMEANS_CUDA_ASSIGN", ASSIGN_METHODS)


def assign(
    X: Any, centers: Any, *, xp: Any, chunk_rows: int, x_sq_norms: Any = None, shift: Any = None
) -> tuple[Any, Any]:
    """Nearest centre and squared distance of every row, by the method :func:`assign_method` names.

    The kernel paths take float32 / float64 data ("triton" float32 only); "graph" also needs
    C-contiguous X (its captured pass reads X at a fixed address). Anything else takes the array path.
    """
    method = assign_method()
    if method == "triton" and X.dtype == xp.float32:
        from .triton_assign import cupy_assign

        return _triton_or_explain(cupy_assign, X, centers, shift=shift)
    if method in ("graph", "fused") and X.dtype in (xp.float32, xp.float64):
        if method == "fused":
            return fused_assign(X, centers, x_sq_norms=x_sq_norms, shift=shift)
        if X.flags.c_contiguous and (x_sq_norms is None or x_sq_norms.flags.c_contiguous):
            from .cupy_graph import graph_assign

            return graph_assign(X, centers, chunk_rows=chunk_rows, x_sq_norms=x_sq_norms, shift=shift)
    from . import agnostic

    return agnostic.assign(X, centers, xp=xp, chunk_rows=chunk_rows, x_sq_norms=x_sq_norms, shift=shift)


def _triton_or_explain(run: Any, *args: Any, shift: Any) -> Any:
    """``run(*args, shift=shift)``, an absent PyTorch or Triton named in the error."""
    try:
        return run(*args, shift=shift)
    except ModuleNotFoundError as error:
        raise ImportError(f"GKMEANS_CUDA_ASSIGN=triton needs PyTorch and Triton: {error}") from None


def handles(primitive: str, X: Any) -> bool:
    """Whether this module's ``primitive`` takes ``X``: ``assign_and_sum`` (one kernel for the
    assignment and the update) only under ``GKMEANS_CUDA_ASSIGN=triton`` with
    ``GKMEANS_CUDA_UPDATE=rows``, for float32 data; otherwise the kernel layer composes
    :func:`assign` and :func:`segment_sum`. Every other primitive takes every array."""
    if primitive != "assign_and_sum":
        return True
    import numpy as np

    return (X.dtype == np.float32 and assign_method() == "triton"
            and _choice("GKMEANS_CUDA_UPDATE", UPDATE_METHODS) == "rows")


def assign_and_sum(X: Any, centers: Any, weights: Any, *, xp: Any, chunk_rows: int, x_sq_norms: Any = None,
                   shift: Any = None) -> tuple[Any, Any, Any, Any]:
    """One Lloyd pass in one Triton kernel (see :func:`handles`): labels, squared distances, and the
    float64 sums of the weighted shifted rows and weights of each cluster, added by atomics in the
    same pass (:func:`.triton_assign.torch_assign_and_sum`)."""
    from .triton_assign import cupy_assign_and_sum

    return _triton_or_explain(cupy_assign_and_sum, X, centers, weights, shift=shift)


#: Each CUDA source of ``cuda/`` and its kernels for float32 and float64 data, looked up by name.
CUDA_KERNELS = {
    "fused_assign.cu": ("gk_fused_assign_f32", "gk_fused_assign_f64"),
    "row_argmin.cu": ("gk_row_argmin_f32", "gk_row_argmin_f64"),
    "cluster_sums.cu": ("gk_cluster_sums_f32", "gk_cluster_sums_f64"),
}
_COMPILED: dict[str, Any] = {}


def cuda_module(name: str) -> Any:
    """``cuda/<name>`` compiled by CuPy's RawModule (NVRTC), with ``cuda/`` on the include path
    for the shared ``gk_common.cuh``."""
    import cupy
    from importlib.resources import files

    folder = files(__package__).joinpath("cuda")  # a directory: the package is never zipped
    source = folder.joinpath(name).read_text(encoding="utf-8")
    return cupy.RawModule(code=source, options=("-std=c++17", f"-I{folder}"))


def cuda_kernel(source: str, dtype: Any) -> Any:
    """The kernel of ``cuda/<source>`` for ``dtype`` (float32, else float64): every kernel of the
    source is compiled once per process by :func:`cuda_module`, then cached."""
    import numpy as np

    for_float32, for_float64 = CUDA_KERNELS[source]
    name = for_float32 if dtype == np.float32 else for_float64
    if name not in _COMPILED:
        module = cuda_module(source)
        for kernel in CUDA_KERNELS[source]:
            _COMPILED[kernel] = module.get_function(kernel)
    return _COMPILED[name]


#: Rows per block and threads per block of the fused kernel (see the .cu file).
FUSED_ROWS_PER_BLOCK = 64
FUSED_BLOCK = (16, 16)


def fused_assign(X: Any, centers: Any, *, x_sq_norms: Any = None, shift: Any = None) -> tuple[Any, Any]:
    """Labels and squared distances from the fused CUDA kernel: one launch, no n x k block and no
    n x d temporary in device memory (the rows' norms are accumulated by the kernel itself, so
    ``x_sq_norms`` is not needed)."""
    import cupy
    import numpy as np

    with X.device:
        X = cupy.ascontiguousarray(X)
        centers = cupy.ascontiguousarray(centers.astype(X.dtype, copy=False))
        n, d = X.shape
        k = centers.shape[0]
        shift = cupy.zeros(d, dtype=X.dtype) if shift is None else cupy.ascontiguousarray(shift.astype(X.dtype))
        c_sq = cupy.sum(centers * centers, axis=1)
        labels = cupy.empty(n, dtype=cupy.int64)
        min_sq = cupy.empty(n, dtype=X.dtype)
        grid = ((n + FUSED_ROWS_PER_BLOCK - 1) // FUSED_ROWS_PER_BLOCK,)
        cuda_kernel("fused_assign.cu", X.dtype)(
            grid, FUSED_BLOCK, (X, shift, centers, c_sq, np.int64(n), np.int32(k), np.int32(d), labels, min_sq))
        return labels, min_sq


def compute_types(linalg: Any) -> dict[str, int]:
    """``precision=`` as CuPy's cuBLAS compute types for float32 products (``linalg``: CuPy's
    ``cupy._core._routines_linalg``); the default one is plain float32 (exact)."""
    return {"exact": linalg.COMPUTE_TYPE_DEFAULT, "tf32": linalg.COMPUTE_TYPE_TF32, "bf16": linalg.COMPUTE_TYPE_BF16}


def matmul_precision(precision: str, device: Any) -> Any:
    """Context in which CuPy's float32 products run in ``precision``: "exact" (cuBLAS's plain float32,
    even where ``CUPY_TF32=1`` made TF32 the default), or on tensor cores in "tf32" or "bf16".

    CuPy keeps one process-wide compute type per dtype (``CUPY_TF32`` sets it at start);
    it is set for the duration of the context and restored after. Yields the precision in
    force: "exact" on GPUs older than compute capability 8.0, which have no reduced mode.
    """
    import contextlib

    import numpy as np
    from cupy._core import _routines_linalg as linalg

    @contextlib.contextmanager
    def context() -> Any:
        if precision != "exact" and int(device.compute_capability) < 80:
            yield "exact"
            return
        wanted = compute_types(linalg)[precision]
        previous = linalg.get_compute_type(np.float32)
        linalg.set_compute_type(np.float32, wanted)
        try:
            yield precision
        finally:
            linalg.set_compute_type(np.float32, previous)

    return context()
