"""Sparse input (SciPy CSR/CSC, PyTorch sparse CSR): fitted without being made dense, with the
results of a dense fit of the same data and of scikit-learn's sparse fit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from gkmeans import EmptyClusterError, KMeans, MiniBatchKMeans
from gkmeans import _kernels as kernels
from gkmeans._kernels import agnostic
from gkmeans._sparse import is_sparse_rows
from gkmeans.metrics import (
    calinski_harabasz_score,
    davies_bouldin_score,
    dunn_index,
    inertia,
    silhouette_samples,
    silhouette_score,
)

ROOT = Path(__file__).resolve().parents[1]
INITS = ("k-means++", "random", "random-box", "farthest-first", "k-means||")
#: The guard refuses a dense copy of more rows than this (starting centres, k-means|| candidates,
#: relocated centres are a few rows each; X has 400).
GUARD_ROWS = 60
N_FEATURES = 60


class GuardCSR(sp.csr_matrix):
    """A CSR matrix that refuses to become dense beyond a few rows."""

    def _refuse(self) -> None:
        # n x d refused; a few rows, or the (rows x n) products of silhouette, are not X.
        if self.shape[0] > GUARD_ROWS and self.shape[1] == N_FEATURES:
            raise AssertionError(f"densified {self.shape} sparse rows")

    def toarray(self, *args, **kwargs):
        self._refuse()
        return super().toarray(*args, **kwargs)

    def todense(self, *args, **kwargs):
        self._refuse()
        return super().todense(*args, **kwargs)

    def __array__(self, *args, **kwargs):
        self._refuse()
        return super().toarray()


def text_like(n=400, d=N_FEATURES, density=0.08, seed=0, dtype=np.float64):
    """Non-negative rows with a few groups of shared columns, as TF-IDF rows are."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=density, random_state=seed, format="lil", dtype=dtype)
    groups = rng.integers(0, 4, n)
    for i, g in enumerate(groups):
        for col in range(g * 10, g * 10 + 3):
            X[i, col] = 1.0 + rng.random()
    return sp.csr_matrix(X)


@pytest.fixture
def X():
    return text_like()


def _same_fit(a, b, rtol=1e-10):
    np.testing.assert_array_equal(np.asarray(a.labels_), np.asarray(b.labels_))
    np.testing.assert_allclose(
        np.asarray(a.cluster_centers_), np.asarray(b.cluster_centers_), rtol=0, atol=rtol
    )
    assert a.inertia_ == pytest.approx(b.inertia_, rel=rtol)
    assert a.n_iter_ == b.n_iter_


@pytest.mark.parametrize("fmt", ["csr", "csc", "csr_array", "coo"])
def test_same_as_dense_from_the_same_start(X, fmt):
    init = X[:6].toarray()
    Xs = sp.csr_array(X) if fmt == "csr_array" else X.asformat(fmt)
    sparse_fit = KMeans(6, init=init, n_init=1, max_iter=100, tol=0).fit(Xs)
    dense_fit = KMeans(6, init=init, n_init=1, max_iter=100, tol=0).fit(X.toarray())
    _same_fit(sparse_fit, dense_fit)


@pytest.mark.parametrize("init", INITS)
def test_every_init_as_dense(X, init):
    sparse_fit = KMeans(5, init=init, n_init=2, random_state=3).fit(GuardCSR(X))
    dense_fit = KMeans(5, init=init, n_init=2, random_state=3).fit(X.toarray())
    _same_fit(sparse_fit, dense_fit)


def test_callable_init_gets_the_callers_matrix(X):
    seen = []

    def init(data, k, random_state):
        seen.append(data)
        return data[:k].toarray()

    KMeans(4, init=init, n_init=1).fit(X)
    assert seen[0] is X


def test_same_as_scikit_learn_sparse_fit(X):
    from sklearn.cluster import KMeans as SKKMeans

    init = X[10:17].toarray()
    weights = np.random.default_rng(1).uniform(0.5, 2.0, X.shape[0])
    ours = KMeans(7, init=init, n_init=1, max_iter=50, tol=1e-6).fit(X, sample_weight=weights)
    theirs = SKKMeans(7, init=init, n_init=1, max_iter=50, tol=1e-6).fit(X, sample_weight=weights)
    _same_fit(ours, theirs)


