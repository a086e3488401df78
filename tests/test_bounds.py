"""Bound-based exact k-means (Hamerly, Elkan, Yinyang): Lloyd's labels at every iteration, on every
backend, with sample weights and each empty-cluster policy; the distances they skip; "auto"."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gkmeans import EmptyClusterError, InvalidParameterError, KMeans
from gkmeans.algorithms import bounds_common
from gkmeans.algorithms.bounds_choice import ALGORITHMS, resolve_algorithm
from gkmeans.algorithms.bounds_yinyang import centre_groups
from gkmeans.datasets import make_blobs

BOUNDED = ("hamerly", "elkan", "yinyang")
TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-11, atol=1e-11)}


def _problem(dtype, ties=False, n=500, k=12, seed=0):
    """Data, weights and a start whose last two centres lie far from every point (so their
    clusters are empty at the first iteration). ``ties``: integer points, full of exact ties."""
    rng = np.random.default_rng(seed)
    if ties:
        X = rng.integers(0, 5, size=(n, 2)).astype(dtype)
    else:
        X = make_blobs(n, 5, 8, cluster_std=1.5, random_state=seed)[0].astype(dtype)
    weights = rng.uniform(0.5, 2.0, size=n).astype(dtype)
    start = X[rng.choice(n, k, replace=False)].copy()
    start[-2:] = X.max(axis=0) + 50 + np.arange(2)[:, None]
    return X, weights, start


def _fit(backend, X, weights, start, algorithm, max_iter, policy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dropped clusters, fewer distinct clusters
        model = KMeans(
            start.shape[0],
            init=backend.asarray(start),
            n_init=1,
            max_iter=max_iter,
            tol=0.0,
            algorithm=algorithm,
            empty_cluster=policy,
            random_state=7,
        )
        return model.fit(backend.asarray(X), sample_weight=backend.asarray(weights))


@pytest.mark.parametrize("policy", ["relocate", "random", "drop"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ties", [False, True], ids=["blobs", "ties"])
def test_same_labels_as_lloyd_at_every_iteration(backend, policy, dtype, ties):
    X, weights, start = _problem(dtype, ties)
    for max_iter in range(1, 9):
        ref = _fit(backend, X, weights, start, "lloyd", max_iter, policy)
        for algorithm in BOUNDED:
            ours = _fit(backend, X, weights, start, algorithm, max_iter, policy)
            assert backend.is_own(ours.labels_) and backend.is_own(ours.cluster_centers_)
            np.testing.assert_array_equal(
                backend.to_numpy(ours.labels_),
                backend.to_numpy(ref.labels_),
                err_msg=f"{algorithm} after {max_iter} iterations",
            )
            np.testing.assert_allclose(
                backend.to_numpy(ours.cluster_centers_),
                backend.to_numpy(ref.cluster_centers_),
                **TOL[dtype],
                err_msg=f"{algorithm} after {max_iter} iterations",
            )
            assert ours.n_iter_ == ref.n_iter_


@pytest.mark.parametrize("algorithm", BOUNDED)
def test_empty_cluster_error_is_raised_as_by_lloyd(backend, algorithm):
    X, weights, start = _problem(np.float64)
    with pytest.raises(EmptyClusterError, match="iteration 1"):
        _fit(backend, X, weights, start, algorithm, 10, "error")
    with pytest.raises(EmptyClusterError, match="iteration 1"):
        _fit(backend, X, weights, start, "lloyd", 10, "error")


@pytest.mark.parametrize("algorithm", BOUNDED)
def test_restarts_and_convergence_as_lloyd(backend, algorithm):
    X = make_blobs(800, 3, 20, cluster_std=2.0, random_state=3)[0]
    options = dict(n_init=3, init="random", random_state=5, batch_restarts=False)
    ref = KMeans(20, algorithm="lloyd", **options).fit(backend.asarray(X))
    ours = KMeans(20, algorithm=algorithm, **options).fit(backend.asarray(X))
    np.testing.assert_array_equal(backend.to_numpy(ours.labels_), backend.to_numpy(ref.labels_))
    np.testing.assert_allclose(ours.inertia_, ref.inertia_, rtol=1e-12)
    assert ours.n_iter_ == ref.n_iter_


@pytest.mark.parametrize("algorithm", BOUNDED)
def test_bounds_skip_distances_and_say_so(backend, algorithm, capsys):
    X = make_blobs(3000, 4, 24, cluster_std=0.5, random_state=1)[0]
    ref = KMeans(24, algorithm="lloyd", random_state=0).fit(backend.asarray(X))
    assert ref.n_distance_evals_ == 3000 * 24 * ref.n_iter_
    ours = KMeans(24, algorithm=algorithm, random_state=0, verbose=1).fit(backend.asarray(X))
    assert ours.n_iter_ == ref.n_iter_ > 2
    # The first pass computes all n x k distances; the later ones far fewer.
    assert 3000 * 24 <= ours.n_distance_evals_ < 0.5 * ref.n_distance_evals_
    out = capsys.readouterr().out
    assert f"running '{algorithm}'" in out and "skipped" in out


def test_compiled_step_runs_on_numpy(monkeypatch):
    pytest.importorskip("numba")

    def fail(*args, **kwargs):
        raise AssertionError("the whole-array step ran instead of the compiled one")

    monkeypatch.setattr(bounds_common, "array_pass", fail)
    X = make_blobs(2000, 3, 10, random_state=0)[0]
    for algorithm in BOUNDED:
        KMeans(10, algorithm=algorithm, random_state=0).fit(X)


def test_whole_array_step_without_numba(monkeypatch):
    """GKMEANS_CPU_PASS=numpy: the whole-array step on NumPy, with Lloyd's labels."""
    monkeypatch.setenv("GKMEANS_CPU_PASS", "numpy")
    X, weights, start = _problem(np.float64)
    calls = []
    original = bounds_common.array_pass
    monkeypatch.setattr(
        bounds_common, "array_pass", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    options = dict(init=start, n_init=1, tol=0.0, max_iter=20)
    ref = KMeans(12, algorithm="lloyd", **options).fit(X, sample_weight=weights)
    ours = KMeans(12, algorithm="hamerly", **options).fit(X, sample_weight=weights)
    assert calls
    np.testing.assert_array_equal(ours.labels_, ref.labels_)


def test_algorithm_values_and_default():
    assert KMeans(3).algorithm == "auto"
    assert ALGORITHMS == ("auto", "lloyd", "elkan", "hamerly", "yinyang")
    with pytest.raises(InvalidParameterError, match="algorithm"):
        KMeans(3, algorithm="full").fit(np.zeros((5, 2)))


def test_elkan_runs_yinyang_where_its_bounds_do_not_fit():
    shape = dict(itemsize=8, free=None, compiled=True, gpu=False)
    assert resolve_algorithm("elkan", 10_000, 8, 64, **shape) == "elkan"
    # 10^6 x 256 float64 bounds (2 GiB) are far above 0.3 X + 64 MiB (X: 61 MiB).
    assert resolve_algorithm("elkan", 10**6, 8, 256, **shape) == "yinyang"
    assert resolve_algorithm("elkan", 10_000, 8, 64, **dict(shape, free=2**20)) != "elkan"
    assert resolve_algorithm("hamerly", 100, 2, 1, **shape) == "lloyd"


def test_auto_follows_the_measured_crossovers():
    shape = dict(itemsize=4, free=None, compiled=True, gpu=False)
    assert resolve_algorithm("auto", 273_280, 3, 16, **shape) == "lloyd"  # photo: the small-d loop
    assert resolve_algorithm("auto", 273_280, 3, 256, **shape) == "lloyd"
    assert resolve_algorithm("auto", 273_280, 12, 16, **shape) == "hamerly"  # few centres
    assert resolve_algorithm("auto", 273_280, 12, 256, **shape) == "lloyd"  # below 16 features
    assert resolve_algorithm("auto", 200_000, 32, 64, **shape) == "yinyang"
    assert resolve_algorithm("auto", 1797, 64, 10, **shape) == "lloyd"  # milliseconds either way


def test_auto_runs_lloyd_on_a_gpu_and_without_the_compiled_step():
    for options in (dict(compiled=True, gpu=True), dict(compiled=False, gpu=False)):
        assert resolve_algorithm("auto", 10**6, 32, 64, itemsize=4, free=None, **options) == "lloyd"


def test_yinyang_groups_are_numbered_without_gaps():
    centers = np.random.default_rng(0).normal(size=(57, 3))
    groups = centre_groups(centers)
    assert groups.shape == (57,)
    assert set(groups.tolist()) == set(range(5))
    assert centre_groups(centers[:9]).tolist() == [0] * 9


def test_benchmark_rows_compare_every_contender_at_equal_inertia():
    """benchmarks/bounds.py's machinery on a small problem (its timings live in its results)."""
    import sys
    from pathlib import Path

    pytest.importorskip("sklearn")
    sys.path.append(str(Path(__file__).resolve().parent.parent))
    from benchmarks import bounds as bench

    X = make_blobs(3000, 3, 8, cluster_std=2.0, random_state=0)[0].astype(np.float32)
    rows = bench.run_problem("tiny", X, 8, repeats=1)
    peers = {row["peer"] for row in rows}
    assert {f"gkmeans-{a}" for a in bench.GKMEANS_ALGORITHMS} <= peers
    assert {"sklearn-lloyd", "sklearn-elkan"} <= peers
    ours = [row for row in rows if row["peer"].startswith("gkmeans-")]
    assert all(abs(row["inertia_vs_best"]) < 1e-3 for row in ours)
    assert all(0 <= row["skipped"] < 1 for row in ours)
    assert all(row["peak_extra_mib"] > 0 for row in ours if row["peer"] != "gkmeans-auto")


@pytest.mark.parametrize("algorithm", ["hamerly", "elkan", "yinyang"])
def test_history_of_a_bound_based_fit_is_lloyds(algorithm):
    """history=True records the same centres and inertia per iteration as Lloyd's."""
    from gkmeans import KMeans
    from gkmeans.datasets import make_blobs

    X, _, _ = make_blobs(3000, 4, 6, cluster_std=2.0, random_state=1)
    ours = KMeans(6, algorithm=algorithm, history=True, n_init=1, random_state=0).fit(X)
    lloyd = KMeans(6, algorithm="lloyd", history=True, n_init=1, random_state=0).fit(X)
    assert ours.history_.centers.shape == lloyd.history_.centers.shape
    np.testing.assert_allclose(ours.history_.centers, lloyd.history_.centers, rtol=1e-12)
    np.testing.assert_allclose(ours.history_.inertia, lloyd.history_.inertia, rtol=1e-10)


@pytest.mark.parametrize("algorithm", ["auto", "elkan", "yinyang"])
def test_sparse_input_runs_lloyd_whatever_the_algorithm(algorithm):
    """The bounds' steps are dense kernels: sparse rows run Lloyd, with Lloyd's result."""
    sparse = pytest.importorskip("scipy.sparse")
    from gkmeans import KMeans

    S = sparse.random(2000, 60, density=0.05, format="csr", random_state=0)
    ours = KMeans(5, algorithm=algorithm, n_init=1, random_state=0).fit(S)
    lloyd = KMeans(5, algorithm="lloyd", n_init=1, random_state=0).fit(S)
    np.testing.assert_array_equal(ours.labels_, lloyd.labels_)
    assert ours.inertia_ == lloyd.inertia_


def test_compiled_bounds_step_loads_from_the_disk_cache_in_a_new_process(tmp_path):
    """A second process loads the compiled step instead of compiling it again (a closure over
    other compiled functions missed Numba's cache in every process: ~2 s a fit)."""
    pytest.importorskip("numba")
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import numpy as np\n"
        "from gkmeans import KMeans\n"
        "X = np.random.default_rng(0).standard_normal((4000, 4)).astype(np.float32)\n"
        "KMeans(5, algorithm='hamerly', n_init=1, random_state=0).fit(X)\n"
    )
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(root)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=300)
    compiled = list(tmp_path.rglob("*bounds_step*.nbc"))
    assert len(compiled) == 1, [path.name for path in compiled]
