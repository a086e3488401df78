"""Which engine fits data that is not one in-memory array: chunked (streamed) data or a Dask array."""

from __future__ import annotations

from typing import Any

from .dask_fit import DaskEngine, check_dask_weight, is_dask_array
from .device import parse_device
from .exceptions import InvalidParameterError
from .streaming import ChunkedData, stream_engine


def out_of_core_engine(X: Any, sample_weight: Any, device: Any, n_clusters: int) -> Any:
    """A :class:`~gkmeans.streaming.StreamEngine` for ``gkmeans.chunked`` data, a
    :class:`~gkmeans.dask_fit.DaskEngine` for a Dask array, None for anything else."""
    if isinstance(X, ChunkedData):
        if sample_weight is not None:
            raise InvalidParameterError("give the weights of chunked data to gkmeans.chunked(..., sample_weight=)")
        return stream_engine(X, device, n_clusters)
    if is_dask_array(X):
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
