"""Which experimental kernel runs for a primitive, as ``GKMEANS_CUDA_ASSIGN`` /
``GKMEANS_CUDA_UPDATE`` choose (read by :mod:`gkmeans.config`; this module is imported only when one
of them is set to an experimental value).

Assignments on CuPy (``GKMEANS_CUDA_ASSIGN``):

- "graph": cuBLAS products on L2-sized chunks into one reused buffer, reduced by the row-argmin
  kernel of ``cuda/row_argmin.cu``, the whole pass captured once as a CUDA graph and replayed
  every Lloyd iteration (:mod:`.cuda_graph`);
- "fused": the distance + argmin kernel of ``cuda/fused_assign.cu`` (:mod:`.fused_assign`);
- "triton": the distance + running-argmin Triton kernel (:mod:`.triton_assign`; float32, also
  PyTorch CUDA tensors); with ``GKMEANS_CUDA_UPDATE=rows`` the same kernel adds the rows to
  their clusters too (one pass an iteration). Needs PyTorch and Triton.

Updates on CuPy (``GKMEANS_CUDA_UPDATE``): "sort" (sort by label and difference prefix sums,
:func:`gkmeans._kernels.agnostic.sorted_segment_sum`) or "rows" (:mod:`.cluster_sums`).

Each kernel takes the dtypes it was written for; other data takes the default path.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from gkmeans._kernels import agnostic, cupy_
from gkmeans._kernels.experimental import cluster_sums, cuda_graph, fused_assign, triton_assign
from gkmeans._kernels.torch_ import MATMUL_PRECISION


def choose(
    backend: str, primitive: str, X: Any, assign_method: str, update_method: str
) -> Callable[..., Any] | None:
    """The experimental implementation of ``primitive`` for ``X`` under these choices, or None
    (the default path then runs)."""
    if backend == "cupy":
        if primitive == "assign" and assign_method != "gemm":
            return functools.partial(cupy_assign, method=assign_method)
        if primitive == "segment_sum" and update_method != "scatter":
            return functools.partial(cupy_segment_sum, method=update_method)
        if primitive == "assign_and_sum" and assign_method == "triton" and update_method == "rows":
            return cupy_triton_assign_and_sum if X.dtype == np.float32 else None
        return None
    if backend == "torch" and primitive == "assign" and assign_method == "triton":
        import torch

        return torch_triton_assign if X.device.type == "cuda" and X.dtype == torch.float32 else None
    return None


def cupy_assign(
    X: Any,
    centers: Any,
    *,
    xp: Any,
    chunk_rows: int,
    x_sq_norms: Any = None,
    shift: Any = None,
    method: str,
) -> tuple[Any, Any]:
    """Nearest centre and squared distance of every row by the experimental kernel ``method``.

    The kernels take float32 / float64 data ("triton" float32 only); "graph" also needs
    C-contiguous X (its captured pass reads X at a fixed address). Anything else takes the array
    path.
    """
    if method == "triton" and X.dtype == xp.float32:
        return _triton_or_explain(triton_assign.cupy_assign, X, centers, shift=shift)
    if method == "fused" and X.dtype in (xp.float32, xp.float64):
        return fused_assign.fused_assign(X, centers, x_sq_norms=x_sq_norms, shift=shift)
    contiguous = X.flags.c_contiguous and (x_sq_norms is None or x_sq_norms.flags.c_contiguous)
    if method == "graph" and X.dtype in (xp.float32, xp.float64) and contiguous:
        return cuda_graph.graph_assign(
            X, centers, chunk_rows=chunk_rows, x_sq_norms=x_sq_norms, shift=shift
        )
    return agnostic.assign(
        X, centers, xp=xp, chunk_rows=chunk_rows, x_sq_norms=x_sq_norms, shift=shift
    )


def cupy_segment_sum(
    X: Any,
    labels: Any,
    weights: Any,
    n_clusters: int,
    *,
    xp: Any,
    acc_dtype: Any,
    chunk_rows: int,
    method: str,
) -> tuple[Any, Any]:
    """Cluster sums by the experimental update ``method`` ("sort" or "rows")."""
    import cupy

    if method == "rows" and X.dtype in (cupy.float32, cupy.float64) and acc_dtype == cupy.float64:
        return cluster_sums.cluster_sums(X, labels, weights, n_clusters)
    if method == "sort":
        with X.device:
            return agnostic.sorted_segment_sum(
                X, labels, weights, n_clusters, xp=xp, acc_dtype=acc_dtype, chunk_rows=chunk_rows
            )
    return cupy_.segment_sum(
        X, labels, weights, n_clusters, xp=xp, acc_dtype=acc_dtype, chunk_rows=chunk_rows
    )


def cupy_triton_assign_and_sum(
    X: Any,
    centers: Any,
    weights: Any,
    *,
    xp: Any,
    chunk_rows: int,
    x_sq_norms: Any = None,
    shift: Any = None,
) -> tuple[Any, Any, Any, Any]:
    """One Lloyd pass in one Triton kernel: labels, squared distances, and the float64 sums of the
    weighted shifted rows and weights of each cluster, added by atomics in the same pass."""
    return _triton_or_explain(triton_assign.cupy_assign_and_sum, X, centers, weights, shift=shift)


def torch_triton_assign(
    X: Any, centers: Any, *, xp: Any, chunk_rows: int, x_sq_norms: Any = None, shift: Any = None
) -> tuple[Any, Any]:
    """float32 CUDA tensors: the Triton kernel, in the precision the fit set through
    ``torch.set_float32_matmul_precision``."""
    import torch

    ours = {setting: name for name, setting in MATMUL_PRECISION.items()}[
        torch.get_float32_matmul_precision()
    ]
    return triton_assign.torch_assign(
        X, centers, shift=shift, precision=triton_assign.TRITON_PRECISION[ours]
    )


def _triton_or_explain(run: Any, *args: Any, shift: Any) -> Any:
    """``run(*args, shift=shift)``, an absent PyTorch or Triton named in the error."""
    try:
        return run(*args, shift=shift)
    except ModuleNotFoundError as error:
        raise ImportError(f"GKMEANS_CUDA_ASSIGN=triton needs PyTorch and Triton: {error}") from None


def release_workspaces() -> None:
    """Free the buffers a captured assignment pass holds (:mod:`.cuda_graph`), if one was made."""
    cuda_graph.release()