def test_sample_weight_as_dense(X):
    weights = np.random.default_rng(2).integers(0, 4, X.shape[0]).astype(float)
    a = KMeans(5, random_state=0, n_init=3).fit(GuardCSR(X), sample_weight=weights)
    b = KMeans(5, random_state=0, n_init=3).fit(X.toarray(), sample_weight=weights)
    _same_fit(a, b)


@pytest.mark.parametrize("policy", ["relocate", "random", "drop"])
def test_empty_cluster_policies_as_dense(X, policy):
    # A centre far from every row: empty after the first assignment.
    init = np.vstack([X[:3].toarray(), np.full((1, X.shape[1]), 50.0)])
    a = KMeans(4, init=init, n_init=1, empty_cluster=policy, random_state=0)
    b = KMeans(4, init=init, n_init=1, empty_cluster=policy, random_state=0)
    with pytest.warns() if policy == "drop" else _nothing():
        a.fit(GuardCSR(X))
    with pytest.warns() if policy == "drop" else _nothing():
        b.fit(X.toarray())
    _same_fit(a, b)


def test_empty_cluster_error(X):
    init = np.vstack([X[:3].toarray(), np.full((1, X.shape[1]), 50.0)])
    with pytest.raises(EmptyClusterError, match="became empty"):
        KMeans(4, init=init, n_init=1, empty_cluster="error").fit(X)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("batch", [True, False])
def test_restarts_together_or_one_by_one(X, batch):
    a = KMeans(5, n_init=4, random_state=0, batch_restarts=batch).fit(GuardCSR(X))
    b = KMeans(5, n_init=4, random_state=0, batch_restarts=batch).fit(X.toarray())
    _same_fit(a, b)


def test_predict_transform_score_as_dense(X):
    model = KMeans(5, random_state=0, n_init=1).fit(X)
    dense = X.toarray()
    new = text_like(n=50, seed=9)
    guarded = GuardCSR(new)
    np.testing.assert_array_equal(model.predict(guarded), model.predict(new.toarray()))
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    np.testing.assert_allclose(model.transform(guarded), model.transform(new.toarray()), atol=1e-10)
    assert model.score(guarded) == pytest.approx(model.score(new.toarray()), rel=1e-10)
    assert model.score(X) == pytest.approx(-model.inertia_, rel=1e-10)
    assert model.fit_predict(dense).tolist() == model.fit_predict(X).tolist()


def test_transform_is_zero_on_a_centre(X):
    init = X[:3].toarray()
    model = KMeans(3, init=init, n_init=1, max_iter=1).fit(X)
    rows = sp.csr_matrix(np.asarray(model.cluster_centers_))
    distances = model.transform(rows)
    assert np.all(np.diag(distances) < 1e-7)


def test_float32_stays_float32(X):
    X32 = X.astype(np.float32)
    model = KMeans(4, random_state=0, n_init=1).fit(X32)
    dense = KMeans(4, random_state=0, n_init=1).fit(X32.toarray())
    assert model.cluster_centers_.dtype == np.float32
    np.testing.assert_allclose(model.cluster_centers_, dense.cluster_centers_, atol=1e-5)
    assert model.inertia_ == pytest.approx(dense.inertia_, rel=1e-5)


def test_integer_and_duplicate_entries_are_handled_without_touching_the_caller():
    rows = np.array([0, 0, 1, 2, 3, 3])
    cols = np.array([0, 0, 1, 2, 0, 1])
    data = np.array([1, 2, 3, 4, 5, 6])
    coo = sp.coo_matrix((data, (rows, cols)), shape=(4, 3))  # (0, 0) stored twice
    csr = sp.csr_matrix((data, cols, np.array([0, 2, 3, 4, 6])), shape=(4, 3))
    before = csr.data.copy()
    a = KMeans(2, init=np.array([[3.0, 0, 0], [0, 3.0, 0]]), n_init=1).fit(csr)
    b = KMeans(2, init=np.array([[3.0, 0, 0], [0, 3.0, 0]]), n_init=1).fit(coo.toarray())
    np.testing.assert_array_equal(csr.data, before)
    _same_fit(a, b)


