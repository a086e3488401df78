"""MiniBatchKMeans: recovery, backends, partial_fit, weights, scikit-learn compatibility."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gkmeans import KMeans, MiniBatchKMeans
from gkmeans.datasets import make_blobs

X, Y, _ = make_blobs(20_000, 5, 6, cluster_std=0.5, random_state=0)


def test_recovers_separated_blobs_close_to_full_kmeans(backend):
    model = MiniBatchKMeans(6, batch_size=512, n_init=3, random_state=0).fit(backend.asarray(X))
    assert backend.is_own(model.cluster_centers_) and backend.is_own(model.labels_)
    labels = backend.to_numpy(model.labels_)
    assert len(set(zip(Y.tolist(), labels.tolist()))) == 6
    full = KMeans(6, n_init=3, random_state=0).fit(X).inertia_
    assert model.inertia_ <= 1.02 * full
    assert model.n_steps_ >= 1 and model.n_iter_ >= 1


def test_partial_fit_streams_batches(backend):
    model = MiniBatchKMeans(6, random_state=0, n_init=3)
    for start in range(0, len(X), 2000):
        model.partial_fit(backend.asarray(X[start:start + 2000]))
    assert model.n_steps_ == 10
    labels = backend.to_numpy(model.predict(backend.asarray(X)))
    assert len(set(zip(Y.tolist(), labels.tolist()))) == 6
    with pytest.raises(ValueError, match="X has 4 features, but MiniBatchKMeans is expecting 5"):
        model.partial_fit(backend.asarray(X[:100, :4]))


def test_zero_weight_points_are_never_drawn():
    far = np.full((500, 5), 1e3)
    data = np.vstack([X, far])
    w = np.r_[np.ones(len(X)), np.zeros(500)]
    model = MiniBatchKMeans(6, batch_size=256, random_state=0, n_init=3).fit(data, sample_weight=w)
    assert np.all(np.abs(model.cluster_centers_) < 100)


def test_small_clusters_are_reassigned():
    # A start with one centre far from everything: it absorbs nothing and gets reassigned.
    init = np.vstack([X[:5], np.full((1, 5), 500.0)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MiniBatchKMeans(6, init=init, batch_size=256, random_state=0, reassignment_ratio=0.05).fit(X)
    assert np.all(np.abs(model.cluster_centers_) < 100)


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="batch_size=0 must be an int >= 1"):
        MiniBatchKMeans(3, batch_size=0).fit(X)
    with pytest.raises(ValueError, match="reassignment_ratio=-1.0 must be >= 0"):
        MiniBatchKMeans(3, reassignment_ratio=-1.0).fit(X)
    with pytest.raises(ValueError, match="n_samples=20000 should be >= n_clusters=30000"):
        MiniBatchKMeans(30000).fit(X)


def test_compute_labels_false_estimates_inertia():
    model = MiniBatchKMeans(6, compute_labels=False, random_state=0, n_init=3).fit(X)
    assert not hasattr(model, "labels_") and model.inertia_ > 0


@pytest.mark.slow
def test_check_estimator():
    pytest.importorskip("sklearn")
    from sklearn.utils.estimator_checks import check_estimator

    expected = {name: "random init draws differ between weighted and repeated data" for name in
                ("check_sample_weight_equivalence_on_dense_data", "check_sample_weight_equivalence_on_sparse_data")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(MiniBatchKMeans(), on_fail=None, expected_failed_checks=expected)
    assert not [r["check_name"] for r in results if r["status"] == "failed"]


def test_batch_draws_are_generator_choice_without_its_per_call_cost():
    """The mini-batch draw replays ``Generator.choice(n, size, replace=True, p=p)`` exactly (the
    same stream, the same rows) from a distribution built once."""
    from gkmeans._random import choice_cdf, draw_with_replacement

    weights = np.random.default_rng(1).uniform(0, 3, size=10_001)
    weights[::7] = 0  # zero-weight rows are never drawn
    p = weights / weights.sum()
    cdf = choice_cdf(p)
    ours, reference = np.random.default_rng(5), np.random.default_rng(5)
    for size in (1, 64, 1024):
        drawn = draw_with_replacement(ours, cdf, size)
        np.testing.assert_array_equal(drawn, reference.choice(weights.shape[0], size, replace=True, p=p))
        assert drawn.dtype == np.int64 and not np.any(weights[drawn] == 0)
