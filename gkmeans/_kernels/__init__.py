"""The kernel layer: primitives the Array API standard lacks, with native fast paths.

Each public function here picks the implementation for a namespace: the native
module of its backend (``numpy_``, ``cupy_``, ``torch_``) when that module
defines the primitive, else the pure Array API version in :mod:`.agnostic`.
Algorithms call only these functions, so no backend test appears in them.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import math
import os
from types import ModuleType
from typing import Any, Callable

from .._compat import backend_name, supports_float64
from .._compat import to_numpy as to_host  # noqa: F401 - re-exported: algorithms bring small results home
from . import agnostic
from .memory import host_available_bytes

_NATIVE_MODULES = {"numpy": "numpy_", "cupy": "cupy_", "torch": "torch_"}

#: Chunk workspace bounds. On the CPU a block this size stays within the last-level
#: cache while amortising Python overhead (measured: 4-8 MiB blocks beat 64 MiB
#: ones by 10-30% at k=64); on a GPU a bigger block keeps the device busy.
CPU_WORKSPACE_CAP = 8 * 2**20
#: The n x k distance block of an assignment on the CPU: small enough for the L2
#: cache, so the add, argmin and one-hot passes after the product hit cache
#: (measured at k=64: 4096-row blocks 2x faster per row than 16384-row ones).
CPU_DISTANCE_BLOCK = 2**20
GPU_WORKSPACE_CAP = 2 * 2**30
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
    override = os.environ.get("GKMEANS_GPU_CHUNK_BYTES")
    if not override:
        return GPU_WORKSPACE_CAP
    try:
        value = int(float(override))
    except ValueError:
        raise ValueError(f"GKMEANS_GPU_CHUNK_BYTES={override!r} must be a number of bytes") from None
    if value < MIN_WORKSPACE:
        raise ValueError(f"GKMEANS_GPU_CHUNK_BYTES={value} must be at least {MIN_WORKSPACE} bytes")
    return value
MIN_WORKSPACE = 2**20


@functools.lru_cache(maxsize=32)
def native_module(xp: ModuleType) -> ModuleType | None:
    """The fast-path module for ``xp``'s backend, or None (imported on first use; looked up once per
    namespace: it is asked several times a pass)."""
    name = _NATIVE_MODULES.get(backend_name(xp))
    return None if name is None else importlib.import_module(f".{name}", __name__)


def _native(xp: ModuleType, primitive: str, X: Any = None) -> Callable[..., Any] | None:
    """The backend's own ``primitive`` for data ``X``, or None. A native module may define
    ``handles(primitive, X)`` to decline some of its arrays (PyTorch: CUDA tensors for the
    primitives it runs through NumPy)."""
    native = native_module(xp)
    impl = getattr(native, primitive, None) if native is not None else None
    if impl is None:
        return None
    handles = getattr(native, "handles", None)
    if X is not None and handles is not None and not handles(primitive, X):
        return None
    return impl


def _pick(xp: ModuleType, primitive: str, X: Any = None) -> Callable[..., Any]:
    impl = _native(xp, primitive, X)
    # Looked up at call time so tests can replace the fallback and prove it did not run.
    return impl if impl is not None else getattr(agnostic, primitive)


def implementation(xp: ModuleType, primitive: str, X: Any = None) -> str:
    """Which implementation ``primitive`` uses for ``xp`` (and data ``X`` where given):
    "native:<backend>" or "agnostic"."""
    return "agnostic" if _native(xp, primitive, X) is None else f"native:{backend_name(xp)}"


def accumulator_dtype(xp: ModuleType, device: Any) -> Any:
    """float64 where the device has it (sums of many float32 values lose digits), else float32."""
    return xp.float64 if supports_float64(xp, device) else xp.float32


def workspace_bytes(xp: ModuleType, device: Any) -> int:
    """Bytes one chunk's temporaries may take on ``device``: a share of free memory, capped."""
    free = free_bytes(xp, device)
    cap = gpu_workspace_cap() if _on_gpu(xp, device) else CPU_WORKSPACE_CAP
    if free is None:
        return cap
    return int(max(MIN_WORKSPACE, min(cap, free // 8)))


def free_bytes(xp: ModuleType, device: Any) -> int | None:
    """Free memory on ``device`` (the host's available memory for CPU namespaces), or None if unknown."""
    native = native_module(xp)
    if native is not None and hasattr(native, "free_memory"):
        return native.free_memory(device)
    return host_available_bytes()


def shifted_copy_fits(X: Any, xp: ModuleType) -> bool:
    """Whether a shifted copy of ``X`` may be made: at most :data:`SHIFTED_COPY_MAX_BYTES` and an
    eighth of the device's free memory (the chunk workspace's share)."""
    nbytes = X.shape[0] * X.shape[1] * (xp.finfo(X.dtype).bits // 8)
    free = free_bytes(xp, X.device)
    return nbytes <= SHIFTED_COPY_MAX_BYTES and (free is None or nbytes <= free // 8)


def chunk_rows_for(n_rows: int, row_bytes: int, xp: ModuleType, device: Any, *, cache_sized: bool = False) -> int:
    """Rows per chunk such that a chunk's ``row_bytes``-wide temporaries fit the workspace.

    ``cache_sized`` caps the chunk at :data:`CPU_DISTANCE_BLOCK` bytes on the CPU
    (at least 256 rows), for passes that revisit the block several times.
    """
    budget = workspace_bytes(xp, device)
    if cache_sized and not _on_gpu(xp, device):
        budget = min(budget, max(CPU_DISTANCE_BLOCK, 256 * row_bytes))
    return int(max(1, min(n_rows, budget // max(1, row_bytes))))


def release_workspaces(xp: ModuleType) -> None:
    """Free what a backend keeps between kernel calls of one fit (CuPy: a captured assignment
    pass and its buffers); called when a fit ends."""
    native = native_module(xp)
    if native is not None and hasattr(native, "release_workspaces"):
        native.release_workspaces()


def out_of_memory_errors(xp: ModuleType) -> tuple[type[BaseException], ...]:
    """Exceptions that mean "this chunk did not fit" for ``xp``'s backend (CuPy's is a MemoryError)."""
    native = native_module(xp)
    extra = native.out_of_memory_errors() if native is not None and hasattr(native, "out_of_memory_errors") else ()
    return (MemoryError, *extra)


def _chunked(primitive: str, xp: ModuleType, X: Any, chunk_rows: int, run: Callable[[int], Any]) -> Any:
    """``run(chunk_rows)``; when the device runs out of memory, free its cache, halve the chunk and retry.

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
            native = native_module(xp)
            if native is not None and hasattr(native, "release_cached_memory"):
                native.release_cached_memory(X.device)
            if rows <= 1:
                free = free_bytes(xp, X.device)
                free_text = "unknown" if free is None else f"{free / 2**20:,.0f} MiB"
                dtype = str(X.dtype).rsplit(".", 1)[-1]
                msg = (
                    f"out of memory on {X.device} in {primitive} for X of shape {tuple(X.shape)} ({dtype}), "
                    f"even one row at a time (started at {chunk_rows} rows per chunk; free now: {free_text}): "
                    "free memory on the device, use float32, or stream the data with gkmeans.chunked"
                )
                raise MemoryError(msg) from error
            rows = max(1, rows // 2)


#: ``precision=`` options: "exact" computes in the data's dtype; "tf32" and "bf16" let float32
#: products on a CUDA GPU (compute capability 8.0+) use tensor cores in that format.
PRECISIONS = ("exact", "tf32", "bf16")


@contextlib.contextmanager
def matmul_precision(xp: ModuleType, device: Any, dtype: Any, precision: str) -> Any:
    """Context for the products of a fit or predict; yields the precision actually in force.

    Reduced precision applies to float32 data on a GPU whose backend offers it; everywhere
    else (the CPU, float64) the computation stays exact and "exact" is yielded. On such a GPU
    "exact" is set too, not assumed: CuPy's ``CUPY_TF32`` and PyTorch's
    ``set_float32_matmul_precision`` can make TF32 the process's default for float32 products.
    """
    native = native_module(xp)
    if dtype != xp.float32 or not _on_gpu(xp, device) or native is None or not hasattr(native, "matmul_precision"):
        yield "exact"
        return
    with native.matmul_precision(precision, device) as effective:
        yield effective


def exact_products(xp: ModuleType, device: Any) -> Any:
    """Context in which float32 products are exact, inside a reduced-precision fit too: for the
    products that are not distances (cluster sums of batched restarts, squared norms), whose
    results are centres and distances the fit promises exact."""
    return matmul_precision(xp, device, xp.float32, "exact")


def on_gpu(xp: ModuleType, device: Any) -> bool:
    """Whether ``device`` of namespace ``xp`` is a GPU."""
    return _on_gpu(xp, device)


def _on_gpu(xp: ModuleType, device: Any) -> bool:
    return backend_name(xp) == "cupy" or getattr(device, "type", "cpu") == "cuda"


def assign(X: Any, centers: Any, *, xp: ModuleType, x_sq_norms: Any = None, shift: Any = None) -> tuple[Any, Any]:
    """Labels and squared distances to the nearest centre, for ``X - shift`` against centres
    in that shifted frame (see :func:`.agnostic.assign`)."""
    k = centers.shape[0]
    # The n x k block, its argmin and min, and a product temporary.
    chunk = chunk_rows_for(X.shape[0], k * (xp.finfo(X.dtype).bits // 8), xp, X.device, cache_sized=True)
    impl = _pick(xp, "assign", X)
    return _chunked("assign", xp, X, chunk, lambda rows: impl(X, centers, xp=xp, chunk_rows=rows,
                                                             x_sq_norms=x_sq_norms, shift=shift))


def segment_sum(X: Any, labels: Any, weights: Any, n_clusters: int, *, xp: ModuleType) -> tuple[Any, Any]:
    """Per-cluster weighted sums of rows and per-cluster weights, in the accumulator dtype."""
    acc = accumulator_dtype(xp, X.device)
    row_bytes = (n_clusters + 2 * X.shape[1]) * 8
    chunk = chunk_rows_for(X.shape[0], row_bytes, xp, X.device)
    impl = _pick(xp, "segment_sum", X)
    return _chunked("segment_sum", xp, X, chunk, lambda rows: impl(X, labels, weights, n_clusters, xp=xp,
                                                                  acc_dtype=acc, chunk_rows=rows))


def weighted_inertia(X: Any, centers: Any, labels: Any, weights: Any, *, xp: ModuleType) -> Any:
    """Sum of weighted squared distances to the assigned centres (0-d array)."""
    acc = accumulator_dtype(xp, X.device)
    chunk = chunk_rows_for(X.shape[0], 3 * X.shape[1] * 8, xp, X.device)
    impl = _pick(xp, "weighted_inertia", X)
    return _chunked("weighted_inertia", xp, X, chunk, lambda rows: impl(X, centers, labels, weights, xp=xp,
                                                                       acc_dtype=acc, chunk_rows=rows))


def weighted_column_sums(X: Any, weights: Any, *, xp: ModuleType, shift: Any = None) -> Any:
    """``sum_i w_i (x_i - shift)``, shape (n_features,), in the accumulator dtype."""
    acc = accumulator_dtype(xp, X.device)
    chunk = chunk_rows_for(X.shape[0], 2 * X.shape[1] * 8, xp, X.device)
    impl = agnostic.weighted_column_sums
    return _chunked("weighted_column_sums", xp, X, chunk, lambda rows: impl(X, weights, xp=xp, acc_dtype=acc,
                                                                            chunk_rows=rows, shift=shift))


def spread_about_weighted_mean(spread: float, column_sums: Any, total_weight: float) -> float:
    """``sum_i w_i ||x_i - m_w||^2`` from ``spread`` = ``sum_i w_i ||x_i - s||^2`` and ``column_sums``
    = ``sum_i w_i (x_i - s)`` about any shift s: the scale of the convergence tolerance. About the
    weighted mean m_w, integer weights give the repeated rows' tolerance (so the same stopping
    iteration). An overflowed spread is returned as it is, for the caller to report."""
    if not math.isfinite(spread):
        return spread
    return max(0.0, spread - float(column_sums @ column_sums) / total_weight)


def weighted_spread(X: Any, x_sq_norms: Any, weights: Any, total_weight: float, *, xp: ModuleType,
                    shift: Any = None, uniform_weights: bool = False) -> float:
    """:func:`spread_about_weighted_mean` of ``X - shift`` whose rows' squared norms are ``x_sq_norms``;
    with uneven weights the rows' sums take one pass more (with even ones the weighted mean is the mean)."""
    spread = float(weights @ x_sq_norms)
    if uniform_weights:
        return spread
    return spread_about_weighted_mean(spread, weighted_column_sums(X, weights, xp=xp, shift=shift), total_weight)


def sq_distances_to_rows(X: Any, x_sq_norms: Any, rows: Any, *, xp: ModuleType, shift: Any = None) -> Any:
    """Squared distances from a few rows (shifted frame) to every row of ``X - shift``, shape (m, n)."""
    chunk = chunk_rows_for(X.shape[0], 2 * (rows.shape[0] + X.shape[1]) * 8, xp, X.device)
    impl = _pick(xp, "sq_distances_to_rows", X)
    return _chunked("sq_distances_to_rows", xp, X, chunk, lambda n_rows: impl(X, x_sq_norms, rows, xp=xp,
                                                                              chunk_rows=n_rows, shift=shift))


def closer_distances(X: Any, x_sq_norms: Any, rows: Any, closest: Any, weights: Any, *, xp: ModuleType,
                     shift: Any = None) -> tuple[Any, Any]:
    """For each candidate row: every sample's squared distance to its nearest centre were the
    candidate added, (m, n), and the weighted potential, (m,) (see :func:`.agnostic.closer_distances`)."""
    row_bytes = 2 * (rows.shape[0] + X.shape[1]) * 8
    chunk = chunk_rows_for(X.shape[0], row_bytes, xp, X.device, cache_sized=True)
    impl = _pick(xp, "closer_distances", X)
    return _chunked("closer_distances", xp, X, chunk, lambda n_rows: impl(
        X, x_sq_norms, rows, closest, weights, xp=xp, chunk_rows=n_rows, shift=shift))


def row_sq_norms(X: Any, *, xp: ModuleType, shift: Any = None) -> Any:
    """Squared norm of every row of ``X - shift``."""
    chunk = chunk_rows_for(X.shape[0], 2 * X.shape[1] * 8, xp, X.device)
    impl = _pick(xp, "row_sq_norms", X)
    # Exact in a reduced-precision fit too: the array path's vecdot is a (batched) matrix product.
    with exact_products(xp, X.device):
        return _chunked("row_sq_norms", xp, X, chunk, lambda rows: impl(X, xp=xp, chunk_rows=rows, shift=shift))


def column_mean(X: Any, *, xp: ModuleType) -> Any:
    """Mean of the rows of X: the shift of the centred frame (NumPy's for NumPy arrays and PyTorch
    CPU tensors alike, so that both fit the same, bit for bit)."""
    return _pick(xp, "column_mean", X)(X, xp=xp)


def distinct_labels(labels: Any, n_clusters: int, *, xp: ModuleType) -> int:
    """How many different cluster ids (of ``0 .. n_clusters - 1``) occur in ``labels``."""
    return _pick(xp, "distinct_labels", labels)(labels, n_clusters, xp=xp)


def assign_and_sum(
    X: Any, centers: Any, weights: Any, *, xp: ModuleType, x_sq_norms: Any = None, shift: Any = None
) -> tuple[Any, Any, Any, Any]:
    """One Lloyd pass: labels and squared distances for ``X - shift`` against ``centers``
    (shifted frame), and the per-cluster weighted sums of the shifted rows and weights.

    Backends with a fused native pass (NumPy: blocks shared among threads) use it;
    the others compose :func:`assign` and :func:`segment_sum`, summing raw rows in
    float64 and moving the sums into the shifted frame.
    """
    k = centers.shape[0]
    fused = _native(xp, "assign_and_sum", X)
    if fused is not None:
        chunk = chunk_rows_for(X.shape[0], k * (xp.finfo(X.dtype).bits // 8), xp, X.device, cache_sized=True)
        return _chunked("assign_and_sum", xp, X, chunk, lambda rows: fused(
            X, centers, weights, xp=xp, chunk_rows=rows, x_sq_norms=x_sq_norms, shift=shift))
    labels, min_sq = assign(X, centers, xp=xp, x_sq_norms=x_sq_norms, shift=shift)
    sums, weight_sums = segment_sum(X, labels, weights, k, xp=xp)
    if shift is not None:
        sums = sums - weight_sums[:, None] * xp.astype(shift, sums.dtype)[None, :]
    return labels, min_sq, sums, weight_sums



def assign_and_sum_batched(
    X: Any, centers: Any, weights: Any, *, xp: ModuleType, x_sq_norms: Any = None, shift: Any = None
) -> tuple[Any, Any, Any, Any]:
    """One Lloyd pass for several runs at once (centres of shape (r, k, d), shifted frame):
    labels and distances of shape (n, r), sums (r, k, d) and weights (r, k) in the accumulator dtype."""
    runs, k, _ = centers.shape
    acc = accumulator_dtype(xp, X.device)
    # The n x (r k) product block, its one-hot twin and the comparison mask.
    row_bytes = 3 * runs * k * (xp.finfo(X.dtype).bits // 8)
    chunk = chunk_rows_for(X.shape[0], row_bytes, xp, X.device, cache_sized=True)
    impl = _pick(xp, "assign_and_sum_batched", X)
    return _chunked("assign_and_sum_batched", xp, X, chunk, lambda rows: impl(
        X, centers, weights, xp=xp, acc_dtype=acc, chunk_rows=rows, x_sq_norms=x_sq_norms, shift=shift,
        exact=lambda: exact_products(xp, X.device)))


def stream_to_device(batches: Any, *, xp: ModuleType, device: Any) -> Any:
    """Batches of host arrays (tuples, None allowed) moved to the compute device one by one;
    on CuPy through pinned buffers, the next copy overlapping the work on the current batch."""
    return _pick(xp, "stream_to_device")(batches, xp=xp, device=device)


def sq_distances_to_assigned(X: Any, centers: Any, labels: Any, *, xp: ModuleType) -> Any:
    """Exact squared distance of every row to its assigned centre, shape (n,)."""
    chunk = chunk_rows_for(X.shape[0], 3 * X.shape[1] * 8, xp, X.device)
    impl = _pick(xp, "sq_distances_to_assigned", X)
    return _chunked("sq_distances_to_assigned", xp, X, chunk,
                    lambda rows: impl(X, centers, labels, xp=xp, chunk_rows=rows))


def pairwise_sq_distances(X: Any, centers: Any, *, xp: ModuleType, root: bool = False) -> Any:
    """Squared distances from every row of X to every centre, shape (n, k), exact near zero
    (``root``: the Euclidean distances, rooted block by block before rounding to X's dtype)."""
    # The expansion's (rows x k) temporaries in the accumulator dtype, and the shifted block.
    row_bytes = (4 * centers.shape[0] + 2 * X.shape[1]) * 8
    chunk = chunk_rows_for(X.shape[0], row_bytes, xp, X.device)
    acc = accumulator_dtype(xp, X.device)
    impl = _pick(xp, "pairwise_sq_distances", X)
    return _chunked("pairwise_sq_distances", xp, X, chunk, lambda rows: impl(X, centers, xp=xp, chunk_rows=rows,
                                                                             acc_dtype=acc, root=root))


def cluster_distance_sums(X: Any, x_sq_norms: Any, one_hot: Any, *, xp: ModuleType) -> Any:
    """Per row, the sum of Euclidean distances to each cluster's members, shape (n, k)."""
    row_bytes = 2 * X.shape[0] * (xp.finfo(X.dtype).bits // 8)
    chunk = chunk_rows_for(X.shape[0], row_bytes, xp, X.device)
    impl = _pick(xp, "cluster_distance_sums", X)
    return _chunked("cluster_distance_sums", xp, X, chunk,
                    lambda rows: impl(X, x_sq_norms, one_hot, xp=xp, chunk_rows=rows))
