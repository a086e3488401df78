"""Batched restarts: n_init runs advanced together give what sequential runs give, on every backend."""

from __future__ import annotations

import numpy as np
import pytest

from gkmeans import EmptyClusterError, InvalidParameterError, KMeans, k_means
from gkmeans import _kernels as kernels
from gkmeans._compat import array_namespace
from gkmeans.algorithms.batched_restarts import batched_lloyd
from gkmeans.algorithms.lloyd import lloyd
from gkmeans.datasets import make_blobs
from gkmeans.pipelines.in_memory import CPU_BATCH_MAX_WORK, batching_pays
from gkmeans.pipelines.prepared import prepare_data


def _blobs(n=1500, k=5, d=3, seed=0, std=1.0):
    X, _, _ = make_blobs(n, n_features=d, centers=k, cluster_std=std, random_state=seed)
    return X


@pytest.mark.parametrize("init", ["random", "k-means++", "farthest-first"])
def test_batched_restarts_equal_sequential_restarts(backend, init):
    X = backend.asarray(_blobs(std=2.5))
    batched = KMeans(5, init=init, n_init=7, random_state=3, batch_restarts=True).fit(X)
    sequential = KMeans(5, init=init, n_init=7, random_state=3, batch_restarts=False).fit(X)
    assert backend.is_own(batched.cluster_centers_) and backend.is_own(batched.labels_)
    np.testing.assert_array_equal(backend.to_numpy(batched.labels_), backend.to_numpy(sequential.labels_))
    np.testing.assert_allclose(backend.to_numpy(batched.cluster_centers_),
                               backend.to_numpy(sequential.cluster_centers_), rtol=1e-10, atol=1e-10)
    assert batched.inertia_ == pytest.approx(sequential.inertia_, rel=1e-12)
    assert batched.n_iter_ == sequential.n_iter_


def test_every_run_of_a_batch_matches_its_own_sequential_run(backend):
    X = backend.asarray(_blobs(n=800, k=4, std=3.0, seed=2))
    data = prepare_data(X, array_namespace(X), None, 4, None)
    xp = data.xp
    rng = np.random.default_rng(0)
    starts = [xp.asarray(rng.normal(size=(4, 3)) * 5, dtype=X.dtype) for _ in range(6)]
    together = batched_lloyd(data.lloyd_data, xp.stack(starts), max_iter=50, tol=0.0, empty_cluster="relocate",
                             rngs=[np.random.default_rng(1)] * 6)
    for start, run in zip(starts, together):
        alone = lloyd(data.lloyd_data, start, max_iter=50, tol=0.0, empty_cluster="relocate",
                      rng=np.random.default_rng(1))
        np.testing.assert_allclose(backend.to_numpy(run.centers), backend.to_numpy(alone.centers), rtol=1e-10,
                                   atol=1e-10)
        np.testing.assert_array_equal(backend.to_numpy(run.labels), backend.to_numpy(alone.labels))
        assert run.n_iter == alone.n_iter
        assert run.inertia == pytest.approx(alone.inertia, rel=1e-10)


