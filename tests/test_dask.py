"""Dask fits under a ``dask.distributed`` LocalCluster of 2 workers: the single-machine result, distributed."""

from __future__ import annotations

import numpy as np
import pytest

import gkmeans
from gkmeans import EmptyClusterError, KMeans
from gkmeans.datasets import make_blobs

da = pytest.importorskip("dask.array", reason="the dask extra is not installed")
distributed = pytest.importorskip("distributed", reason="the dask extra (distributed) is not installed")


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as dask_client:
        yield dask_client


def _blobs(n=6000, k=6, d=4, dtype=np.float64, seed=0):
    X, _, _ = make_blobs(n, n_features=d, centers=k, cluster_std=1.5, random_state=seed, dtype=dtype)
    return X


def _start(X, k, seed=0):
    return X[np.random.default_rng(seed).choice(X.shape[0], k, replace=False)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_distributed_fit_equals_single_machine_fit(client, dtype, weighted):
    X = _blobs(dtype=dtype)
    weights = np.random.default_rng(1).uniform(0.2, 2.0, X.shape[0]) if weighted else None
    init = _start(X, 6)
    dX = da.from_array(X, chunks=(700, 2))  # column chunks too: gkmeans rechunks by rows
    dw = None if weights is None else da.from_array(weights, chunks=500)
    on_dask = KMeans(6, init=init, n_init=1).fit(dX, sample_weight=dw)
    local = KMeans(6, init=init, n_init=1).fit(X, sample_weight=weights)
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    assert isinstance(on_dask.labels_, da.Array)
    assert isinstance(on_dask.cluster_centers_, np.ndarray) and on_dask.cluster_centers_.dtype == dtype
    np.testing.assert_array_equal(on_dask.labels_.compute(), local.labels_)
    np.testing.assert_allclose(on_dask.cluster_centers_, local.cluster_centers_, rtol=rtol, atol=rtol)
    assert on_dask.inertia_ == pytest.approx(local.inertia_, rel=rtol)
    assert on_dask.n_iter_ == local.n_iter_
    assert on_dask.device_ == "dask:cpu"


def test_numpy_weights_with_dask_data(client):
    X = _blobs(n=3000)
    weights = np.random.default_rng(2).integers(0, 3, X.shape[0]).astype(float)
    init = _start(X, 6, seed=2)
    on_dask = KMeans(6, init=init, n_init=1).fit(da.from_array(X, chunks=500), sample_weight=weights)
    local = KMeans(6, init=init, n_init=1).fit(X, sample_weight=weights)
    assert on_dask.inertia_ == pytest.approx(local.inertia_, rel=1e-10)


def test_predict_and_transform_are_lazy_and_match(client):
    X = _blobs(n=4000)
    model = KMeans(6, random_state=0).fit(X)
    dX = da.from_array(X, chunks=1000)
    labels = model.predict(dX)
    distances = model.transform(dX)
    assert isinstance(labels, da.Array) and isinstance(distances, da.Array)
    assert distances.shape == (4000, 6) and labels.dtype == np.int32
    np.testing.assert_array_equal(labels.compute(), model.predict(X))
    np.testing.assert_allclose(distances.compute(), model.transform(X), rtol=1e-10)
    assert model.score(dX) == pytest.approx(model.score(X), rel=1e-10)


@pytest.mark.parametrize("policy", ["relocate", "drop"])
def test_empty_cluster_policies_match_single_machine(client, policy):
    X = _blobs(n=3000, k=4)
    init = np.concatenate([_start(X, 4, seed=5), np.full((2, X.shape[1]), 1e4)])
    dX = da.from_array(X, chunks=400)
    if policy == "drop":
        with pytest.warns(gkmeans.EmptyClusterWarning):
            on_dask = KMeans(6, init=init, n_init=1, empty_cluster=policy).fit(dX)
        with pytest.warns(gkmeans.EmptyClusterWarning):
            local = KMeans(6, init=init, n_init=1, empty_cluster=policy).fit(X)
    else:
        on_dask = KMeans(6, init=init, n_init=1, empty_cluster=policy).fit(dX)
        local = KMeans(6, init=init, n_init=1, empty_cluster=policy).fit(X)
    np.testing.assert_allclose(on_dask.cluster_centers_, local.cluster_centers_, rtol=1e-10)
    np.testing.assert_array_equal(on_dask.labels_.compute(), local.labels_)


def test_empty_cluster_random_and_error(client):
    X = _blobs(n=2000, k=3)
    init = np.concatenate([_start(X, 3), np.full((1, X.shape[1]), 1e4)])
    dX = da.from_array(X, chunks=300)
    fitted = KMeans(4, init=init, n_init=1, empty_cluster="random", random_state=0).fit(dX)
    assert np.unique(fitted.labels_.compute()).size == 4
    with pytest.raises(EmptyClusterError, match=r"cluster\(s\) \[3\] became empty"):
        KMeans(4, init=init, n_init=1, empty_cluster="error").fit(dX)


def test_kmeans_parallel_on_dask_matches_kmeans_plusplus_quality(client):
    X = _blobs(n=20000, k=25, d=6, seed=11)
    dX = da.from_array(X, chunks=2500)
    parallel = np.mean([KMeans(25, init="k-means||", random_state=s).fit(dX).inertia_ for s in range(3)])
    plusplus = np.mean([KMeans(25, init="k-means++", random_state=s).fit(X).inertia_ for s in range(3)])
    assert parallel <= 1.05 * plusplus


def test_same_seed_same_result_on_dask(client):
    X = _blobs(n=5000, k=8)
    dX = da.from_array(X, chunks=800)
    first = KMeans(8, init="k-means||", random_state=4).fit(dX)
    second = KMeans(8, init="k-means||", random_state=4).fit(dX)
    np.testing.assert_array_equal(first.cluster_centers_, second.cluster_centers_)


def test_integer_data_and_unknown_chunk_sizes(client):
    X = np.random.default_rng(0).integers(0, 50, size=(1000, 3))
    dX = da.from_array(X, chunks=250)
    dX = dX[dX[:, 0] >= 0]  # chunk sizes unknown until computed
    fitted = KMeans(3, init=X[:3].astype(float), n_init=1).fit(dX)
    local = KMeans(3, init=X[:3].astype(float), n_init=1).fit(X)
    assert fitted.cluster_centers_.dtype == np.float64
    np.testing.assert_allclose(fitted.cluster_centers_, local.cluster_centers_, rtol=1e-12)


def test_dask_errors(client):
    X = _blobs(n=500)
    dX = da.from_array(X, chunks=100)
    with pytest.raises(ValueError, match="Expected a 2-D Dask array"):
        KMeans(3).fit(dX[:, 0])
    with pytest.raises(gkmeans.InvalidParameterError, match="sample_weight is a Dask array but X is not"):
        KMeans(3).fit(X, sample_weight=da.ones(500, chunks=100))
    with pytest.raises(ValueError, match=r"sample_weight.shape=\(3,\) must be \(500,\)"):
        KMeans(3).fit(dX, sample_weight=np.ones(3))
    with pytest.raises(gkmeans.InvalidParameterError, match="Dask chunks are computed where they live"):
        KMeans(3, device="gpu").fit(dX)
    bad = X.copy()
    bad[10, 0] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity in the chunk starting at row 0"):
        KMeans(3).fit(da.from_array(bad, chunks=100))
    fitted = KMeans(3, random_state=0).fit(dX)
    with pytest.raises(ValueError, match="X has 2 features, but KMeans is expecting 4"):
        fitted.predict(dX[:, :2])


def test_only_small_results_leave_the_chunks(client):
    """Each chunk's task returns k*d + k + 1 numbers for a Lloyd pass, whatever the chunk's size."""
    from gkmeans.pipelines.chunk_ops import Chunk, chunk_lloyd

    X = _blobs(n=5000, k=4)
    centers = _start(X, 4)
    partial = chunk_lloyd(Chunk(X, None, 0, 0), centers, X.mean(axis=0)).to_host()
    assert partial.sums.size + partial.weight_sums.size + 1 == 4 * 4 + 4 + 1


def test_without_a_distributed_client_the_local_scheduler_runs_it():
    X = _blobs(n=3000, k=5)
    init = _start(X, 5, seed=8)
    import dask

    with dask.config.set(scheduler="threads"):
        threaded = KMeans(5, init=init, n_init=1).fit(da.from_array(X, chunks=700))
    local = KMeans(5, init=init, n_init=1).fit(X)
    np.testing.assert_array_equal(threaded.labels_.compute(scheduler="threads"), local.labels_)
    assert threaded.inertia_ == pytest.approx(local.inertia_, rel=1e-10)


def test_dask_dataframe_with_feature_names(client):
    dd = pytest.importorskip("dask.dataframe")
    import pandas as pd

    X = _blobs(n=3000, k=4)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    ddf = dd.from_pandas(frame, npartitions=5)
    init = _start(X, 4, seed=3)
    on_dask = KMeans(4, init=init, n_init=1).fit(ddf, sample_weight=dd.from_pandas(pd.Series(np.ones(3000)),
                                                                                      npartitions=5))
    local = KMeans(4, init=init, n_init=1).fit(frame)
    assert list(on_dask.feature_names_in_) == ["a", "b", "c", "d"]
    np.testing.assert_allclose(on_dask.cluster_centers_, local.cluster_centers_, rtol=1e-10)
    np.testing.assert_array_equal(on_dask.predict(ddf).compute(), local.labels_)
    assert on_dask.transform(ddf).shape[1] == 4
    with pytest.raises(ValueError, match="The feature names should match"):
        on_dask.predict(dd.from_pandas(frame.rename(columns={"a": "z"}), npartitions=2))
    frame["label"] = "x"
    with pytest.raises(ValueError, match=r"every column must be numeric .*\['label'\]"):
        KMeans(4).fit(dd.from_pandas(frame, npartitions=2))
