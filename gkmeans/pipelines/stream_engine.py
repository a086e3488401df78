"""The engine of streamed data: chunks read in order and copied to the compute device one by one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

import numpy as np

from gkmeans import _kernels as kernels
from gkmeans._compat import array_namespace, to_numpy
from gkmeans.device import Placement, resolve_placement
from gkmeans.exceptions import InvalidParameterError
from gkmeans.pipelines.chunk_ops import Chunk
from gkmeans.streaming import ChunkedData


class StreamEngine:
    """Runs per-chunk work by reading the chunks in order and copying each to the compute device.

    Results of a pass are folded on the device and brought to the host once per pass.
    Values a chunk keeps between passes (k-means|| distances) are kept on the host, so the
    device never holds more than the chunks in flight.
    """

    def __init__(self, data: ChunkedData, placement: Placement) -> None:
        self.data = data
        self.placement = placement
        self.n_chunks = 0
        self.n_rows: int | None = None

    def _chunks(self) -> Iterator[Chunk]:
        xp, device = self.placement.xp, self.placement.device
        offsets: list[int] = []

        def host_batches() -> Iterator[tuple[Any, Any]]:
            for offset, X, w in self.data.batches():
                offsets.append(offset)
                yield X, w

        n_rows = 0
        for index, (X, w) in enumerate(
            kernels.stream_to_device(host_batches(), xp=xp, device=device)
        ):
            n_rows += int(X.shape[0])
            yield Chunk(X, w, offsets[index], index)
        if self.n_rows is not None and n_rows != self.n_rows:
            msg = (
                f"the chunks held {n_rows} rows in this pass and {self.n_rows} in the first: the "
                "chunk function must give the same data every time it is called"
            )
            raise ValueError(msg)
        self.n_rows = n_rows
        self.n_chunks = len(offsets)

    def map_reduce(self, fn: Callable[..., Any], *args: Any, kept: list[Any] | None = None) -> Any:
        total = None
        for chunk in self._chunks():
            result = fn(chunk, *args) if kept is None else fn(chunk, kept[chunk.index], *args)
            total = result if total is None else total.combine(result)
        if total is None:
            raise ValueError("the chunked data is empty: no chunk was produced")
        return total.to_host()

    def map_keep(
        self, fn: Callable[..., Any], *args: Any, kept: list[Any] | None = None
    ) -> tuple[list[Any], Any]:
        values, total = [], None
        for chunk in self._chunks():
            value, result = fn(chunk, None if kept is None else kept[chunk.index], *args)
            values.append(to_numpy(value))
            total = result if total is None else total.combine(result)
        return values, total.to_host()

    def compute_namespace(self) -> tuple[Any, Any]:
        return self.placement.xp, self.placement.device

    #: Labels of streamed data come back as one host array (4 bytes a row).
    keeps_labels = True

    @property
    def device_name(self) -> str:
        return self.placement.name

    def to_caller(self, host: np.ndarray) -> Any:
        """A host array in the chunks' namespace and on their device."""
        return self.placement.caller_xp.asarray(host, device=self.placement.caller_device)


def stream_engine(data: ChunkedData, device: Any, n_clusters: int) -> StreamEngine:
    """The engine for ``data`` on the device chosen as for an in-memory fit of the same size."""
    if not isinstance(data, ChunkedData):
        raise InvalidParameterError(
            f"expected gkmeans.chunked(...) data; got {type(data).__name__}"
        )
    first = data.first_chunk()
    n = data.n_samples or first.shape[0]
    placement = resolve_placement(
        first, array_namespace(first), device, work=n * first.shape[1] * n_clusters
    )
    return StreamEngine(data, placement)
