"""The ``init=`` methods by name, and how many restarts ``n_init="auto"`` gives each."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gkmeans.algorithms.init import (
    InitData,
    farthest_first,
    kmeans_plusplus,
    random_box,
    random_points,
)
from gkmeans.algorithms.kmeans_parallel import kmeans_parallel


def _kmeans_plusplus_centers(data: InitData, n_clusters: int, rng: np.random.Generator) -> Any:
    return kmeans_plusplus(data, n_clusters, rng)[0]


def _kmeans_parallel_centers(data: InitData, n_clusters: int, rng: np.random.Generator) -> Any:
    return kmeans_parallel(data, n_clusters, rng)


#: The string options of ``init=``. The "auto" number of restarts is 1 for the
#: methods that already spread the centres well and 10 for the others.
INIT_METHODS: dict[str, Callable[[InitData, int, np.random.Generator], Any]] = {
    "k-means++": _kmeans_plusplus_centers,
    "random": random_points,
    "random-box": random_box,
    "farthest-first": farthest_first,
    "k-means||": _kmeans_parallel_centers,
}
AUTO_N_INIT = {"k-means++": 1, "k-means||": 1, "random": 10, "random-box": 10, "farthest-first": 10}
