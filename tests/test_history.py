"""``KMeans(history=True)``: the centres of every iteration, where fits stopping there end."""

from __future__ import annotations

import numpy as np
import pytest

import gkmeans
from gkmeans.algorithms import history as history_module
from gkmeans.datasets import make_blobs
from gkmeans.exceptions import InvalidParameterError

K = 6


@pytest.fixture(scope="module")
def overlapping():
    """Overlapping blobs: a Lloyd run from the first rows takes many iterations."""
    X, _, _ = make_blobs(1200, 3, K, cluster_std=3.0, random_state=0)
    return X


def _host_inertia(X, centers):
    distances = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
    return float(np.nanmin(distances, axis=1).sum())


def _recorded(backend, X, **options):
    model = gkmeans.KMeans(K, init=backend.asarray(X[:K]), n_init=1, tol=0, history=True, **options)
    return model.fit(backend.asarray(X))


def test_history_is_where_the_fits_stopping_at_each_iteration_are(backend, overlapping):
    X = overlapping
    model = _recorded(backend, X)
    history = model.history_
    n_iter = model.n_iter_
    assert n_iter >= 5, "the data must take several iterations"
    assert history.centers.shape == (n_iter + 1, K, 3) and history.n_iter == n_iter
    assert isinstance(history.centers, np.ndarray)
    np.testing.assert_allclose(history.centers[0], X[:K], rtol=1e-14)  # (x - mean) + mean
    for max_iter in range(1, n_iter + 1):
        stopped = gkmeans.KMeans(K, init=backend.asarray(X[:K]), n_init=1, tol=0, max_iter=max_iter)
        stopped.fit(backend.asarray(X))
        np.testing.assert_allclose(
            history.centers[max_iter],
            backend.to_numpy(stopped.cluster_centers_),
            rtol=1e-12,
            atol=1e-12,
            err_msg=f"iteration {max_iter}",
        )
    np.testing.assert_array_equal(history.centers[-1], backend.to_numpy(model.cluster_centers_))
    np.testing.assert_array_equal(history.labels, backend.to_numpy(model.labels_))
    assert history.inertia[-1] == model.inertia_
    expected = [_host_inertia(X, centers) for centers in history.centers]
    np.testing.assert_allclose(history.inertia, expected, rtol=1e-9)


