"""Quality metrics against scikit-learn and brute force, on every backend."""

from __future__ import annotations

import numpy as np
import pytest

from gkmeans import KMeans, metrics
from gkmeans._kernels import workspace
from gkmeans.datasets import make_blobs

sk_metrics = pytest.importorskip("sklearn.metrics")
sk_datasets = pytest.importorskip("sklearn.datasets")


def _cases():
    X, y, _ = make_blobs(400, 4, 5, cluster_std=2.0, random_state=0)
    iris = sk_datasets.load_iris()
    wine = sk_datasets.load_wine()
    km_labels = KMeans(6, random_state=0).fit(wine.data).labels_
    return {"blobs": (X, y), "iris": (iris.data, iris.target), "wine-kmeans": (wine.data, km_labels)}


CASES = _cases()


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize(
    "name", ["silhouette_score", "calinski_harabasz_score", "davies_bouldin_score"]
)
def test_scores_equal_scikit_learn(backend, case, name):
    X, y = CASES[case]
    expected = getattr(sk_metrics, name)(X, y)
    got = getattr(metrics, name)(backend.asarray(X), backend.asarray(y))
    assert isinstance(got, float)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("case", sorted(CASES))
def test_silhouette_samples_equal_scikit_learn(backend, case):
    X, y = CASES[case]
    got = metrics.silhouette_samples(backend.asarray(X), backend.asarray(y))
    assert backend.is_own(got)
    np.testing.assert_allclose(backend.to_numpy(got), sk_metrics.silhouette_samples(X, y), rtol=1e-6, atol=1e-9)


def test_silhouette_in_small_blocks(monkeypatch):
    from gkmeans import _kernels

    X, y = CASES["blobs"]
    whole = metrics.silhouette_samples(X, y)
    monkeypatch.setattr(workspace, "workspace_bytes", lambda xp, device: 50_000)
    np.testing.assert_allclose(metrics.silhouette_samples(X, y), whole, rtol=1e-12)


def test_silhouette_handles_singletons_and_string_labels():
    X = np.array([[0.0], [1.0], [5.0], [10.0], [11.0]])
    labels = np.array(["a", "a", "b", "c", "c"])
    np.testing.assert_allclose(metrics.silhouette_samples(X, labels), sk_metrics.silhouette_samples(X, labels))
    assert metrics.silhouette_samples(X, labels)[2] == 0.0


def test_silhouette_sample_size_is_reproducible():
    X, y = CASES["blobs"]
    a = metrics.silhouette_score(X, y, sample_size=150, random_state=3)
    b = metrics.silhouette_score(X, y, sample_size=150, random_state=3)
    assert a == b and abs(a - metrics.silhouette_score(X, y)) < 0.1
    with pytest.raises(ValueError, match="sample_size=401 must be <= n_samples=400"):
        metrics.silhouette_score(X, y, sample_size=401)


@pytest.mark.parametrize("name", ["silhouette_score", "calinski_harabasz_score", "davies_bouldin_score", "dunn_index"])
def test_number_of_labels_is_checked(name):
    X = np.arange(10.0).reshape(5, 2)
    with pytest.raises(ValueError, match="Number of labels is 1. Valid values are 2 to n_samples - 1"):
        getattr(metrics, name)(X, np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match="Number of labels is 5"):
        getattr(metrics, name)(X, np.arange(5))
    with pytest.raises(ValueError, match=r"labels has shape \(4,\); expected \(5,\)"):
        getattr(metrics, name)(X, np.arange(4))


def _brute_dunn(X, y):
    d = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    same = y[:, None] == y[None, :]
    return d[~same].min() / d[same].max()


def test_dunn_index_equals_brute_force(backend, monkeypatch):
    from gkmeans import _kernels

    X, y = CASES["blobs"]
    monkeypatch.setattr(workspace, "workspace_bytes", lambda xp, device: 200_000)  # several blocks
    np.testing.assert_allclose(metrics.dunn_index(backend.asarray(X), backend.asarray(y)), _brute_dunn(X, y), rtol=1e-9)


