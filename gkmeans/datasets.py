"""Built-in data: Gaussian blobs generated on the host, for demos, tests and benchmarks."""

from __future__ import annotations

from typing import Any

import numpy as np

from gkmeans._random import make_rng
from gkmeans._validation import check_bool, check_float, check_int


def make_blobs(
    n_samples: int = 1000,
    n_features: int = 2,
    centers: int = 3,
    *,
    cluster_std: float = 1.0,
    center_box: tuple[float, float] = (-10.0, 10.0),
    dtype: Any = np.float64,
    random_state: Any = None,
    return_centers: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray]:
    """Isotropic Gaussian blobs.

    Returns the blob centres too by default, unlike scikit-learn's ``make_blobs``
    (``return_centers=False`` there): checking a fit against the centres that made the
    data is what the demo, the tests and the benchmarks do, and the centres cannot be
    recovered afterwards. ``return_centers=False`` returns scikit-learn's ``(X, y)``.

    Parameters
    ----------
    n_samples : int
        Number of points, spread evenly over the blobs.
    n_features : int
        Dimension.
    centers : int
        Number of blobs.
    cluster_std : float
        Standard deviation of every blob.
    center_box : (float, float)
        Blob centres are drawn uniformly inside this box.
    dtype : numpy dtype
    random_state : None, int or numpy.random.Generator
    return_centers : bool, default True
        Also return the centres (False: ``(X, labels)``, as scikit-learn by default).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    labels : int64 ndarray of shape (n_samples,)
        Blob of every point.
    true_centers : ndarray of shape (centers, n_features)
        Only with ``return_centers=True``.

    Examples
    --------
    >>> from gkmeans.datasets import make_blobs
    >>> X, y, c = make_blobs(100, 3, 4, random_state=0)
    >>> X.shape, c.shape
    ((100, 3), (4, 3))
    >>> X, y = make_blobs(100, 3, 4, random_state=0, return_centers=False)
    """
    n_samples = check_int(n_samples, "n_samples", 1)
    n_features = check_int(n_features, "n_features", 1)
    centers = check_int(centers, "centers", 1)
    cluster_std = check_float(cluster_std, "cluster_std", 0.0)
    return_centers = check_bool(return_centers, "return_centers")
    rng = make_rng(random_state)
    low, high = center_box
    true_centers = rng.uniform(low, high, size=(centers, n_features))
    labels = np.arange(n_samples) % centers
    rng.shuffle(labels)
    X = true_centers[labels] + rng.normal(scale=cluster_std, size=(n_samples, n_features))
    X, labels = X.astype(dtype, copy=False), labels.astype(np.int64)
    if not return_centers:
        return X, labels
    return X, labels, true_centers.astype(dtype, copy=False)
