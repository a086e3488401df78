"""Which engine fits data that is not one in-memory array: chunked (streamed) data or a Dask array."""

from __future__ import annotations

from typing import Any

import numpy as np

from .dask_fit import DaskEngine, check_dask_weight, is_dask_collection
from .device import parse_device
from .exceptions import InvalidParameterError
from .streaming import ChunkedData, stream_engine


#: A host array is streamed to a GPU when it would take more than this share of the GPU's
#: free memory (the fit needs room for chunk workspaces too); a ``numpy.memmap`` always is.
STREAM_ABOVE_FREE_SHARE = 0.5


def should_stream(X: Any, on_gpu: bool, free_device_bytes: int | None) -> bool:
    """Whether a host NumPy array should reach a GPU chunk by chunk instead of whole.

    A memory-mapped file is streamed (its data live on disk and need not fit anywhere);
    an in-memory array when it would fill more than :data:`STREAM_ABOVE_FREE_SHARE` of
    the GPU's free memory. On the CPU an array is fitted in place, never copied.
    """
    if not on_gpu or not isinstance(X, np.ndarray):
        return False
    if isinstance(X, np.memmap):
        return True
    return free_device_bytes is not None and X.nbytes > STREAM_ABOVE_FREE_SHARE * free_device_bytes


def _host_array_to_gpu(X: Any, device: Any, n_clusters: int) -> Any:
    """The placement of a 2-D host NumPy array when it goes to a GPU, else None."""
    if not isinstance(X, np.ndarray) or X.ndim != 2 or X.size == 0 or parse_device(device).kind == "cpu":
        return None
    from . import _kernels as kernels
    from ._compat import array_namespace
    from .device import resolve_placement

    # n_clusters is validated later, by the fit; here it only sizes the work for device="auto".
    k = n_clusters if isinstance(n_clusters, int) and not isinstance(n_clusters, bool) else 1
    placement = resolve_placement(X[:1], array_namespace(X), device, work=X.shape[0] * X.shape[1] * k)
    return placement if kernels.on_gpu(placement.xp, placement.device) else None


def streams_to_gpu(X: Any, device: Any, n_clusters: int) -> bool:
    """Whether ``X`` goes to a GPU chunk by chunk (fit and predict alike): it is a host NumPy array,
    the placement for ``device`` is a GPU, and :func:`should_stream` says so for its free memory."""
    placement = _host_array_to_gpu(X, device, n_clusters)
    if placement is None:
        return False
    from . import _kernels as kernels

    return should_stream(X, True, kernels.free_bytes(placement.xp, placement.device))


def out_of_core_engine(X: Any, sample_weight: Any, device: Any, n_clusters: int) -> Any:
    """A :class:`~gkmeans.streaming.StreamEngine` for ``gkmeans.chunked`` data (and for a host array
    bound for a GPU it would not fit, see :func:`streams_to_gpu`), a
    :class:`~gkmeans.dask_fit.DaskEngine` for a Dask array or DataFrame, None for anything else."""
    if streams_to_gpu(X, device, n_clusters):
        X = ChunkedData(X, sample_weight=sample_weight)
        sample_weight = None
    if isinstance(X, ChunkedData):
        if sample_weight is not None:
            raise InvalidParameterError("give the weights of chunked data to gkmeans.chunked(..., sample_weight=)")
        return stream_engine(X, device, n_clusters)
    if is_dask_collection(X):
        request = parse_device(device)
        if request.kind not in ("auto",) and request.kind != "cpu" and not _cupy_chunks(X):
            msg = (f"device={device!r}: Dask chunks are computed where they live; for GPUs give CuPy-backed chunks "
                   "(X.map_blocks(cupy.asarray)) on GPU workers (dask-cuda)")
            raise InvalidParameterError(msg)
        return DaskEngine(X, sample_weight)
    check_dask_weight(sample_weight)
    return None


def _cupy_chunks(X: Any) -> bool:
    from ._compat import is_cupy_array

    return is_cupy_array(getattr(X, "_meta", None))
