"""The engine of streamed data: chunks read in order and copied to the compute device one by one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from gkmeans import _kernels as kernels
from gkmeans._compat import array_namespace, to_numpy
from gkmeans.device import Placement, resolve_placement
from gkmeans.exceptions import InvalidParameterError
from gkmeans.pipelines.chunk_ops import Chunk, fingerprint, host_dtype
from gkmeans.streaming import ChunkedData

#: Largest relative difference between a chunk's column sums (or weight sum) in two passes over
#: the same data, for sums in float64. The same computation on the same chunk gives the same sums
#: bit for bit (:func:`.chunk_ops.fingerprint`); the margin only allows for a device that would
#: order a reduction differently from call to call. Float32 sums get 100 units in the last place.
CHANGE_RTOL = 1e-9

_SAME_DATA = (
    "the chunk function must give the same data every time it is called, and a file must not "
    "change during a fit"
)


@dataclass(frozen=True)
class PassPrint:
    """What one pass saw of the data, cheaply: every chunk's first row, rows, column sums (in the
    data's dtype, held as float64, shape (n_chunks, n_features)) and weight sum; ``rtol``: how
    far sums of the same data may differ (:data:`CHANGE_RTOL`)."""

    offsets: tuple[int, ...]
    rows: tuple[int, ...]
    column_sums: np.ndarray
    weight_sums: np.ndarray
    rtol: float = CHANGE_RTOL


def _changed(now: np.ndarray, first: np.ndarray, rtol: float) -> np.ndarray:
    """Where two passes' sums differ by more than ``rtol`` (NaN equals NaN)."""
    return ~np.isclose(now, first, rtol=rtol, atol=0.0, equal_nan=True)


def check_same_pass(now: PassPrint, first: PassPrint, n_pass: int) -> None:
    """Compare a pass over streamed data with the first.

    Parameters
    ----------
    now : PassPrint
        What pass ``n_pass`` saw.
    first : PassPrint
        What the first pass saw.
    n_pass : int
        The pass's number (1 for the first), named in the message.

    Raises
    ------
    ValueError
        The pass saw other rows or chunks, a NaN or an infinity that the first did not see
        (named as such, with the chunk's first row), other column sums or other weights.
    """
    if now.rows != first.rows:
        if sum(now.rows) != sum(first.rows):
            msg = (
                f"the chunks held {sum(now.rows)} rows in pass {n_pass} over the data and "
                f"{sum(first.rows)} in the first: {_SAME_DATA}"
            )
        else:
            msg = (
                f"the chunks held {list(now.rows)[:8]} rows in pass {n_pass} over the data and "
                f"{list(first.rows)[:8]} in the first (in the same order): {_SAME_DATA}"
            )
        raise ValueError(msg)
    appeared = ~np.isfinite(now.column_sums).all(axis=1) & np.isfinite(first.column_sums).all(
        axis=1
    )
    if appeared.any():
        row = now.offsets[int(np.argmax(appeared))]
        msg = (
            f"Input X contains NaN or infinity in the chunk starting at row {row} in pass "
            f"{n_pass} over the data, though not in the first: {_SAME_DATA}"
        )
        raise ValueError(msg)
    changed = _changed(now.column_sums, first.column_sums, now.rtol)
    if changed.any():
        index, column = (int(i) for i in np.argwhere(changed)[0])
        msg = (
            f"the data changed between passes: column {column} of the chunk starting at row "
            f"{now.offsets[index]} sums to {now.column_sums[index, column]:.9g} in pass "
            f"{n_pass} over the data and to {first.column_sums[index, column]:.9g} in the first; "
            f"{_SAME_DATA}"
        )
        raise ValueError(msg)
    changed = _changed(now.weight_sums, first.weight_sums, CHANGE_RTOL)
    if changed.any():
        index = int(np.argmax(changed))
        msg = (
            f"the weights changed between passes: sample_weight of the chunk starting at row "
            f"{now.offsets[index]} sums to {now.weight_sums[index]:.9g} in pass {n_pass} over "
            f"the data and to {first.weight_sums[index]:.9g} in the first; {_SAME_DATA}"
        )
        raise ValueError(msg)


