"""KMeans on every backend: agreement with scikit-learn, convergence rules, empty clusters, restarts."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gkmeans
from gkmeans import EmptyClusterError, EmptyClusterWarning, KMeans
from gkmeans.datasets import make_blobs

sklearn = pytest.importorskip("sklearn")
from sklearn import cluster as sk_cluster  # noqa: E402
from sklearn import datasets as sk_datasets  # noqa: E402

TOL = {np.float32: dict(rtol=1e-4), np.float64: dict(rtol=1e-6)}


def _real_datasets():
    blobs = make_blobs(2000, 8, 6, cluster_std=2.0, random_state=0)[0]
    return {
        "blobs": blobs,
        "digits": sk_datasets.load_digits().data,
        "iris": sk_datasets.load_iris().data,
        "wine": sk_datasets.load_wine().data,
    }


DATASETS = _real_datasets()


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("max_iter", [1, 5, 300])
def test_same_start_same_result_as_scikit_learn(backend, name, dtype, max_iter):
    X = DATASETS[name]
    if backend.name not in ("numpy", "array_api_strict"):
        # iris and digits hold exact distance ties (few-digit values), which another
        # BLAS's rounding breaks the other way, and the runs then part. A relative
        # jitter of 1e-5 removes the ties and nothing else.
        X = X * (1 + 1e-5 * np.random.default_rng(1).standard_normal(X.shape))
    X = X.astype(dtype)
    k = 8
    init = X[np.random.default_rng(0).choice(X.shape[0], k, replace=False)]
    ref = sk_cluster.KMeans(k, init=init, n_init=1, max_iter=max_iter).fit(X)
    ours = KMeans(k, init=backend.asarray(init), n_init=1, max_iter=max_iter).fit(backend.asarray(X))
    labels = backend.to_numpy(ours.labels_)
    if backend.name in ("numpy", "array_api_strict"):
        # Same BLAS, same rounding: identical labels, exact ties included.
        np.testing.assert_array_equal(labels, ref.labels_)
    else:
        _assert_differences_are_ties(X, labels, ref.labels_, ref.cluster_centers_, dtype)
    np.testing.assert_allclose(ours.inertia_, ref.inertia_, **TOL[dtype])
    np.testing.assert_allclose(backend.to_numpy(ours.cluster_centers_), ref.cluster_centers_, atol=1e-4, **TOL[dtype])
    assert ours.n_iter_ == ref.n_iter_


def _assert_differences_are_ties(X, labels, ref_labels, centers, dtype):
    """Another BLAS may break exact ties (iris and digits have duplicate-valued rows)
    the other way: every differing label must be a tie between the two centres."""
    differ = np.flatnonzero(labels != ref_labels)
    assert differ.size <= max(1, X.shape[0] // 100)
    X64, C64 = X.astype(np.float64), centers.astype(np.float64)
    d_ours = ((X64[differ] - C64[labels[differ]]) ** 2).sum(1)
    d_ref = ((X64[differ] - C64[ref_labels[differ]]) ** 2).sum(1)
    np.testing.assert_allclose(d_ours, d_ref, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


def test_fitted_attributes_keep_namespace_dtype_and_types(backend):
    X, _, _ = make_blobs(300, 3, 3, random_state=1, dtype=np.float32)
    km = KMeans(3, random_state=0).fit(backend.asarray(X))
    assert backend.is_own(km.cluster_centers_) and backend.is_own(km.labels_)
    assert backend.to_numpy(km.cluster_centers_).dtype == np.float32
    assert backend.to_numpy(km.labels_).dtype == np.int32
    assert isinstance(km.inertia_, float) and isinstance(km.n_iter_, int)
    assert km.n_features_in_ == 3 and km.device_ == "cpu"
    for method in (km.predict, km.transform, km.fit_predict, km.fit_transform):
        out = method(backend.asarray(X))
        assert backend.is_own(out)
    assert backend.to_numpy(km.transform(backend.asarray(X))).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.int32, np.int64, bool])
def test_integer_and_bool_input_become_float64(backend, dtype):
    X = (np.random.default_rng(0).integers(0, 5, size=(60, 2))).astype(dtype)
    km = KMeans(2, random_state=0, n_init=1).fit(backend.asarray(X))
    assert backend.to_numpy(km.cluster_centers_).dtype == np.float64


def test_labels_equal_predict_on_returned_centres(backend):
    X, _, _ = make_blobs(3000, 5, 10, cluster_std=3.0, random_state=2, dtype=np.float32)
    for max_iter in (1, 3, 300):
        km = KMeans(10, random_state=0, max_iter=max_iter, n_init=1).fit(backend.asarray(X))
        np.testing.assert_array_equal(backend.to_numpy(km.predict(backend.asarray(X))), backend.to_numpy(km.labels_))


def test_strict_convergence_stops_when_no_label_changes(backend):
    X, _, true_centers = make_blobs(500, 2, 3, cluster_std=0.1, random_state=3)
    km = KMeans(3, init=backend.asarray(true_centers), n_init=1, tol=0).fit(backend.asarray(X))
    # Iteration 1 assigns, iteration 2 sees no change.
    assert km.n_iter_ == 2


def test_max_iter_caps_iterations(backend):
    X, _, _ = make_blobs(2000, 4, 12, cluster_std=4.0, random_state=4)
    km = KMeans(12, max_iter=2, tol=0, n_init=1, random_state=0).fit(backend.asarray(X))
    assert km.n_iter_ == 2


def test_larger_tol_stops_earlier(backend):
    X, _, _ = make_blobs(3000, 4, 12, cluster_std=4.0, random_state=5)
    loose = KMeans(12, tol=1e-1, n_init=1, random_state=0).fit(backend.asarray(X))
    tight = KMeans(12, tol=0, n_init=1, random_state=0).fit(backend.asarray(X))
    assert loose.n_iter_ < tight.n_iter_
    assert tight.inertia_ <= loose.inertia_ * (1 + 1e-12)


def test_recovers_well_separated_blobs(backend):
    X, y, _ = make_blobs(600, 3, 5, cluster_std=0.3, random_state=6)
    km = KMeans(5, n_init=5, random_state=0).fit(backend.asarray(X))
    labels = backend.to_numpy(km.labels_)
    # every true blob maps to exactly one cluster
    pairs = set(zip(y.tolist(), labels.tolist()))
    assert len(pairs) == 5


def test_more_restarts_never_worse(backend):
    X, _, _ = make_blobs(1000, 2, 15, cluster_std=1.5, random_state=7)
    one = KMeans(15, init="random", n_init=1, random_state=3).fit(backend.asarray(X))
    many = KMeans(15, init="random", n_init=8, random_state=3).fit(backend.asarray(X))
    # the first of the 8 runs is the single run: the best of 8 is no worse
    assert many.inertia_ <= one.inertia_ * (1 + 1e-9)


@pytest.mark.parametrize(
    ("init", "expected"), [("k-means++", 1), ("random", 10), ("random-box", 10), ("farthest-first", 10)]
)
def test_n_init_auto(init, expected):
    X, _, _ = make_blobs(100, 2, 3, random_state=0)
    assert KMeans(3, init=init, random_state=0).fit(X)._n_init == expected


def test_explicit_init_warns_when_more_runs_asked():
    X, _, _ = make_blobs(100, 2, 3, random_state=0)
    with pytest.warns(RuntimeWarning, match="performing only one init"):
        km = KMeans(3, init=X[:3], n_init=4).fit(X)
    assert km._n_init == 1


# ----------------------------------------------------------- empty clusters
def _empty_prone():
    X = np.array([[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [1.0, 1.0]])
    init = np.array([[0.5, 0.5], [3.0, 3.0]])  # the second centre gets no point
    return X, init


def test_relocate_matches_scikit_learn(backend):
    X, init = _empty_prone()
    km = KMeans(2, init=backend.asarray(init), n_init=1, empty_cluster="relocate").fit(backend.asarray(X))
    assert km.n_iter_ == 3
    np.testing.assert_allclose(km.inertia_, 0.25)
    labels = backend.to_numpy(km.labels_).tolist()
    assert labels in ([0, 0, 1, 1], [1, 1, 0, 0])


def test_relocate_weighted_point(backend):
    X = np.array([[-1.0], [1.0]])
    km = KMeans(2, init=backend.asarray(np.array([[-1.0], [-10.0]])), n_init=1)
    km.fit(backend.asarray(X), sample_weight=backend.asarray([1.9, 0.1]))
    np.testing.assert_allclose(np.sort(backend.to_numpy(km.cluster_centers_).ravel()), [-1.0, 1.0])


def test_random_policy_reseeds_from_the_data(backend):
    X, init = _empty_prone()
    km = KMeans(2, init=backend.asarray(init), n_init=1, empty_cluster="random", random_state=0)
    km.fit(backend.asarray(X))
    labels = backend.to_numpy(km.labels_)
    assert len(set(labels.tolist())) == 2
    assert km.cluster_centers_.shape == (2, 2)


def test_drop_policy_returns_fewer_clusters_with_a_warning(backend):
    X, init = _empty_prone()
    km = KMeans(2, init=backend.asarray(init), n_init=1, empty_cluster="drop")
    with pytest.warns(EmptyClusterWarning, match="returning 1 clusters instead of n_clusters=2"):
        km.fit(backend.asarray(X))
    assert tuple(km.cluster_centers_.shape) == (1, 2)
    np.testing.assert_allclose(backend.to_numpy(km.cluster_centers_), [[0.5, 0.5]])
    assert set(backend.to_numpy(km.labels_).tolist()) == {0}
    assert tuple(km.transform(backend.asarray(X)).shape) == (4, 1)


def test_error_policy_raises_naming_the_cluster(backend):
    X, init = _empty_prone()
    km = KMeans(2, init=backend.asarray(init), n_init=1, empty_cluster="error")
    with pytest.raises(EmptyClusterError, match=r"cluster\(s\) \[1\] became empty at iteration 1"):
        km.fit(backend.asarray(X))


def test_duplicates_stop_relocation_and_warn(backend):
    X = np.array([[0, 0], [1, 1], [1, 1], [1, 0], [0, 1]], dtype=float)
    km = KMeans(5, init=backend.asarray(X))
    with pytest.warns(gkmeans.ConvergenceWarning, match=r"Number of distinct clusters \(4\)"):
        km.fit(backend.asarray(X))
    assert km.n_iter_ == 1


def test_convergence_warning_is_scikit_learns_too():
    from sklearn.exceptions import ConvergenceWarning

    X = np.array([[0, 0], [1, 1], [1, 1], [1, 0], [0, 1]], dtype=float)
    with pytest.warns(ConvergenceWarning):
        KMeans(5, init=X).fit(X)


# ---------------------------------------------------------- other methods
def test_transform_is_euclidean_distance(backend):
    X, _, _ = make_blobs(200, 3, 4, random_state=8)
    km = KMeans(4, random_state=0).fit(backend.asarray(X))
    C = backend.to_numpy(km.cluster_centers_)
    expected = np.sqrt(((X[:, None] - C[None]) ** 2).sum(-1))
    np.testing.assert_allclose(backend.to_numpy(km.transform(backend.asarray(X))), expected, rtol=1e-12)
    np.testing.assert_allclose(np.diag(backend.to_numpy(km.transform(km.cluster_centers_))), 0.0)


def test_score_is_minus_inertia(backend):
    X, _, _ = make_blobs(200, 3, 4, random_state=9)
    km = KMeans(4, random_state=0).fit(backend.asarray(X))
    np.testing.assert_allclose(km.score(backend.asarray(X)), -km.inertia_, rtol=1e-10)
    w = np.random.default_rng(0).uniform(size=200)
    km_w = KMeans(4, random_state=0).fit(backend.asarray(X), sample_weight=backend.asarray(w))
    np.testing.assert_allclose(km_w.score(backend.asarray(X), sample_weight=backend.asarray(w)), -km_w.inertia_,
                               rtol=1e-10)


def test_predict_on_another_backend_moves_the_centres(backend):
    X, _, _ = make_blobs(200, 3, 4, random_state=10)
    km = KMeans(4, random_state=0).fit(X)  # NumPy
    labels = km.predict(backend.asarray(X))
    assert backend.is_own(labels)
    np.testing.assert_array_equal(backend.to_numpy(labels), km.labels_)


def test_same_seed_same_result_on_every_backend(backend):
    X, _, _ = make_blobs(500, 4, 6, cluster_std=2.0, random_state=11)
    ref = KMeans(6, n_init=3, random_state=5).fit(X)
    ours = KMeans(6, n_init=3, random_state=5).fit(backend.asarray(X))
    np.testing.assert_array_equal(backend.to_numpy(ours.labels_), ref.labels_)
    np.testing.assert_allclose(ours.inertia_, ref.inertia_, rtol=1e-10)


def test_elkan_runs_lloyd_with_identical_results():
    X, _, _ = make_blobs(500, 4, 6, cluster_std=2.0, random_state=12)
    lloyd = KMeans(6, random_state=0, algorithm="lloyd").fit(X)
    elkan = KMeans(6, random_state=0, algorithm="elkan").fit(X)
    np.testing.assert_array_equal(lloyd.labels_, elkan.labels_)
    with pytest.warns(RuntimeWarning, match="single cluster"):
        KMeans(1, algorithm="elkan").fit(X)


def test_verbose_prints_progress(capsys):
    X, _, _ = make_blobs(300, 2, 3, random_state=13)
    KMeans(3, verbose=1, tol=0, random_state=0).fit(X)
    out = capsys.readouterr().out
    assert "Initialization complete" in out and "Iteration 0, inertia" in out and "strict convergence" in out


def test_copy_x_false_does_not_touch_data():
    X, _, _ = make_blobs(300, 2, 3, random_state=14)
    before = X.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        KMeans(3, copy_x=False, random_state=0).fit(X)
    np.testing.assert_array_equal(X, before)


def test_k_means_function_matches_estimator(backend):
    X, _, _ = make_blobs(300, 2, 3, random_state=15)
    centers, labels, inertia, n_iter = gkmeans.k_means(backend.asarray(X), 3, random_state=0, return_n_iter=True)
    km = KMeans(3, random_state=0).fit(backend.asarray(X))
    np.testing.assert_array_equal(backend.to_numpy(labels), backend.to_numpy(km.labels_))
    assert inertia == km.inertia_ and n_iter == km.n_iter_
    assert len(gkmeans.k_means(X, 3, random_state=0)) == 3


def test_memmap_fit_equals_in_memory_fit(tmp_path):
    """A read-only numpy.memmap is fitted in place (X is shifted block by block, never copied)."""
    X, _, _ = make_blobs(20_000, 6, 8, cluster_std=2.0, random_state=21, dtype=np.float32)
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    init = X[:8].copy()
    on_disk = KMeans(8, init=init, n_init=1).fit(mapped)
    in_memory = KMeans(8, init=init, n_init=1).fit(X)
    np.testing.assert_array_equal(on_disk.labels_, in_memory.labels_)
    np.testing.assert_array_equal(on_disk.cluster_centers_, in_memory.cluster_centers_)
    assert on_disk.inertia_ == in_memory.inertia_ and not mapped.flags.writeable
