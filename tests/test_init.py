"""Every initialisation method, on every backend."""

from __future__ import annotations

import numpy as np
import pytest

import gkmeans
from gkmeans.algorithms.init_methods import INIT_METHODS
from gkmeans.datasets import make_blobs

METHODS = sorted(INIT_METHODS)


def _init(X, k, method, backend, seed=0, sample_weight=None):
    km = gkmeans.KMeans(k)
    w = None if sample_weight is None else backend.asarray(sample_weight)
    return km._init_centroids(backend.asarray(X), None, method, seed, w)


def _row_index(c, X):
    """Index of the data row equal to ``c`` up to the rounding of centring, or -1."""
    hits = np.flatnonzero(np.all(np.isclose(X, c, rtol=1e-12, atol=1e-12), axis=1))
    return int(hits[0]) if hits.size else -1


def _is_data_row(centers, X):
    return [_row_index(c, X) >= 0 for c in centers]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_init_shape_dtype_namespace(backend, method, dtype):
    X, _, _ = make_blobs(200, 3, 4, random_state=0, dtype=dtype)
    centers = _init(X, 5, method, backend)
    assert backend.is_own(centers)
    c = backend.to_numpy(centers)
    assert c.shape == (5, 3) and c.dtype == dtype
    assert np.all(np.isfinite(c))


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_start_on_every_backend(backend, method):
    X, _, _ = make_blobs(300, 4, 5, random_state=1)
    ref = np.asarray(gkmeans.KMeans(6)._init_centroids(X, None, method, 42, None))
    got = backend.to_numpy(_init(X, 6, method, backend, seed=42))
    np.testing.assert_allclose(got, ref, rtol=1e-12)


@pytest.mark.parametrize("method", ["random", "k-means++", "farthest-first"])
def test_point_methods_pick_distinct_data_points(backend, method):
    X, _, _ = make_blobs(150, 2, 3, random_state=2)
    c = backend.to_numpy(_init(X, 8, method, backend))
    assert all(_is_data_row(c, X))
    assert np.unique(c, axis=0).shape[0] == 8


def test_random_box_stays_in_the_box_and_need_not_be_data(backend):
    X, _, _ = make_blobs(150, 3, 3, random_state=3)
    c = backend.to_numpy(_init(X, 20, "random-box", backend))
    assert np.all(c >= X.min(axis=0)) and np.all(c <= X.max(axis=0))
    assert not any(_is_data_row(c, X))


def test_farthest_first_takes_the_farthest_point(backend):
    X = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0], [4.0, 0.0], [2.0, 0.0]])
    c = backend.to_numpy(_init(X, 3, "farthest-first", backend, seed=0))
    first = c[0]
    second = X[np.argmax(((X - first) ** 2).sum(1))]
    np.testing.assert_array_equal(c[1], second)
    remaining = np.minimum(((X - first) ** 2).sum(1), ((X - second) ** 2).sum(1))
    np.testing.assert_array_equal(c[2], X[np.argmax(remaining)])


@pytest.mark.parametrize("method", ["random", "k-means++", "farthest-first"])
def test_zero_weight_points_are_never_chosen(backend, method):
    X, _, _ = make_blobs(100, 2, 4, random_state=4)
    w = np.ones(100)
    w[::2] = 0
    for seed in range(5):
        c = backend.to_numpy(_init(X, 10, method, backend, seed=seed, sample_weight=w))
        chosen = [_row_index(row, X) for row in c]
        assert all(i % 2 == 1 for i in chosen)


@pytest.mark.parametrize("k", [2, 8, 30])
def test_kmeans_plusplus_default_local_trials_is_two_plus_log_k(backend, k):
    import math

    X, _, _ = make_blobs(300, 3, 10, random_state=0)
    Xb = backend.asarray(X)
    default = backend.to_numpy(gkmeans.kmeans_plusplus(Xb, k, random_state=3)[1])
    explicit = backend.to_numpy(gkmeans.kmeans_plusplus(Xb, k, random_state=3, n_local_trials=2 + int(math.log(k)))[1])
    other = backend.to_numpy(gkmeans.kmeans_plusplus(Xb, k, random_state=3, n_local_trials=1)[1])
    np.testing.assert_array_equal(default, explicit)
    assert k == 2 or not np.array_equal(default, other)


def test_kmeans_plusplus_spreads_centres_better_than_random():
    X, _, _ = make_blobs(2000, 2, 20, cluster_std=0.3, random_state=5)

    def potential(c):
        return ((X[:, None] - c[None]) ** 2).sum(-1).min(1).sum()

    pp = np.mean([potential(gkmeans.kmeans_plusplus(X, 20, random_state=s)[0]) for s in range(10)])
    rand = np.mean([potential(gkmeans.KMeans(20)._init_centroids(X, None, "random", s, None)) for s in range(10)])
    assert pp < 0.5 * rand


def test_callable_init_receives_data_k_and_a_generator(backend):
    X, _, _ = make_blobs(100, 2, 3, random_state=6)
    seen = {}

    def my_init(data, n_clusters, random_state):
        seen["k"] = n_clusters
        seen["rng"] = random_state
        seen["own"] = backend.is_own(data)
        return data[:n_clusters, :]

    km = gkmeans.KMeans(3, init=my_init, n_init=1, random_state=0).fit(backend.asarray(X))
    assert seen["k"] == 3 and isinstance(seen["rng"], np.random.Generator) and seen["own"]
    assert backend.is_own(km.cluster_centers_)


def test_explicit_init_array_is_used_and_not_modified(backend):
    X, _, _ = make_blobs(100, 2, 3, random_state=7)
    init = X[:3].copy()
    init_b = backend.asarray(init)
    km = gkmeans.KMeans(3, init=init_b, max_iter=1).fit(backend.asarray(X))
    np.testing.assert_array_equal(backend.to_numpy(init_b), init)
    assert km.n_iter_ == 1