def test_non_finite_values_are_refused(X):
    bad = X.copy()
    bad.data[3] = np.nan
    with pytest.raises(ValueError, match="contains NaN"):
        KMeans(3).fit(bad)
    bad.data[3] = np.inf
    with pytest.raises(ValueError, match="contains infinity"):
        KMeans(3).fit(bad)


def test_minibatch_fit_and_partial_fit_as_dense(X):
    a = MiniBatchKMeans(4, random_state=0, batch_size=64, n_init=2).fit(GuardCSR(X))
    b = MiniBatchKMeans(4, random_state=0, batch_size=64, n_init=2).fit(X.toarray())
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, atol=1e-10)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    p, q = MiniBatchKMeans(4, random_state=0), MiniBatchKMeans(4, random_state=0)
    for start in range(0, X.shape[0], 100):
        p.partial_fit(GuardCSR(X[start : start + 100]))
        q.partial_fit(X[start : start + 100].toarray())
    np.testing.assert_allclose(p.cluster_centers_, q.cluster_centers_, atol=1e-10)
    np.testing.assert_array_equal(p.predict(X), q.predict(X.toarray()))


def test_silhouette_on_sparse_rows(X):
    from sklearn.metrics import silhouette_score as sk_silhouette

    labels = KMeans(4, random_state=0, n_init=1).fit(X).labels_
    assert silhouette_score(GuardCSR(X), labels) == pytest.approx(
        sk_silhouette(X, labels), rel=1e-9
    )
    from sklearn.metrics import silhouette_samples as sk_samples

    np.testing.assert_allclose(silhouette_samples(X, labels), sk_samples(X, labels), atol=1e-12)
    # The dense path's self-distances are rounding residues (about 1e-8 after the square root).
    np.testing.assert_allclose(
        silhouette_samples(X, labels), silhouette_samples(X.toarray(), labels), atol=1e-7
    )
    sampled = silhouette_score(GuardCSR(X), labels, sample_size=120, random_state=0)
    assert sampled == pytest.approx(
        silhouette_score(X.toarray(), labels, sample_size=120, random_state=0), rel=1e-9
    )


def test_kernels_never_fall_back_to_the_dense_reference(X, monkeypatch):
    # Every agnostic primitive refuses sparse rows (dense data, as k-means||'s candidates, still
    # runs): sparse rows must be served by the sparse kernels only.
    for name in (
        "assign",
        "segment_sum",
        "weighted_inertia",
        "row_sq_norms",
        "sq_distances_to_rows",
        "closer_distances",
        "pairwise_sq_distances",
        "sq_distances_to_assigned",
        "weighted_column_sums",
        "column_bounds",
        "take_rows",
        "assign_and_sum_batched",
        "column_mean",
        "cluster_distance_sums",
        "distance_block",
    ):
        monkeypatch.setattr(agnostic, name, _dense_only(getattr(agnostic, name)))
    for init in INITS:
        model = KMeans(4, init=init, n_init=2, random_state=0).fit(X)
    model.transform(X)
    model.score(X)
    MiniBatchKMeans(4, random_state=0, n_init=2).fit(X)
    silhouette_score(X, model.labels_, sample_size=100, random_state=0)
    for score in (inertia, calinski_harabasz_score, davies_bouldin_score, dunn_index):
        score(X, model.labels_)


def _dense_only(function):
    def run(*args, **kwargs):
        if is_sparse_rows(args[0]):
            raise AssertionError(f"the dense {function.__name__} ran on sparse rows")
        return function(*args, **kwargs)

    return run


