"""The work done on one chunk of rows, shared by streaming fits and Dask fits.

Every function takes a :class:`Chunk` whose arrays live in their own namespace
(NumPy, CuPy, PyTorch, ...) and host NumPy centres, runs the same kernels as an
in-memory fit, and returns a small result: O(k * d) numbers for a Lloyd pass, a
few rows for a draw. That is all that crosses the bus of a GPU or the network of
a cluster; the chunk itself never moves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gkmeans import _kernels as kernels
from gkmeans._compat import array_namespace, to_numpy
from gkmeans._validation import all_finite, largest_abs, non_finite_error, squares_overflow
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
    """One pass of bookkeeping: sizes, weight and largest weight of every chunk, and the column
    sums."""

    chunk_rows: tuple[int, ...]
    chunk_weights: tuple[float, ...]
    column_sums: np.ndarray
    n_features: int
    dtype: np.dtype
    largest_weights: tuple[float, ...] = ()

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
            self.largest_weights + other.largest_weights,
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
        raise non_finite_error(X, xp, "X", chunk.offset)
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
    sums = to_numpy(xp.sum(xp.astype(X, acc), axis=0)).astype(np.float64)
    weight = float(xp.sum(xp.astype(weights, acc)))
    largest = 1.0 if chunk.weights is None or X.shape[0] == 0 else float(xp.max(weights))
    return DataStats(
        (int(X.shape[0]),), (weight,), sums, int(X.shape[1]), host_dtype(X), (largest,)
    )


#: Values summed side by side by :func:`fingerprint`: a chunk's rows are read this many values
#: at a time.
FINGERPRINT_LANES = 1024


def fingerprint(X: Any, xp: Any) -> Any:
    """The column sums of a chunk, in its dtype and on its device, as cheaply as a read of it.

    By which a stream recognises data that changed between passes: each column is added row
    after row (an elementwise sum, no reassociation), so the same chunk gives the same sums bit
    for bit. A C-contiguous chunk is read as rows of :data:`FINGERPRINT_LANES` values (a view),
    then folded: NumPy sums a narrow ``(n, d)`` array along its rows several times slower (a
    64 MiB chunk: about 2.4 ms, against 8-28 ms, or 17-60 ms in float64 from float32).

    Parameters
    ----------
    X : array of shape (n_rows, n_features)
        The chunk.
    xp : module
        Its namespace.

    Returns
    -------
    array of shape (n_features,)
        The column sums, in X's dtype, on X's device (not brought to the host).
    """
    n, d = X.shape
    group = max(1, FINGERPRINT_LANES // max(1, d))
    contiguous = getattr(getattr(X, "flags", None), "c_contiguous", False)
    if group == 1 or n < 2 * group or not contiguous:
        return xp.sum(X, axis=0)
    m = n - n % group
    lanes = xp.sum(xp.reshape(X[:m, ...], (m // group, group * d)), axis=0)
    return xp.sum(xp.reshape(lanes, (group, d)), axis=0) + xp.sum(X[m:, ...], axis=0)


def check_rows(X: Any, centers: Any, xp: Any, row: int | None = None) -> None:
    """Refuse rows that predict, transform and score cannot place, as fit refuses them.

    One reduction over X: its largest absolute value bounds every row's squared norm about the
    centres' mean (the predict rule's frame); only rows that may overflow (or hold a NaN) have
    their norms computed, and only an overflow looks for a NaN or an infinity.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        The rows, or a chunk of them.
    centers : array of shape (n_clusters, n_features)
        The fitted centres, in X's namespace and on its device.
    xp : module
        X's namespace.
    row : int, optional
        The first row of ``X`` when it is a chunk (named in the message).

    Raises
    ------
    ValueError
        X holds a NaN or an infinity (:func:`.non_finite_error`).
    FloatingPointError
        A row's squared norm overflows X's dtype (:func:`.squares_overflow`).
    """
    shift = xp.astype(kernels.column_mean(centers, xp=xp), X.dtype)
    # A bound first: d * (max |x| + max |shift|)^2 within the dtype clears every row at the cost
    # of a finiteness check (NaN propagates through the maximum); else the exact norms decide.
    bound = largest_abs(X, xp) + (largest_abs(shift, xp) if shift.shape[0] else 0.0)
    limit = float(xp.finfo(X.dtype).max)
    if math.isfinite(bound) and X.shape[1] * bound * bound <= limit:
        return
    norms = kernels.row_sq_norms(X, xp=xp, shift=shift)
    if bool(xp.all(xp.isfinite(norms))):
        return
    if not all_finite(X, xp):
        raise non_finite_error(X, xp, "X", row)
    raise squares_overflow(X.dtype, "the centres' mean")


def host_dtype(X: Any) -> np.dtype:
    """The NumPy dtype matching an array's dtype in any namespace (float32 or float64 here)."""
    xp = array_namespace(X)
    return np.dtype(np.float32) if X.dtype == xp.float32 else np.dtype(np.float64)


