"""Yinyang k-means (Ding et al., ICML 2015): exact k-means with one lower bound per group of
centres.

The initial centres are clustered into t = k / 10 groups (a few Lloyd steps on the centres;
fewer where n x t bounds would not fit the memory target);
a row keeps one lower bound per group, so memory is n x t instead of Elkan's n x k, and a
group whose bound clears the row's upper bound is skipped whole. The bounds, the loop and the
rounding margin that keeps the labels Lloyd's are in :mod:`gkmeans.algorithms.bounds_common`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gkmeans import _kernels as kernels
from gkmeans.algorithms.bounds_common import BoundedResult, bounded_lloyd, bounds_fit
from gkmeans.algorithms.frame import LloydData

#: Centres per group (the paper's t = k / 10) and the Lloyd steps that group them.
CENTERS_PER_GROUP = 10
GROUPING_STEPS = 5


def n_groups_for(n_clusters: int, most: int | None = None) -> int:
    """t = max(1, k // 10) groups, at most ``most``."""
    t = max(1, n_clusters // CENTERS_PER_GROUP)
    return t if most is None else max(1, min(t, most))


def most_groups(data: LloydData) -> int:
    """A number of groups whose bounds fit the memory target (0.3 X + 64 MiB, an eighth of free
    memory; :func:`gkmeans.algorithms.bounds_common.bounds_fit`); at least 1."""
    xp, X = data.xp, data.X
    n, d = X.shape
    itemsize = xp.finfo(X.dtype).bits // 8
    free = kernels.free_bytes(xp, X.device)
    t = 1
    while t < 4096 and bounds_fit(n, 2 * t, itemsize, n * d * itemsize, free):
        t *= 2
    while t > 1 and not bounds_fit(n, t, itemsize, n * d * itemsize, free):
        t -= 1
    return t


def centre_groups(centers: np.ndarray, most: int | None = None) -> np.ndarray:
    """Groups of the centres (at most ``most``): Lloyd on the centres from evenly spaced ones
    (deterministic), numbered 0 .. t-1 with no empty group."""
    k = centers.shape[0]
    t = n_groups_for(k, most)
    if t == 1:
        return np.zeros(k, dtype=np.int64)
    seeds = centers[np.linspace(0, k - 1, t).astype(np.int64)]
    groups = np.zeros(k, dtype=np.int64)
    for _ in range(GROUPING_STEPS):
        dist = ((centers[:, None, :] - seeds[None, :, :]) ** 2).sum(axis=2)
        groups = dist.argmin(axis=1)
        for g in range(t):
            members = groups == g
            if members.any():
                seeds[g] = centers[members].mean(axis=0)
    _, renumbered = np.unique(groups, return_inverse=True)
    return renumbered.astype(np.int64)


def yinyang(data: LloydData, centers: Any, **options: Any) -> BoundedResult:
    """Run Yinyang k-means from ``centers`` (shifted frame); the options and the result are those
    of :func:`gkmeans.algorithms.lloyd.lloyd`, plus the distances computed."""
    most = most_groups(data)
    return bounded_lloyd(
        data, centers, grouping=lambda c: centre_groups(c, most), name="yinyang", **options
    )