def test_dunn_index_prefers_separated_clusters():
    tight, y, _ = make_blobs(300, 2, 3, cluster_std=0.2, random_state=1)
    loose, y2, _ = make_blobs(300, 2, 3, cluster_std=3.0, random_state=1)
    assert metrics.dunn_index(tight, y) > metrics.dunn_index(loose, y2)


def test_inertia_and_cost(backend):
    X, y = CASES["blobs"]
    w = np.random.default_rng(0).uniform(0.5, 2, size=len(X))
    km = KMeans(5, random_state=0).fit(X, sample_weight=w)
    Xb = backend.asarray(X)
    got = metrics.inertia(Xb, backend.asarray(km.labels_), backend.asarray(km.cluster_centers_),
                          sample_weight=backend.asarray(w))
    np.testing.assert_allclose(got, km.inertia_, rtol=1e-10)
    np.testing.assert_allclose(metrics.cost(Xb, backend.asarray(km.labels_), backend.asarray(km.cluster_centers_),
                                            sample_weight=backend.asarray(w)), km.inertia_ / w.sum(), rtol=1e-10)
    # without centres: the weighted means of the labels
    means = np.array([np.average(X[y == j], axis=0) for j in range(5)])
    np.testing.assert_allclose(metrics.inertia(Xb, backend.asarray(y)), ((X - means[y]) ** 2).sum(), rtol=1e-10)


def test_inertia_rejects_labels_outside_the_centres():
    X, y = CASES["blobs"]
    with pytest.raises(ValueError, match=r"labels have values in \[0, 4\]; expected indices into the 3 centers"):
        metrics.inertia(X, y, X[:3])


def test_intra_cluster_distances(backend):
    X, y = CASES["blobs"]
    result = metrics.intra_cluster_distances(backend.asarray(X), backend.asarray(y))
    for j in range(5):
        members = X[y == j]
        d = np.sqrt(((members - members.mean(0)) ** 2).sum(1))
        assert backend.to_numpy(result.sizes)[j] == len(members)
        np.testing.assert_allclose(backend.to_numpy(result.mean)[j], d.mean(), rtol=1e-10)
        np.testing.assert_allclose(backend.to_numpy(result.max)[j], d.max(), rtol=1e-10)


def test_intra_cluster_distances_with_an_empty_cluster():
    X = np.array([[0.0], [2.0], [10.0]])
    result = metrics.intra_cluster_distances(X, np.array([0, 0, 2]), np.array([[1.0], [5.0], [10.0]]))
    assert result.sizes.tolist() == [2, 0, 1]
    assert np.isnan(result.mean[1]) and np.isnan(result.max[1])


def test_inter_cluster_distances(backend):
    C = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0], [10.0, 10.0]])
    result = metrics.inter_cluster_distances(backend.asarray(C))
    expected = np.sqrt(((C[:, None] - C[None]) ** 2).sum(-1))
    np.testing.assert_allclose(backend.to_numpy(result.matrix), expected, rtol=1e-12)
    assert result.closest_pair == (0, 2) and result.min_distance == 1.0
    with pytest.raises(ValueError, match="at least 2 centers"):
        metrics.inter_cluster_distances(C[:1])


def test_intra_cluster_distances_checks_given_centres():
    X = np.array([[0.0], [2.0], [10.0]])
    with pytest.raises(ValueError, match=r"labels have values in \[0, 3\]; expected indices into the 2 centers"):
        metrics.intra_cluster_distances(X, np.array([0, 1, 3]), np.array([[1.0], [10.0]]))
    with pytest.raises(ValueError, match="centers have 2 features but X has 1"):
        metrics.intra_cluster_distances(X, np.array([0, 1, 1]), np.ones((2, 2)))
