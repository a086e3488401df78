"""The kernel layer: primitives against brute force, native fast paths proven to run."""

from __future__ import annotations

import numpy as np
import pytest
from rounding import (
    assert_distances_equal_up_to_rounding,
    assert_labels_equal_up_to_rounding,
)

import gkmeans
from gkmeans import _kernels as kernels
from gkmeans._compat import array_namespace
from gkmeans._kernels import agnostic, cpu_threads, primitives, workspace


def _brute_force(X, C):
    d2 = ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
    return d2.argmin(axis=1), d2.min(axis=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_assign_matches_brute_force(backend, rng, dtype):
    X = rng.normal(size=(257, 5)).astype(dtype)
    C = rng.normal(size=(7, 5)).astype(dtype)
    Xb, Cb = backend.asarray(X), backend.asarray(C)
    xp = array_namespace(Xb)
    labels, min_sq = kernels.assign(Xb, Cb, xp=xp)
    ref_labels, ref_d2 = _brute_force(X.astype(np.float64), C.astype(np.float64))
    np.testing.assert_array_equal(backend.to_numpy(labels), ref_labels)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(backend.to_numpy(min_sq), ref_d2, rtol=rtol, atol=1e-5)
    assert backend.is_own(labels) and backend.is_own(min_sq)


def test_assign_in_small_chunks_equals_one_chunk(backend, rng, monkeypatch):
    X = backend.asarray(rng.normal(size=(1000, 4)))
    C = backend.asarray(rng.normal(size=(6, 4)))
    xp = array_namespace(X)
    whole, _ = kernels.assign(X, C, xp=xp)
    monkeypatch.setattr(workspace, "workspace_bytes", lambda xp, device: 6 * 8 * 3 * 37)
    assert kernels.chunk_rows_for(1000, 6 * 8 * 3, xp, None) == 37
    chunked, _ = kernels.assign(X, C, xp=xp)
    np.testing.assert_array_equal(backend.to_numpy(whole), backend.to_numpy(chunked))


def test_assign_ties_go_to_lowest_index(backend):
    X = backend.asarray([[0.0, 0.0], [2.0, 0.0]])
    C = backend.asarray([[1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    labels, _ = kernels.assign(X, C, xp=array_namespace(X))
    assert backend.to_numpy(labels).tolist() == [0, 0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_segment_sum_matches_reference(backend, rng, dtype):
    X = rng.normal(size=(500, 3)).astype(dtype)
    labels = rng.integers(0, 5, size=500)
    labels[labels == 3] = 4  # an empty cluster
    w = rng.uniform(0, 2, size=500).astype(dtype)
    xp = array_namespace(backend.asarray(X))
    sums, wsum = kernels.segment_sum(backend.asarray(X), backend.asarray(labels), backend.asarray(w), 5, xp=xp)
    ref_sums = np.zeros((5, 3))
    np.add.at(ref_sums, labels, X.astype(np.float64) * w[:, None])
    ref_w = np.bincount(labels, weights=w, minlength=5)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(backend.to_numpy(sums), ref_sums, rtol=rtol, atol=1e-5)
    np.testing.assert_allclose(backend.to_numpy(wsum), ref_w, rtol=rtol)
    assert backend.to_numpy(wsum)[3] == 0


def test_agnostic_segment_sum_agrees_with_native(rng):
    X = rng.normal(size=(300, 4))
    labels = rng.integers(0, 6, size=300)
    w = rng.uniform(size=300)
    xp = array_namespace(X)
    native = kernels.segment_sum(X, labels, w, 6, xp=xp)
    fallback = agnostic.segment_sum(X, labels, w, 6, xp=xp, acc_dtype=xp.float64, chunk_rows=64)
    np.testing.assert_allclose(native[0], fallback[0], rtol=1e-12)
    np.testing.assert_allclose(native[1], fallback[1], rtol=1e-12)


NATIVE = {
    # PyTorch CUDA tensors: index_add_ for the sums; the rest is the Array API path.
    "segment_sum": {"numpy": "native:numpy", "torch": "native:torch", "torch_cuda": "native:torch",
                    "cupy": "native:cupy"},
    "assign": {"numpy": "native:numpy", "torch": "native:torch", "cupy": "native:cupy"},
    "cluster_distance_sums": {"numpy": "native:numpy", "torch": "native:torch"},
    "closer_distances": {"numpy": "native:numpy", "torch": "native:torch"},
    "row_sq_norms": {"numpy": "native:numpy", "torch": "native:torch"},
    "pairwise_sq_distances": {"numpy": "native:numpy", "torch": "native:torch"},
}


def _exercise(primitive, X):
    """A public call that goes through ``primitive``."""
    if primitive == "cluster_distance_sums":
        from gkmeans.metrics import silhouette_score

        labels = np.arange(X.shape[0]) % 3
        return silhouette_score(X, labels)
    if primitive == "pairwise_sq_distances":
        return gkmeans.KMeans(3, n_init=1, random_state=0).fit(X).transform(X)
    return gkmeans.KMeans(3, n_init=1, random_state=0).fit(X)


@pytest.mark.parametrize("primitive", sorted(NATIVE))
def test_native_kernel_is_the_one_that_runs(backend, monkeypatch, primitive):
    """With the pure Array API fallback made to fail, the public call still works on
    every backend that has a native version: so the native path is the one that ran."""
    expected = NATIVE[primitive].get(backend.name, "agnostic")
    X = backend.asarray(np.random.default_rng(1).normal(size=(200, 3)))
    assert kernels.implementation(array_namespace(X), primitive, X) == expected
    calls = []

    def fallback_must_not_run(*args, **kwargs):
        calls.append(1)
        raise AssertionError(f"the agnostic {primitive} ran")

    monkeypatch.setattr(agnostic, primitive, fallback_must_not_run)
    if backend.name == "cupy" and primitive == "assign":
        monkeypatch.setenv("GKMEANS_CUDA_ASSIGN", "graph")  # the default CuPy assign is the array path
    if expected == "agnostic":
        with pytest.raises(AssertionError, match=f"agnostic {primitive} ran"):
            _exercise(primitive, X)
    else:
        _exercise(primitive, X)
        assert calls == []


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_shift", [False, True])
@pytest.mark.parametrize("d, picks", [(6, [5, 4000, 77, 77]), (32, [1, 2, 3, 4, 5, 77, 77]),
                                      (128, list(range(8)) + [8, 8]), (2, [9, 9])])
@pytest.mark.parametrize("cpu_pass", ["numpy", "numba"])
def test_native_closer_distances_equal_agnostic(rng, monkeypatch, dtype, with_shift, d, picks, cpu_pass):
    """The NumPy kernel (plain or compiled) makes the array path's BLAS call and its operations in
    its order: the same distances, bit for bit, for the k-means++ candidate counts in use."""
    if cpu_pass == "numba":
        pytest.importorskip("numba")
    monkeypatch.setenv("GKMEANS_CPU_PASS", cpu_pass)
    X = (rng.normal(size=(5003, d)) + 30).astype(dtype)
    shift = X.mean(axis=0) if with_shift else None
    shifted = X - shift if with_shift else X
    x_sq = np.einsum("ij,ij->i", shifted, shifted)
    rows = shifted[picks]  # a candidate drawn twice ties with itself
    closest = rng.uniform(0, 40 * d, size=5003)
    w = rng.uniform(0.5, 2, size=5003)
    xp = array_namespace(X)
    # The same blocks: BLAS may sum a product of another height in another order.
    from gkmeans._kernels import numpy_

    native = numpy_.closer_distances(X, x_sq, rows, closest, w, xp=xp, chunk_rows=1024, shift=shift)
    # And the same number of BLAS threads: the NumPy kernel holds BLAS to one while its own threads
    # share the blocks, and a BLAS may round a product otherwise when it splits it among threads
    # (OpenBLAS's Haswell kernels do: half the float32 products of these blocks differ).
    with cpu_threads.one_blas_thread():
        fallback = agnostic.closer_distances(X, x_sq, rows, closest, w, xp=xp, chunk_rows=1024, shift=shift)
    np.testing.assert_array_equal(native[0], fallback[0])
    np.testing.assert_allclose(native[1], fallback[1], rtol=1e-12)
    assert native[1][-1] == pytest.approx(native[1][-2], rel=1e-14)  # a candidate drawn twice


def test_native_cluster_distance_sums_equal_agnostic(rng):
    X = rng.normal(size=(300, 4))
    x_sq = (X * X).sum(1)
    one_hot = (rng.integers(0, 3, size=300)[:, None] == np.arange(3)).astype(float)
    xp = array_namespace(X)
    native = kernels.cluster_distance_sums(X, x_sq, one_hot, xp=xp)
    fallback = agnostic.cluster_distance_sums(X, x_sq, one_hot, xp=xp, chunk_rows=70)
    np.testing.assert_allclose(native, fallback, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_native_numpy_assign_equals_agnostic(rng, dtype, monkeypatch):
    # The NumPy operations' pass (the compiled one forms the products transposed, which BLAS may
    # sum in another order: tests/test_numba_pass.py holds it to the same labels).
    monkeypatch.setenv("GKMEANS_CPU_PASS", "numpy")
    X = rng.normal(size=(5000, 7)).astype(dtype) + 50
    C = X[:40] + rng.normal(size=(40, 7)).astype(dtype) * 0.1
    xp = array_namespace(X)
    shift = xp.mean(C, axis=0)
    native = kernels.assign(X, C - shift, xp=xp, shift=shift)
    fallback = agnostic.assign(X, C - shift, xp=xp, chunk_rows=999, shift=shift)
    np.testing.assert_array_equal(native[0], fallback[0])
    np.testing.assert_array_equal(native[1], fallback[1])


def test_accumulator_is_float64_where_available(backend):
    xp = array_namespace(backend.asarray([1.0]))
    assert kernels.accumulator_dtype(xp, None) == xp.float64


def test_workspace_is_bounded(backend):
    xp = array_namespace(backend.asarray([1.0]))
    size = kernels.workspace_bytes(xp, backend.asarray([1.0]).device)
    assert kernels.MIN_WORKSPACE <= size <= kernels.GPU_WORKSPACE_CAP


def test_pairwise_sq_distances_exact_at_zero(backend, rng):
    C = rng.normal(size=(4, 3)) * 1e3
    Cb = backend.asarray(C)
    d = backend.to_numpy(kernels.pairwise_sq_distances(Cb, Cb, xp=array_namespace(Cb)))
    assert np.all(np.diag(d) == 0)
    np.testing.assert_allclose(d, ((C[:, None] - C[None]) ** 2).sum(-1), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_fused_numpy_pass_equals_composed_pass(rng, monkeypatch, dtype, threads):
    """The threaded, fused NumPy Lloyd pass gives the labels, distances and sums of
    the plain composition (agnostic assign, then per-cluster sums of the shifted rows)."""
    from gkmeans._kernels import numpy_

    monkeypatch.setenv("GKMEANS_NUM_THREADS", threads)
    X = (rng.normal(size=(3001, 5)) + 40).astype(dtype)
    w = rng.uniform(0.5, 2, size=3001).astype(dtype)
    shift = X.mean(0)
    C = (X[:7] - shift).astype(dtype)
    xp = array_namespace(X)
    x_sq = xp.vecdot(X - shift, X - shift)
    labels, min_sq, sums, wsum = numpy_.assign_and_sum(X, C, w, xp=xp, chunk_rows=250, x_sq_norms=x_sq, shift=shift)
    # Bit for bit where the BLAS calls are the same: the same pass in one thread.
    monkeypatch.setenv("GKMEANS_NUM_THREADS", "1")
    one_thread = numpy_.assign_and_sum(X, C, w, xp=xp, chunk_rows=250, x_sq_norms=x_sq, shift=shift)
    np.testing.assert_array_equal(labels, one_thread[0])
    np.testing.assert_array_equal(min_sq, one_thread[1])
    # The array path passes (-2 C).T as a transposed view, the NumPy pass as a contiguous copy
    # (faster in OpenBLAS's small-matrix kernels): another BLAS call, which may round otherwise
    # (the one-row block's matrix-vector product does, with some kernels). Up to rounding, then.
    ref_labels, ref_min = agnostic.assign(X, C, xp=xp, chunk_rows=250, x_sq_norms=x_sq, shift=shift)
    assert_labels_equal_up_to_rounding(labels, ref_labels, X - shift, C)
    assert_distances_equal_up_to_rounding(min_sq, ref_min, X - shift, C)
    ref_sums = np.zeros((7, 5))
    np.add.at(ref_sums, labels, (X - shift).astype(np.float64) * w[:, None])
    np.testing.assert_allclose(sums, ref_sums, rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-3)
    np.testing.assert_allclose(wsum, np.bincount(labels, weights=w, minlength=7), rtol=1e-6)


def test_numpy_fit_runs_the_fused_pass(monkeypatch):
    """A NumPy fit never calls the separate scatter-add: the fused pass did the update."""
    def must_not_run(*args, **kwargs):
        raise AssertionError("the unfused segment_sum ran")

    monkeypatch.setattr(primitives, "segment_sum", must_not_run)
    X = np.random.default_rng(2).normal(size=(500, 3))
    gkmeans.KMeans(4, random_state=0).fit(X)
    Xs = pytest.importorskip("array_api_strict").asarray(X)
    with pytest.raises(AssertionError, match="unfused segment_sum ran"):
        gkmeans.KMeans(4, random_state=0).fit(Xs)


def test_without_threadpoolctl_the_pass_runs_in_one_thread(monkeypatch, rng):
    from gkmeans._kernels import numpy_

    monkeypatch.setattr(cpu_threads, "blas_controller", lambda: None)
    seen = set()

    def spy(share):
        import threading

        seen.add(threading.current_thread().name)

    cpu_threads.in_threads(10_000, 100, spy)
    assert len(seen) == 1


@pytest.mark.parametrize("failing_share", [0, 2])
def test_threaded_shares_cover_every_block_and_an_error_waits_for_the_others(monkeypatch, failing_share):
    """The blocks are dealt into CPU_SHARES_PER_THREAD shares per thread, which come back in share
    order whichever thread ran them, every block once; the calling thread runs shares too. A share
    that raises stops the threads taking new shares, and reaches the caller only after every
    share already started has finished, so no thread still writes into the pass's buffers."""
    import threading
    import time

    from gkmeans import config

    monkeypatch.setenv("GKMEANS_NUM_THREADS", "3")
    blocks = [(start, start + 100) for start in range(0, 1000, 100)]
    n_shares = min(len(blocks), 3 * config.CPU_SHARES_PER_THREAD)
    shares = cpu_threads.in_threads(1000, 100, lambda share: share)
    assert shares == [blocks[i::n_shares] for i in range(n_shares)]
    caller = threading.current_thread().name

    def thread_name(share):
        time.sleep(0.05)  # long enough that no one thread takes every share
        return threading.current_thread().name

    ran_in = cpu_threads.in_threads(1000, 100, thread_name)
    assert caller in ran_in and len(set(ran_in)) == 3

    started, finished = [], []

    def work(share):
        index = share[0][0] // 100
        started.append(index)
        if index == failing_share:
            raise ValueError("share failed")
        time.sleep(0.2)
        finished.append(index)

    with pytest.raises(ValueError, match="share failed"):
        cpu_threads.in_threads(1000, 100, work)
    assert sorted(finished) == sorted(set(started) - {failing_share})
    assert len(started) < len(blocks), "shares were taken after one failed"


def test_out_of_memory_shrinks_the_chunk_and_retries(monkeypatch):
    """A chunk that does not fit is halved until it does; the result is the same."""
    import array_api_strict as xps

    from gkmeans._kernels import agnostic

    X = xps.asarray(np.random.default_rng(0).normal(size=(1000, 3)))
    centers = X[:4, :]
    xp = array_namespace(X)
    expected_labels, expected_sq = kernels.assign(X, centers, xp=xp)
    tried = []
    original = agnostic.assign

    def tight_memory(*args, chunk_rows, **kwargs):
        tried.append(chunk_rows)
        if chunk_rows > 100:
            raise MemoryError("simulated: the block does not fit")
        return original(*args, chunk_rows=chunk_rows, **kwargs)

    monkeypatch.setattr(agnostic, "assign", tight_memory)
    labels, sq = kernels.assign(X, centers, xp=xp)
    assert tried[0] == 1000 and tried[-1] <= 100 and tried == sorted(tried, reverse=True)
    assert bool(xp.all(labels == expected_labels)) and bool(xp.all(sq == expected_sq))


def test_out_of_memory_even_for_one_row_names_the_sizes(monkeypatch):
    import array_api_strict as xps

    from gkmeans._kernels import agnostic

    X = xps.asarray(np.zeros((64, 5)))

    def never_fits(*args, **kwargs):
        raise MemoryError("simulated")

    monkeypatch.setattr(agnostic, "assign", never_fits)
    with pytest.raises(MemoryError, match=r"out of memory on .* in assign for X of shape \(64, 5\) \(float64\), "
                                          r"even one row at a time \(started at 64 rows per chunk"):
        kernels.assign(X, X[:2, :], xp=array_namespace(X))


def test_torch_out_of_memory_error_is_recognised():
    torch = pytest.importorskip("torch")
    from gkmeans._kernels import out_of_memory_errors

    errors = out_of_memory_errors(array_namespace(torch.zeros(1)))
    assert MemoryError in errors and torch.cuda.OutOfMemoryError in errors


@pytest.mark.parametrize("n_clusters", [3, 70, 300])
def test_sorted_and_one_hot_segment_sums_agree(backend, n_clusters):
    """Both Array API cluster-sum methods give the native result (many clusters take the sorted one)."""
    rng = np.random.default_rng(1)
    X = backend.asarray(rng.normal(size=(5000, 6)))
    labels = backend.asarray(rng.integers(0, n_clusters - 1, 5000))  # the last cluster stays empty
    weights = backend.asarray(rng.uniform(0, 2, 5000))
    xp = array_namespace(X)
    expected_sums = np.zeros((n_clusters, 6))
    np.add.at(expected_sums, backend.to_numpy(labels), backend.to_numpy(X) * backend.to_numpy(weights)[:, None])
    for method in (agnostic.sorted_segment_sum, agnostic.segment_sum):
        sums, weight_sums = method(X, labels, weights, n_clusters, xp=xp, acc_dtype=xp.float64, chunk_rows=777)
        np.testing.assert_allclose(backend.to_numpy(sums), expected_sums, rtol=1e-10, atol=1e-10)
        assert float(backend.to_numpy(weight_sums)[-1]) == 0.0


def test_gpu_chunk_bytes_override(monkeypatch):
    assert kernels.gpu_workspace_cap() == kernels.GPU_WORKSPACE_CAP
    monkeypatch.setenv("GKMEANS_GPU_CHUNK_BYTES", "33554432")
    assert kernels.gpu_workspace_cap() == 32 * 2**20
    monkeypatch.setenv("GKMEANS_GPU_CHUNK_BYTES", "lots")
    with pytest.raises(ValueError, match="GKMEANS_GPU_CHUNK_BYTES='lots' must be a number of bytes"):
        kernels.gpu_workspace_cap()
    monkeypatch.setenv("GKMEANS_GPU_CHUNK_BYTES", "10")
    with pytest.raises(ValueError, match="must be at least"):
        kernels.gpu_workspace_cap()


def test_distinct_labels_counts_the_clusters_in_use(backend, rng):
    labels = rng.integers(0, 9, size=1000)
    labels[labels == 4] = 5  # cluster 4 unused
    xp = array_namespace(backend.asarray(labels))
    assert kernels.distinct_labels(backend.asarray(labels), 9, xp=xp) == 8
    assert kernels.distinct_labels(backend.asarray(np.zeros(7, dtype=np.int64)), 3, xp=xp) == 1
    assert agnostic.distinct_labels(backend.asarray(labels), 9, xp=xp) == 8


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_shift", [False, True])
def test_native_row_sq_norms_equal_agnostic(rng, monkeypatch, dtype, with_shift):
    """The threaded NumPy blocks compute the array path's norms exactly (the same vecdot per block)."""
    from gkmeans._kernels import numpy_

    monkeypatch.setenv("GKMEANS_NUM_THREADS", "3")
    X = (rng.normal(size=(10_007, 13)) + 50).astype(dtype)
    shift = X.mean(axis=0) if with_shift else None
    xp = array_namespace(X)
    native = numpy_.row_sq_norms(X, xp=xp, chunk_rows=1000, shift=shift)
    fallback = agnostic.row_sq_norms(X, xp=xp, chunk_rows=1000, shift=shift)
    np.testing.assert_array_equal(native, fallback)
    assert native.dtype == dtype
    assert kernels.implementation(xp, "row_sq_norms", X) == "native:numpy"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pairwise_sq_distances_expansion_is_exact_enough_and_zero_on_centres(backend, rng, dtype):
    """The expansion (in float64) is kept only where it cannot cancel: within float rounding of the
    differences everywhere, exactly 0 for a point on a centre, on data far from the origin too."""
    X = (rng.normal(size=(3000, 7)) + 1e3).astype(dtype)
    C = X[[3, 50, 51, 700]] + np.asarray(0.5, dtype=dtype)
    X[2500] = C[2]  # a point on a centre: its block is recomputed from the differences
    xp = array_namespace(backend.asarray(X))
    got = backend.to_numpy(kernels.pairwise_sq_distances(backend.asarray(X), backend.asarray(C), xp=xp))
    exact = ((X[:, None, :].astype(np.float64) - C[None].astype(np.float64)) ** 2).sum(-1)
    assert got.dtype == dtype and got[2500, 2] == 0
    np.testing.assert_allclose(got, exact, rtol=1e-6 if dtype == np.float32 else 1e-11)


def test_native_pairwise_sq_distances_equal_agnostic(rng, monkeypatch):
    from gkmeans._kernels import numpy_

    monkeypatch.setenv("GKMEANS_NUM_THREADS", "2")
    X = rng.normal(size=(5000, 9))
    C = X[:6] + 0.1
    X[4321] = C[0]
    xp = array_namespace(X)
    native = numpy_.pairwise_sq_distances(X, C, xp=xp, chunk_rows=700, acc_dtype=np.float64)
    fallback = agnostic.pairwise_sq_distances(X, C, xp=xp, chunk_rows=700, acc_dtype=np.float64)
    np.testing.assert_array_equal(native, fallback)
    assert native[4321, 0] == 0
