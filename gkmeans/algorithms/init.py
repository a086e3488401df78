"""Initial centres, written once against the Array API.

Every method draws its random numbers from a host ``numpy.random.Generator``
and moves them to the device, so a seed gives the same start on every backend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from gkmeans import _kernels as kernels
from gkmeans._random import weighted_index
from gkmeans.algorithms.frame import frame_rows


@dataclass(frozen=True)
class InitData:
    """What every initialisation needs: data on the compute device and its weights.

    Centres are drawn in the frame of ``X - shift`` (``shift`` None: X's own frame);
    ``x_sq_norms`` are the squared norms of the shifted rows.
    """

    X: Any
    x_sq_norms: Any
    weights: Any
    weights_host: np.ndarray
    xp: ModuleType
    shift: Any = None

    @property
    def cumulative_weights(self) -> np.ndarray:
        return np.cumsum(self.weights_host)


def _distances_to(data: InitData, rows: Any) -> Any:
    return kernels.sq_distances_to_rows(data.X, data.x_sq_norms, rows, xp=data.xp, shift=data.shift)


def _index_array(data: InitData, indices: Any) -> Any:
    return data.xp.asarray(np.asarray(indices, dtype=np.int64), device=data.X.device)


def kmeans_plusplus(
    data: InitData, n_clusters: int, rng: np.random.Generator, n_local_trials: int | None = None
) -> tuple[Any, Any]:
    """Greedy k-means++ (Arthur & Vassilvitskii 2007; scikit-learn's variant).

    The first centre is drawn with probability proportional to its weight; each
    next one is the best of ``n_local_trials`` (default ``2 + int(ln k)``)
    candidates drawn with probability proportional to ``w * D(x)^2``, the one that
    lowers the potential most.

    Returns
    -------
    centers : array of shape (n_clusters, n_features)
    indices : int64 array of shape (n_clusters,)
        Rows of X chosen as centres.
    """
    xp, X = data.xp, data.X
    n = X.shape[0]
    dev = X.device
    if n_local_trials is None:
        n_local_trials = 2 + int(math.log(n_clusters))
    acc = kernels.accumulator_dtype(xp, dev)
    weights = xp.astype(data.weights, acc)
    first = _index_array(data, [weighted_index(rng, data.cumulative_weights)])
    chosen = [first]
    closest = xp.astype(_distances_to(data, frame_rows(data, first))[0, :], acc)
    potential = xp.sum(closest * weights)
    for _ in range(1, n_clusters):
        draws = xp.asarray(rng.random(n_local_trials), dtype=acc, device=dev) * potential
        cumulative = xp.cumulative_sum(closest * weights)
        candidates = xp.clip(xp.searchsorted(cumulative, draws), max=n - 1)
        cand_dist, cand_potential = kernels.closer_distances(
            data.X,
            data.x_sq_norms,
            frame_rows(data, candidates),
            closest,
            weights,
            xp=xp,
            shift=data.shift,
        )
        best = xp.reshape(xp.argmin(cand_potential), (1,))
        potential = xp.take(cand_potential, best)[0]
        closest = xp.take(cand_dist, best, axis=0)[0, :]
        chosen.append(xp.astype(xp.take(candidates, best), xp.int64))
    indices = xp.concat(chosen)
    return frame_rows(data, indices), indices


def random_points(data: InitData, n_clusters: int, rng: np.random.Generator) -> Any:
    """``n_clusters`` distinct data points drawn without replacement, proportionally to weight."""
    positive = int(np.count_nonzero(data.weights_host))
    if positive < n_clusters:
        msg = (
            f"init='random' needs n_clusters={n_clusters} samples with positive weight; only "
            f"{positive} have one"
        )
        raise ValueError(msg)
    p = data.weights_host / data.weights_host.sum()
    seeds = rng.choice(data.X.shape[0], size=n_clusters, replace=False, p=p)
    return frame_rows(data, _index_array(data, seeds))


def random_box(data: InitData, n_clusters: int, rng: np.random.Generator) -> Any:
    """Points drawn uniformly inside the bounding box of the samples with positive weight."""
    xp, X = data.xp, data.X
    keep = data.weights > 0
    low, high = kernels.column_bounds(X, keep, xp=xp)
    unit = xp.asarray(rng.random((n_clusters, X.shape[1])), dtype=X.dtype, device=X.device)
    if data.shift is not None:
        low, high = low - data.shift, high - data.shift
    return low[None, :] + unit * (high - low)[None, :]


def farthest_first(data: InitData, n_clusters: int, rng: np.random.Generator) -> Any:
    """Farthest-first traversal (Gonzalez 1985): a weighted-random first point, then
    repeatedly the sample farthest from all centres chosen so far (zero-weight
    samples are never chosen)."""
    xp, X = data.xp, data.X
    first = _index_array(data, [weighted_index(rng, data.cumulative_weights)])
    chosen = [first]
    positive = xp.astype(data.weights > 0, X.dtype)
    closest = _distances_to(data, frame_rows(data, first))[0, :]
    for _ in range(1, n_clusters):
        # Zero-weight rows score -1, below every real distance.
        score = closest * positive - (1 - positive)
        farthest = xp.reshape(xp.astype(xp.argmax(score), xp.int64), (1,))
        chosen.append(farthest)
        dist = _distances_to(data, frame_rows(data, farthest))[0, :]
        closest = xp.minimum(closest, dist)
    return frame_rows(data, xp.concat(chosen))