def test_batched_kernel_equals_one_run_at_a_time(backend):
    X = backend.asarray(_blobs(n=700, d=4, seed=5))
    xp = array_namespace(X)
    rng = np.random.default_rng(2)
    centers = xp.asarray(rng.normal(size=(3, 6, 4)) * 4, dtype=X.dtype)
    weights = xp.asarray(rng.uniform(0.5, 2, 700), dtype=X.dtype)
    shift = xp.mean(X, axis=0)
    labels, min_sq, sums, weight_sums = kernels.assign_and_sum_batched(X, centers, weights, xp=xp, shift=shift)
    assert labels.shape == (700, 3) and sums.shape == (3, 6, 4) and weight_sums.shape == (3, 6)
    for run in range(3):
        one_labels, one_sq, one_sums, one_weights = kernels.assign_and_sum(X, centers[run, ...], weights, xp=xp,
                                                                           shift=shift)
        np.testing.assert_array_equal(backend.to_numpy(labels[:, run]), backend.to_numpy(one_labels))
        np.testing.assert_allclose(backend.to_numpy(min_sq[:, run]), backend.to_numpy(one_sq), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(backend.to_numpy(sums[run, ...]), backend.to_numpy(one_sums), rtol=1e-9,
                                   atol=1e-9)
        np.testing.assert_allclose(backend.to_numpy(weight_sums[run, ...]), backend.to_numpy(one_weights),
                                   rtol=1e-12)


def _with_far_centre(X, n_clusters, random_state=None):
    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    rows = np.asarray(X)[rng.choice(len(X), n_clusters - 1, replace=False)]
    return np.concatenate([rows, np.full((1, X.shape[1]), 1e3)])  # nobody is near the last one


def test_empty_clusters_inside_a_batch_are_relocated_as_sequentially():
    X = _blobs(n=1000, k=4)
    batched = KMeans(5, init=_with_far_centre, n_init=4, random_state=0, batch_restarts=True).fit(X)
    sequential = KMeans(5, init=_with_far_centre, n_init=4, random_state=0, batch_restarts=False).fit(X)
    np.testing.assert_allclose(batched.cluster_centers_, sequential.cluster_centers_, rtol=1e-10)
    assert batched.n_iter_ == sequential.n_iter_
    with pytest.raises(EmptyClusterError, match="became empty at iteration 1"):
        KMeans(5, init=_with_far_centre, n_init=3, empty_cluster="error", batch_restarts=True).fit(X)
    randomly = KMeans(5, init=_with_far_centre, n_init=3, empty_cluster="random", random_state=0,
                      batch_restarts=True).fit(X)
    assert np.unique(randomly.labels_).size == 5


def test_batch_restarts_parameter_rules():
    X = _blobs(n=300)
    with pytest.raises(InvalidParameterError, match="batch_restarts=True cannot follow empty_cluster='drop'"):
        KMeans(3, n_init=3, empty_cluster="drop", batch_restarts=True).fit(X)
    with pytest.raises(InvalidParameterError, match="batch_restarts='yes' is not recognised"):
        KMeans(3, n_init=3, batch_restarts="yes").fit(X)
    with pytest.raises(InvalidParameterError, match="batch_restarts=1 must be 'auto', True or False"):
        KMeans(3, n_init=3, batch_restarts=1).fit(X)
    # "auto" with "drop" falls back to sequential runs
    assert KMeans(3, n_init=3, empty_cluster="drop", random_state=0).fit(X).cluster_centers_.shape == (3, 3)
    centers, labels, inertia = k_means(X, 3, n_init=5, init="random", random_state=0, batch_restarts=True)
    assert centers.shape == (3, 3) and labels.shape == (300,)


def test_auto_batches_small_cpu_problems_and_every_gpu_problem(monkeypatch):
    xp = array_namespace(np.empty(0))
    assert batching_pays(300, 3, xp, "cpu")
    assert not batching_pays(CPU_BATCH_MAX_WORK, 2, xp, "cpu")
    monkeypatch.setattr(kernels, "on_gpu", lambda xp, device: True)
    assert batching_pays(10**7, 1024, xp, "cpu")


def test_auto_uses_the_batch_where_it_pays(monkeypatch):
    import gkmeans.algorithms.batched_restarts as batched_module

    calls = []
    original = batched_module.batched_lloyd

    def spy(*args, **kwargs):
        calls.append(args[1].shape)
        return original(*args, **kwargs)

    monkeypatch.setattr(batched_module, "batched_lloyd", spy)
    KMeans(3, init="random", n_init=50, random_state=0).fit(_blobs(n=300, k=3))  # the course's setting
    assert calls == [(50, 3, 3)]
    KMeans(8, init="random", n_init=4, random_state=0).fit(_blobs(n=5000, k=8))  # a large run: sequential
    assert len(calls) == 1


def test_batched_progress_and_verbose(capsys):
    seen = []
    KMeans(3, init="random", n_init=4, random_state=0, verbose=1, batch_restarts=True)._fit(
        _blobs(n=300, k=3), progress=lambda run, iteration, max_iter: seen.append((run, iteration)))
    assert seen and seen[-1][0] == 3
    assert "live runs" in capsys.readouterr().out


@pytest.mark.parametrize("batch", [False, True])
def test_one_host_transfer_per_iteration(monkeypatch, batch):
    """Sequential and batched Lloyd bring one small array to the host per iteration (no empty clusters)."""
    import gkmeans.algorithms.batched_restarts as batched_module
    import gkmeans.algorithms.lloyd as lloyd_module

    module = batched_module if batch else lloyd_module
    transfers = []
    original = module.to_numpy
    monkeypatch.setattr(module, "to_numpy", lambda x: transfers.append(1) or original(x))
    X = _blobs(n=2000, k=4)
    iterations = set()
    model = KMeans(4, init="k-means++", n_init=3 if batch else 1, random_state=0, batch_restarts=batch)
    model._fit(X, progress=lambda run, iteration, max_iter: iterations.add(iteration))
    # batched: one transfer per iteration for all runs, plus one for the final scores
    assert len(transfers) == len(iterations) + (1 if batch else 0)


@pytest.mark.parametrize("seed", [308, 364, 553, 923])
def test_random_reseeding_draws_the_same_batched_or_not(seed):
    """Starts in empty regions (random-box) leave clusters empty, and empty_cluster="random" re-draws
    them: each run draws from its own generator, so batched restarts (starts drawn first) make the
    same draws as sequential ones (they used to share one stream and part; seeds from a randomised
    comparison)."""
    import gkmeans

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(150, 3)) * 10
    fits = [gkmeans.KMeans(7, init="random-box", n_init=8, max_iter=30, tol=0.0, empty_cluster="random",
                           random_state=seed, batch_restarts=batched).fit(X) for batched in (False, True)]
    np.testing.assert_array_equal(fits[0].labels_, fits[1].labels_)
    np.testing.assert_allclose(fits[0].cluster_centers_, fits[1].cluster_centers_, rtol=1e-10, atol=1e-10)
    assert fits[0].n_iter_ == fits[1].n_iter_


