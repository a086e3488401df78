"""How many rows a kernel call takes at once, and the retry with fewer when memory runs out."""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable

from gkmeans import config
from gkmeans._compat import supports_float64
from gkmeans._kernels.dispatch import (
    free_bytes,
    on_gpu,
    out_of_memory_errors,
    release_cached_memory,
)

#: Chunk workspace bounds. On the CPU a block this size stays within the last-level
#: cache while amortising Python overhead (measured: 4-8 MiB blocks beat 64 MiB
#: ones by 10-30% at k=64); on a GPU a bigger block keeps the device busy.
CPU_WORKSPACE_CAP = 8 * 2**20
#: The n x k distance block of an assignment on the CPU: small enough for the L2
#: cache, so the add, argmin and one-hot passes after the product hit cache
#: (measured at k=64: 4096-row blocks 2x faster per row than 16384-row ones).
CPU_DISTANCE_BLOCK = 2**20
GPU_WORKSPACE_CAP = config.GPU_WORKSPACE_CAP
MIN_WORKSPACE = config.MIN_WORKSPACE
#: Data up to this size is shifted once per fit into a copy (when free memory allows and the
#: caller did not say ``copy_x=False``) instead of block by block in every pass: the same
#: subtraction, so the same rows, without a memory pass per block. Measured side by side
#: (``python -m benchmarks shifted-copy``, 2 cores, n = 10^4-10^5, d = 2-32, k = 8-64): time
#: with / without the copy 0.76-1.04 per Lloyd iteration, 0.73-0.94 for k-means++. The size is
#: the memory target's allowance (extra memory <= 0.3 X + 64 MiB), so larger data is never copied.
SHIFTED_COPY_MAX_BYTES = 64 * 2**20


def gpu_workspace_cap() -> int:
    """:data:`GPU_WORKSPACE_CAP`, or ``GKMEANS_GPU_CHUNK_BYTES`` when set.

    The override exists to measure the other design on a GPU: chunks small enough for the L2
    cache (tens of MiB), whose n x k block never reaches device memory, against large ones
    that keep the GPU busy with few launches (the GPU benchmark grid runs both).
    """
    return config.gpu_chunk_bytes()


def accumulator_dtype(xp: ModuleType, device: Any) -> Any:
    """float64 where the device has it (sums of many float32 values lose digits), else float32."""
    return xp.float64 if supports_float64(xp, device) else xp.float32


def workspace_bytes(xp: ModuleType, device: Any) -> int:
    """Bytes one chunk's temporaries may take on ``device``: a share of free memory, capped."""
    free = free_bytes(xp, device)
    cap = gpu_workspace_cap() if on_gpu(xp, device) else CPU_WORKSPACE_CAP
    if free is None:
        return cap
    return int(max(MIN_WORKSPACE, min(cap, free // 8)))


def shifted_copy_fits(X: Any, xp: ModuleType) -> bool:
    """Whether a shifted copy of ``X`` may be made: at most :data:`SHIFTED_COPY_MAX_BYTES` and an
    eighth of the device's free memory (the chunk workspace's share)."""
    nbytes = X.shape[0] * X.shape[1] * (xp.finfo(X.dtype).bits // 8)
    free = free_bytes(xp, X.device)
    return nbytes <= SHIFTED_COPY_MAX_BYTES and (free is None or nbytes <= free // 8)


def chunk_rows_for(
    n_rows: int, row_bytes: int, xp: ModuleType, device: Any, *, cache_sized: bool = False
) -> int:
    """Rows per chunk such that a chunk's ``row_bytes``-wide temporaries fit the workspace.

    ``cache_sized`` caps the chunk at :data:`CPU_DISTANCE_BLOCK` bytes on the CPU
    (at least 256 rows), for passes that revisit the block several times.
    """
    budget = workspace_bytes(xp, device)
    if cache_sized and not on_gpu(xp, device):
        budget = min(budget, max(CPU_DISTANCE_BLOCK, 256 * row_bytes))
    return int(max(1, min(n_rows, budget // max(1, row_bytes))))


def run_in_chunks(
    primitive: str, xp: ModuleType, X: Any, chunk_rows: int, run: Callable[[int], Any]
) -> Any:
    """``run(chunk_rows)``; when the device runs out of memory, free its cache, halve the chunk and
    retry.

    The workspace is sized from free memory, but other processes (or fragmentation) can
    take it meanwhile. Only when a single row does not fit does the error reach the caller,
    with the sizes that did not fit.
    """
    errors = out_of_memory_errors(xp)
    rows = chunk_rows
    while True:
        try:
            return run(rows)
        except errors as error:
            release_cached_memory(xp, X.device)
            if rows <= 1:
                free = free_bytes(xp, X.device)
                free_text = "unknown" if free is None else f"{free / 2**20:,.0f} MiB"
                dtype = str(X.dtype).rsplit(".", 1)[-1]
                msg = (
                    f"out of memory on {X.device} in {primitive} for X of shape {tuple(X.shape)} "
                    f"({dtype}), even one row at a time (started at {chunk_rows} rows per chunk; "
                    f"free now: {free_text}): free memory on the device, use float32, or stream "
                    "the data with gkmeans.chunked"
                )
                raise MemoryError(msg) from error
            rows = max(1, rows // 2)
