"""The centred frame the algorithms work in: data on the compute device, and rows taken from it.

The algorithms see ``X - shift`` (the data's column mean): the distance expansion cancels
badly in float32 far from the origin. ``X`` is the caller's data with ``shift`` subtracted
block by block, or a shifted copy of small data with ``shift`` None; centres live in that frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from gkmeans import _kernels as kernels


@dataclass(frozen=True)
class LloydData:
    """Data of one fit on the compute device.

    ``X`` is the caller's data and ``shift`` its column mean, subtracted block by block
    (or X is already a shifted copy of small data and ``shift`` None); centres live in
    that shifted frame, so float32 distances do not cancel far from the origin.
    ``x_sq_norms`` are the squared norms of the shifted rows; ``weights_host`` is
    NumPy, for host-side draws.
    """

    X: Any
    shift: Any
    x_sq_norms: Any
    weights: Any
    weights_host: np.ndarray
    xp: ModuleType


def frame_rows(data: Any, indices: Any) -> Any:
    """Rows ``indices`` of X in the shifted frame (``data``: an :class:`InitData`, or anything with
    its ``X``, ``xp`` and ``shift``, as :class:`gkmeans.algorithms.lloyd.LloydData`)."""
    rows = kernels.take_rows(data.X, indices, xp=data.xp, dense=True)
    return rows if data.shift is None else rows - data.shift
