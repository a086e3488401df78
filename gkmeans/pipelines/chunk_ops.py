"""The work done on one chunk of rows, shared by streaming fits and Dask fits.

Every function takes a :class:`Chunk` whose arrays live in their own namespace
(NumPy, CuPy, PyTorch, ...) and host NumPy centres, runs the same kernels as an
in-memory fit, and returns a small result: O(k * d) numbers for a Lloyd pass, a
few rows for a draw. That is all that crosses the bus of a GPU or the network of
a cluster; the chunk itself never moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gkmeans import _kernels as kernels
from gkmeans._compat import array_namespace, to_numpy
from gkmeans._validation import all_finite
from gkmeans.algorithms.predict_rule import predict_labels


@dataclass(frozen=True)
class Chunk:
    """Rows ``offset : offset + len(X)`` of the data (``weights`` None: all ones); ``index`` counts
    chunks."""

    X: Any
    weights: Any
    offset: int
    index: int

    @property
    def xp(self) -> Any:
        return array_namespace(self.X)

    def weights_or_ones(self) -> Any:
        xp = self.xp
        if self.weights is None:
            return xp.ones(self.X.shape[0], dtype=self.X.dtype, device=self.X.device)
        return xp.astype(xp.asarray(self.weights, device=self.X.device), self.X.dtype)

    def here(self, host: Any) -> Any:
        """A host array (or one already here) in this chunk's namespace and on its device."""
        return self.xp.asarray(host, device=self.X.device)


@dataclass(frozen=True)
class Total:
    """A chunk's share of a sum (a spread, a k-means|| potential phi = sum w * D(x)^2)."""

    value: float

    def combine(self, other: Total) -> Total:
        return Total(self.value + other.value)

    def to_host(self) -> Total:
        return self


# ----------------------------------------------------------------- statistics
@dataclass(frozen=True)
class DataStats:
    """One pass of bookkeeping: sizes and weight of every chunk, and the column sums."""

    chunk_rows: tuple[int, ...]
    chunk_weights: tuple[float, ...]
    column_sums: np.ndarray
    n_features: int
    dtype: np.dtype

    @property
    def n_samples(self) -> int:
        return int(sum(self.chunk_rows))

    @property
    def total_weight(self) -> float:
        return float(sum(self.chunk_weights))

    def combine(self, other: DataStats) -> DataStats:
        if other.n_features != self.n_features or other.dtype != self.dtype:
            msg = (
                "every chunk must have the same number of features and dtype: got "
                f"({self.n_features}, {self.dtype}) and ({other.n_features}, {other.dtype})"
            )
            raise ValueError(msg)
        return DataStats(
            self.chunk_rows + other.chunk_rows,
            self.chunk_weights + other.chunk_weights,
            self.column_sums + other.column_sums,
            self.n_features,
            self.dtype,
        )

    def to_host(self) -> DataStats:
        return self


def chunk_stats(chunk: Chunk) -> DataStats:
    """Check one chunk (finite values, non-negative finite weights) and measure it."""
    xp, X = chunk.xp, chunk.X
    if X.ndim != 2:
        raise ValueError(
            f"every chunk must be 2-D; the chunk at row {chunk.offset} has shape {tuple(X.shape)}"
        )
    if not all_finite(X, xp):
        raise ValueError(
            f"Input X contains NaN or infinity (in the chunk starting at row {chunk.offset})"
        )
    weights = chunk.weights_or_ones()
    if chunk.weights is not None:
        if weights.shape != (X.shape[0],):
            msg = (
                f"sample_weight.shape={tuple(weights.shape)} does not match the chunk at row "
                f"{chunk.offset} with {X.shape[0]} rows"
            )
            raise ValueError(msg)
        if not bool(xp.all(xp.isfinite(weights))) or bool(xp.any(weights < 0)):
            raise ValueError(
                "sample_weight must be finite and non-negative (chunk starting at row "
                f"{chunk.offset})"
            )
    acc = kernels.accumulator_dtype(xp, X.device)
    column_sums = to_numpy(xp.sum(xp.astype(X, acc), axis=0)).astype(np.float64)
    weight = float(xp.sum(xp.astype(weights, acc)))
    return DataStats((int(X.shape[0]),), (weight,), column_sums, int(X.shape[1]), host_dtype(X))


def host_dtype(X: Any) -> np.dtype:
    """The NumPy dtype matching an array's dtype in any namespace (float32 or float64 here)."""
    xp = array_namespace(X)
    return np.dtype(np.float32) if X.dtype == xp.float32 else np.dtype(np.float64)


@dataclass(frozen=True)
class Spread:
    """A chunk's weighted sum of squared norms of the shifted rows, and of the shifted rows
    themselves."""

    value: float
    row_sums: np.ndarray

    def combine(self, other: Spread) -> Spread:
        return Spread(self.value + other.value, self.row_sums + other.row_sums)

    def to_host(self) -> Spread:
        return self

    def about_weighted_mean(self, total_weight: float) -> float:
        """The spread about the weighted mean (as the in-memory fit's
        :func:`.kernels.weighted_spread`)."""
        return kernels.spread_about_weighted_mean(self.value, self.row_sums, total_weight)


