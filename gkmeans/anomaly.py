"""Anomaly detection by density estimation, as in the course material, and a k-means score.

Fit a Gaussian model of *normal* data, score new points by their log-density,
and flag those below a threshold epsilon chosen by F1 on a labelled validation
set. Written once against the Array API; any backend.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gkmeans._compat import array_namespace, to_numpy
from gkmeans._params import ParamsMixin
from gkmeans._sparse import refuse_sparse
from gkmeans._validation import (
    as_array,
    check_array,
    check_choice,
    check_float,
    check_n_features,
)
from gkmeans.estimator import KMeans
from gkmeans.exceptions import NotFittedError, sklearn_compatible

__all__ = [
    "select_threshold",
    "GaussianAnomalyDetector",
    "KMeansAnomalyDetector",
    "CONVENTIONS",
]

#: What ``predict`` returns for an anomaly and for a normal sample, per ``convention=``:
#: the course's 1 / 0, or scikit-learn's outlier detectors' -1 (outlier) / 1 (inlier).
CONVENTIONS = {"course": (1, 0), "sklearn": (-1, 1)}
#: Why the Gaussian detector refuses sparse input.
_GAUSSIAN_DENSE = (
    "its mean, variances and densities are computed on dense rows; use KMeansAnomalyDetector, "
    "which takes sparse rows, or give a dense array"
)


def _labels_host(y: Any, n: int, name: str = "y_val") -> np.ndarray:
    y_host = np.asarray(to_numpy(as_array(y, name)[0]))
    if y_host.ndim != 1 or y_host.shape[0] != n:
        msg = f"{name} has shape {y_host.shape}; expected ({n},), one label per sample"
        raise ValueError(msg)
    if not np.all(np.isin(y_host, (0, 1))):
        msg = (
            f"{name} must hold 0 (normal) and 1 (anomaly) only; got values "
            f"{np.unique(y_host)[:5].tolist()}"
        )
        raise ValueError(msg)
    return y_host.astype(bool)


def select_threshold(y_val: Any, p_val: Any, *, n_steps: int = 1000) -> tuple[float, float]:
    """The threshold epsilon with the best F1 on a labelled validation set (the course's
    ``selectThreshold``).

    Candidates are ``n_steps`` evenly spaced values between the smallest and largest
    score; a sample is flagged as an anomaly when its score is below epsilon.

    Parameters
    ----------
    y_val : array of shape (m,)
        1 for an anomaly, 0 for a normal example.
    p_val : array of shape (m,)
        Scores: densities p(x), or log-densities (any increasing function of p works).

    Returns
    -------
    epsilon : float
    f1 : float

    Examples
    --------
    >>> import numpy as np
    >>> from gkmeans.anomaly import select_threshold
    >>> eps, f1 = select_threshold(np.array([0, 0, 0, 1, 1]), np.array([0.9, 0.8, 0.7, 0.01, 0.02]))
    >>> f1
    1.0
    """
    p = np.asarray(to_numpy(as_array(p_val, "p_val")[0]), dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p_val has shape {p.shape}; expected one score per sample")
    if not np.all(np.isfinite(p)):
        raise ValueError(
            "p_val contains NaN or infinity; use log-densities for very small densities"
        )
    y = _labels_host(y_val, p.shape[0])
    if not y.any():
        raise ValueError("y_val has no anomaly (no 1): F1 is undefined")
    best_epsilon, best_f1 = float(p.min()), 0.0
    for epsilon in np.linspace(p.min(), p.max(), n_steps):
        flagged = p < epsilon
        true_positives = np.count_nonzero(flagged & y)
        if true_positives == 0:
            continue
        precision = true_positives / np.count_nonzero(flagged)
        recall = true_positives / np.count_nonzero(y)
        f1 = 2 * precision * recall / (precision + recall)
        if f1 > best_f1:
            best_epsilon, best_f1 = float(epsilon), float(f1)
    return best_epsilon, best_f1


class _ThresholdedDetector(ParamsMixin):
    """Shared thresholding: ``score_samples`` (higher = more normal) below ``threshold_`` is an
    anomaly; parameters, repr and the ``convention`` of the labels in and out."""

    # ----------------------------------------------------------- thresholds
    def _check_fitted(self) -> None:
        if not hasattr(self, "n_features_in_"):
            msg = f"This {type(self).__name__} instance is not fitted yet. Call 'fit' first."
            raise sklearn_compatible(NotFittedError)(msg)

    def _codes(self) -> tuple[int, int]:
        """(anomaly, normal) in this detector's ``convention``."""
        return CONVENTIONS[check_choice(self.convention, "convention", tuple(CONVENTIONS))]

    def fit_threshold(self, X_val: Any, y_val: Any) -> _ThresholdedDetector:
        """Choose ``threshold_`` by F1 on labelled validation data.

        ``y_val`` uses the detector's ``convention``: 1 = anomaly, 0 = normal ("course"),
        or -1 = outlier, 1 = inlier ("sklearn").
        """
        anomaly, normal = self._codes()
        scores = self.score_samples(X_val)
        y_host = np.asarray(to_numpy(as_array(y_val, "y_val")[0]))
        if not np.all(np.isin(y_host, (anomaly, normal))):
            msg = (
                f"y_val must hold {anomaly} (anomaly) and {normal} (normal) only, as "
                f"convention={self.convention!r} says; got values {np.unique(y_host)[:5].tolist()}"
            )
            raise ValueError(msg)
        self.threshold_, self.f1_ = select_threshold((y_host == anomaly).astype(int), scores)
        return self

    def decision_function(self, X: Any) -> Any:
        """``score_samples(X) - threshold_``: negative for an anomaly (scikit-learn's meaning)."""
        self._check_threshold()
        return self.score_samples(X) - self.threshold_

    def _check_threshold(self) -> None:
        self._check_fitted()
        if getattr(self, "threshold_", None) is None:
            msg = (
                f"{type(self).__name__} has no threshold: call fit_threshold(X_val, y_val) or set "
                "one in fit"
            )
            raise sklearn_compatible(NotFittedError)(msg)

    def predict(self, X: Any) -> Any:
        """Anomaly or normal for every sample (score below ``threshold_`` is an anomaly).

        ``convention="course"``: 1 for an anomaly, 0 for a normal sample;
        ``"sklearn"``: -1 for an outlier, 1 for an inlier. int32, in X's namespace.
        """
        anomaly, normal = self._codes()
        self._check_threshold()
        scores = self.score_samples(X)
        xp = array_namespace(scores)
        flagged = scores < self.threshold_
        if (anomaly, normal) == (1, 0):
            return xp.astype(flagged, xp.int32)
        return xp.where(
            flagged,
            xp.asarray(anomaly, dtype=xp.int32, device=scores.device),
            xp.asarray(normal, dtype=xp.int32, device=scores.device),
        )


