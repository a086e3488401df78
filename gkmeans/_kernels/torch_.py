"""PyTorch fast paths (CPU and CUDA tensors).

CPU tensors of float32/float64 run NumPy's passes (:mod:`.numpy_`: blocked, threaded, and
compiled where Numba is installed) on zero-copy views, and get zero-copy tensors back: a
torch CPU tensor and the NumPy array viewing it share memory, so nothing is copied and the
labels are NumPy's, bit for bit. CUDA tensors (and dtypes NumPy lacks) are declined by
:func:`handles` and take the pure Array API path (float32 CUDA tensors may take an
experimental Triton kernel, :mod:`gkmeans._kernels.experimental`).
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

import numpy as np

from gkmeans import _compat
from gkmeans._kernels import numpy_
from gkmeans._kernels.agnostic import row_chunks
from gkmeans.host_memory import host_available_bytes

#: Primitives whose CPU-tensor calls run the NumPy kernel of the same name. Measured at
#: n = 10^6, d = 32, k = 64 (2 cores): a torch Lloyd iteration took 2.6-2.8x NumPy's through
#: the Array API (separate matmul, argmin, gather and index_add_ passes over every block).
NUMPY_TWINS = (
    "assign",
    "assign_and_sum",
    "assign_exact",
    "assign_and_sum_exact",
    "weighted_inertia",
    "closer_distances",
    "cluster_distance_sums",
    "pairwise_sq_distances",
    "row_sq_norms",
    "column_mean",
    "bounds_pass",
)


def handles(primitive: str, X: Any) -> bool:
    """Whether this module's ``primitive`` takes ``X``: the NumPy twins take float32/float64
    CPU tensors only; the rest take every tensor."""
    if primitive not in NUMPY_TWINS:
        return True
    import torch

    on_cpu = X.device.type == "cpu" and X.dtype in (torch.float32, torch.float64)
    return on_cpu and (primitive != "bounds_pass" or numpy_.bounds_available(_numpy_view(X.dtype)))


def fit_scope(device: Any) -> Any:
    """NumPy's :func:`.numpy_.fit_scope` for CPU tensors (their passes are NumPy's); nothing on a
    GPU."""
    if getattr(device, "type", "cpu") != "cpu":
        return contextlib.nullcontext()
    return numpy_.fit_scope(device)


def _numpy_view(value: Any) -> Any:
    """A CPU tensor as a NumPy array sharing its memory; a torch dtype as NumPy's; else
    unchanged."""
    import torch

    if isinstance(value, torch.Tensor):
        # resolve_neg / resolve_conj: no copy unless the tensor is a lazily negated view, which
        # NumPy cannot see through
        return value.detach().resolve_neg().resolve_conj().numpy()
    if isinstance(value, torch.dtype):
        return torch.empty(0, dtype=value).numpy().dtype.type
    return value


def _as_tensor(value: Any) -> Any:
    """NumPy results back as tensors sharing their memory (tuples element by element)."""
    import torch

    if isinstance(value, tuple):
        return tuple(_as_tensor(v) for v in value)
    # NumPy reductions can return scalars (np.float64) where a 0-d array was meant.
    return (
        torch.from_numpy(np.asarray(value))
        if isinstance(value, (np.ndarray, np.generic))
        else value
    )


def _numpy_twin(primitive: str) -> Callable[..., Any]:
    def run(*args: Any, xp: Any, **kwargs: Any) -> Any:
        views = [_numpy_view(a) for a in args]
        options = {name: _numpy_view(value) for name, value in kwargs.items()}
        result = getattr(numpy_, primitive)(*views, xp=_compat.array_namespace(views[0]), **options)
        return _as_tensor(result)

    run.__name__ = run.__qualname__ = primitive
    run.__doc__ = (
        f"NumPy's ``{primitive}`` on zero-copy views of CPU tensors (see the module docstring)."
    )
    return run


#: ``precision=`` as PyTorch's float32 matmul precision ("highest" is exact float32).
MATMUL_PRECISION = {"exact": "highest", "tf32": "high", "bf16": "medium"}

assign = _numpy_twin("assign")
assign_and_sum = _numpy_twin("assign_and_sum")
assign_exact = _numpy_twin("assign_exact")
assign_and_sum_exact = _numpy_twin("assign_and_sum_exact")
weighted_inertia = _numpy_twin("weighted_inertia")
closer_distances = _numpy_twin("closer_distances")
cluster_distance_sums = _numpy_twin("cluster_distance_sums")
pairwise_sq_distances = _numpy_twin("pairwise_sq_distances")
row_sq_norms = _numpy_twin("row_sq_norms")
column_mean = _numpy_twin("column_mean")
bounds_pass = _numpy_twin("bounds_pass")


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
    """Free memory of the tensor's device, in bytes (on CUDA, what PyTorch's caching allocator holds
    unused counts as free, as CuPy's pool does: the driver alone would see a device full after one
    fit)."""
    import torch

    if getattr(device, "type", "cpu") == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        cached_unused = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(free + max(0, cached_unused))

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
    """Context in which PyTorch's float32 CUDA products are exact ("highest", whatever the process
    set) or use TF32 ("high") or bf16 ("medium") tensor cores."""
    import torch

    @contextlib.contextmanager
    def context() -> Any:
        if getattr(device, "type", "cpu") != "cuda":
            yield "exact"
            return
        previous = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision(MATMUL_PRECISION[precision])
        try:
            yield precision
        finally:
            torch.set_float32_matmul_precision(previous)

    return context()
