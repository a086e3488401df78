"""When ``gkmeans.accel`` runs a call on gkmeans, and why it does not.

A call is accelerated only when gkmeans computes what scikit-learn computes; otherwise the
reason is one of the strings here, logged and counted (:mod:`gkmeans.accel._report`).
"""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np

#: scikit-learn versions whose ``KMeans.fit`` the accelerated fit follows (written from 1.9,
#: whose steps are those of 1.6 onwards).
SUPPORTED_SKLEARN = ((1, 6), (1, 10))

#: Rows per block when computing a weighted variance (bounds the temporary memory).
_BLOCK_ROWS = 65536
#: Squared norm of the column mean, against the total variance, past which scikit-learn's float64
#: distances on uncentred data (``|x|^2 - 2 x.c + |c|^2``) keep fewer than about 10 digits of
#: the distances that decide near ties (MiniBatchKMeans and kmeans_plusplus do not centre X).
FAR_FROM_ORIGIN = 1e6
#: Rows looked at to estimate that ratio (every so many rows, no random draw).
_OFFSET_ROWS = 10_000


def sklearn_version_reason(version: str) -> str | None:
    """Why this scikit-learn version cannot be accelerated, or None."""
    try:
        major_minor = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return f"scikit-learn {version}: version not understood"
    low, high = SUPPORTED_SKLEARN
    if not low <= major_minor < high:
        return (
            f"scikit-learn {version}: the accelerated fit follows KMeans.fit of "
            f"{low[0]}.{low[1]} to {high[0]}.{high[1] - 1}"
        )
    return None


def input_reason(X: Any) -> str | None:
    """Why scikit-learn must take ``X`` itself, or None (NumPy arrays and array-likes it
    converts to NumPy are accelerated)."""
    module = type(X).__module__
    if module.startswith("scipy.sparse"):
        return f"X is a SciPy sparse {type(X).__name__} (scikit-learn has sparse kernels)"
    if not isinstance(X, np.ndarray) and (
        hasattr(X, "__array_namespace__")
        or hasattr(X, "__dlpack__")
        or hasattr(X, "__cuda_array_interface__")
    ):
        return (
            f"X is a {module}.{type(X).__name__}, not NumPy (scikit-learn converts or refuses it)"
        )
    return None


def common_reason(X: Any, version: str) -> str | None:
    """Why a call on ``X`` runs on scikit-learn whatever the estimator, or None."""
    from sklearn import get_config

    reason = sklearn_version_reason(version)
    if reason is not None:
        return reason
    if get_config().get("array_api_dispatch", False):
        return "array_api_dispatch=True is set (scikit-learn's own array API rules apply)"
    return input_reason(X)


def kmeans_fit_reason(estimator: Any, X: Any, version: str) -> str | None:
    """Why ``estimator.fit(X)`` runs on scikit-learn, or None when gkmeans runs it."""
    if estimator.verbose:
        return "verbose output is scikit-learn's"
    return common_reason(X, version)


def minibatch_reason(estimator: Any, X: Any, version: str) -> str | None:
    """Why ``estimator.fit(X)`` or ``partial_fit(X)`` (a ``MiniBatchKMeans``) runs on
    scikit-learn, or None when gkmeans runs it (some data-dependent reasons are found later,
    before anything is drawn: see :mod:`gkmeans.accel._minibatch`)."""
    if estimator.verbose:
        return "verbose output is scikit-learn's"
    ratio = estimator.reassignment_ratio
    if isinstance(ratio, Real) and ratio > 1:
        # every centre can be below the threshold; scikit-learn then fails in its own way
        return f"reassignment_ratio={ratio} > 1 (scikit-learn's reassignment of every centre)"
    return common_reason(X, version)


def offset_ratio(X: np.ndarray) -> float:
    """Squared norm of the column mean of X over its total variance (estimated from at most
    ``_OFFSET_ROWS`` evenly spaced rows)."""
    rows = np.asarray(X[:: max(1, X.shape[0] // _OFFSET_ROWS)], dtype=np.float64)
    mean = rows.mean(axis=0)
    spread = float(((rows - mean) ** 2).sum(axis=0).sum()) / rows.shape[0]
    far = float(mean @ mean)
    return far / spread if spread > 0 else (0.0 if far == 0 else float("inf"))


def uncentred_reason(X: np.ndarray, float32_too: bool) -> str | None:
    """Why scikit-learn's rounding, on X as given (not centred), may decide the result, or None.

    ``float32_too``: whether scikit-learn computes in float32 for float32 X (MiniBatchKMeans'
    distances; kmeans_plusplus computes them in float64).
    """
    if float32_too and X.dtype == np.float32:
        return (
            "float32 data: scikit-learn's float32 distances on uncentred X decide near ties, "
            "which gkmeans' arithmetic does not reproduce"
        )
    ratio = offset_ratio(X)
    if ratio > FAR_FROM_ORIGIN:
        return (
            f"data far from the origin (mean's squared norm {ratio:.3g} times the variance): "
            "scikit-learn's distances on uncentred X lose the digits that decide near ties"
        )
    return None


def weighted_tol(
    X: Any, sample_weight: Any, tol: float, tol_abs: float
) -> tuple[float, str | None]:
    """gkmeans' ``tol`` that stops where scikit-learn's absolute tolerance ``tol_abs`` stops.

    scikit-learn scales ``tol`` by the unweighted mean variance of X's columns; gkmeans by the
    weighted one. With equal weights they agree; otherwise ``tol`` is rescaled. Returns
    ``(tol, None)``, or ``(nan, reason)`` when it cannot be matched.
    """
    if tol_abs == 0:
        return 0.0, None
    if np.ptp(sample_weight) == 0:
        return tol, None
    weights = np.asarray(sample_weight, dtype=np.float64)
    total = float(weights.sum())
    mean = weights @ X / total
    spread = 0.0
    for start in range(0, X.shape[0], _BLOCK_ROWS):
        block = np.asarray(X[start : start + _BLOCK_ROWS], dtype=np.float64) - mean
        spread += float(weights[start : start + _BLOCK_ROWS] @ np.einsum("ij,ij->i", block, block))
    variance = spread / (total * X.shape[1])
    if not variance > 0:
        return float("nan"), "the weighted variance of X is zero (tol cannot be matched)"
    return float(tol_abs / variance), None