class GaussianAnomalyDetector(_ThresholdedDetector):
    """Gaussian density model of normal data: per-feature (the course's model) or full covariance.

    Parameters
    ----------
    covariance : {"diag", "full"}, default "diag"
        "diag": independent Gaussians per feature (``mu_j``, ``sigma2_j``);
        "full": one multivariate Gaussian with a full covariance matrix.
    reg_covar : float, default 1e-9
        Added to the variances (the covariance diagonal) to keep them positive.
    epsilon : float, optional
        A density threshold to use without validation data (``threshold_ = log(epsilon)``).
    convention : {"course", "sklearn"}, default "course"
        Labels of :meth:`predict` and of ``y_val`` in :meth:`fit_threshold`: 1 = anomaly,
        0 = normal (the course's), or -1 = outlier, 1 = inlier (scikit-learn's outlier
        detectors). A parameter rather than a ``predict`` option because scikit-learn's
        tools (``clone``, pipelines, scorers) call ``predict(X)`` alone.

    Attributes
    ----------
    mu_ : array of shape (n_features,)
    sigma2_ : array of shape (n_features,)  (``"diag"``)
    covariance_ : array of shape (n_features, n_features)  (``"full"``)
    threshold_ : float or None
        Log-density threshold: below it a sample is an anomaly.
    epsilon_ : float or None
        The same threshold as a density, ``exp(threshold_)``.

    Examples
    --------
    >>> import numpy as np
    >>> from gkmeans.anomaly import GaussianAnomalyDetector
    >>> rng = np.random.default_rng(0)
    >>> normal = rng.normal(size=(500, 2))
    >>> detector = GaussianAnomalyDetector(epsilon=1e-4).fit(normal)
    >>> detector.predict(np.array([[0.0, 0.0], [6.0, -6.0]])).tolist()
    [0, 1]
    """

    def __init__(
        self,
        covariance: str = "diag",
        *,
        reg_covar: float = 1e-9,
        epsilon: float | None = None,
        convention: str = "course",
    ) -> None:
        self.covariance = covariance
        self.reg_covar = reg_covar
        self.epsilon = epsilon
        self.convention = convention

    @property
    def epsilon_(self) -> float | None:
        threshold = getattr(self, "threshold_", None)
        return None if threshold is None else math.exp(threshold)

    def fit(self, X: Any, y: Any = None) -> GaussianAnomalyDetector:
        """Estimate the mean and (co)variance of normal data X (maximum likelihood, 1/m)."""
        check_choice(self.covariance, "covariance", ("diag", "full"))
        self._codes()
        reg = check_float(self.reg_covar, "reg_covar", 0.0)
        refuse_sparse(X, "GaussianAnomalyDetector.fit", _GAUSSIAN_DENSE)
        X, xp = check_array(X)
        if X.shape[0] < 2:
            raise ValueError(
                f"n_samples={X.shape[0]} is too few to estimate a variance; need at least 2"
            )
        self.mu_ = xp.mean(X, axis=0)
        centred = X - self.mu_
        if self.covariance == "diag":
            self.sigma2_ = xp.mean(centred * centred, axis=0) + reg
        else:
            cov = (xp.permute_dims(centred, (1, 0)) @ centred) / X.shape[0]
            self.covariance_ = cov + reg * xp.eye(X.shape[1], dtype=X.dtype, device=X.device)
            sign, logdet = xp.linalg.slogdet(self.covariance_)
            if float(sign) <= 0:
                raise ValueError(
                    "the covariance matrix is singular; increase reg_covar or use covariance='diag'"
                )
            self._precision = xp.linalg.inv(self.covariance_)
            self._log_det = float(logdet)
        self.n_features_in_ = int(X.shape[1])
        if self.epsilon is not None:
            self.threshold_ = math.log(
                check_float(self.epsilon, "epsilon", 0.0) or np.finfo(float).tiny
            )
        else:
            self.threshold_ = None
        return self

    def score_samples(self, X: Any) -> Any:
        """Log-density log p(x) of every sample under the fitted Gaussian (X's namespace)."""
        self._check_fitted()
        refuse_sparse(X, "GaussianAnomalyDetector.score_samples", _GAUSSIAN_DENSE)
        X, xp = check_array(X)
        check_n_features(X, self.n_features_in_, type(self).__name__)
        centred = X - xp.asarray(self.mu_, device=X.device)
        d = X.shape[1]
        if self.covariance == "diag":
            sigma2 = xp.asarray(self.sigma2_, device=X.device)
            log_norm = -0.5 * (d * math.log(2 * math.pi) + float(xp.sum(xp.log(sigma2))))
            return log_norm - 0.5 * xp.sum(centred * centred / sigma2, axis=1)
        precision = xp.asarray(self._precision, device=X.device)
        mahalanobis = xp.sum((centred @ precision) * centred, axis=1)
        return -0.5 * (d * math.log(2 * math.pi) + self._log_det) - 0.5 * mahalanobis

    def density(self, X: Any) -> Any:
        """The density p(x) itself (may underflow to 0 in many dimensions: prefer score_samples)."""
        scores = self.score_samples(X)
        return array_namespace(scores).exp(scores)


