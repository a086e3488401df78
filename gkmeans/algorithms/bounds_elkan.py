"""Elkan's algorithm (2003): exact k-means with one lower bound per row and centre.

n x k lower bounds and the centre-to-centre distances skip most distance computations for any
k, at the price of n x k numbers of memory: it runs only where they fit the memory target
(:func:`gkmeans.algorithms.bounds_common.bounds_fit`; Yinyang otherwise). The bounds, the loop
and the rounding margin that keeps the labels Lloyd's are in
:mod:`gkmeans.algorithms.bounds_common`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gkmeans.algorithms.bounds_common import BoundedResult, bounded_lloyd
from gkmeans.algorithms.frame import LloydData


def own_groups(centers: np.ndarray) -> np.ndarray:
    """Each centre its own group: one lower bound per row and centre."""
    return np.arange(centers.shape[0], dtype=np.int64)


def elkan(data: LloydData, centers: Any, **options: Any) -> BoundedResult:
    """Run Elkan's algorithm from ``centers`` (shifted frame); the options and the result are
    those of :func:`gkmeans.algorithms.lloyd.lloyd`, plus the distances computed."""
    return bounded_lloyd(data, centers, grouping=own_groups, name="elkan", **options)
