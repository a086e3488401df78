"""k-means on Dask arrays: distributed Lloyd on the chunks where they live.

``KMeans().fit(dask_array)`` persists X on the workers, then every iteration sends the
centres (k * d numbers) to every chunk, each chunk computes its labels and partial
sums, counts and inertia with the same kernels as a single-device fit (NumPy or CuPy
chunks alike), and the partial results are tree-reduced: only k * d + k + 1 numbers
per chunk travel back. ``predict`` and ``transform`` of a Dask array return Dask
arrays, lazily. Runs on whatever scheduler is active, ``dask.distributed.Client``
included. Needs the ``dask`` extra.
"""

from __future__ import annotations

import operator
import sys
from typing import Any, Callable

import numpy as np

from gkmeans import _kernels as kernels
from gkmeans._compat import array_namespace, is_cupy_array, to_numpy
from gkmeans._validation import float_dtype
from gkmeans.exceptions import InvalidParameterError
from gkmeans.pipelines.chunk_ops import Chunk, check_rows, chunk_predict

#: Partial results combined per task of the reduction tree (depth log_8 of the chunks).
TREE_FAN_IN = 8


def is_dask_array(x: Any) -> bool:
    """Whether ``x`` is a ``dask.array.Array`` (without importing Dask when it is not loaded)."""
    dask_array = sys.modules.get("dask.array")
    return dask_array is not None and isinstance(x, dask_array.Array)


def is_dask_dataframe(x: Any) -> bool:
    """Whether ``x`` is a Dask DataFrame (without importing Dask when it is not loaded)."""
    dask_dataframe = sys.modules.get("dask.dataframe")
    return dask_dataframe is not None and isinstance(x, dask_dataframe.DataFrame)


def is_dask_collection(x: Any) -> bool:
    """A Dask array or DataFrame: data the Dask engine fits."""
    return is_dask_array(x) or is_dask_dataframe(x)


def as_dask_array(X: Any) -> Any:
    """A Dask DataFrame as a Dask array with known chunk sizes (numeric columns only); arrays
    unchanged."""
    if not is_dask_dataframe(X):
        return X
    # pandas extension dtypes (strings, categories) have a kind too, "O" for the non-numeric ones
    bad = [
        str(name)
        for name, dtype in zip(X.columns, X.dtypes)
        if getattr(dtype, "kind", "O") not in "biuf"
    ]
    if bad:
        raise ValueError(
            f"every column must be numeric to cluster a Dask DataFrame; not numeric: {bad}"
        )
    return X.to_dask_array(lengths=True)


def _import_dask() -> tuple[Any, Any]:
    try:
        import dask
        import dask.array as da
    except ImportError as error:  # pragma: no cover - only without the extra
        raise ImportError(
            "Dask arrays need the 'dask' extra: pip install 'gkmeans[dask]'"
        ) from error
    return dask, da


def as_row_chunks(X: Any) -> Any:
    """X validated as a 2-D float Dask array chunked by rows only (one chunk across the columns)."""
    X = as_dask_array(X)
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D Dask array, got shape {X.shape}")
    if any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    # The in-memory rule: float32/float64 kept, bool and integers to float64, others refused.
    dtype = float_dtype(X, array_namespace(np.empty(0)), "X")
    if dtype != X.dtype:
        X = X.astype(dtype)
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return X


def _run(
    fn: Callable[..., Any],
    X: Any,
    w: Any,
    offset: int,
    index: int,
    kept: Any,
    has_kept: bool,
    args: tuple[Any, ...],
) -> Any:
    chunk = Chunk(X, w, offset, index)
    result = fn(chunk, kept, *args) if has_kept else fn(chunk, *args)
    if isinstance(result, tuple):  # (value kept with the chunk, small result)
        return result[0], result[1].to_host()
    return result.to_host()


def _combine(*parts: Any) -> Any:
    total = parts[0]
    for part in parts[1:]:
        total = total.combine(part)
    return total


