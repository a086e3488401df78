"""Functional API: kmeans_plusplus and the textbook functions, on every backend."""

from __future__ import annotations

import numpy as np
import pytest

import gkmeans
from gkmeans import EmptyClusterError
from gkmeans.datasets import make_blobs

X, _, _ = make_blobs(300, 2, 3, cluster_std=0.5, random_state=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kmeans_plusplus_returns_data_rows_and_indices(backend, dtype):
    Xd = X.astype(dtype)
    centers, indices = gkmeans.kmeans_plusplus(backend.asarray(Xd), 4, random_state=0)
    assert backend.is_own(centers) and backend.is_own(indices)
    c, i = backend.to_numpy(centers), backend.to_numpy(indices)
    assert c.dtype == dtype and c.shape == (4, 2)
    np.testing.assert_array_equal(Xd[i], c)
    assert len(set(i.tolist())) == 4


def test_kmeans_plusplus_with_given_norms_picks_the_same(backend):
    Xb = backend.asarray(X)
    _, a = gkmeans.kmeans_plusplus(Xb, 4, random_state=1)
    _, b = gkmeans.kmeans_plusplus(Xb, 4, random_state=1, x_squared_norms=backend.asarray((X**2).sum(1)))
    np.testing.assert_array_equal(backend.to_numpy(a), backend.to_numpy(b))


def test_kmeans_plusplus_errors():
    with pytest.raises(ValueError, match="The length of x_squared_norms 2 should be equal to the length of n_samples 300"):
        gkmeans.kmeans_plusplus(X, 3, x_squared_norms=np.ones(2))
    with pytest.raises(ValueError, match="n_local_trials is set to 0 but should be an integer value greater than zero"):
        gkmeans.kmeans_plusplus(X, 3, n_local_trials=0)
    with pytest.raises(ValueError, match="n_samples=300 should be >= n_clusters=301"):
        gkmeans.kmeans_plusplus(X, 301)


def test_find_closest_centroids(backend):
    centroids = np.array([[3.0, 3.0], [6.0, 2.0], [8.0, 5.0]])
    points = np.array([[1.8, 4.6], [5.7, 4.4], [6.4, 3.4], [8.0, 5.3]])
    idx = gkmeans.find_closest_centroids(backend.asarray(points), backend.asarray(centroids))
    assert backend.is_own(idx)
    brute = ((points[:, None] - centroids[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(backend.to_numpy(idx), brute)


def test_compute_centroids(backend):
    idx = np.array([0, 1, 1, 2, 0])
    points = np.arange(10.0).reshape(5, 2)
    got = backend.to_numpy(gkmeans.compute_centroids(backend.asarray(points), backend.asarray(idx), 3))
    np.testing.assert_allclose(got, [points[[0, 4]].mean(0), points[[1, 2]].mean(0), points[3]])


def test_compute_centroids_errors(backend):
    points = backend.asarray(np.arange(10.0).reshape(5, 2))
    with pytest.raises(EmptyClusterError, match=r"centroid\(s\) \[2\] have no example assigned"):
        gkmeans.compute_centroids(points, backend.asarray(np.array([0, 1, 1, 0, 0])), 3)
    with pytest.raises(ValueError, match=r"idx has values in \[0, 5\]; expected cluster indices in \[0, 2\]"):
        gkmeans.compute_centroids(points, backend.asarray(np.array([0, 1, 5, 0, 0])), 3)
    with pytest.raises(ValueError, match=r"idx has shape \(4,\); expected \(5,\)"):
        gkmeans.compute_centroids(points, backend.asarray(np.array([0, 1, 1, 0])), 3)
    with pytest.raises(TypeError, match="expected integer cluster indices"):
        gkmeans.compute_centroids(points, backend.asarray(np.zeros(5)), 3)


def test_kmeans_init_centroids_are_distinct_examples(backend):
    init = backend.to_numpy(gkmeans.kmeans_init_centroids(backend.asarray(X), 5, random_state=0))
    assert init.shape == (5, 2)
    assert all(np.any(np.all(X == row, axis=1)) for row in init)
    assert np.unique(init, axis=0).shape[0] == 5
    again = backend.to_numpy(gkmeans.kmeans_init_centroids(backend.asarray(X), 5, random_state=0))
    np.testing.assert_array_equal(init, again)


def test_run_kmeans_follows_the_course_loop(backend):
    init = X[:3]
    centroids, idx = gkmeans.run_kmeans(backend.asarray(X), backend.asarray(init), max_iters=10)
    c, labels = init.copy(), None
    for _ in range(10):
        labels = ((X[:, None] - c[None]) ** 2).sum(-1).argmin(1)
        c = np.array([X[labels == j].mean(0) if np.any(labels == j) else c[j] for j in range(3)])
    np.testing.assert_array_equal(backend.to_numpy(idx), labels)
    np.testing.assert_allclose(backend.to_numpy(centroids), c, rtol=1e-12)


def test_cost_is_inertia_over_m(backend):
    km = gkmeans.KMeans(3, random_state=0).fit(X)
    J = gkmeans.cost(backend.asarray(X), backend.asarray(km.labels_), backend.asarray(km.cluster_centers_))
    np.testing.assert_allclose(J, km.inertia_ / X.shape[0], rtol=1e-12)
    with pytest.raises(ValueError, match="centroids have 3 features but X has 2"):
        gkmeans.cost(X, km.labels_, np.ones((3, 3)))
