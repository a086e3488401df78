"""Sparse input beyond the fit: the metrics, the elbow sweep and the anomaly detectors either take
sparse rows (with the dense results, never making them dense: the guard matrix refuses) or refuse
them by name; PyTorch sparse CSR tensors give the SciPy results."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from test_sparse import GuardCSR, text_like

from gkmeans import KMeans, MiniBatchKMeans
from gkmeans.anomaly import GaussianAnomalyDetector, KMeansAnomalyDetector
from gkmeans.metrics import (
    calinski_harabasz_score,
    cost,
    davies_bouldin_score,
    dunn_index,
    inertia,
    intra_cluster_distances,
)
from gkmeans.selection import elbow, gap_statistic


@pytest.fixture
def X():
    return text_like()


@pytest.fixture
def labels(X):
    return np.asarray(KMeans(4, random_state=0, n_init=1).fit(X).labels_)


def _torch_csr(X):
    torch = pytest.importorskip("torch")
    return torch.sparse_csr_tensor(
        torch.from_numpy(X.indptr).long(),
        torch.from_numpy(X.indices).long(),
        torch.from_numpy(X.data.copy()),
        size=X.shape,
    )


def test_inertia_and_cost_as_dense(X, labels):
    dense = X.toarray()
    weights = np.random.default_rng(0).uniform(0.5, 2.0, X.shape[0])
    centers = np.random.default_rng(1).uniform(0, 1, (4, X.shape[1]))
    for kwargs in ({}, {"sample_weight": weights}):
        assert inertia(GuardCSR(X), labels, **kwargs) == pytest.approx(
            inertia(dense, labels, **kwargs), rel=1e-10
        )
        assert inertia(GuardCSR(X), labels, centers, **kwargs) == pytest.approx(
            inertia(dense, labels, centers, **kwargs), rel=1e-10
        )
        assert cost(GuardCSR(X), labels, **kwargs) == pytest.approx(
            cost(dense, labels, **kwargs), rel=1e-10
        )


def test_calinski_harabasz_and_davies_bouldin_as_scikit_learn(X, labels):
    from sklearn.metrics import calinski_harabasz_score as sk_ch
    from sklearn.metrics import davies_bouldin_score as sk_db

    dense = X.toarray()
    assert calinski_harabasz_score(GuardCSR(X), labels) == pytest.approx(
        sk_ch(dense, labels), rel=1e-9
    )
    assert davies_bouldin_score(GuardCSR(X), labels) == pytest.approx(
        sk_db(dense, labels), rel=1e-9
    )


def test_dunn_index_exact_and_sampled_as_dense(X, labels):
    dense = X.toarray()
    assert dunn_index(GuardCSR(X), labels) == pytest.approx(dunn_index(dense, labels), rel=1e-7)
    sampled = dunn_index(GuardCSR(X), labels, sample_size=150, random_state=0)
    assert sampled == pytest.approx(
        dunn_index(dense, labels, sample_size=150, random_state=0), rel=1e-7
    )


def test_intra_cluster_distances_as_dense(X, labels):
    dense = X.toarray()
    centers = np.asarray(KMeans(4, random_state=0, n_init=1).fit(X).cluster_centers_)
    for given in (None, centers):
        ours = intra_cluster_distances(GuardCSR(X), labels, given)
        ref = intra_cluster_distances(dense, labels, given)
        np.testing.assert_array_equal(ours.sizes, ref.sizes)
        np.testing.assert_allclose(ours.mean, ref.mean, rtol=1e-9)
        np.testing.assert_allclose(ours.max, ref.max, rtol=1e-9)


def test_metrics_on_torch_sparse_csr_as_scipy(X, labels):
    tensor = _torch_csr(X)
    for score in (inertia, cost, calinski_harabasz_score, davies_bouldin_score, dunn_index):
        assert score(tensor, labels) == pytest.approx(score(X, labels), rel=1e-9), score.__name__
    ours = intra_cluster_distances(tensor, labels)
    np.testing.assert_allclose(ours.mean.numpy(), intra_cluster_distances(X, labels).mean)


def test_elbow_takes_sparse_rows(X):
    kwargs = {"random_state": 0, "n_init": 1, "scores": ("silhouette", "calinski_harabasz")}
    ours = elbow(GuardCSR(X), range(1, 6), sample_size=120, **kwargs)
    ref = elbow(X.toarray(), range(1, 6), sample_size=120, **kwargs)
    np.testing.assert_allclose(ours.inertias, ref.inertias, rtol=1e-9)
    for name in kwargs["scores"]:
        np.testing.assert_allclose(ours.scores[name], ref.scores[name], rtol=1e-7)
    assert ours.k == ref.k


def test_gap_statistic_refuses_sparse_input(X):
    with pytest.raises(TypeError, match="gap_statistic does not take sparse input"):
        gap_statistic(GuardCSR(X), range(1, 4))


def test_gaussian_detector_refuses_sparse_input(X):
    with pytest.raises(TypeError, match="GaussianAnomalyDetector.fit does not take sparse"):
        GaussianAnomalyDetector().fit(GuardCSR(X))
    fitted = GaussianAnomalyDetector().fit(X.toarray())
    with pytest.raises(TypeError, match="score_samples does not take sparse"):
        fitted.score_samples(GuardCSR(X))


def test_kmeans_detector_on_sparse_rows_as_dense(X):
    new = text_like(n=50, seed=5)
    ours = KMeansAnomalyDetector(4, random_state=0, contamination=0.05).fit(GuardCSR(X))
    ref = KMeansAnomalyDetector(4, random_state=0, contamination=0.05).fit(X.toarray())
    assert ours.threshold_ == pytest.approx(ref.threshold_, rel=1e-9)
    np.testing.assert_allclose(ours.score_samples(GuardCSR(new)), ref.score_samples(new.toarray()))
    np.testing.assert_array_equal(ours.predict(GuardCSR(new)), ref.predict(new.toarray()))


def test_torch_sparse_csr_predict_transform_score_as_scipy(X):
    torch = pytest.importorskip("torch")
    new = text_like(n=50, seed=9)
    tensor, new_tensor = _torch_csr(X), _torch_csr(new)
    a = KMeans(5, random_state=0, n_init=2).fit(tensor)
    b = KMeans(5, random_state=0, n_init=2).fit(X)
    labels = a.predict(new_tensor)
    assert isinstance(labels, torch.Tensor)
    np.testing.assert_array_equal(labels.numpy(), b.predict(new))
    np.testing.assert_array_equal(a.fit_predict(tensor).numpy(), b.fit_predict(X))
    np.testing.assert_allclose(a.transform(new_tensor).numpy(), b.transform(new), atol=1e-10)
    assert a.score(new_tensor) == pytest.approx(b.score(new), rel=1e-10)
    coo = new_tensor.to_sparse_coo()
    np.testing.assert_array_equal(a.predict(coo).numpy(), b.predict(new))


def test_torch_sparse_csr_minibatch_as_scipy(X):
    tensor, new = _torch_csr(X), text_like(n=50, seed=9)
    a = MiniBatchKMeans(4, random_state=0, batch_size=64, n_init=2).fit(tensor)
    b = MiniBatchKMeans(4, random_state=0, batch_size=64, n_init=2).fit(X)
    np.testing.assert_allclose(a.cluster_centers_.numpy(), b.cluster_centers_, atol=1e-10)
    np.testing.assert_array_equal(a.labels_.numpy(), b.labels_)
    np.testing.assert_array_equal(a.predict(_torch_csr(new)).numpy(), b.predict(new))
    np.testing.assert_allclose(a.transform(_torch_csr(new)).numpy(), b.transform(new), atol=1e-10)
    assert a.score(_torch_csr(new)) == pytest.approx(b.score(new), rel=1e-10)
    p, q = MiniBatchKMeans(4, random_state=0), MiniBatchKMeans(4, random_state=0)
    for start in range(0, X.shape[0], 100):
        p.partial_fit(_torch_csr(sp.csr_matrix(X[start : start + 100])))
        q.partial_fit(X[start : start + 100])
    np.testing.assert_allclose(p.cluster_centers_.numpy(), q.cluster_centers_, atol=1e-10)
    np.testing.assert_array_equal(p.predict(_torch_csr(new)).numpy(), q.predict(new))


def test_streamed_fit_refuses_sparse_chunks_by_name():
    """Sparse chunks are not densified one by one: a clear error points to the in-memory fit."""
    sparse = pytest.importorskip("scipy.sparse")
    import gkmeans

    S = sparse.random(1000, 50, density=0.05, format="csr", random_state=0)
    with pytest.raises(TypeError, match=r"gkmeans\.chunked.*sparse"):
        gkmeans.KMeans(3).fit(gkmeans.chunked(lambda: iter([S[:500], S[500:]])))
