"""Streaming fits (``gkmeans.chunked``): exact Lloyd over chunks equals the in-memory fit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gkmeans
from gkmeans import EmptyClusterError, KMeans, chunked
from gkmeans.datasets import make_blobs


def _blobs(n=6000, k=6, d=4, dtype=np.float64, seed=0):
    X, _, _ = make_blobs(n, n_features=d, centers=k, cluster_std=1.5, random_state=seed, dtype=dtype)
    return X


def _start(X, k, seed=0):
    return X[np.random.default_rng(seed).choice(X.shape[0], k, replace=False)]


def _split(X, sizes):
    edges = np.cumsum([0, *sizes])
    assert edges[-1] == X.shape[0]
    return [X[a:b] for a, b in zip(edges[:-1], edges[1:])]


def assert_same_fit(streamed, in_memory, dtype):
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    np.testing.assert_array_equal(np.asarray(streamed.labels_), np.asarray(in_memory.labels_))
    np.testing.assert_allclose(np.asarray(streamed.cluster_centers_), np.asarray(in_memory.cluster_centers_),
                               rtol=rtol, atol=rtol)
    assert streamed.inertia_ == pytest.approx(in_memory.inertia_, rel=rtol)
    assert streamed.n_iter_ == in_memory.n_iter_


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_streamed_chunks_equal_in_memory_fit_on_every_backend(backend, dtype):
    X = _blobs(dtype=dtype)
    init = _start(X, 6)
    chunks = [backend.asarray(part) for part in _split(X, [1000, 2500, 7, 2493])]
    streamed = KMeans(6, init=backend.asarray(init), n_init=1, tol=0).fit(chunked(chunks))
    in_memory = KMeans(6, init=backend.asarray(init), n_init=1, tol=0).fit(backend.asarray(X))
    assert backend.is_own(streamed.cluster_centers_) and backend.is_own(streamed.labels_)
    assert_same_fit(streamed, in_memory, dtype)


def test_npy_file_streamed_with_weights_equals_in_memory(tmp_path):
    X = _blobs(n=5000, dtype=np.float32)
    weights = np.random.default_rng(3).uniform(0.1, 3.0, X.shape[0])
    path = tmp_path / "data.npy"
    np.save(path, X)
    init = _start(X, 6, seed=4)
    streamed = KMeans(6, init=init, n_init=1).fit(chunked(path, sample_weight=weights, chunk_rows=700))
    in_memory = KMeans(6, init=init, n_init=1).fit(X, sample_weight=weights)
    assert_same_fit(streamed, in_memory, np.float32)
    assert streamed.cluster_centers_.dtype == np.float32
    # predict and score over the file agree with the in-memory model
    np.testing.assert_array_equal(streamed.predict(chunked(str(path), chunk_rows=999)), in_memory.predict(X))
    assert streamed.score(chunked(path)) == pytest.approx(in_memory.score(X), rel=1e-5)


def test_memmap_and_callable_sources(tmp_path):
    X = _blobs(n=3000)
    path = tmp_path / "data.npy"
    np.save(path, X)
    memmap = np.load(path, mmap_mode="r")
    init = _start(X, 6, seed=1)
    reference = KMeans(6, init=init, n_init=1).fit(X)
    from_memmap = KMeans(6, init=init, n_init=1).fit(chunked(memmap, chunk_rows=512))
    calls = []

    def read_chunks():
        calls.append(1)
        with open(path, "rb") as handle:
            data = np.load(handle)
        for start in range(0, data.shape[0], 1000):
            yield data[start:start + 1000]

    from_callable = KMeans(6, init=init, n_init=1).fit(chunked(read_chunks))
    assert_same_fit(from_memmap, reference, np.float64)
    assert_same_fit(from_callable, reference, np.float64)
    # a look at the first chunk (placement), one pass for the statistics, one for the
    # tolerance, one per iteration, one for the labels
    assert len(calls) == 4 + reference.n_iter_


def test_chunks_given_with_their_weights():
    X = _blobs(n=2000)
    weights = np.random.default_rng(0).integers(0, 4, X.shape[0]).astype(float)
    init = _start(X, 6, seed=2)
    pairs = [(X[i:i + 300], weights[i:i + 300]) for i in range(0, X.shape[0], 300)]
    streamed = KMeans(6, init=init, n_init=1).fit(chunked(pairs))
    in_memory = KMeans(6, init=init, n_init=1).fit(X, sample_weight=weights)
    assert_same_fit(streamed, in_memory, np.float64)


@pytest.mark.parametrize("policy", ["relocate", "drop"])
def test_empty_cluster_policies_match_in_memory(policy):
    X = _blobs(n=3000, k=4)
    init = np.concatenate([_start(X, 4, seed=5), np.full((2, X.shape[1]), 1e4)])  # two centres nobody is near
    streamed = KMeans(6, init=init, n_init=1, empty_cluster=policy)
    in_memory = KMeans(6, init=init, n_init=1, empty_cluster=policy)
    if policy == "drop":
        with pytest.warns(gkmeans.EmptyClusterWarning):
            streamed.fit(chunked(X, chunk_rows=400))
        with pytest.warns(gkmeans.EmptyClusterWarning):
            in_memory.fit(X)
    else:
        streamed.fit(chunked(X, chunk_rows=400))
        in_memory.fit(X)
    assert_same_fit(streamed, in_memory, np.float64)


def test_empty_cluster_random_and_error():
    X = _blobs(n=2000, k=3)
    init = np.concatenate([_start(X, 3), np.full((1, X.shape[1]), 1e4)])
    fitted = KMeans(4, init=init, n_init=1, empty_cluster="random", random_state=0).fit(chunked(X, chunk_rows=300))
    assert fitted.cluster_centers_.shape == (4, X.shape[1])
    assert np.unique(fitted.labels_).size == 4
    with pytest.raises(EmptyClusterError, match=r"cluster\(s\) \[3\] became empty at iteration 1"):
        KMeans(4, init=init, n_init=1, empty_cluster="error").fit(chunked(X, chunk_rows=300))


@pytest.mark.parametrize("init", ["k-means++", "random", "random-box", "farthest-first", "k-means||"])
def test_named_inits_on_small_data_equal_in_memory(init):
    # With fewer rows than the init sample, every row takes part, in order: the same start.
    X = _blobs(n=1500)
    streamed = KMeans(6, init=init, random_state=7).fit(chunked(X, chunk_rows=256))
    in_memory = KMeans(6, init=init, random_state=7).fit(X)
    if init == "k-means||":  # its draws are per chunk: same quality, not the same start
        assert streamed.inertia_ <= 1.05 * in_memory.inertia_
    else:
        assert_same_fit(streamed, in_memory, np.float64)


def test_init_on_a_sample_when_data_exceed_it(monkeypatch):
    from gkmeans.pipelines import out_of_core

    monkeypatch.setattr(out_of_core, "INIT_SAMPLE_ROWS", 500)
    X = _blobs(n=8000, k=5)
    fitted = KMeans(5, random_state=0).fit(chunked(X, chunk_rows=1000))
    best = min(KMeans(5, random_state=s).fit(X).inertia_ for s in range(3))
    assert fitted.inertia_ <= 1.01 * best


def test_several_restarts_keep_the_best_and_follow_the_seed():
    X = _blobs(n=3000, k=8)
    one = KMeans(8, init="random", n_init=1, random_state=3).fit(chunked(X, chunk_rows=500))
    many = KMeans(8, init="random", n_init=6, random_state=3).fit(chunked(X, chunk_rows=500))
    again = KMeans(8, init="random", n_init=6, random_state=3).fit(chunked(X, chunk_rows=500))
    assert many.inertia_ <= one.inertia_ + 1e-9
    assert many.inertia_ == again.inertia_
    np.testing.assert_array_equal(many.labels_, again.labels_)


def test_kmeans_parallel_over_chunks_matches_kmeans_plusplus_quality():
    X = _blobs(n=20000, k=25, d=6, seed=11)
    parallel = np.mean([KMeans(25, init="k-means||", random_state=s).fit(chunked(X, chunk_rows=3000)).inertia_
                        for s in range(4)])
    plusplus = np.mean([KMeans(25, init="k-means++", random_state=s).fit(X).inertia_ for s in range(4)])
    assert parallel <= 1.05 * plusplus


def test_streaming_errors(tmp_path):
    X = _blobs(n=500)
    with pytest.raises(TypeError, match="iterator can be read only once"):
        chunked(iter([X]))
    with pytest.raises(ValueError, match="reads .npy files"):
        chunked(str(tmp_path / "data.csv"))
    with pytest.raises(ValueError, match="2-D"):
        chunked(np.zeros(5))
    with pytest.raises(ValueError, match=r"sample_weight.shape=\(3,\) must be \(500,\)"):
        chunked(X, sample_weight=np.ones(3))
    bad = X.copy()
    bad[321, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN in the chunk starting at row 300"):
        KMeans(3).fit(chunked(bad, chunk_rows=100))
    with pytest.raises(ValueError, match="same number of features"):
        KMeans(3).fit(chunked([X[:100], X[100:200, :2]]))
    with pytest.raises(ValueError, match=r"n_samples=500 should be >= n_clusters=900"):
        KMeans(900).fit(chunked(X))
    with pytest.raises(ValueError, match="sample_weight must be finite and non-negative"):
        KMeans(3).fit(chunked([(X, -np.ones(500))]))
    with pytest.raises(gkmeans.InvalidParameterError, match="chunked"):
        KMeans(3).fit(chunked(X), sample_weight=np.ones(500))
    growing = []

    def unstable():
        growing.append(1)
        return iter([X[: 100 * len(growing)]])

    with pytest.raises(ValueError, match="same data every time"):
        KMeans(3, init=X[:3], n_init=1).fit(chunked(unstable))
    fitted = KMeans(3, random_state=0).fit(chunked(X))
    with pytest.raises(TypeError, match="transform of chunked data"):
        fitted.transform(chunked(X))
    with pytest.raises(ValueError, match="X has 2 features, but KMeans is expecting 4"):
        fitted.predict(chunked(X[:, :2]))


def test_kernel_layer_streams_without_overlap_on_numpy():
    from gkmeans import _kernels as kernels
    from gkmeans._compat import array_namespace

    xp = array_namespace(np.empty(0))
    assert kernels.implementation(xp, "stream_to_device") == "agnostic"
    batches = [(np.ones((2, 2)), None), (np.zeros((1, 2)), np.ones(1))]
    moved = list(kernels.stream_to_device(iter(batches), xp=xp, device="cpu"))
    assert [m[0].shape for m in moved] == [(2, 2), (1, 2)] and moved[0][1] is None


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS and /proc are Linux features")
def test_fit_a_file_larger_than_the_memory_the_process_may_map(tmp_path):
    """The process's address space is capped below the file's size, and the fit still runs."""
    X = _blobs(n=400_000, k=8, d=50, dtype=np.float64, seed=2)  # 160 MB
    path = tmp_path / "big.npy"
    np.save(path, X)
    init = _start(X, 8, seed=3)
    np.save(tmp_path / "init.npy", init)
    expected = KMeans(8, init=init, n_init=1, max_iter=3).fit(X)
    del X
    script = textwrap.dedent(f"""
        import resource, numpy as np, gkmeans
        size = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()
        limit = size + 96 * 2**20   # far below the 160 MB file
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        init = np.load({str(tmp_path / 'init.npy')!r})
        data = gkmeans.chunked({str(path)!r}, chunk_rows=20_000)
        km = gkmeans.KMeans(8, init=init, n_init=1, max_iter=3).fit(data)
        print(repr(km.inertia_), km.n_iter_, (limit - size) // 2**20)
        try:
            np.load({str(path)!r})
            print("loaded")
        except MemoryError:
            print("too big to load")
    """)
    env = dict(os.environ, GKMEANS_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    inertia, n_iter, headroom, *rest = done.stdout.split()
    assert float(inertia) == pytest.approx(expected.inertia_, rel=1e-10)
    assert int(n_iter) == expected.n_iter_
    assert " ".join(rest) == "too big to load"


def test_host_arrays_bound_for_a_gpu_they_would_not_fit_are_streamed(monkeypatch, tmp_path):
    """The rule, and the routing: a memmap (or an array larger than half the GPU's free memory)
    reaches a GPU chunk by chunk; on the CPU arrays are fitted in place."""
    from gkmeans import _kernels as kernels
    from gkmeans.pipelines import stream_engine
    from gkmeans.pipelines import router
    from gkmeans.pipelines.router import should_stream

    X = _blobs(n=4000)
    path = tmp_path / "X.npy"
    np.save(path, X)
    memmap = np.load(path, mmap_mode="r")
    assert not should_stream(X, False, 10**12) and not should_stream(memmap, False, 10**12)
    assert should_stream(memmap, True, 10**12)
    assert should_stream(X, True, X.nbytes) and not should_stream(X, True, 4 * X.nbytes)
    assert not should_stream(X, True, None)

    # Routing, with the GPU simulated: the placement says "GPU" and it has little free memory.
    passes = []
    original = stream_engine.StreamEngine.map_reduce
    monkeypatch.setattr(stream_engine.StreamEngine, "map_reduce",
                        lambda self, *a, **kw: passes.append(1) or original(self, *a, **kw))
    from types import SimpleNamespace

    fake_gpu = SimpleNamespace(xp=None, device=None)
    monkeypatch.setattr(router, "host_array_to_gpu", lambda X, device, k: fake_gpu)
    monkeypatch.setattr(kernels, "free_bytes", lambda xp, device: X.nbytes)
    init = _start(X, 6)
    streamed = KMeans(6, init=init, n_init=1).fit(X)
    assert passes, "the array was not streamed"
    labels = streamed.predict(X)
    monkeypatch.undo()
    in_memory = KMeans(6, init=init, n_init=1).fit(X)
    assert_same_fit(streamed, in_memory, np.float64)
    np.testing.assert_array_equal(labels, in_memory.labels_)


def test_chunked_fits_check_every_parameter():
    X = _blobs(n=300)
    with pytest.raises(gkmeans.InvalidParameterError, match="algorithm='fast' is not recognised"):
        KMeans(3, algorithm="fast").fit(chunked(X))
    with pytest.raises(gkmeans.InvalidParameterError, match="precision='half' is not recognised"):
        KMeans(3, precision="half").fit(chunked(X))
    with pytest.raises(gkmeans.InvalidParameterError, match="init='best' is not recognised"):
        KMeans(3, init="best").fit(chunked(X))
    with pytest.raises(gkmeans.InvalidParameterError, match="max_iter=0"):
        KMeans(3, max_iter=0).fit(chunked(X))
    with pytest.raises(ValueError, match="does not match the number of clusters"):
        KMeans(3, init=X[:2]).fit(chunked(X))
    assert KMeans(3, random_state=0, precision="tf32").fit(chunked(X)).precision_ == "exact"
