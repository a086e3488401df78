"""The one input router: how an input is to be processed, in memory, streamed or on Dask.

:func:`route` looks at the input once and returns a *route* whose ``fit``, ``predict``,
``transform`` and ``score`` run the matching pipeline, so the estimators never branch on
the kind of input:

- :class:`InMemory`: an array (any Array API namespace, or array-like) fitted on a placement;
- :class:`Streamed`: ``gkmeans.chunked(...)`` data, and a host NumPy array bound for a GPU it
  would not fit (:func:`streams_to_gpu`), copied to the device chunk by chunk;
- :class:`Distributed`: a Dask array or DataFrame, computed where its chunks live.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Union

import numpy as np

from gkmeans import _kernels as kernels
from gkmeans._compat import array_namespace, is_cupy_array, to_numpy
from gkmeans._sparse import is_sparse_rows
from gkmeans._validation import (
    INERTIA_OVERFLOW,
    as_array,
    check_array,
    check_feature_names,
    check_n_features,
    check_same_namespace,
    check_sample_weight,
    inertia_overflow,
    weights_overflow,
)
from gkmeans.algorithms.predict_rule import predict_labels
from gkmeans.device import parse_device, resolve_placement
from gkmeans.exceptions import InvalidParameterError
from gkmeans.pipelines.chunk_ops import check_rows, chunk_inertia
from gkmeans.pipelines.dask_engine import (
    DaskEngine,
    check_dask_weight,
    is_dask_collection,
    lazy_predict,
    lazy_transform,
)
from gkmeans.pipelines.in_memory import KMeansFit, fit_kmeans
from gkmeans.pipelines.out_of_core import ChunkedFit, fit_chunked
from gkmeans.pipelines.params import KMeansParams
from gkmeans.pipelines.stream_engine import stream_engine
from gkmeans.streaming import ChunkedData

#: A host array is streamed to a GPU when it would take more than this share of the GPU's
#: free memory (the fit needs room for chunk workspaces too); a ``numpy.memmap`` always is.
STREAM_ABOVE_FREE_SHARE = 0.5

Progress = Callable[[int, int, int], None]


@dataclass(frozen=True)
class FittedModel:
    """What predict, transform and score need of a fitted estimator."""

    centers: Any
    n_features_in: int
    feature_names_in: np.ndarray | None
    precision: str
    device: Any
    estimator_name: str

    @property
    def n_clusters(self) -> int:
        return int(self.centers.shape[0])


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


def host_array_to_gpu(X: Any, device: Any, n_clusters: int) -> Any:
    """The placement of a 2-D host NumPy array when it goes to a GPU, else None."""
    if (
        not isinstance(X, np.ndarray)
        or X.ndim != 2
        or X.size == 0
        or parse_device(device).kind == "cpu"
    ):
        return None
    placement = resolve_placement(
        X[:1], array_namespace(X), device, work=X.shape[0] * X.shape[1] * n_clusters
    )
    return placement if kernels.on_gpu(placement.xp, placement.device) else None


def streams_to_gpu(X: Any, device: Any, n_clusters: int) -> bool:
    """Whether ``X`` goes to a GPU chunk by chunk (fit and predict alike): it is a host NumPy array,
    the placement for ``device`` is a GPU, and :func:`should_stream` says so for its free memory."""
    placement = host_array_to_gpu(X, device, n_clusters)
    if placement is None:
        return False
    return should_stream(X, True, kernels.free_bytes(placement.xp, placement.device))


def _caller_fit(engine: Any, result: ChunkedFit, labels: Any) -> KMeansFit:
    """A chunked fit's result with its centres in the caller's namespace and ``labels`` (the
    engine's: host labels brought over, or lazy Dask labels)."""
    return KMeansFit(
        centers=engine.to_caller(result.centers),
        labels=labels,
        inertia=result.inertia,
        n_iter=result.n_iter,
        device=engine.device_name,
        n_init=result.n_init,
        history=result.history,
    )


class InMemory:
    """An in-memory array: validated, placed on the compute device, fitted there."""

    def __init__(self, X: Any, sample_weight: Any, device: Any) -> None:
        check_dask_weight(sample_weight)
        self.X, self.sample_weight, self.device = X, sample_weight, device

    def fit(self, params: KMeansParams, progress: Progress | None) -> KMeansFit:
        try:
            return fit_kmeans(self.X, params, sample_weight=self.sample_weight, progress=progress)
        except FloatingPointError as error:
            # The rows' squares were found finite before the fit; an inertia that overflows
            # then comes from their sum, or from weights that multiply it.
            blamed = _weights_to_blame(error, self.sample_weight)
            if blamed is None:
                raise
            raise blamed from error

    def _placed(self, model: FittedModel, method: str) -> tuple[Any, Any, Any, Any]:
        """New data validated (finite, and squared norms within its dtype, as fit asks), and it and
        the centres on the compute device, with the placement."""
        check_feature_names(model.feature_names_in, self.X, model.estimator_name)
        # Finiteness follows from the rows' squared norms, checked on the device below: one pass.
        X, xp = check_array(self.X, ensure_finite=False, sparse=True)
        check_same_namespace(model.centers, X, xp, model.estimator_name, method)
        check_n_features(X, model.n_features_in, model.estimator_name)
        work = X.shape[0] * X.shape[1] * model.n_clusters
        placement = resolve_placement(X, xp, model.device, work=work)
        X_dev = placement.to_compute(X)
        centers = placement.xp.astype(placement.to_compute(model.centers), X_dev.dtype)
        if not is_sparse_rows(X_dev):  # sparse rows' stored values were checked
            check_rows(X_dev, centers, placement.xp)
        return X_dev, centers, placement, placement.xp

    @staticmethod
    def _precision(model: FittedModel, placement: Any, X_dev: Any) -> Any:
        """The fit's precision for predict / transform / score, so that labels_ == predict(X)
        holds."""
        return kernels.matmul_precision(
            placement.xp, placement.device, X_dev.dtype, model.precision
        )

    def predict(self, model: FittedModel) -> Any:
        X_dev, centers, placement, xp = self._placed(model, "predict")
        with self._precision(model, placement, X_dev):
            labels, _ = predict_labels(X_dev, centers, xp)
        return placement.to_caller(xp.astype(labels, xp.int32))

    def transform(self, model: FittedModel) -> Any:
        X_dev, centers, placement, xp = self._placed(model, "transform")
        with self._precision(model, placement, X_dev):
            distances = kernels.pairwise_sq_distances(X_dev, centers, xp=xp, root=True)
        return placement.to_caller(distances)

    def score(self, model: FittedModel) -> float:
        X_dev, centers, placement, xp = self._placed(model, "score")
        weights, _ = check_sample_weight(
            self.sample_weight, X_dev.shape[0], xp, X_dev.dtype, X_dev.device
        )
        with self._precision(model, placement, X_dev):
            labels, _ = predict_labels(X_dev, centers, xp)
        inertia = float(kernels.weighted_inertia(X_dev, centers, labels, weights, xp=xp))
        if not math.isfinite(inertia):
            largest = 1.0 if self.sample_weight is None else float(xp.max(weights))
            raise _inertia_error(inertia, X_dev.dtype, largest)
        return -inertia


class Streamed:
    """Chunked data read in order and copied to the compute device one chunk at a time."""

    def __init__(self, data: ChunkedData, sample_weight: Any, device: Any) -> None:
        if sample_weight is not None:
            raise InvalidParameterError(
                "give the weights of chunked data to gkmeans.chunked(..., sample_weight=)"
            )
        self.data, self.device = data, device

    def fit(self, params: KMeansParams, progress: Progress | None) -> KMeansFit:
        engine = stream_engine(self.data, self.device, params.n_clusters)
        result = fit_chunked(engine, params, progress=progress, keep_labels=True)
        return _caller_fit(engine, result, engine.to_caller(result.labels))

    def _labelled(self, model: FittedModel, keep_labels: bool) -> Any:
        """Predict-rule labels (host) and weighted inertia of the chunks, in one pass."""
        engine = stream_engine(self.data, self.device, model.n_clusters)
        centers = np.asarray(to_numpy(model.centers))
        n_features = self.data.n_features or self.data.first_chunk().shape[1]
        if n_features != model.n_features_in:
            msg = (
                f"X has {n_features} features, but {model.estimator_name} is expecting "
                f"{model.n_features_in} features as input."
            )
            raise ValueError(msg)
        return engine.map_reduce(chunk_inertia, centers, keep_labels)

    def predict(self, model: FittedModel) -> Any:
        return self._labelled(model, keep_labels=True).labels

    def transform(self, model: FittedModel) -> Any:
        raise TypeError(
            "transform of chunked data would hold n_samples x n_clusters distances; "
            "transform the chunks one by one instead"
        )

    def score(self, model: FittedModel) -> float:
        labelled = self._labelled(model, keep_labels=False)
        if not math.isfinite(labelled.inertia):
            raise _inertia_error(labelled.inertia, model.centers.dtype, labelled.largest_weight)
        return -labelled.inertia


class Distributed:
    """A Dask array or DataFrame: chunk tasks where the chunks live, tree-reduced."""

    def __init__(self, X: Any, sample_weight: Any, device: Any) -> None:
        self.X, self.sample_weight, self.device = X, sample_weight, device

    def fit(self, params: KMeansParams, progress: Progress | None) -> KMeansFit:
        request = parse_device(self.device)
        if request.kind not in ("auto", "cpu") and not is_cupy_array(
            getattr(self.X, "_meta", None)
        ):
            msg = (
                f"device={self.device!r}: Dask chunks are computed where they live; for GPUs give "
                "CuPy-backed chunks (X.map_blocks(cupy.asarray)) on GPU workers (dask-cuda)"
            )
            raise InvalidParameterError(msg)
        engine = DaskEngine(self.X, self.sample_weight)
        result = fit_chunked(engine, params, progress=progress, keep_labels=False)
        return _caller_fit(engine, result, engine.labels(result.centers))

    def predict(self, model: FittedModel) -> Any:
        check_feature_names(model.feature_names_in, self.X, model.estimator_name)
        return lazy_predict(self.X, model.centers, model.n_features_in)

    def transform(self, model: FittedModel) -> Any:
        check_feature_names(model.feature_names_in, self.X, model.estimator_name)
        return lazy_transform(self.X, model.centers, model.n_features_in)

    def score(self, model: FittedModel) -> float:
        engine = DaskEngine(self.X, self.sample_weight)
        centers = np.asarray(to_numpy(model.centers))
        labelled = engine.map_reduce(chunk_inertia, centers, False)
        if not math.isfinite(labelled.inertia):
            raise _inertia_error(labelled.inertia, engine.X.dtype, labelled.largest_weight)
        return -labelled.inertia


def _inertia_error(inertia: float, dtype: Any, largest_weight: float) -> FloatingPointError:
    """The error for a score's inertia that overflowed (summed in float64) while the rows' squares
    were checked: it names the weights when one is above 1 (``largest_weight``), else the data
    (of ``dtype``)."""
    if largest_weight > 1:
        return weights_overflow("the inertia", np.dtype(np.float64), largest_weight)
    return inertia_overflow(inertia, dtype)


def _weights_to_blame(error: FloatingPointError, sample_weight: Any) -> Exception | None:
    """The error naming the weights for an in-memory fit's overflowing inertia, when a weight above
    1 multiplies it (the rows' squares were found finite first); None to keep ``error``."""
    if sample_weight is None or not str(error).startswith(INERTIA_OVERFLOW):
        return None
    if isinstance(sample_weight, numbers.Number):
        largest = float(sample_weight)
    else:
        largest = float(np.max(np.asarray(to_numpy(as_array(sample_weight, "sample_weight")[0]))))
    if not largest > 1:
        return None
    return weights_overflow("the inertia", np.dtype(np.float64), largest)


Route = Union[InMemory, Streamed, Distributed]


def in_memory(X: Any) -> bool:
    """Whether ``X`` is one in-memory array (not ``gkmeans.chunked`` data, not a Dask
    collection)."""
    return not is_dask_collection(X) and not isinstance(X, ChunkedData)


def route(X: Any, sample_weight: Any, device: Any, n_clusters: int, method: str) -> Route:
    """How ``X`` is to be processed by ``method`` ("fit", "predict", "transform" or "score").

    A host array streams to a GPU it would not fit for "fit" and "predict" only: "transform"
    returns n x k distances and "score" one pass of them, which the in-memory path sizes itself.
    """
    if is_dask_collection(X):
        return Distributed(X, sample_weight, device)
    if isinstance(X, ChunkedData):
        return Streamed(X, sample_weight, device)
    if method in ("fit", "predict") and streams_to_gpu(X, device, n_clusters):
        return Streamed(ChunkedData(X, sample_weight=sample_weight), None, device)
    return InMemory(X, sample_weight, device)


__all__ = [
    "Distributed",
    "FittedModel",
    "InMemory",
    "Route",
    "STREAM_ABOVE_FREE_SHARE",
    "Streamed",
    "host_array_to_gpu",
    "in_memory",
    "route",
    "should_stream",
    "streams_to_gpu",
]
