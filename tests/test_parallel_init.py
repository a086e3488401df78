"""k-means|| initialisation: quality against k-means++, weighted reduction, weights, edge cases."""

from __future__ import annotations

import numpy as np
import pytest

import gkmeans
from gkmeans import parallel_init
from gkmeans.datasets import make_blobs

X, _, _ = make_blobs(6000, 6, 25, cluster_std=1.5, random_state=0)


def test_public_function_on_every_backend(backend):
    centers = gkmeans.kmeans_parallel(backend.asarray(X), 25, random_state=0)
    assert backend.is_own(centers) and tuple(centers.shape) == (25, 6)
    c = backend.to_numpy(centers)
    assert np.unique(c, axis=0).shape[0] == 25
    assert np.all(c >= X.min(0)) and np.all(c <= X.max(0))


def test_converged_quality_matches_kmeans_plusplus():
    def mean_inertia(init):
        return np.mean([gkmeans.KMeans(25, init=init, n_init=1, random_state=s).fit(X).inertia_ for s in range(6)])

    parallel, plusplus, random = mean_inertia("k-means||"), mean_inertia("k-means++"), mean_inertia("random")
    assert parallel <= 1.05 * plusplus
    assert parallel < 0.9 * random


def test_candidates_are_reduced_with_their_weights(monkeypatch):
    seen = []
    original = parallel_init.kmeans_plusplus

    def spy(data, n_clusters, rng, n_local_trials=None):
        seen.append((data.X.shape[0], float(data.weights_host.sum())))
        return original(data, n_clusters, rng, n_local_trials)

    monkeypatch.setattr(parallel_init, "kmeans_plusplus", spy)
    w = np.random.default_rng(1).uniform(0.5, 3.0, size=len(X))
    gkmeans.kmeans_parallel(X, 25, sample_weight=w, random_state=0)
    (n_candidates, total), = seen
    assert 25 <= n_candidates < len(X)
    assert total == pytest.approx(w.sum(), rel=1e-6)  # every point's weight lands on a candidate


def test_zero_weight_points_do_not_attract_centres():
    far = np.full((200, 6), 1e3)
    data = np.vstack([X, far])
    w = np.r_[np.ones(len(X)), np.zeros(200)]
    for seed in range(3):
        c = gkmeans.kmeans_parallel(data, 10, sample_weight=w, random_state=seed)
        assert np.all(np.abs(c) < 100)


def test_few_distinct_points_are_topped_up():
    tiny = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0], [5.0, 5.0]])
    c = gkmeans.kmeans_parallel(tiny, 4, random_state=0)
    assert c.shape == (4, 2) and np.all(np.isfinite(c))


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="oversampling_factor=0.0 must be > 0"):
        gkmeans.kmeans_parallel(X, 3, oversampling_factor=0.0)
    with pytest.raises(ValueError, match="n_rounds=0 must be an int >= 1"):
        gkmeans.kmeans_parallel(X, 3, n_rounds=0)
    with pytest.raises(ValueError, match="n_samples=6000 should be >= n_clusters=6001"):
        gkmeans.kmeans_parallel(X, 6001)
