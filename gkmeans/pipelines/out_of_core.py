"""Exact Lloyd k-means over data seen one chunk at a time: written once, run by an engine.

An *engine* owns the chunks and runs a function on each of them: the streaming engine
(:mod:`gkmeans.pipelines.stream_engine`) reads them one after another from a file or an iterator and
copies each to the compute device; the Dask engine (:mod:`gkmeans.pipelines.dask_engine`) runs them
as tasks where the chunks live and tree-reduces the results. Both hand back only small
results (:mod:`gkmeans.pipelines.chunk_ops`), so this driver never holds more than O(k * d)
numbers of its own, plus the candidates of k-means||.

The iterations are those of :func:`gkmeans.algorithms.lloyd.lloyd`: the same assignment kernels,
the same update, the same empty-cluster rules and stopping rules, so from the same
initial centres the result equals the in-memory fit's (up to the order of float64
additions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from gkmeans import _kernels as kernels
from gkmeans._compat import array_namespace, to_numpy
from gkmeans._random import make_rng
from gkmeans._validation import (
    check_float,
    check_int,
    check_n_clusters_vs_samples,
    check_weight_range,
    inertia_overflow,
    squares_overflow,
    weights_overflow,
)
from gkmeans.algorithms.empty_clusters import (
    cluster_means,
    empty_cluster_message,
    relocated_means,
    reseeded_means,
    warn_dropped_clusters,
)
from gkmeans.algorithms.history import FitHistory, Trace
from gkmeans.algorithms.init import InitData
from gkmeans.algorithms.init_methods import INIT_METHODS
from gkmeans.algorithms.kmeans_parallel import (
    DEFAULT_OVERSAMPLING,
    DEFAULT_ROUNDS,
    reduce_candidates,
)
from gkmeans.exceptions import EmptyClusterError, InvalidParameterError
from gkmeans.pipelines import chunk_ops as work
from gkmeans.pipelines.params import KMeansParams, check_centers_shape, is_explicit_init

#: Initialisations other than k-means|| run on a uniform sample of this many rows
#: (all rows when there are fewer), scikit-learn's ``init_size`` idea.
INIT_SAMPLE_ROWS = 100_000

_HOST_XP = array_namespace(np.empty(0))


class ChunkEngine(Protocol):
    """Runs per-chunk functions where the chunks are and reduces their small results."""

    n_chunks: int

    def map_reduce(self, fn: Callable[..., Any], *args: Any, kept: list[Any] | None = None) -> Any:
        """``fn(chunk, *args)`` (or ``fn(chunk, kept[i], *args)``) on every chunk, results combined,
        on the host."""

    def map_keep(
        self, fn: Callable[..., Any], *args: Any, kept: list[Any] | None = None
    ) -> tuple[list[Any], Any]:
        """Like :meth:`map_reduce` for ``fn`` returning ``(kept_value, result)``: the kept values
        stay with their chunks (returned as handles), the results are combined."""

    def compute_namespace(self) -> tuple[Any, Any]:
        """The namespace and device where the driver's own small computations (initialisation)
        run."""


@dataclass(frozen=True)
class ChunkedFit:
    """A finished chunked fit: centres (host, X's dtype), labels by the predict rule (host int32,
    when the engine keeps them), their inertia, iterations, runs, and the data's statistics."""

    centers: np.ndarray
    labels: np.ndarray | None
    inertia: float
    n_iter: int
    n_init: int
    stats: work.DataStats
    history: FitHistory | None = None


def _partial(
    engine: ChunkEngine, centers: np.ndarray, shift: np.ndarray, exact_ties: bool | None = None
) -> work.LloydPartial:
    return engine.map_reduce(work.chunk_lloyd, centers, shift, exact_ties)


def weighted_rows(
    engine: ChunkEngine, stats: work.DataStats, n_rows: int, rng: np.random.Generator
) -> work.Rows:
    """``n_rows`` distinct rows drawn proportionally to weight (fewer only if fewer have weight).

    Two stages, one pass: a chunk by the chunks' weights, then a row inside it by inverse CDF.
    """
    chunk_weights = np.asarray(stats.chunk_weights, dtype=np.float64)
    cumulative = np.cumsum(chunk_weights)
    found: work.Rows | None = None
    for _ in range(10):
        missing = n_rows - (0 if found is None else found.index.shape[0])
        if missing <= 0:
            break
        targets = (1.0 - rng.random(missing)) * cumulative[-1]
        which = np.minimum(
            np.searchsorted(cumulative, targets, side="left"), len(chunk_weights) - 1
        )
        local = targets - (cumulative - chunk_weights)[which]
        by_chunk = {
            int(i): np.minimum(local[which == i], chunk_weights[i]) for i in np.unique(which)
        }
        drawn = engine.map_reduce(work.chunk_weighted_pick, by_chunk)
        found = drawn if found is None else found.combine(drawn)
        _, first = np.unique(found.index, return_index=True)
        found = found.select(np.sort(first))
    return found.select(np.arange(min(n_rows, found.index.shape[0])))