@pytest.mark.parametrize("cpu_pass", ["numpy", "numba"])
def test_compiled_and_scipy_passes_agree(X, cpu_pass, monkeypatch):
    pytest.importorskip("numba")
    init = X[:6].toarray()
    monkeypatch.setenv("GKMEANS_CPU_PASS", cpu_pass)
    fit = KMeans(6, init=init, n_init=1, max_iter=30, tol=0).fit(X)
    monkeypatch.setenv("GKMEANS_CPU_PASS", "numba" if cpu_pass == "numpy" else "numpy")
    other = KMeans(6, init=init, n_init=1, max_iter=30, tol=0).fit(X)
    _same_fit(fit, other)


def test_a_primitive_without_a_sparse_kernel_is_an_error(X):
    from gkmeans._sparse import sparse_rows

    with pytest.raises(TypeError, match="does not take sparse input"):
        kernels.stream_to_device([], xp=np, device="cpu") if False else kernels.dispatch.sparse(
            "stream_to_device", sparse_rows(X)
        )


def test_torch_sparse_csr_as_scipy(X):
    torch = pytest.importorskip("torch")
    tensor = torch.sparse_csr_tensor(
        torch.from_numpy(X.indptr).long(),
        torch.from_numpy(X.indices).long(),
        torch.from_numpy(X.data.copy()),
        size=X.shape,
    )
    init = X[:5].toarray()
    a = KMeans(5, init=torch.from_numpy(init), n_init=1, max_iter=50, tol=0).fit(tensor)
    b = KMeans(5, init=init, n_init=1, max_iter=50, tol=0).fit(X)
    assert isinstance(a.cluster_centers_, torch.Tensor)
    _same_fit(a, b)
    for init in INITS:
        a = KMeans(4, init=init, n_init=2, random_state=1).fit(tensor)
        b = KMeans(4, init=init, n_init=2, random_state=1).fit(X)
        _same_fit(a, b)
    np.testing.assert_allclose(a.transform(tensor).numpy(), b.transform(X), atol=1e-10)
    assert a.score(tensor) == pytest.approx(b.score(X), rel=1e-10)
    mb = MiniBatchKMeans(4, random_state=0, n_init=1).fit(tensor.to_sparse_coo())
    mb_ref = MiniBatchKMeans(4, random_state=0, n_init=1).fit(X)
    np.testing.assert_allclose(mb.cluster_centers_.numpy(), mb_ref.cluster_centers_, atol=1e-10)


def test_cupyx_sparse():
    cupy = pytest.importorskip("cupy")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError
    except Exception:
        pytest.skip("CuPy has no usable CUDA device: the cupyx.scipy.sparse path is not run here")
    import cupyx.scipy.sparse as cupy_sparse

    X = text_like()
    a = KMeans(5, init=X[:5].toarray(), n_init=1).fit(cupy_sparse.csr_matrix(X))
    b = KMeans(5, init=X[:5].toarray(), n_init=1).fit(X)
    np.testing.assert_allclose(a.cluster_centers_.get(), b.cluster_centers_, atol=1e-10)


def test_cli_fits_a_saved_sparse_matrix(tmp_path, X):
    path = tmp_path / "data.npz"
    sp.save_npz(path, X)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gkmeans",
            "fit",
            str(path),
            "-k",
            "5",
            "--out",
            str(tmp_path / "m.npz"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "samples     400" in done.stdout
    labels = np.load(tmp_path / "m-labels.npy")
    assert labels.shape == (400,) and set(labels.tolist()) == set(range(5))


def test_compiled_pass_in_one_thread_when_sums_are_large(X, monkeypatch):
    pytest.importorskip("numba")
    from gkmeans._kernels import sparse_scipy

    init = X[:6].toarray()
    monkeypatch.setenv("GKMEANS_CPU_PASS", "numba")
    threaded = KMeans(6, init=init, n_init=1, max_iter=30, tol=0).fit(X)
    monkeypatch.setattr(sparse_scipy, "THREAD_SUMS_MAX_BYTES", 0)
    single = KMeans(6, init=init, n_init=1, max_iter=30, tol=0).fit(X)
    _same_fit(threaded, single)
