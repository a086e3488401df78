"""scikit-learn compatibility: check_estimator, clone, pickle, params, repr."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

from gkmeans import KMeans
from gkmeans.datasets import make_blobs

pytest.importorskip("sklearn")

# scikit-learn marks this check as an expected failure for its own KMeans: with a
# random initialisation, weights and repeated rows draw different starting points.
# tests/test_properties.py shows the equivalence from a common start.
EXPECTED_FAILED = {
    "check_sample_weight_equivalence_on_dense_data": "random init draws differ between weighted and repeated data",
    "check_sample_weight_equivalence_on_sparse_data": "random init draws differ between weighted and repeated data",
}


@pytest.mark.slow
def test_check_estimator():
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(KMeans(), on_fail=None, expected_failed_checks=EXPECTED_FAILED)
    failed = [(r["check_name"], repr(r["exception"])) for r in results if r["status"] == "failed"]
    assert not failed
    assert sum(r["status"] == "passed" for r in results) > 40


def test_clone_get_set_params():
    from sklearn.base import clone

    km = KMeans(4, init="random", device="cpu", empty_cluster="drop")
    params = km.get_params()
    assert params["n_clusters"] == 4 and params["empty_cluster"] == "drop" and params["device"] == "cpu"
    twin = clone(km)
    assert twin.get_params() == params and twin is not km
    assert km.set_params(n_clusters=5) is km and km.n_clusters == 5
    with pytest.raises(ValueError, match="Invalid parameter 'k' for estimator KMeans"):
        km.set_params(k=3)


def test_repr_shows_changed_parameters():
    assert repr(KMeans()) == "KMeans()"
    assert repr(KMeans(3, random_state=0)) == "KMeans(n_clusters=3, random_state=0)"


def test_pickle_round_trip():
    X, _, _ = make_blobs(200, 2, 3, random_state=0)
    km = KMeans(3, random_state=0).fit(X)
    back = pickle.loads(pickle.dumps(km))
    np.testing.assert_array_equal(back.predict(X), km.predict(X))


def test_works_in_a_pipeline_and_grid_search():
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, _, _ = make_blobs(200, 2, 3, random_state=0)
    pipe = make_pipeline(StandardScaler(), KMeans(3, random_state=0)).fit(X)
    assert pipe.predict(X).shape == (200,)
    search = GridSearchCV(KMeans(random_state=0), {"n_clusters": [2, 3, 4]}, cv=3).fit(X)
    assert search.best_params_["n_clusters"] == 4  # -inertia keeps improving with k


def test_feature_names_are_recorded_and_checked():
    pd = pytest.importorskip("pandas")
    X, _, _ = make_blobs(60, 2, 3, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b"])
    km = KMeans(3, random_state=0).fit(frame)
    assert km.feature_names_in_.tolist() == ["a", "b"]
    with pytest.raises(ValueError, match="feature names should match"):
        km.predict(pd.DataFrame(X, columns=["b", "a"]))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        km.predict(X)
    assert km.get_feature_names_out().tolist() == ["kmeans0", "kmeans1", "kmeans2"]