def test_a_run_stopped_right_after_an_empty_cluster_fix_is_scored_on_its_own_centres():
    """Labels unchanged in an iteration that also re-drew an empty cluster: the run stops (as
    scikit-learn's), but the moved centre may take points, so the run is assigned again before it
    is ranked. Sequential runs used to rank on the labels of the centres before the fix, and chose
    another restart than the batched runs (found by a randomised comparison)."""
    import gkmeans

    X = np.array([[1.583473, 1.320361, 0.633353, -2.20351, 0.052029],
                  [0.683686, 1.003962, -0.617907, 1.822011, -1.320431],
                  [-0.661528, 0.93505, 0.049055, 2.002393, 0.188519],
                  [-0.633194, -0.377564, -1.091146, -1.27768, 0.630411],
                  [0.581166, 1.294559, -0.754606, 1.689107, -0.287388],
                  [1.574408, -0.432786, -0.735483, 0.249785, 1.031453],
                  [0.16101, -0.585529, -1.34122, -1.40152, 0.502683]])
    w = np.array([0.31613, 0.588934, 0.492753, 0.981017, 0.090511, 0.782006, 0.664373])
    fits = [gkmeans.KMeans(6, init="random-box", n_init=5, max_iter=2, tol=1e-4, empty_cluster="random",
                           random_state=719, batch_restarts=batched).fit(X, sample_weight=w) for batched in (False, True)]
    np.testing.assert_array_equal(fits[0].labels_, fits[1].labels_)
    assert fits[0].inertia_ == pytest.approx(fits[1].inertia_, rel=1e-12)