def chunk_spread(chunk: Chunk, shift: np.ndarray) -> Spread:
    """Weighted sums of the shifted rows and of their squared norms (the tolerance's scale)."""
    xp = chunk.xp
    here = chunk.here(shift)
    weights = chunk.weights_or_ones()
    norms = kernels.row_sq_norms(chunk.X, xp=xp, shift=here)
    acc = kernels.accumulator_dtype(xp, chunk.X.device)
    row_sums = kernels.weighted_column_sums(chunk.X, weights, xp=xp, shift=here)
    return Spread(
        float(xp.sum(xp.astype(norms, acc) * xp.astype(weights, acc))),
        np.asarray(to_numpy(row_sums), dtype=np.float64),
    )


# ----------------------------------------------------------------------- Lloyd
@dataclass(frozen=True)
class LloydPartial:
    """A chunk's share of one Lloyd pass: cluster sums (shifted frame), cluster weights, inertia.

    Kept in the chunk's namespace while a stream folds them (no host synchronisation per
    chunk); :meth:`to_host` makes them NumPy once per pass.
    """

    sums: Any
    weight_sums: Any
    inertia: Any

    def combine(self, other: LloydPartial) -> LloydPartial:
        return LloydPartial(
            self.sums + other.sums,
            self.weight_sums + other.weight_sums,
            self.inertia + other.inertia,
        )

    def to_host(self) -> LloydPartial:
        if isinstance(self.inertia, float):  # already brought over (Dask folds host partials)
            return self
        # One transfer, so one wait for the device, for the whole pass.
        xp = array_namespace(self.sums)
        k, d = self.sums.shape
        flat = np.asarray(
            to_numpy(
                xp.concat(
                    [xp.reshape(self.sums, (-1,)), self.weight_sums, xp.reshape(self.inertia, (1,))]
                )
            ),
            dtype=np.float64,
        )
        return LloydPartial(flat[: k * d].reshape(k, d), flat[k * d : k * d + k], float(flat[-1]))


def chunk_lloyd(chunk: Chunk, centers: np.ndarray, shift: np.ndarray) -> LloydPartial:
    """Assign the chunk to ``centers`` (shifted frame) and sum it per cluster: the kernels of an
    in-memory pass."""
    xp = chunk.xp
    weights = chunk.weights_or_ones()
    _, min_sq, sums, weight_sums = kernels.assign_and_sum(
        chunk.X, chunk.here(centers), weights, xp=xp, shift=chunk.here(shift)
    )
    acc = sums.dtype
    return LloydPartial(sums, weight_sums, xp.sum(xp.astype(min_sq, acc) * xp.astype(weights, acc)))


def chunk_predict(chunk: Chunk, centers: np.ndarray) -> Any:
    """Labels by the predict rule (centres shifted by their mean), int32, in the chunk's
    namespace."""
    xp = chunk.xp
    labels, _ = predict_labels(chunk.X, chunk.here(centers), xp)
    return xp.astype(labels, xp.int32)


@dataclass(frozen=True)
class Labelled:
    """Final labels of a chunk (host int32) and their exact weighted inertia."""

    labels: np.ndarray
    inertia: float

    def combine(self, other: Labelled) -> Labelled:
        return Labelled(np.concatenate([self.labels, other.labels]), self.inertia + other.inertia)

    def to_host(self) -> Labelled:
        return self


def chunk_inertia(chunk: Chunk, centers: np.ndarray, keep_labels: bool) -> Labelled:
    """Predict-rule labels and their exact weighted inertia (as an in-memory fit reports it)."""
    xp = chunk.xp
    labels = chunk_predict(chunk, centers)
    inertia = kernels.weighted_inertia(
        chunk.X, chunk.here(centers), labels, chunk.weights_or_ones(), xp=xp
    )
    kept = np.asarray(to_numpy(labels)) if keep_labels else np.empty(0, dtype=np.int32)
    return Labelled(kept, float(to_numpy(inertia)))


# ------------------------------------------------------------ rows of the data
@dataclass(frozen=True)
class Rows:
    """Some rows of the data (host), with their global indices, weights and, when asked, labels and
    scores."""

    index: np.ndarray
    rows: np.ndarray
    weights: np.ndarray
    labels: np.ndarray | None = None
    score: np.ndarray | None = None

    def combine(self, other: Rows) -> Rows:
        def cat(a: Any, b: Any) -> Any:
            return None if a is None or b is None else np.concatenate([a, b])

        return Rows(
            np.concatenate([self.index, other.index]),
            np.concatenate([self.rows, other.rows]),
            np.concatenate([self.weights, other.weights]),
            cat(self.labels, other.labels),
            cat(self.score, other.score),
        )

    def to_host(self) -> Rows:
        return self

    def select(self, order: np.ndarray) -> Rows:
        def pick(a: Any) -> Any:
            return None if a is None else a[order]

        return Rows(
            self.index[order],
            self.rows[order],
            self.weights[order],
            pick(self.labels),
            pick(self.score),
        )