@pytest.mark.parametrize("cpu_pass", ["numpy", "numba"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_fast_cpu_passes_record_the_same_path(monkeypatch, overlapping, cpu_pass, dtype):
    if cpu_pass == "numba":
        pytest.importorskip("numba")
    monkeypatch.setenv("GKMEANS_CPU_PASS", cpu_pass)
    X = overlapping.astype(dtype)
    model = gkmeans.KMeans(K, init=X[:K], n_init=1, tol=0, history=True).fit(X)
    assert model.history_.centers.dtype == dtype
    for max_iter in (1, 2, model.n_iter_):
        stopped = gkmeans.KMeans(K, init=X[:K], n_init=1, tol=0, max_iter=max_iter).fit(X)
        np.testing.assert_array_equal(model.history_.centers[max_iter], stopped.cluster_centers_)


@pytest.mark.parametrize("batch_restarts", [True, False])
def test_restarts_keep_the_history_of_the_winner(backend, overlapping, batch_restarts):
    X = backend.asarray(overlapping)
    model = gkmeans.KMeans(
        K, init="random", n_init=5, random_state=3, history=True, batch_restarts=batch_restarts
    ).fit(X)
    history = model.history_
    assert history.centers.shape[0] == model.n_iter_ + 1
    np.testing.assert_array_equal(history.centers[-1], backend.to_numpy(model.cluster_centers_))
    assert history.inertia[-1] == model.inertia_
    # The recorded path is the winning run's: a single run from its start goes the same way.
    alone = gkmeans.KMeans(K, init=backend.asarray(history.centers[0]), n_init=1, history=True).fit(
        X
    )
    np.testing.assert_allclose(alone.history_.centers, history.centers, rtol=1e-9, atol=1e-9)
    losers = gkmeans.KMeans(K, init="random", n_init=5, random_state=3).fit(X)
    assert model.inertia_ == losers.inertia_


def test_batched_and_sequential_restarts_record_the_same_path(overlapping):
    options = dict(init="random", n_init=4, random_state=1, history=True)
    batched = gkmeans.KMeans(K, batch_restarts=True, **options).fit(overlapping).history_
    sequential = gkmeans.KMeans(K, batch_restarts=False, **options).fit(overlapping).history_
    np.testing.assert_allclose(batched.centers, sequential.centers, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(batched.inertia, sequential.inertia, rtol=1e-9)


def test_streamed_and_dask_fits_record_the_in_memory_path(overlapping):
    X = overlapping
    in_memory = gkmeans.KMeans(K, init=X[:K], n_init=1, tol=0, history=True).fit(X).history_
    streamed = (
        gkmeans.KMeans(K, init=X[:K], n_init=1, tol=0, history=True)
        .fit(gkmeans.chunked(X, chunk_rows=250))
        .history_
    )
    np.testing.assert_allclose(streamed.centers, in_memory.centers, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(streamed.inertia, in_memory.inertia, rtol=1e-9)
    np.testing.assert_array_equal(streamed.labels, in_memory.labels)
    da = pytest.importorskip("dask.array")
    on_dask = (
        gkmeans.KMeans(K, init=X[:K], n_init=1, tol=0, history=True)
        .fit(da.from_array(X, chunks=(300, 3)))
        .history_
    )
    np.testing.assert_allclose(on_dask.centers, in_memory.centers, rtol=1e-9, atol=1e-9)
    assert on_dask.labels is None  # a Dask fit's labels_ stay lazy


def test_dropped_clusters_leave_nan_rows_from_where_they_went(overlapping):
    X = overlapping
    far = np.vstack([X[: K - 1], [[1e3, 1e3, 1e3]]])  # the last centre gets no point
    with pytest.warns(UserWarning):
        model = gkmeans.KMeans(K, init=far, n_init=1, empty_cluster="drop", history=True).fit(X)
    centers = model.history_.centers
    assert centers.shape[1] == K and model.cluster_centers_.shape[0] == K - 1
    np.testing.assert_allclose(centers[0], far, rtol=1e-14)
    assert np.isnan(centers[1:, K - 1]).all() and not np.isnan(centers[:, : K - 1]).any()
    np.testing.assert_array_equal(centers[-1, : K - 1], model.cluster_centers_)


def test_off_records_nothing(monkeypatch, overlapping):
    def refuse(*args, **kwargs):
        raise AssertionError("a trace was made with history=False")

    monkeypatch.setattr(history_module.Trace, "__init__", refuse)
    X = overlapping
    for data, options in (
        (X, dict(n_init=1)),
        (X, dict(n_init=3, batch_restarts=True)),
        (X, dict(n_init=3, batch_restarts=False)),
        (gkmeans.chunked(X, chunk_rows=300), dict(n_init=2)),
    ):
        model = gkmeans.KMeans(K, random_state=0, **options).fit(data)
        assert not hasattr(model, "history_")


def test_the_parameter_is_kept_checked_and_forgotten_on_refit(overlapping):
    model = gkmeans.KMeans(K, history=True, random_state=0)
    assert model.get_params()["history"] is True
    assert "history=True" in repr(model)
    model.fit(overlapping)
    assert hasattr(model, "history_")
    model.set_params(history=False).fit(overlapping)
    assert not hasattr(model, "history_")
    with pytest.raises(InvalidParameterError, match="history='yes' must be True or False"):
        gkmeans.KMeans(K, history="yes").fit(overlapping)


def test_a_saved_model_keeps_the_parameter(tmp_path, overlapping):
    model = gkmeans.KMeans(K, history=True, random_state=0).fit(overlapping)
    model.save(tmp_path / "m.npz")
    loaded = gkmeans.load(tmp_path / "m.npz")
    assert loaded.history is True and not hasattr(loaded, "history_")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_last_row_is_the_fitted_centres_in_their_dtype(overlapping, dtype):
    X = overlapping.astype(dtype)
    for data in (X, gkmeans.chunked(X, chunk_rows=250)):
        model = gkmeans.KMeans(K, init=X[:K], n_init=1, history=True).fit(data)
        assert model.history_.centers.dtype == dtype
        np.testing.assert_array_equal(model.history_.centers[-1], model.cluster_centers_)
