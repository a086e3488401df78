"""When ``gkmeans.accel`` runs a call on gkmeans, and why it does not.

A call is accelerated only when gkmeans computes what scikit-learn computes; otherwise the
reason is one of the strings here, logged and counted (:mod:`gkmeans.accel._report`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: scikit-learn versions whose ``KMeans.fit`` the accelerated fit follows (written from 1.9,
#: whose steps are those of 1.6 onwards).
SUPPORTED_SKLEARN = ((1, 6), (1, 10))

MINIBATCH_REASON = (
    "mini-batch steps are random draws that only scikit-learn's code reproduces (gkmeans draws "
    "its batches differently)"
)
KMEANS_PLUSPLUS_REASON = (
    "the seeds are random draws that only scikit-learn's code reproduces (gkmeans draws from "
    "its own generator)"
)
#: Rows per block when computing a weighted variance (bounds the temporary memory).
_BLOCK_ROWS = 65536


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


def kmeans_fit_reason(estimator: Any, X: Any, version: str) -> str | None:
    """Why ``estimator.fit(X)`` runs on scikit-learn, or None when gkmeans runs it."""
    from sklearn import get_config

    reason = sklearn_version_reason(version)
    if reason is not None:
        return reason
    if estimator.verbose:
        return "verbose output is scikit-learn's"
    if get_config().get("array_api_dispatch", False):
        return "array_api_dispatch=True is set (scikit-learn's own array API rules apply)"
    return input_reason(X)


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