class KMeansAnomalyDetector(_ThresholdedDetector):
    """Anomaly score from k-means: the distance to the nearest cluster centre of normal data.

    ``score_samples`` is minus that distance (higher = more normal, as scikit-learn's
    convention). The threshold comes from a quantile of the training scores
    (``contamination``: the share of training data expected to be anomalous) or from
    labelled validation data (:meth:`fit_threshold`, by F1).

    Parameters
    ----------
    n_clusters : int, default 8
    contamination : float, default 0.01
        Share of the training data below the threshold; 0 leaves the threshold
        unset until :meth:`fit_threshold`.
    random_state, device, n_init
        As for :class:`gkmeans.KMeans`.
    convention : {"course", "sklearn"}, default "course"
        As for :class:`GaussianAnomalyDetector`: 1 / 0 or scikit-learn's -1 / 1.

    Examples
    --------
    >>> import numpy as np
    >>> from gkmeans.anomaly import KMeansAnomalyDetector
    >>> normal = np.random.default_rng(0).normal(size=(500, 2))
    >>> KMeansAnomalyDetector(3, random_state=0).fit(normal).predict(
    ...     np.array([[0.0, 0.0], [8.0, 8.0]])
    ... ).tolist()
    [0, 1]
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        contamination: float = 0.01,
        random_state: Any = None,
        device: str | None = None,
        n_init: int | str = "auto",
        convention: str = "course",
    ) -> None:
        self.n_clusters = n_clusters
        self.contamination = contamination
        self.random_state = random_state
        self.device = device
        self.n_init = n_init
        self.convention = convention

    def fit(self, X: Any, y: Any = None) -> KMeansAnomalyDetector:
        """Cluster normal data X, then set the threshold at the ``contamination`` quantile."""
        contamination = check_float(self.contamination, "contamination", 0.0)
        self._codes()
        if contamination >= 0.5:
            raise ValueError(f"contamination={contamination} must be < 0.5")
        self.kmeans_ = KMeans(
            self.n_clusters, random_state=self.random_state, device=self.device, n_init=self.n_init
        ).fit(X)
        self.n_features_in_ = self.kmeans_.n_features_in_
        if contamination > 0:
            scores = np.asarray(to_numpy(self.score_samples(X)), dtype=np.float64)
            self.threshold_ = float(np.quantile(scores, contamination))
        else:
            self.threshold_ = None
        return self

    def score_samples(self, X: Any) -> Any:
        """Minus the Euclidean distance to the nearest centre (X's namespace)."""
        self._check_fitted()
        distances = self.kmeans_.transform(X)
        return -array_namespace(distances).min(distances, axis=1)
