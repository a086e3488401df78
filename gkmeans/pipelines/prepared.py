"""Validated data on the compute device: weights checked, column mean found, rows' squared norms."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from gkmeans import _kernels as kernels
from gkmeans._sparse import is_sparse_rows
from gkmeans._validation import check_sample_weight, squares_overflow
from gkmeans.algorithms.frame import LloydData
from gkmeans.algorithms.init import InitData
from gkmeans.device import Placement, resolve_placement


@dataclass(frozen=True)
class PreparedData:
    """Validated data on the compute device, with its weights, column mean and shifted row norms.

    ``X_dev`` is the data on the compute device. The algorithms see ``X_frame`` minus
    ``frame_shift``: X_dev and its mean (shifted block by block), or a copy of ``X_dev - mean``
    and None (small data, see :func:`prepare_data`). Either way the same rows.
    """

    placement: Placement
    xp: ModuleType
    X_dev: Any
    weights: Any
    weights_host: np.ndarray
    total_weight: float
    mean: Any
    x_sq_norms: Any
    X_frame: Any
    frame_shift: Any

    @property
    def centred(self) -> bool:
        """Whether the algorithms' frame is centred on the column mean (not for sparse rows)."""
        return not is_sparse_rows(self.X_dev)

    @property
    def init_data(self) -> InitData:
        return InitData(
            self.X_frame,
            self.x_sq_norms,
            self.weights,
            self.weights_host,
            self.xp,
            shift=self.frame_shift,
        )

    @property
    def lloyd_data(self) -> LloydData:
        return LloydData(
            self.X_frame,
            self.frame_shift,
            self.x_sq_norms,
            self.weights,
            self.weights_host,
            self.xp,
        )


def prepare_data(
    X: Any,
    caller_xp: ModuleType,
    sample_weight: Any,
    n_clusters: int,
    device: Any,
    placement: Placement | None = None,
    *,
    shifted_copy: bool = False,
) -> PreparedData:
    """Move validated X to the compute device, check the weights, and find the shift.

    The algorithms work on ``X - mean`` (the distance expansion cancels badly in
    float32 far from the origin): one block at a time, or, with ``shifted_copy`` and
    data small enough (:func:`gkmeans._kernels.shifted_copy_fits`), on a copy shifted
    once, which saves every pass a memory pass. The caller's array is never modified.
    ``placement``: where to compute, when the caller has already resolved it for ``device``.
    """
    n_samples, n_features = X.shape
    if placement is None:
        placement = resolve_placement(
            X, caller_xp, device, work=n_samples * n_features * n_clusters
        )
    xp = placement.xp
    X_dev = placement.to_compute(X)
    weights, weights_host = check_sample_weight(
        sample_weight, n_samples, xp, X_dev.dtype, X_dev.device
    )
    total_weight = float(weights_host.sum())
    # The plain column mean, as scikit-learn: only a shift, so weights need not enter,
    # and the same rounding as scikit-learn keeps float32 near-ties resolved alike.
    mean = frame_mean(X_dev, xp)
    X_frame, frame_shift = X_dev, mean
    if is_sparse_rows(X_dev):
        frame_shift = None  # the mean is zero: sparse rows stay as they are
    elif shifted_copy and kernels.shifted_copy_fits(X_dev, xp):
        X_frame, frame_shift = X_dev - mean, None
    x_sq_norms = kernels.row_sq_norms(X_frame, xp=xp, shift=frame_shift)
    if not bool(xp.all(xp.isfinite(x_sq_norms))):
        raise squares_overflow(X_dev.dtype)
    return PreparedData(
        placement,
        xp,
        X_dev,
        weights,
        weights_host,
        total_weight,
        mean,
        x_sq_norms,
        X_frame,
        frame_shift,
    )


def frame_mean(X: Any, xp: ModuleType) -> Any:
    """The shift of the centred frame: X's column mean, or zeros for sparse rows, which are not
    centred (subtracting the mean would make them dense; scikit-learn does not centre them
    either)."""
    if is_sparse_rows(X):
        return xp.zeros(X.shape[1], dtype=X.dtype, device=X.device)
    return kernels.column_mean(X, xp=xp)


def frame_sq_norms(X: Any, shift: Any, xp: ModuleType) -> Any:
    """Squared norms of the rows of ``X - shift`` (``shift`` from :func:`frame_mean`)."""
    if is_sparse_rows(X):
        return kernels.row_sq_norms(X, xp=xp)
    shifted = X - shift
    return xp.vecdot(shifted, shifted)