def _rows_of(chunk: Chunk, local: Any, labels: Any = None, score: Any = None) -> Rows:
    xp = chunk.xp
    local = xp.asarray(local, dtype=xp.int64, device=chunk.X.device)
    host = np.asarray(to_numpy(local), dtype=np.int64)
    rows = np.asarray(to_numpy(xp.take(chunk.X, local, axis=0)))
    weights = np.asarray(to_numpy(xp.take(chunk.weights_or_ones(), local)), dtype=np.float64)
    return Rows(
        host + chunk.offset,
        rows,
        weights,
        None if labels is None else np.asarray(to_numpy(xp.take(labels, local)), dtype=np.int64),
        None if score is None else np.asarray(to_numpy(xp.take(score, local)), dtype=np.float64),
    )


def chunk_take(chunk: Chunk, indices: np.ndarray) -> Rows:
    """The rows whose global indices (sorted) fall in this chunk."""
    n = chunk.X.shape[0]
    lo, hi = np.searchsorted(indices, [chunk.offset, chunk.offset + n])
    return _rows_of(chunk, indices[lo:hi] - chunk.offset)


def chunk_weighted_pick(chunk: Chunk, targets: dict[int, np.ndarray]) -> Rows:
    """Inverse-CDF picks inside this chunk: ``targets[chunk.index]`` are points in
    (0, chunk weight]."""
    wanted = targets.get(chunk.index)
    if wanted is None or wanted.size == 0:
        return _rows_of(chunk, np.empty(0, dtype=np.int64))
    weights = np.asarray(to_numpy(chunk.weights_or_ones()), dtype=np.float64)
    cumulative = np.cumsum(weights)
    local = np.minimum(np.searchsorted(cumulative, wanted, side="left"), weights.shape[0] - 1)
    return _rows_of(chunk, local)


def chunk_farthest(chunk: Chunk, centers: np.ndarray, shift: np.ndarray, n_rows: int) -> Rows:
    """The ``n_rows`` points of this chunk farthest from their assigned centre (zero-weight rows
    score -1).

    Labels and distances are those of the in-memory relocation: the assignment of the
    pass, then exact distances to the assigned centres.
    """
    xp = chunk.xp
    centers_here, shift_here = chunk.here(centers), chunk.here(shift)
    labels, _ = kernels.assign(chunk.X, centers_here, xp=xp, shift=shift_here)
    dist = kernels.sq_distances_to_assigned(chunk.X, centers_here + shift_here, labels, xp=xp)
    score = xp.where(chunk.weights_or_ones() > 0, dist, xp.full_like(dist, -1))
    top = xp.argsort(score, descending=True, stable=True)[:n_rows]
    return _rows_of(chunk, top, labels=labels, score=score)


def top_scores(rows: Rows, n_rows: int) -> Rows:
    """The ``n_rows`` highest scores, ties to the lower global index (a stable descending sort)."""
    order = np.lexsort((rows.index, -rows.score))[:n_rows]
    return rows.select(order)


# ------------------------------------------------------------------ k-means||
def chunk_nearest_sq(
    chunk: Chunk, closest: Any, candidates: np.ndarray, shift: np.ndarray
) -> tuple[Any, Total]:
    """Squared distance of every row to its nearest candidate so far (kept with the chunk) and the
    chunk's phi."""
    xp = chunk.xp
    _, min_sq = kernels.assign(chunk.X, chunk.here(candidates), xp=xp, shift=chunk.here(shift))
    if closest is not None:
        min_sq = xp.minimum(chunk.here(closest), min_sq)
    acc = kernels.accumulator_dtype(xp, chunk.X.device)
    potential = float(xp.sum(xp.astype(min_sq, acc) * xp.astype(chunk.weights_or_ones(), acc)))
    return min_sq, Total(potential)


def chunk_sample(
    chunk: Chunk, closest: Any, oversampling: float, potential: float, seeds: np.ndarray
) -> Rows:
    """k-means|| draws: each row independently with probability min(1, l * w * D^2 / phi).

    The uniforms come from a host generator seeded per chunk from the fit's generator,
    so a seed gives the same draws wherever the chunk lives.
    """
    xp = chunk.xp
    acc = kernels.accumulator_dtype(xp, chunk.X.device)
    weighted = xp.astype(chunk.here(closest), acc) * xp.astype(chunk.weights_or_ones(), acc)
    probability = xp.clip(oversampling * weighted / potential, max=1.0)
    uniforms = np.random.default_rng(int(seeds[chunk.index])).random(chunk.X.shape[0])
    picked = xp.nonzero(chunk.here(uniforms) < probability)[0]
    return _rows_of(chunk, picked)
