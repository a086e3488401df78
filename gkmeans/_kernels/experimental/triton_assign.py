"""The assignment as one Triton kernel: distances and a running argmin, never the n x k block.

``GKMEANS_CUDA_ASSIGN=triton`` (CuPy arrays and PyTorch CUDA tensors; needs PyTorch and Triton, as
the GPU images that run flash-kmeans have). Each program owns ``BLOCK_N`` rows: it loads them
shifted into the centred frame (all features at once when they fit one block, else ``BLOCK_D`` at
a time), walks the centres in tiles of ``BLOCK_K``, forms the tile's dot products with ``tl.dot``
in the precision the fit asked for — exact float32 ("ieee", fused multiply-adds on the CUDA
cores), or TF32 / bf16 on the tensor cores (Hopper's wgmma) — and keeps each row's best (value,
index) in registers. Only the labels and the squared distances are written: n x 12 bytes instead
of the n x k block a GEMM writes.

Ties go to the lowest centre index, as the array path's argmin (``tl.argmin`` takes the first
minimum of a tile; a later tile must be strictly better). The dot products are summed in
another order than cuBLAS's, so a point within rounding of two centres can take the other.

The same kernel runs on the CPU under Triton's interpreter (``TRITON_INTERPRET=1``, PyTorch
CPU tensors), which is how the test suite checks it without a GPU.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from gkmeans._kernels.cupy_ import compute_types

#: Launch configuration per arithmetic: rows per program, centres per tile, features per block,
#: warps, pipeline stages. Chosen without a GPU from the compiled kernel's resources (Triton 3.9,
#: sm_90, read with cuobjdump): each is one of the largest tiles that compiles without spilling
#: registers, within half an H100 SM's shared memory (two programs an SM). Blocks of 64 or 128
#: features spilled in every configuration tried, as did exact float32 on 128 x 128 tiles.
#: Not yet timed on a GPU: ``python -m benchmarks gpu-passes`` times these and their neighbours.
CONFIGS = {
    "ieee": (128, 64, 16, 8, 3),  # 216 registers, 32 KiB shared
    "tf32": (128, 128, 32, 8, 3),  # 250 registers, 96.25 KiB shared
    "bf16": (128, 128, 32, 8, 3),  # 237 registers, 80 KiB shared
}
#: ``precision=`` as the kernel's arithmetic (Triton calls exact float32 "ieee").
TRITON_PRECISION = {"exact": "ieee", "tf32": "tf32", "bf16": "bf16"}
#: ``tl.dot`` needs every dimension of a tile to be at least this.
MIN_DOT = 16


@functools.lru_cache(maxsize=1)
def _kernel() -> Any:
    """The jitted kernel (Triton imported, and the kernel defined, on first use)."""
    from gkmeans._kernels.experimental.triton_kernels import assign_kernel

    return assign_kernel


def block_d(n_features: int, widest: int) -> int:
    """Features per block: the next power of two (``tl.arange`` needs one), at least
    :data:`MIN_DOT`, at most ``widest``."""
    return min(widest, max(MIN_DOT, 1 << max(0, n_features - 1).bit_length()))


def torch_assign(
    X: Any,
    centers: Any,
    *,
    shift: Any = None,
    precision: str = "ieee",
    config: tuple[int, int, int, int, int] | None = None,
) -> tuple[Any, Any]:
    """Labels (int64) and squared distances (float32) of float32 tensor rows ``X - shift`` against
    ``centers`` (shifted frame), by the Triton kernel; ``precision``: "ieee", "tf32" or "bf16".
    ``config`` overrides :data:`CONFIGS` (``python -m benchmarks gpu-passes`` times some)."""
    labels, min_sq, _, _ = _launch(X, centers, None, shift, precision, config)
    return labels, min_sq


def torch_assign_and_sum(
    X: Any,
    centers: Any,
    weights: Any,
    *,
    shift: Any = None,
    precision: str = "ieee",
    config: tuple[int, int, int, int, int] | None = None,
) -> tuple[Any, Any, Any, Any]:
    """:func:`torch_assign` and, in the same pass, the float64 sums of each cluster's weighted
    shifted rows (k, d) and the clusters' weights (k,), added by atomics: one Lloyd iteration's
    pass."""
    return _launch(X, centers, weights, shift, precision, config)


def _launch(
    X: Any,
    centers: Any,
    weights: Any,
    shift: Any,
    precision: str,
    config: tuple[int, int, int, int, int] | None,
) -> tuple[Any, Any, Any, Any]:
    import torch
    import triton

    if X.dtype != torch.float32:
        raise TypeError(f"the Triton assignment takes float32 data, not {X.dtype}")
    if precision not in CONFIGS:
        raise ValueError(f"precision={precision!r} must be one of {tuple(CONFIGS)}")
    block_n, block_k, widest, num_warps, num_stages = (
        CONFIGS[precision] if config is None else config
    )
    X = X.contiguous()
    centers = centers.to(torch.float32).contiguous()
    n, d = X.shape
    k = centers.shape[0]
    c_sq = torch.sum(centers * centers, dim=1)
    labels = torch.empty(n, dtype=torch.int64, device=X.device)
    min_sq = torch.empty(n, dtype=torch.float32, device=X.device)
    update = weights is not None
    sums = torch.zeros((k, d) if update else (1,), dtype=torch.float64, device=X.device)
    weight_sums = torch.zeros(k if update else 1, dtype=torch.float64, device=X.device)
    weights = weights.contiguous() if update else c_sq  # unread without the update
    has_shift = shift is not None
    shift_arg = shift.to(torch.float32).contiguous() if has_shift else c_sq  # any pointer: unread
    width = block_d(d, widest)
    _kernel()[(triton.cdiv(n, block_n),)](
        X,
        shift_arg,
        centers,
        c_sq,
        labels,
        min_sq,
        weights,
        sums,
        weight_sums,
        n,
        k,
        d,
        X.stride(0),
        centers.stride(0),
        HAS_SHIFT=has_shift,
        PRECISION=precision,
        BLOCK_N=block_n,
        BLOCK_K=block_k,
        BLOCK_D=width,
        ONE_D_BLOCK=d <= width,
        UPDATE=update,
        num_warps=num_warps,
        num_stages=num_stages,
    )
    return labels, min_sq, (sums if update else None), (weight_sums if update else None)


def cupy_assign(X: Any, centers: Any, *, shift: Any = None) -> tuple[Any, Any]:
    """:func:`torch_assign` on CuPy arrays (see :func:`_cupy_launch`)."""
    labels, min_sq, _, _ = _cupy_launch(X, centers, None, shift)
    return labels, min_sq


def cupy_assign_and_sum(
    X: Any, centers: Any, weights: Any, *, shift: Any = None
) -> tuple[Any, Any, Any, Any]:
    """:func:`torch_assign_and_sum` on CuPy arrays (see :func:`_cupy_launch`)."""
    return _cupy_launch(X, centers, weights, shift)


def _cupy_launch(X: Any, centers: Any, weights: Any, shift: Any) -> tuple[Any, Any, Any, Any]:
    """The kernel on CuPy arrays: shared with PyTorch through DLPack (no copies) and launched on
    CuPy's current stream, in the precision of CuPy's float32 products (set by the fit's
    ``precision=``)."""
    import cupy
    import torch
    from cupy._core import _routines_linalg as linalg

    ours = {compute: name for name, compute in compute_types(linalg).items()}.get(
        linalg.get_compute_type(np.float32), "exact"
    )
    precision = TRITON_PRECISION[ours]

    def shared(a: Any) -> Any:
        return None if a is None else torch.from_dlpack(a.astype(X.dtype, copy=False))

    with X.device:
        stream = cupy.cuda.get_current_stream()
        device = torch.device("cuda", X.device.id)
        on_stream = (
            torch.cuda.ExternalStream(stream.ptr, device=device)
            if stream.ptr
            else torch.cuda.default_stream(device)
        )
        with torch.cuda.stream(on_stream):
            results = _launch(
                torch.from_dlpack(X),
                shared(centers),
                shared(weights),
                shared(shift),
                precision,
                None,
            )
            return tuple(None if r is None else cupy.from_dlpack(r) for r in results)
