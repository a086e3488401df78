"""Anomaly detectors: scikit-learn-style parameters and repr, and the output convention."""

from __future__ import annotations

import numpy as np
import pytest

from gkmeans import InvalidParameterError
from gkmeans.anomaly import CONVENTIONS, GaussianAnomalyDetector, KMeansAnomalyDetector

RNG = np.random.default_rng(0)
TRAIN = RNG.normal(size=(400, 2))
X_VAL = np.vstack([RNG.normal(size=(200, 2)), RNG.normal(size=(10, 2)) * 0.5 + 7.0])
Y_COURSE = np.r_[np.zeros(200, int), np.ones(10, int)]
Y_SKLEARN = np.where(Y_COURSE == 1, -1, 1)

DETECTORS = [
    lambda **kw: GaussianAnomalyDetector(**kw),
    lambda **kw: GaussianAnomalyDetector("full", **kw),
    lambda **kw: KMeansAnomalyDetector(3, random_state=0, contamination=0.0, **kw),
]


def test_repr_shows_changed_parameters():
    assert repr(GaussianAnomalyDetector()) == "GaussianAnomalyDetector()"
    assert (
        repr(GaussianAnomalyDetector("full", epsilon=0.01))
        == "GaussianAnomalyDetector(covariance='full', epsilon=0.01)"
    )
    assert repr(KMeansAnomalyDetector()) == "KMeansAnomalyDetector()"
    assert (
        repr(KMeansAnomalyDetector(4, random_state=0, convention="sklearn"))
        == "KMeansAnomalyDetector(convention='sklearn', n_clusters=4, random_state=0)"
    )


def test_get_set_params_and_clone():
    detector = KMeansAnomalyDetector(5, contamination=0.05)
    params = detector.get_params()
    assert (
        params["n_clusters"] == 5
        and params["contamination"] == 0.05
        and params["convention"] == "course"
    )
    assert (
        detector.set_params(convention="sklearn") is detector and detector.convention == "sklearn"
    )
    with pytest.raises(ValueError, match="Invalid parameter 'k'"):
        detector.set_params(k=3)
    base = pytest.importorskip("sklearn.base")
    copy = base.clone(detector)
    assert copy is not detector and copy.get_params() == detector.get_params()


@pytest.mark.parametrize("make", DETECTORS)
def test_sklearn_convention_is_the_course_one_mapped(backend, make):
    course = (
        make()
        .fit(backend.asarray(TRAIN))
        .fit_threshold(backend.asarray(X_VAL), backend.asarray(Y_COURSE))
    )
    sk = make(convention="sklearn").fit(backend.asarray(TRAIN))
    sk.fit_threshold(backend.asarray(X_VAL), backend.asarray(Y_SKLEARN))
    assert sk.threshold_ == course.threshold_ and sk.f1_ == course.f1_
    got_course = course.predict(backend.asarray(X_VAL))
    got_sk = sk.predict(backend.asarray(X_VAL))
    assert backend.is_own(got_sk)
    c, s = backend.to_numpy(got_course), backend.to_numpy(got_sk)
    assert set(np.unique(c)) == {0, 1} and set(np.unique(s)) == {-1, 1}
    np.testing.assert_array_equal(s, np.where(c == 1, -1, 1))
    assert s.dtype == np.int32
    # decision_function: negative exactly where predict says outlier (scikit-learn's meaning)
    decision = backend.to_numpy(sk.decision_function(backend.asarray(X_VAL)))
    np.testing.assert_array_equal(decision < 0, s == -1)


def test_contamination_threshold_in_both_conventions():
    course = KMeansAnomalyDetector(3, random_state=0, contamination=0.05).fit(TRAIN)
    sk = KMeansAnomalyDetector(3, random_state=0, contamination=0.05, convention="sklearn").fit(
        TRAIN
    )
    np.testing.assert_array_equal(sk.predict(TRAIN), np.where(course.predict(TRAIN) == 1, -1, 1))
    assert 0 < np.mean(sk.predict(TRAIN) == -1) <= 0.06


def test_convention_errors():
    with pytest.raises(InvalidParameterError, match="convention='scikit' is not recognised"):
        GaussianAnomalyDetector(convention="scikit").fit(TRAIN)
    with pytest.raises(InvalidParameterError, match="convention='scikit'"):
        KMeansAnomalyDetector(convention="scikit").fit(TRAIN)
    detector = GaussianAnomalyDetector(convention="sklearn").fit(TRAIN)
    with pytest.raises(ValueError, match=r"y_val must hold -1 \(anomaly\) and 1 \(normal\) only"):
        detector.fit_threshold(X_VAL, Y_COURSE)
    assert set(CONVENTIONS) == {"course", "sklearn"}
