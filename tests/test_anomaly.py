"""Anomaly detection: densities against SciPy, F1 threshold, precision and recall on known anomalies."""

from __future__ import annotations

import numpy as np
import pytest

from gkmeans import NotFittedError
from gkmeans.anomaly import (
    GaussianAnomalyDetector,
    KMeansAnomalyDetector,
    select_threshold,
)

stats = pytest.importorskip("scipy.stats")


def _data(seed=0):
    """Correlated normal data; validation and test sets with 5% far-out anomalies."""
    rng = np.random.default_rng(seed)
    cov = np.array([[2.0, 0.8, 0.0], [0.8, 1.0, 0.3], [0.0, 0.3, 0.5]])
    mean = np.array([5.0, -2.0, 1.0])

    def labelled(n):
        normal = rng.multivariate_normal(mean, cov, size=n)
        y = (rng.uniform(size=n) < 0.05).astype(int)
        directions = rng.normal(size=(n, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        anomalies = mean + directions * rng.uniform(6, 9, size=(n, 1))
        return np.where(y[:, None] == 1, anomalies, normal), y

    train = rng.multivariate_normal(mean, cov, size=2000)
    return train, labelled(1000), labelled(1000), mean, cov


TRAIN, (X_VAL, Y_VAL), (X_TEST, Y_TEST), MEAN, COV = _data()


def _precision_recall(predicted, truth):
    tp = np.sum((predicted == 1) & (truth == 1))
    return tp / max(1, np.sum(predicted == 1)), tp / np.sum(truth == 1)


def test_diag_density_equals_scipy(backend):
    detector = GaussianAnomalyDetector(reg_covar=0).fit(backend.asarray(TRAIN))
    mu, var = TRAIN.mean(0), TRAIN.var(0)
    expected = stats.norm.logpdf(X_TEST, loc=mu, scale=np.sqrt(var)).sum(1)
    got = detector.score_samples(backend.asarray(X_TEST))
    assert backend.is_own(got)
    np.testing.assert_allclose(backend.to_numpy(got), expected, rtol=1e-10)
    np.testing.assert_allclose(backend.to_numpy(detector.density(backend.asarray(X_TEST[:5]))), np.exp(expected[:5]),
                               rtol=1e-10)


def test_full_density_equals_scipy(backend):
    detector = GaussianAnomalyDetector("full", reg_covar=0).fit(backend.asarray(TRAIN))
    expected = stats.multivariate_normal(TRAIN.mean(0), np.cov(TRAIN.T, bias=True)).logpdf(X_TEST)
    np.testing.assert_allclose(backend.to_numpy(detector.score_samples(backend.asarray(X_TEST))), expected, rtol=1e-9)


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_threshold_by_f1_finds_the_anomalies(backend, covariance):
    detector = GaussianAnomalyDetector(covariance).fit(backend.asarray(TRAIN))
    detector.fit_threshold(backend.asarray(X_VAL), backend.asarray(Y_VAL))
    assert detector.f1_ > 0.9 and detector.epsilon_ == pytest.approx(np.exp(detector.threshold_))
    predicted = detector.predict(backend.asarray(X_TEST))
    assert backend.is_own(predicted)
    precision, recall = _precision_recall(backend.to_numpy(predicted), Y_TEST)
    assert precision > 0.9 and recall > 0.9, (precision, recall)


def test_select_threshold_matches_the_course_loop():
    p = np.exp(GaussianAnomalyDetector().fit(TRAIN).score_samples(X_VAL))
    epsilon, f1 = select_threshold(Y_VAL, p)
    best = (0.0, 0.0)
    for eps in np.linspace(p.min(), p.max(), 1000):
        pred = p < eps
        tp, fp, fn = np.sum(pred & (Y_VAL == 1)), np.sum(pred & (Y_VAL == 0)), np.sum(~pred & (Y_VAL == 1))
        if tp == 0:
            continue
        prec, rec = tp / (tp + fp), tp / (tp + fn)
        score = 2 * prec * rec / (prec + rec)
        if score > best[1]:
            best = (eps, score)
    assert (epsilon, f1) == pytest.approx(best)


def test_select_threshold_errors():
    with pytest.raises(ValueError, match="no anomaly"):
        select_threshold(np.zeros(5), np.arange(5.0))
    with pytest.raises(ValueError, match="0 \\(normal\\) and 1 \\(anomaly\\) only"):
        select_threshold(np.array([0, 2, 1]), np.arange(3.0))
    with pytest.raises(ValueError, match=r"y_val has shape \(2,\); expected \(3,\)"):
        select_threshold(np.array([0, 1]), np.arange(3.0))
    with pytest.raises(ValueError, match="NaN or infinity"):
        select_threshold(np.array([0, 1]), np.array([np.nan, 1.0]))


def test_kmeans_score_flags_far_points(backend):
    detector = KMeansAnomalyDetector(4, contamination=0.01, random_state=0).fit(backend.asarray(TRAIN))
    predicted = backend.to_numpy(detector.predict(backend.asarray(X_TEST)))
    precision, recall = _precision_recall(predicted, Y_TEST)
    assert recall > 0.9 and precision > 0.6, (precision, recall)
    detector.fit_threshold(backend.asarray(X_VAL), backend.asarray(Y_VAL))
    precision, recall = _precision_recall(backend.to_numpy(detector.predict(backend.asarray(X_TEST))), Y_TEST)
    assert precision > 0.85 and recall > 0.85, (precision, recall)


def test_detector_errors():
    with pytest.raises(NotFittedError):
        GaussianAnomalyDetector().score_samples(TRAIN)
    detector = GaussianAnomalyDetector().fit(TRAIN)
    with pytest.raises(NotFittedError, match="no threshold"):
        detector.predict(TRAIN)
    with pytest.raises(ValueError, match="X has 2 features, but GaussianAnomalyDetector is expecting 3"):
        detector.score_samples(TRAIN[:, :2])
    with pytest.raises(ValueError, match="covariance='tied' is not recognised"):
        GaussianAnomalyDetector("tied").fit(TRAIN)
    with pytest.raises(ValueError, match="singular"):
        GaussianAnomalyDetector("full", reg_covar=0).fit(np.c_[TRAIN[:, :1], TRAIN[:, :1]])
    with pytest.raises(ValueError, match="contamination=0.6 must be < 0.5"):
        KMeansAnomalyDetector(contamination=0.6).fit(TRAIN)
    assert GaussianAnomalyDetector(epsilon=1e-3).fit(TRAIN).predict(MEAN[None, :]).tolist() == [0]
