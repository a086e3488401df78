"""k-means|| initialisation (Bahmani, Moseley, Vattani, Kumar & Vassilvitskii, "Scalable
k-means++", VLDB 2012), written once against the Array API.

A few rounds each sample about ``l = oversampling_factor * k`` points at once, every point
with probability ``min(1, l * w * D(x)^2 / phi)``; the candidates are then weighted by the
sample weight of the points nearest to them and reduced to k centres by *weighted*
k-means++ followed by weighted Lloyd iterations on the candidates. (dask-ml reduces
without the weights, which loses the information on how many points each candidate stands
for.) Every draw comes from the host generator, so a seed gives the same start everywhere.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from gkmeans import _kernels as kernels
from gkmeans._random import weighted_index
from gkmeans.algorithms.frame import LloydData, frame_rows
from gkmeans.algorithms.init import InitData, kmeans_plusplus
from gkmeans.algorithms.lloyd import lloyd

#: Bahmani et al. found l = 2k and 5 rounds enough to match k-means++ (their section 5).
DEFAULT_OVERSAMPLING = 2.0
DEFAULT_ROUNDS = 5
#: Lloyd iterations on the weighted candidates after the k-means++ reduction.
REDUCTION_ITERATIONS = 30


def _nearest_sq(data: InitData, candidates: Any) -> Any:
    """Squared distance of every point to its nearest candidate (candidates in the shifted
    frame)."""
    _, min_sq = kernels.assign(
        data.X, candidates, xp=data.xp, x_sq_norms=data.x_sq_norms, shift=data.shift
    )
    return min_sq


def _sampling_round(
    data: InitData, closest: Any, oversampling: float, rng: np.random.Generator
) -> Any:
    """Indices drawn independently with probability min(1, l w D^2 / phi)."""
    xp = data.xp
    acc = kernels.accumulator_dtype(xp, data.X.device)
    weighted = xp.astype(closest, acc) * xp.astype(data.weights, acc)
    potential = xp.sum(weighted)
    if not bool(potential > 0):
        return xp.empty(0, dtype=xp.int64, device=data.X.device)
    probability = xp.clip(oversampling * weighted / potential, max=1.0)
    draws = xp.asarray(rng.random(data.X.shape[0]), dtype=acc, device=data.X.device)
    return xp.astype(xp.nonzero(draws < probability)[0], xp.int64)


def kmeans_parallel(
    data: InitData,
    n_clusters: int,
    rng: np.random.Generator,
    *,
    oversampling_factor: float = DEFAULT_OVERSAMPLING,
    n_rounds: int = DEFAULT_ROUNDS,
) -> Any:
    """Initial centres by k-means|| (shifted frame, X's dtype), shape (n_clusters, n_features).

    Parameters
    ----------
    data : InitData
    n_clusters : int
    rng : numpy.random.Generator
    oversampling_factor : float, default 2.0
        l / k: points sampled per round, in units of k.
    n_rounds : int, default 5
        Sampling rounds; more are run (up to 10 extra) while fewer than k candidates exist.
    """
    xp, X = data.xp, data.X
    oversampling = oversampling_factor * n_clusters
    first = xp.asarray(
        np.asarray([weighted_index(rng, data.cumulative_weights)], dtype=np.int64), device=X.device
    )
    chosen = [first]
    candidates = frame_rows(data, first)
    closest = _nearest_sq(data, candidates)
    n_candidates, rounds = 1, 0
    while rounds < n_rounds or (n_candidates < n_clusters and rounds < n_rounds + 10):
        picked = _sampling_round(data, closest, oversampling, rng)
        rounds += 1
        if picked.shape[0] == 0:
            if n_candidates >= n_clusters or not bool(xp.sum(closest) > 0):
                break
            continue
        new_rows = frame_rows(data, picked)
        closest = xp.minimum(closest, _nearest_sq(data, new_rows))
        chosen.append(picked)
        n_candidates += int(picked.shape[0])
    indices = xp.concat(chosen)
    if n_candidates < n_clusters:
        # Fewer candidates than clusters (tiny or duplicated data): top up by weight, then, when
        # the points of positive weight run out (k above their number), with points of zero weight,
        # as k-means++ would end up taking (the fit then warns of fewer distinct clusters).
        untaken = np.ones(X.shape[0], dtype=bool)
        untaken[np.asarray(kernels.to_host(indices))] = False
        weights = np.where(untaken, data.weights_host, 0.0)
        by_weight = min(n_clusters - n_candidates, int(np.count_nonzero(weights)))
        extra = (
            [rng.choice(X.shape[0], size=by_weight, replace=False, p=weights / weights.sum())]
            if by_weight
            else []
        )
        if n_candidates + by_weight < n_clusters:
            unweighted = np.flatnonzero(untaken & (data.weights_host <= 0))
            extra.append(
                rng.choice(unweighted, size=n_clusters - n_candidates - by_weight, replace=False)
            )
        extra_indices = np.concatenate(extra).astype(np.int64)
        indices = xp.concat([indices, xp.asarray(extra_indices, device=X.device)])
    candidates = frame_rows(data, indices)
    # Each candidate stands for the weight of the points nearest to it.
    _, _, _, candidate_weights = kernels.assign_and_sum(
        X, candidates, data.weights, xp=xp, x_sq_norms=data.x_sq_norms, shift=data.shift
    )
    return reduce_candidates(candidates, xp.astype(candidate_weights, X.dtype), n_clusters, rng, xp)


def reduce_candidates(
    candidates: Any,
    candidate_weights: Any,
    n_clusters: int,
    rng: np.random.Generator,
    xp: ModuleType,
) -> Any:
    """k centres from weighted candidates: weighted k-means++, then weighted Lloyd on the
    candidates.

    Shared by the in-memory, streaming and Dask k-means||.
    """
    weights_host = np.asarray(kernels.to_host(candidate_weights), dtype=np.float64)
    reduced = InitData(
        candidates, xp.vecdot(candidates, candidates), candidate_weights, weights_host, xp
    )
    start, _ = kmeans_plusplus(reduced, n_clusters, rng)
    zero = xp.zeros(candidates.shape[1], dtype=candidates.dtype, device=candidates.device)
    refined = lloyd(
        LloydData(candidates, zero, reduced.x_sq_norms, candidate_weights, weights_host, xp),
        start,
        max_iter=REDUCTION_ITERATIONS,
        tol=0.0,
        empty_cluster="relocate",
        rng=rng,
        score=False,
    )
    return refined.centers
