"""Hamerly's algorithm (2010): exact k-means with one upper and one lower bound a row.

The lower bound covers every centre but the assigned one, so it is cheap in memory (two numbers
a row) and prunes best where k and d are small. The bounds, the loop and the rounding margin
that keeps the labels Lloyd's are in :mod:`gkmeans.algorithms.bounds_common`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gkmeans.algorithms.bounds_common import BoundedResult, bounded_lloyd
from gkmeans.algorithms.frame import LloydData


def one_group(centers: np.ndarray) -> np.ndarray:
    """Every centre in group 0: one lower bound a row."""
    return np.zeros(centers.shape[0], dtype=np.int64)


def hamerly(data: LloydData, centers: Any, **options: Any) -> BoundedResult:
    """Run Hamerly's algorithm from ``centers`` (shifted frame); the options and the result are
    those of :func:`gkmeans.algorithms.lloyd.lloyd`, plus the distances computed."""
    return bounded_lloyd(data, centers, grouping=one_group, name="hamerly", **options)
