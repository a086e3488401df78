"""PyTorch fast paths (CPU and CUDA tensors)."""

from __future__ import annotations

from typing import Any

from .agnostic import row_chunks


def segment_sum(
    X: Any, labels: Any, weights: Any, n_clusters: int, *, xp: Any, acc_dtype: Any, chunk_rows: int
) -> tuple[Any, Any]:
    """Cluster sums through ``Tensor.index_add_``, accumulated in ``acc_dtype``."""
    import torch

    d = X.shape[1]
    sums = torch.zeros((n_clusters, d), dtype=acc_dtype, device=X.device)
    weight_sums = torch.zeros(n_clusters, dtype=acc_dtype, device=X.device)
    for start, stop in row_chunks(X.shape[0], chunk_rows):
        w = weights[start:stop].to(acc_dtype)
        sums.index_add_(0, labels[start:stop], X[start:stop].to(acc_dtype) * w[:, None])
        weight_sums.index_add_(0, labels[start:stop], w)
    return sums, weight_sums


def free_memory(device: Any) -> int | None:
    """Free memory of the tensor's device, in bytes."""
    import torch

    if getattr(device, "type", "cpu") == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    from .memory import host_available_bytes

    return host_available_bytes()


def out_of_memory_errors() -> tuple[type[BaseException], ...]:
    """PyTorch's CUDA out-of-memory error is a RuntimeError, not a MemoryError."""
    import torch

    error = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None)
    return (error,) if error is not None else ()


def release_cached_memory(device: Any) -> None:
    """Give PyTorch's cached CUDA blocks back before a smaller chunk is tried."""
    import torch

    if getattr(device, "type", "cpu") == "cuda":
        torch.cuda.empty_cache()


def matmul_precision(precision: str, device: Any) -> Any:
    """Context in which PyTorch's float32 CUDA products use TF32 ("high") or bf16 ("medium") tensor cores."""
    import contextlib

    import torch

    @contextlib.contextmanager
    def context() -> Any:
        if getattr(device, "type", "cpu") != "cuda":
            yield "exact"
            return
        previous = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision("high" if precision == "tf32" else "medium")
        try:
            yield precision
        finally:
            torch.set_float32_matmul_precision(previous)

    return context()
