"""CuPy fast paths of the default GPU path: ``cupyx.scatter_add`` cluster sums, free memory,
pinned overlapped host-to-device streaming, and cuBLAS compute types for ``precision=``.

The assignment runs the Array API path (:func:`gkmeans._kernels.agnostic.assign`: cuBLAS
products on chunks sized from free memory, then CuPy reductions). Kernels not yet measured on
a GPU live in :mod:`gkmeans._kernels.experimental`.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from gkmeans._compat import array_namespace, move
from gkmeans._kernels.agnostic import row_chunks


def segment_sum(
    X: Any, labels: Any, weights: Any, n_clusters: int, *, xp: Any, acc_dtype: Any, chunk_rows: int
) -> tuple[Any, Any]:
    """Cluster sums through ``cupyx.scatter_add`` (atomic adds of a float64 copy of each block,
    weighted), in ``acc_dtype``.

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
                in_use[
                    1
                ].synchronize()  # the batch before: its kernels are finished, its memory can go
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


def compute_types(linalg: Any) -> dict[str, int]:
    """``precision=`` as CuPy's cuBLAS compute types for float32 products (``linalg``: CuPy's
    ``cupy._core._routines_linalg``); the default one is plain float32 (exact)."""
    return {
        "exact": linalg.COMPUTE_TYPE_DEFAULT,
        "tf32": linalg.COMPUTE_TYPE_TF32,
        "bf16": linalg.COMPUTE_TYPE_BF16,
    }


def matmul_precision(precision: str, device: Any) -> Any:
    """Context in which CuPy's float32 products run in ``precision``: "exact" (cuBLAS's plain
    float32, even where ``CUPY_TF32=1`` made TF32 the default), or on tensor cores in "tf32" or
    "bf16".

    CuPy keeps one process-wide compute type per dtype (``CUPY_TF32`` sets it at start);
    it is set for the duration of the context and restored after. Yields the precision in
    force: "exact" on GPUs older than compute capability 8.0, which have no reduced mode.
    """
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