def _sample_init(
    engine: ChunkEngine,
    stats: work.DataStats,
    init: Any,
    n_clusters: int,
    shift: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """A named in-memory initialisation (or a callable) run on a uniform sample of rows."""
    n = stats.n_samples
    size = max(INIT_SAMPLE_ROWS, 50 * n_clusters)
    indices = np.arange(n) if n <= size else np.sort(rng.choice(n, size=size, replace=False))
    sample = engine.map_reduce(work.chunk_take, indices)
    xp, device = engine.compute_namespace()
    rows = xp.asarray(sample.rows, device=device)
    shift_here = xp.asarray(shift, device=device)
    if callable(init):
        centers = np.asarray(init(sample.rows, n_clusters, random_state=rng))
        return (
            check_centers_shape(centers, n_clusters, stats.n_features).astype(stats.dtype) - shift
        )
    weights = xp.asarray(sample.weights.astype(stats.dtype), device=device)
    shifted = rows - shift_here
    data = InitData(
        rows, xp.vecdot(shifted, shifted), weights, sample.weights, xp, shift=shift_here
    )
    return np.asarray(to_numpy(INIT_METHODS[init](data, n_clusters, rng)))


def chunked_kmeans_parallel(
    engine: ChunkEngine,
    stats: work.DataStats,
    n_clusters: int,
    shift: np.ndarray,
    rng: np.random.Generator,
    *,
    oversampling_factor: float = DEFAULT_OVERSAMPLING,
    n_rounds: int = DEFAULT_ROUNDS,
) -> np.ndarray:
    """k-means|| over chunks (Bahmani et al. 2012): two passes per round, candidates reduced with
    their weights.

    The same rounds as :func:`gkmeans.algorithms.kmeans_parallel.kmeans_parallel`; each chunk keeps
    its rows' distance to the nearest candidate where it lives.
    """
    oversampling = oversampling_factor * n_clusters
    first = weighted_rows(engine, stats, 1, rng)
    candidates = [first.rows]
    closest, potential = engine.map_keep(work.chunk_nearest_sq, first.rows - shift, shift)
    n_candidates, rounds = 1, 0
    while rounds < n_rounds or (n_candidates < n_clusters and rounds < n_rounds + 10):
        rounds += 1
        if potential.value <= 0:
            break
        seeds = rng.integers(0, 2**63 - 1, size=engine.n_chunks)
        picked = engine.map_reduce(
            work.chunk_sample, oversampling, potential.value, seeds, kept=closest
        )
        if picked.index.shape[0] == 0:
            continue
        candidates.append(picked.rows)
        n_candidates += picked.index.shape[0]
        closest, potential = engine.map_keep(
            work.chunk_nearest_sq, picked.rows - shift, shift, kept=closest
        )
    rows = np.concatenate(candidates)
    if n_candidates < n_clusters:
        # Fewer candidates than clusters (tiny or duplicated data): top up by weight.
        extra = weighted_rows(engine, stats, n_clusters, rng).rows
        rows = np.unique(np.concatenate([rows, extra]), axis=0)
        rows = np.concatenate([rows, extra[: max(0, n_clusters - rows.shape[0])]])
    shifted = (rows - shift).astype(stats.dtype)
    candidate_weights = _partial(engine, shifted, shift).weight_sums
    xp, device = engine.compute_namespace()
    centers = reduce_candidates(
        xp.asarray(shifted, device=device),
        xp.asarray(candidate_weights.astype(stats.dtype), device=device),
        n_clusters,
        rng,
        xp,
    )
    return np.asarray(to_numpy(centers))


def _empty_update(
    engine: ChunkEngine,
    stats: work.DataStats,
    policy: str,
    centers: np.ndarray,
    shift: np.ndarray,
    partial: work.LloydPartial,
    n_empty: int,
    n_iter: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """New centres and the centres they are compared with, when ``n_empty`` clusters lost all their
    points."""
    xp = _HOST_XP
    if policy == "relocate":
        farthest = work.top_scores(
            engine.map_reduce(work.chunk_farthest, centers, shift, n_empty), n_empty
        )
        if not farthest.score.size or farthest.score[0] <= 0:
            # More clusters than distinct points: moving a duplicate changes nothing.
            return cluster_means(partial.sums, partial.weight_sums, centers, xp), centers
        moved = (farthest.rows - shift).astype(np.float64)
        return relocated_means(
            centers, partial.sums, partial.weight_sums, moved, farthest.weights, farthest.labels, xp
        ), centers
    if policy == "random":
        new_rows = weighted_rows(engine, stats, n_empty, rng).rows - shift
        if new_rows.shape[0] < n_empty:  # fewer rows with weight than empty clusters: repeat them
            new_rows = np.resize(new_rows, (n_empty, new_rows.shape[1]))
        return reseeded_means(
            centers, partial.sums, partial.weight_sums, new_rows.astype(centers.dtype), xp
        ), centers
    if policy == "drop":
        keep = partial.weight_sums > 0
        return cluster_means(partial.sums, partial.weight_sums, centers, xp)[keep], centers[keep]
    raise EmptyClusterError(empty_cluster_message(partial.weight_sums, n_iter))


def chunked_lloyd(
    engine: ChunkEngine,
    stats: work.DataStats,
    centers: np.ndarray,
    shift: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    empty_cluster: str,
    rng: np.random.Generator,
    verbose: bool = False,
    progress: Callable[[int], None] | None = None,
    trace: Trace | None = None,
    x_sq_max: float | None = None,
) -> tuple[np.ndarray, int]:
    """Lloyd iterations over the chunks; one pass (one host synchronisation) per iteration.

    ``x_sq_max`` (the largest squared norm of the shifted rows) lets each pass's near-tie
    screen be decided on the host (:mod:`gkmeans._kernels.near_ties`); None screens every chunk.

    Stops when the squared centre shift is at most ``tol``. When no label changes the
    sums are the same numbers added in the same order, so the shift is exactly 0: the
    in-memory rule "no label changed" stops at the same iteration without labels kept.
    ``trace`` records the centres of every iteration (already on the host: no extra work).
    """
    n_iter = 0
    for iteration in range(max_iter):
        n_iter = iteration + 1
        k = centers.shape[0]
        exact = None
        if x_sq_max is not None:
            ratio = float(kernels.tie_screen_ratio(centers, x_sq_max, stats.dtype, xp=np))
            exact = kernels.exceeds_tie_share(ratio)
            if verbose and exact:
                print(f"Iteration {iteration}: the pass decides near ties from the differences.")
        partial = _partial(engine, centers, shift, exact)
        n_empty = int(np.count_nonzero(partial.weight_sums == 0))
        if n_empty == 0:
            new_centers, kept = (
                cluster_means(partial.sums, partial.weight_sums, centers, _HOST_XP),
                centers,
            )
        else:
            new_centers, kept = _empty_update(
                engine, stats, empty_cluster, centers, shift, partial, n_empty, n_iter, rng
            )
        if verbose:
            print(f"Iteration {iteration}, inertia {partial.inertia}.")
        center_shift = float(np.sum((new_centers.astype(np.float64) - kept) ** 2))
        centers = new_centers
        if trace is not None:
            dropped = new_centers.shape[0] != k
            survivors = np.flatnonzero(partial.weight_sums > 0) if dropped else None
            trace.step(new_centers, partial.inertia, kept=survivors)
        if progress is not None:
            progress(n_iter)
        if new_centers.shape[0] != k:
            continue
        if center_shift <= tol:
            if verbose:
                print(
                    f"Converged at iteration {iteration}: center shift {center_shift} within "
                    f"tolerance {tol}."
                )
            break
    return centers, n_iter


def fit_chunked(
    engine: ChunkEngine,
    params: KMeansParams,
    *,
    oversampling_factor: Any = DEFAULT_OVERSAMPLING,
    n_rounds: Any = DEFAULT_ROUNDS,
    progress: Callable[[int, int, int], None] | None = None,
    keep_labels: bool = True,
) -> ChunkedFit:
    """``params.n_init`` runs of initialisation + chunked Lloyd; the lowest inertia wins.

    Initialisations: "k-means||" runs on every chunk (``oversampling_factor`` and ``n_rounds``
    as :func:`gkmeans.kmeans_parallel`); the other named methods and a callable run on a
    uniform sample of :data:`INIT_SAMPLE_ROWS` rows (all rows when there are fewer); explicit
    centres are used as given. ``keep_labels`` brings the final labels to the host (one int32
    per row).
    """
    oversampling_factor = check_float(oversampling_factor, "oversampling_factor", 0.0)
    if oversampling_factor <= 0:
        raise InvalidParameterError(f"oversampling_factor={oversampling_factor} must be > 0")
    n_rounds = check_int(n_rounds, "n_rounds", 1)
    n_clusters, init, max_iter, runs = (
        params.n_clusters,
        params.init,
        params.max_iter,
        params.n_init,
    )
    empty_cluster, verbose = params.empty_cluster, params.verbose
    rng = make_rng(params.random_state)

    stats = engine.map_reduce(work.chunk_stats)
    check_n_clusters_vs_samples(n_clusters, stats.n_samples)
    if stats.total_weight <= 0:
        raise ValueError("sample_weight sums to 0: at least one sample needs a positive weight")
    check_weight_range(max(stats.largest_weights), stats.total_weight, stats.dtype)
    # The plain column mean, as the in-memory fit: only a shift against float32 cancellation.
    shift = (stats.column_sums / stats.n_samples).astype(stats.dtype)
    spreads = engine.map_reduce(work.chunk_spread, shift)
    spread = spreads.about_weighted_mean(stats.total_weight)
    if not math.isfinite(spread):
        if math.isfinite(spreads.unweighted) and max(stats.largest_weights) > 1:
            raise weights_overflow(
                "the weighted spread of X", np.dtype(np.float64), max(stats.largest_weights)
            )
        raise squares_overflow(stats.dtype)
    tol_abs = spread / (stats.total_weight * stats.n_features) * params.tol

    if is_explicit_init(init):
        explicit = check_centers_shape(np.asarray(to_numpy(init)), n_clusters, stats.n_features)
        explicit = explicit.astype(stats.dtype) - shift

    def start(rng: np.random.Generator) -> np.ndarray:
        if is_explicit_init(init):
            return explicit
        if init == "k-means||":
            return chunked_kmeans_parallel(
                engine,
                stats,
                n_clusters,
                shift,
                rng,
                oversampling_factor=oversampling_factor,
                n_rounds=n_rounds,
            )
        return _sample_init(engine, stats, init, n_clusters, shift, rng)

    best: tuple[float, np.ndarray, int, Trace | None] | None = None
    for run in range(runs):
        centers = start(rng).astype(stats.dtype)
        trace = Trace(centers) if params.history else None
        report = (
            None
            if progress is None
            else (lambda iteration, run=run: progress(run, iteration, max_iter))
        )
        centers, n_iter = chunked_lloyd(
            engine,
            stats,
            centers,
            shift,
            max_iter=max_iter,
            tol=tol_abs,
            empty_cluster=empty_cluster,
            rng=rng,
            verbose=bool(verbose),
            progress=report,
            trace=trace,
            x_sq_max=spreads.largest,
        )
        inertia = _partial(engine, centers, shift).inertia if runs > 1 else float("nan")
        if best is None or inertia < best[0]:
            best = (inertia, centers, n_iter, trace)
    _, centers, n_iter, trace = best
    final = (centers + shift).astype(stats.dtype)
    warn_dropped_clusters(n_clusters, final.shape[0], stacklevel=3)
    # The rows were checked by the first pass (and, streamed, every pass is compared with it).
    labelled = engine.map_reduce(work.chunk_inertia, final, keep_labels, True)
    if not math.isfinite(labelled.inertia):
        if labelled.largest_weight > 1:
            raise weights_overflow("the inertia", np.dtype(np.float64), labelled.largest_weight)
        raise inertia_overflow(labelled.inertia, stats.dtype)
    labels = labelled.labels if keep_labels else None
    history = None if trace is None else trace.finish(shift, labels, labelled.inertia)
    return ChunkedFit(final, labels, labelled.inertia, n_iter, runs, stats, history)


__all__ = ["ChunkEngine", "ChunkedFit", "fit_chunked", "chunked_lloyd", "chunked_kmeans_parallel"]
