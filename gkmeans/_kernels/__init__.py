"""The kernel layer: primitives the Array API standard lacks, with native fast paths.

Each public function here picks the implementation for a namespace: the native
module of its backend (``numpy_``, ``cupy_``, ``torch_``) when that module
defines the primitive, else the pure Array API version in :mod:`.agnostic`.
Algorithms call only these functions, so no backend test appears in them.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Callable

from .._compat import backend_name, supports_float64
from . import agnostic
from .memory import host_available_bytes

_NATIVE_MODULES = {"numpy": "numpy_", "cupy": "cupy_", "torch": "torch_"}

#: Chunk workspace bounds. On the CPU a block this size stays within the last-level
#: cache while amortising Python overhead (measured: 4-8 MiB blocks beat 64 MiB
#: ones by 10-30% at k=64); on a GPU a bigger block keeps the device busy.
CPU_WORKSPACE_CAP = 8 * 2**20
GPU_WORKSPACE_CAP = 2 * 2**30
MIN_WORKSPACE = 2**20


def native_module(xp: ModuleType) -> ModuleType | None:
    """The fast-path module for ``xp``'s backend, or None (imported on first use)."""
    name = _NATIVE_MODULES.get(backend_name(xp))
    return None if name is None else importlib.import_module(f".{name}", __name__)


def _pick(xp: ModuleType, primitive: str) -> Callable[..., Any]:
    native = native_module(xp)
    impl = getattr(native, primitive, None) if native is not None else None
    # Looked up at call time so tests can replace the fallback and prove it did not run.
    return impl if impl is not None else getattr(agnostic, primitive)


def implementation(xp: ModuleType, primitive: str) -> str:
    """Which implementation ``primitive`` uses for ``xp``: "native:<backend>" or "agnostic"."""
    native = native_module(xp)
    if native is not None and hasattr(native, primitive):
        return f"native:{backend_name(xp)}"
    return "agnostic"


def accumulator_dtype(xp: ModuleType, device: Any) -> Any:
    """float64 where the device has it (sums of many float32 values lose digits), else float32."""
    return xp.float64 if supports_float64(xp, device) else xp.float32


def workspace_bytes(xp: ModuleType, device: Any) -> int:
    """Bytes one chunk's temporaries may take on ``device``: a share of free memory, capped."""
    native = native_module(xp)
    free = None
    if native is not None and hasattr(native, "free_memory"):
        free = native.free_memory(device)
    else:
        free = host_available_bytes()
    on_gpu = backend_name(xp) == "cupy" or getattr(device, "type", "cpu") == "cuda"
    cap = GPU_WORKSPACE_CAP if on_gpu else CPU_WORKSPACE_CAP
    if free is None:
        return cap
    return int(max(MIN_WORKSPACE, min(cap, free // 8)))


def chunk_rows_for(n_rows: int, row_bytes: int, xp: ModuleType, device: Any) -> int:
    """Rows per chunk such that a chunk's ``row_bytes``-wide temporaries fit the workspace."""
    return int(max(1, min(n_rows, workspace_bytes(xp, device) // max(1, row_bytes))))


def assign(X: Any, centers: Any, *, xp: ModuleType, x_sq_norms: Any = None, shift: Any = None) -> tuple[Any, Any]:
    """Labels and squared distances to the nearest centre (see :func:`.agnostic.assign`)."""
    k = centers.shape[0]
    # The n x k block, its argmin and min, and a product temporary.
    chunk = chunk_rows_for(X.shape[0], 3 * k * (xp.finfo(X.dtype).bits // 8) + 16, xp, X.device)
    return _pick(xp, "assign")(X, centers, xp=xp, chunk_rows=chunk, x_sq_norms=x_sq_norms, shift=shift)


def segment_sum(X: Any, labels: Any, weights: Any, n_clusters: int, *, xp: ModuleType) -> tuple[Any, Any]:
    """Per-cluster weighted sums of rows and per-cluster weights, in the accumulator dtype."""
    acc = accumulator_dtype(xp, X.device)
    row_bytes = (n_clusters + 2 * X.shape[1]) * 8
    chunk = chunk_rows_for(X.shape[0], row_bytes, xp, X.device)
    return _pick(xp, "segment_sum")(X, labels, weights, n_clusters, xp=xp, acc_dtype=acc, chunk_rows=chunk)


def weighted_inertia(X: Any, centers: Any, labels: Any, weights: Any, *, xp: ModuleType) -> Any:
    """Sum of weighted squared distances to the assigned centres (0-d array)."""
    acc = accumulator_dtype(xp, X.device)
    chunk = chunk_rows_for(X.shape[0], 3 * X.shape[1] * 8, xp, X.device)
    return _pick(xp, "weighted_inertia")(X, centers, labels, weights, xp=xp, acc_dtype=acc, chunk_rows=chunk)


def sq_distances_to_rows(X: Any, x_sq_norms: Any, rows: Any, *, xp: ModuleType) -> Any:
    """Squared distances from a few rows to every row of X, shape (len(rows), n)."""
    return _pick(xp, "sq_distances_to_rows")(X, x_sq_norms, rows, xp=xp)



def sq_distances_to_assigned(X: Any, centers: Any, labels: Any, *, xp: ModuleType) -> Any:
    """Exact squared distance of every row to its assigned centre, shape (n,)."""
    chunk = chunk_rows_for(X.shape[0], 3 * X.shape[1] * 8, xp, X.device)
    return _pick(xp, "sq_distances_to_assigned")(X, centers, labels, xp=xp, chunk_rows=chunk)


def pairwise_sq_distances(X: Any, centers: Any, *, xp: ModuleType) -> Any:
    """Exact squared distances from every row of X to every centre, shape (n, k)."""
    row_bytes = 2 * centers.shape[0] * X.shape[1] * (xp.finfo(X.dtype).bits // 8)
    chunk = chunk_rows_for(X.shape[0], row_bytes, xp, X.device)
    return _pick(xp, "pairwise_sq_distances")(X, centers, xp=xp, chunk_rows=chunk)


def cluster_distance_sums(X: Any, x_sq_norms: Any, one_hot: Any, *, xp: ModuleType) -> Any:
    """Per row, the sum of Euclidean distances to each cluster's members, shape (n, k)."""
    row_bytes = 2 * X.shape[0] * (xp.finfo(X.dtype).bits // 8)
    chunk = chunk_rows_for(X.shape[0], row_bytes, xp, X.device)
    return _pick(xp, "cluster_distance_sums")(X, x_sq_norms, one_hot, xp=xp, chunk_rows=chunk)