class StreamEngine:
    """Runs per-chunk work by reading the chunks in order and copying each to the compute device.

    Results of a pass are folded on the device and brought to the host once per pass.
    Values a chunk keeps between passes (k-means|| distances) are kept on the host, so the
    device never holds more than the chunks in flight.

    Every pass also sums each chunk's columns on its device (one cheap reduction, brought to the
    host with the pass) and its weights on the host: a later pass that sees other rows, other
    sums, or a NaN the first pass did not see is an error (:func:`check_same_pass`), not a fit of
    data that changed under it.
    """

    def __init__(self, data: ChunkedData, placement: Placement) -> None:
        self.data = data
        self.placement = placement
        self.n_chunks = 0
        self.n_passes = 0
        self.first_pass: PassPrint | None = None
        self._pass: dict[str, list[Any]] = {}

    def _chunks(self) -> Iterator[Chunk]:
        """The chunks of one pass on the compute device; what the pass saw is kept for
        :meth:`_end_pass` (each chunk's column sums stay on the device until then)."""
        xp, device = self.placement.xp, self.placement.device
        seen: dict[str, list[Any]] = {"offsets": [], "rows": [], "sums": [], "weights": []}
        self._pass = seen

        def host_batches() -> Iterator[tuple[Any, Any]]:
            for offset, X, w in self.data.batches():
                seen["offsets"].append(offset)
                seen["weights"].append(
                    float(X.shape[0]) if w is None else float(np.sum(w, dtype=np.float64))
                )
                yield X, w

        sums = seen["sums"]
        n_features = None
        for index, (X, w) in enumerate(
            kernels.stream_to_device(host_batches(), xp=xp, device=device)
        ):
            if n_features is None:
                n_features = X.shape[1]
            elif X.shape[1] != n_features:
                msg = (
                    f"every chunk must have the same number of features: the chunk at row "
                    f"{seen['offsets'][index]} has {X.shape[1]}, the first {n_features}"
                )
                raise ValueError(msg)
            seen["rows"].append(int(X.shape[0]))
            first = self.first_pass
            if first is not None and tuple(seen["rows"]) != first.rows[: index + 1]:
                # Before the chunk's work, which may pair it with values kept from the first pass.
                msg = (
                    f"the chunk starting at row {seen['offsets'][index]} (chunk {index}) held "
                    f"{X.shape[0]} rows in pass {self.n_passes + 1} over the data and "
                    f"{first.rows[index] if index < len(first.rows) else 0} in the first: "
                    f"{_SAME_DATA}"
                )
                raise ValueError(msg)
            sums.append(fingerprint(X, xp))
            yield Chunk(X, w, seen["offsets"][index], index)

    def _end_pass(self, total: Any) -> Any:
        """``total`` on the host, with the pass's column sums in the same transfer (one wait for
        the device a pass); the pass compared with the first (:func:`check_same_pass`)."""
        if total is None:
            raise ValueError("the chunked data is empty: no chunk was produced")
        seen = self._pass
        sums = seen["sums"]
        stacked = self.placement.xp.stack(sums)
        with_sums = getattr(total, "to_host_with", None)
        if with_sums is not None:
            total, flat = with_sums(stacked)
        else:
            total, flat = total.to_host(), np.asarray(to_numpy(stacked), dtype=np.float64)
        eps = float(np.finfo(host_dtype(sums[0])).eps)
        printed = PassPrint(
            tuple(seen["offsets"]),
            tuple(seen["rows"]),
            np.asarray(flat, dtype=np.float64).reshape(len(sums), -1),
            np.asarray(seen["weights"], dtype=np.float64),
            max(CHANGE_RTOL, 100 * eps),
        )
        self.n_passes += 1
        self.n_chunks = len(sums)
        if self.first_pass is None:
            self.first_pass = printed
        else:
            check_same_pass(printed, self.first_pass, self.n_passes)
        return total

    def map_reduce(self, fn: Callable[..., Any], *args: Any, kept: list[Any] | None = None) -> Any:
        total = None
        for chunk in self._chunks():
            result = fn(chunk, *args) if kept is None else fn(chunk, kept[chunk.index], *args)
            total = result if total is None else total.combine(result)
        return self._end_pass(total)

    def map_keep(
        self, fn: Callable[..., Any], *args: Any, kept: list[Any] | None = None
    ) -> tuple[list[Any], Any]:
        values, total = [], None
        for chunk in self._chunks():
            value, result = fn(chunk, None if kept is None else kept[chunk.index], *args)
            values.append(to_numpy(value))
            total = result if total is None else total.combine(result)
        return values, self._end_pass(total)

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