@dataclass(frozen=True)
class Spread:
    """A chunk's weighted sum of squared norms of the shifted rows, and of the shifted rows
    themselves; ``unweighted``: the plain sum of the squared norms (which of X and the weights
    overflows, when the weighted sum does)."""

    value: float
    row_sums: np.ndarray
    unweighted: float = 0.0
    largest: float = 0.0  # the largest squared norm (the near-tie screen's scale)

    def combine(self, other: Spread) -> Spread:
        return Spread(
            self.value + other.value,
            self.row_sums + other.row_sums,
            self.unweighted + other.unweighted,
            max(self.largest, other.largest),
        )

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
    norms = xp.astype(norms, acc)
    return Spread(
        float(xp.sum(norms * xp.astype(weights, acc))),
        np.asarray(to_numpy(row_sums), dtype=np.float64),
        float(xp.sum(norms)),
        float(xp.max(norms)) if norms.shape[0] else 0.0,
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
        return self.to_host_with(None)[0]

    def to_host_with(self, extra: Any) -> tuple[LloydPartial, np.ndarray | None]:
        """The partial on the host, and ``extra`` (an array in the sums' namespace, device and
        dtype, or None) as float64 NumPy, brought over in the same transfer."""
        if isinstance(self.inertia, float):  # already brought over (Dask folds host partials)
            return self, None if extra is None else np.asarray(to_numpy(extra), dtype=np.float64)
        # One transfer, so one wait for the device, for the whole pass.
        xp = array_namespace(self.sums)
        k, d = self.sums.shape
        parts = [xp.reshape(self.sums, (-1,)), self.weight_sums, xp.reshape(self.inertia, (1,))]
        if extra is not None:
            parts.append(xp.reshape(xp.astype(extra, self.sums.dtype), (-1,)))
        flat = np.asarray(to_numpy(xp.concat(parts)), dtype=np.float64)
        host = LloydPartial(
            flat[: k * d].reshape(k, d), flat[k * d : k * d + k], float(flat[k * d + k])
        )
        return host, None if extra is None else flat[k * d + k + 1 :]


def chunk_lloyd(
    chunk: Chunk, centers: np.ndarray, shift: np.ndarray, exact_ties: bool | None = None
) -> LloydPartial:
    """Assign the chunk to ``centers`` (shifted frame) and sum it per cluster: the kernels of an
    in-memory pass (``exact_ties``: the pass's near-tie screen, decided on the host; None
    screens the chunk)."""
    xp = chunk.xp
    weights = chunk.weights_or_ones()
    _, min_sq, sums, weight_sums = kernels.assign_and_sum(
        chunk.X, chunk.here(centers), weights, xp=xp, shift=chunk.here(shift), exact_ties=exact_ties
    )
    acc = sums.dtype
    return LloydPartial(sums, weight_sums, xp.sum(xp.astype(min_sq, acc) * xp.astype(weights, acc)))


def chunk_predict(chunk: Chunk, centers: np.ndarray, checked: bool = False) -> Any:
    """Labels by the predict rule (centres shifted by their mean), int32, in the chunk's
    namespace. The rows are checked first (:func:`check_rows`) unless ``checked`` says a fit
    has checked them already."""
    xp = chunk.xp
    centers_here = chunk.here(centers)
    if not checked:
        check_rows(chunk.X, centers_here, xp, chunk.offset)
    labels, _ = predict_labels(chunk.X, centers_here, xp)
    return xp.astype(labels, xp.int32)


@dataclass(frozen=True)
class Labelled:
    """Final labels of a chunk (host int32), their exact weighted inertia, and the largest weight
    (1 without weights: whether the weights can be why an inertia overflows)."""

    labels: np.ndarray
    inertia: float
    largest_weight: float = 1.0

    def combine(self, other: Labelled) -> Labelled:
        return Labelled(
            np.concatenate([self.labels, other.labels]),
            self.inertia + other.inertia,
            max(self.largest_weight, other.largest_weight),
        )

    def to_host(self) -> Labelled:
        return self


def chunk_inertia(
    chunk: Chunk, centers: np.ndarray, keep_labels: bool, checked: bool = False
) -> Labelled:
    """Predict-rule labels and their exact weighted inertia (as an in-memory fit reports it);
    ``checked``: the rows were checked by the fit (:func:`chunk_predict`)."""
    xp, X = chunk.xp, chunk.X
    labels = chunk_predict(chunk, centers, checked)
    weights = chunk.weights_or_ones()
    inertia = kernels.weighted_inertia(X, chunk.here(centers), labels, weights, xp=xp)
    kept = np.asarray(to_numpy(labels)) if keep_labels else np.empty(0, dtype=np.int32)
    largest = 1.0 if chunk.weights is None or X.shape[0] == 0 else float(xp.max(weights))
    return Labelled(kept, float(to_numpy(inertia)), largest)


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