class DaskEngine:
    """Runs per-chunk work as Dask tasks on the persisted chunks and tree-reduces the results."""

    def __init__(self, X: Any, sample_weight: Any = None) -> None:
        dask, da = _import_dask()
        self._dask = dask
        X = as_row_chunks(X)
        weights = None
        if sample_weight is not None:
            if not is_dask_array(sample_weight) and hasattr(sample_weight, "to_dask_array"):
                sample_weight = sample_weight.to_dask_array(lengths=True)  # a Dask Series
            if not is_dask_array(sample_weight):
                sample_weight = np.asarray(sample_weight)
            if tuple(sample_weight.shape) != (X.shape[0],):
                msg = (
                    f"sample_weight.shape={sample_weight.shape} must be ({X.shape[0]},), one per "
                    "row of X"
                )
                raise ValueError(msg)
            if not is_dask_array(sample_weight):
                sample_weight = da.from_array(sample_weight, chunks=(X.chunks[0],))
            weights = sample_weight.rechunk((X.chunks[0],)).astype(X.dtype)
        # Kept in the workers' memory: every iteration reads it again.
        if weights is None:
            self.X = X.persist()
            self.weights = None
        else:
            self.X, self.weights = dask.persist(X, weights)
        self.x_blocks = list(self.X.to_delayed().ravel())
        self.w_blocks = (
            [None] * len(self.x_blocks) if self.weights is None else list(self.weights.to_delayed())
        )
        self.offsets = np.concatenate([[0], np.cumsum(self.X.chunks[0])[:-1]]).astype(int).tolist()
        self.n_chunks = len(self.x_blocks)
        self.meta = getattr(self.X, "_meta", np.empty((0, 0)))

    def _tasks(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kept: list[Any] | None
    ) -> list[Any]:
        delayed = self._dask.delayed
        # One graph key for the arguments: the centres travel once per worker, not once per chunk.
        shared = delayed(args, pure=True)
        run = delayed(_run, pure=True)
        return [
            run(
                fn,
                x,
                w,
                offset,
                index,
                None if kept is None else kept[index],
                kept is not None,
                shared,
            )
            for index, (x, w, offset) in enumerate(zip(self.x_blocks, self.w_blocks, self.offsets))
        ]

    def _tree(self, parts: list[Any]) -> Any:
        combine = self._dask.delayed(_combine, pure=True)
        while len(parts) > 1:
            parts = [
                combine(*parts[i : i + TREE_FAN_IN]) for i in range(0, len(parts), TREE_FAN_IN)
            ]
        return parts[0]

    def map_reduce(self, fn: Callable[..., Any], *args: Any, kept: list[Any] | None = None) -> Any:
        (result,) = self._dask.compute(self._tree(self._tasks(fn, args, kept)))
        return result

    def map_keep(
        self, fn: Callable[..., Any], *args: Any, kept: list[Any] | None = None
    ) -> tuple[list[Any], Any]:
        pairs = self._tasks(fn, args, kept if kept is not None else [None] * self.n_chunks)
        pairs = list(self._dask.persist(*pairs))
        getitem = self._dask.delayed(operator.getitem, pure=True)
        values = [getitem(pair, 0) for pair in pairs]
        (total,) = self._dask.compute(self._tree([getitem(pair, 1) for pair in pairs]))
        return values, total

    def compute_namespace(self) -> tuple[Any, Any]:
        # The driver's own work (initialisation on candidates) is small: it runs on the host.
        xp = array_namespace(np.empty(0))
        return xp, "cpu"

    #: Labels stay a lazy Dask array on the workers.
    keeps_labels = False

    @property
    def device_name(self) -> str:
        return "dask:cuda" if is_cupy_array(self.meta) else "dask:cpu"

    def labels(self, centers: np.ndarray) -> Any:
        return lazy_predict(self.X, centers, self.X.shape[1])

    def to_caller(self, host: np.ndarray) -> Any:
        """Fitted arrays in the chunks' namespace: CuPy for CuPy-backed chunks, else NumPy."""
        if is_cupy_array(self.meta):
            import cupy

            return cupy.asarray(host)
        return host


def _centers_for(X: Any, centers: Any) -> np.ndarray:
    host = np.asarray(to_numpy(centers))
    return host.astype(X.dtype) if host.dtype != X.dtype else host


def _first_row(block_info: Any) -> int:
    """The row of the whole array where a block starts (``map_blocks``' ``block_info``)."""
    if not block_info or 0 not in block_info:
        return 0
    return int(block_info[0]["array-location"][0][0])


def _predict_block(block: Any, centers: np.ndarray, block_info: Any = None) -> Any:
    return chunk_predict(Chunk(block, None, _first_row(block_info), 0), centers)


def _transform_block(block: Any, centers: np.ndarray, block_info: Any = None) -> Any:
    chunk = Chunk(block, None, _first_row(block_info), 0)
    xp = array_namespace(block)
    centers_here = chunk.here(centers)
    check_rows(block, centers_here, xp, chunk.offset)  # raised when the block is computed
    return kernels.pairwise_sq_distances(block, centers_here, xp=xp, root=True)


def lazy_predict(X: Any, centers: Any, n_features: int) -> Any:
    """Labels of a Dask array by the predict rule, as a lazy int32 Dask array."""
    X = _checked(X, n_features)
    host = _centers_for(X, centers)
    meta = (
        np.empty((0,), dtype=np.int32)
        if not is_cupy_array(X._meta)
        else X._meta[:0, 0].astype("int32")
    )
    return X.map_blocks(_predict_block, host, drop_axis=1, dtype=np.int32, meta=meta)


def lazy_transform(X: Any, centers: Any, n_features: int) -> Any:
    """Distances of a Dask array's rows to every centre, as a lazy Dask array."""
    X = _checked(X, n_features)
    host = _centers_for(X, centers)
    return X.map_blocks(
        _transform_block, host, chunks=(X.chunks[0], (host.shape[0],)), dtype=X.dtype
    )


def _checked(X: Any, n_features: int) -> Any:
    X = as_row_chunks(X)
    if X.shape[1] != n_features:
        msg = (
            f"X has {X.shape[1]} features, but KMeans is expecting {n_features} features as input."
        )
        raise ValueError(msg)
    return X


def check_dask_weight(sample_weight: Any) -> None:
    """A Dask sample_weight needs Dask X (a NumPy X would have to be split to match)."""
    if is_dask_array(sample_weight):
        raise InvalidParameterError(
            "sample_weight is a Dask array but X is not; give both as Dask arrays"
        )
