"""k-means|| initialisation: quality against k-means++, weighted reduction, weights, edge cases."""

from __future__ import annotations

import numpy as np
import pytest

import gkmeans
from gkmeans.algorithms import kmeans_parallel as parallel_init
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


@pytest.mark.parametrize("seed", range(6))
def test_more_clusters_than_points_of_positive_weight(backend, seed):
    """k above the points of positive weight: k-means|| tops its candidates up with points of zero
    weight, as k-means++ ends up doing (it used to divide by a zero total weight), and the fit
    warns of fewer distinct clusters like k-means++'s."""
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(10, 2))
    weights = np.array([1.0, 1.0, 0.0, 1.0, 2.0, 2.0, 0.0, 1.0, 2.0, 0.0])
    for init in ("k-means||", "k-means++"):
        with pytest.warns(gkmeans.ConvergenceWarning, match=r"distinct clusters \(7\) .* n_clusters \(9\)"):
            km = gkmeans.KMeans(9, init=init, n_init=1, random_state=seed).fit(backend.asarray(points),
                                                                              sample_weight=backend.asarray(weights))
        assert tuple(km.cluster_centers_.shape) == (9, 2)


@pytest.mark.filterwarnings("ignore::gkmeans.ConvergenceWarning")  # 2 distinct points, 10 clusters
@pytest.mark.parametrize("seed", range(8))
def test_duplicated_rows_with_zero_weights_and_as_many_clusters_as_rows(seed):
    """Two distinct points, each five times, some of zero weight, k = n: the candidates are fewer
    distinct points than clusters, and the reduction's relocation has fewer points than empty
    clusters (it used to fail on mismatched shapes)."""
    rng = np.random.default_rng(seed)
    points = np.repeat(rng.normal(size=(2, 7)), 5, axis=0)
    weights = np.array([1.0, 2.0, 0.0, 2.0, 2.0, 2.0, 0.0, 0.0, 1.0, 2.0])
    for empty_cluster in ("drop", "relocate", "random"):
        km = gkmeans.KMeans(10, init="k-means||", n_init=2, empty_cluster=empty_cluster,
                            random_state=seed).fit(points, sample_weight=weights)
        assert km.inertia_ == pytest.approx(0.0, abs=1e-20)
        assert np.isfinite(km.cluster_centers_).all()


def test_relocation_with_fewer_points_than_empty_clusters_keeps_the_rest():
    from gkmeans._compat import array_namespace
    from gkmeans.algorithms.empty_clusters import relocated_means

    xp = array_namespace(np.empty(0))
    centers = np.array([[0.0], [1.0], [5.0], [3.0]])
    sums = np.array([[4.0], [0.0], [0.0], [0.0]])  # cluster 0 holds two points at 2; 1, 2, 3 are empty
    weight_sums = np.array([2.0, 0.0, 0.0, 0.0])
    moved = np.array([[2.0]])  # one point to move, three empty clusters
    out = relocated_means(centers, sums, weight_sums, moved, np.array([1.0]), np.array([0]), xp)
    np.testing.assert_array_equal(out, [[2.0], [2.0], [5.0], [3.0]])  # 1 takes it; 2 and 3 stay put
