"""GPU path: runs where CuPy sees a CUDA device, skipped with the reason elsewhere.

The backend-parametrised tests in the other modules also run on CuPy there;
this module checks what is specific to a GPU: results equal NumPy's, the
namespace and device round trip, and the native CuPy kernel running.
"""

from __future__ import annotations

import numpy as np
import pytest

import gkmeans
from gkmeans import _kernels as kernels
from gkmeans.datasets import make_blobs


def _gpu_unavailable_reason() -> str | None:
    gkmeans.device._cupy_cuda.cache_clear()
    _, count, reason = gkmeans.device._cupy_cuda()
    return None if count else reason


REASON = _gpu_unavailable_reason()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(REASON is not None, reason=f"no usable GPU: {REASON}")]


@pytest.fixture
def cupy():
    import cupy

    return cupy


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_equals_numpy(cupy, dtype):
    X, _, _ = make_blobs(20000, 16, 12, cluster_std=0.5, random_state=0, dtype=dtype)
    ref = gkmeans.KMeans(12, random_state=0, n_init=2, device="cpu").fit(X)
    gpu = gkmeans.KMeans(12, random_state=0, n_init=2).fit(cupy.asarray(X))
    assert isinstance(gpu.cluster_centers_, cupy.ndarray) and isinstance(gpu.labels_, cupy.ndarray)
    assert gpu.device_ == "cuda:0"
    np.testing.assert_array_equal(cupy.asnumpy(gpu.labels_), ref.labels_)
    np.testing.assert_allclose(gpu.inertia_, ref.inertia_, rtol=1e-5)
    np.testing.assert_allclose(cupy.asnumpy(gpu.cluster_centers_), ref.cluster_centers_, rtol=1e-4, atol=1e-4)


def test_numpy_in_gpu_compute_numpy_out(cupy):
    X, _, _ = make_blobs(5000, 8, 5, random_state=1, dtype=np.float32)
    km = gkmeans.KMeans(5, random_state=0, device="gpu").fit(X)
    assert km.device_ == "cuda:0"
    assert isinstance(km.cluster_centers_, np.ndarray) and isinstance(km.labels_, np.ndarray)
    assert isinstance(km.predict(X), np.ndarray)


def test_cupy_in_cpu_compute_cupy_out(cupy):
    X, _, _ = make_blobs(2000, 4, 3, random_state=2)
    km = gkmeans.KMeans(3, random_state=0, device="cpu").fit(cupy.asarray(X))
    assert km.device_ == "cpu" and isinstance(km.labels_, cupy.ndarray)


def test_native_cupy_segment_sum_runs(cupy, monkeypatch):
    from gkmeans._kernels import agnostic

    def fail(*args, **kwargs):
        raise AssertionError("agnostic fallback ran on CuPy")

    monkeypatch.setattr(agnostic, "segment_sum", fail)
    X = cupy.asarray(make_blobs(1000, 4, 3, random_state=3)[0])
    gkmeans.KMeans(3, random_state=0).fit(X)
    assert kernels.implementation(gkmeans._compat.array_namespace(X), "segment_sum") == "native:cupy"


def test_torch_cuda_tensors_stay_on_the_gpu():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch has no CUDA device")
    X = torch.asarray(make_blobs(2000, 4, 3, random_state=4)[0], device="cuda")
    km = gkmeans.KMeans(3, random_state=0).fit(X)
    assert km.cluster_centers_.device.type == "cuda" and km.labels_.device.type == "cuda"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5000, 7, 3), (20011, 130, 70), (777, 16, 1)])
def test_fused_cuda_assign_equals_numpy(cupy, monkeypatch, dtype, shape):
    """The fused distance + argmin kernel is the one that ran, and it labels as the NumPy path does."""
    from gkmeans._kernels.experimental import fused_assign as fused

    n, d, k = shape
    X, _, _ = make_blobs(n, d, max(k, 2), random_state=1, dtype=dtype)
    centers = X[:k] + 0.01
    shift = X.mean(axis=0)
    np_xp = gkmeans._compat.array_namespace(X)
    ref_labels, ref_sq = kernels.assign(X, centers - shift, xp=np_xp, shift=shift)
    calls = []
    original = fused.fused_assign
    monkeypatch.setattr(fused, "fused_assign", lambda *a, **kw: calls.append(1) or original(*a, **kw))
    monkeypatch.setenv("GKMEANS_CUDA_ASSIGN", "fused")
    Xg = cupy.asarray(X)
    labels, sq = kernels.assign(Xg, cupy.asarray(centers - shift), xp=gkmeans._compat.array_namespace(Xg),
                                shift=cupy.asarray(shift))
    assert calls, "the fused kernel did not run"
    agree = np.mean(cupy.asnumpy(labels) == ref_labels)
    assert agree >= 0.9999  # only float32 near-ties may fall the other way
    np.testing.assert_allclose(cupy.asnumpy(sq), ref_sq, rtol=1e-4 if dtype == np.float32 else 1e-10,
                               atol=1e-3 if dtype == np.float32 else 1e-8)


def test_fused_and_gemm_fits_agree(cupy, monkeypatch):
    X = cupy.asarray(make_blobs(50_000, 32, 20, random_state=2, dtype=np.float32)[0])
    gemm = gkmeans.KMeans(20, random_state=0).fit(X)
    monkeypatch.setenv("GKMEANS_CUDA_ASSIGN", "fused")
    fused = gkmeans.KMeans(20, random_state=0).fit(X)
    assert fused.inertia_ == pytest.approx(gemm.inertia_, rel=1e-5)
    assert float(cupy.mean(fused.labels_ == gemm.labels_)) >= 0.9999


@pytest.mark.parametrize("precision", ["exact", "tf32", "bf16"])
def test_triton_assign_is_the_one_that_ran_and_fits_as_the_default(cupy, monkeypatch, precision):
    """GKMEANS_CUDA_ASSIGN=triton: the Triton kernel ran (on CuPy arrays through DLPack, on CuPy's
    stream), in the fit's precision, and the fit is the default path's (exact) or within the
    documented reduced-precision error."""
    pytest.importorskip("torch")
    pytest.importorskip("triton")
    from gkmeans._kernels.experimental import triton_assign

    if precision != "exact" and int(cupy.cuda.Device().compute_capability) < 80:
        pytest.skip("tensor-core float32 needs compute capability 8.0")
    X = cupy.asarray(make_blobs(50_000, 32, 20, random_state=2, dtype=np.float32)[0])
    # Given centres, one in each blob (rows i of make_blobs lie in blob i % 20): a reduced-precision
    # k-means++ could draw other seeds and number the same clusters otherwise.
    init = X[:20]
    gemm = gkmeans.KMeans(20, init=init, n_init=1).fit(X)
    seen = []
    original = triton_assign.torch_assign
    monkeypatch.setattr(triton_assign, "torch_assign",
                        lambda *a, **kw: seen.append(kw["precision"]) or original(*a, **kw))
    monkeypatch.setenv("GKMEANS_CUDA_ASSIGN", "triton")
    with cupy.cuda.Stream(non_blocking=True):  # a stream of the caller's own: the kernel must follow it
        fitted = gkmeans.KMeans(20, init=init, n_init=1, precision=precision).fit(X)
    assert seen and set(seen) == {"ieee" if precision == "exact" else precision}
    assert fitted.precision_ == precision and isinstance(fitted.labels_, cupy.ndarray)
    tolerance = {"exact": 1e-5, "tf32": 1e-3, "bf16": 1e-2}[precision]
    assert fitted.inertia_ == pytest.approx(gemm.inertia_, rel=tolerance)
    assert float(cupy.mean(fitted.labels_ == gemm.labels_)) >= (0.9999 if precision == "exact" else 0.99)
    cupy.testing.assert_array_equal(fitted.predict(X), fitted.labels_)


@pytest.mark.parametrize("update", ["sort", "rows"])
def test_update_methods_fit_as_the_default(cupy, monkeypatch, update):
    """GKMEANS_CUDA_UPDATE=sort / rows: the same fit as the default scatter-add (float64 sums in
    another order); for "rows" the cluster-sums kernel is the one that ran."""
    from gkmeans._kernels.experimental import cluster_sums as sums_module

    X = cupy.asarray(make_blobs(50_000, 32, 20, random_state=2, dtype=np.float32)[0])
    default = gkmeans.KMeans(20, random_state=0).fit(X)
    launched = []
    original = sums_module.cluster_sums
    monkeypatch.setattr(sums_module, "cluster_sums", lambda *a, **kw: launched.append(1) or original(*a, **kw))
    monkeypatch.setenv("GKMEANS_CUDA_UPDATE", update)
    fitted = gkmeans.KMeans(20, random_state=0).fit(X)
    assert bool(launched) == (update == "rows")
    assert fitted.inertia_ == pytest.approx(default.inertia_, rel=1e-6)
    cupy.testing.assert_array_equal(fitted.labels_, default.labels_)
    np.testing.assert_allclose(cupy.asnumpy(fitted.cluster_centers_), cupy.asnumpy(default.cluster_centers_),
                               rtol=1e-5, atol=1e-5)


def test_triton_fused_pass_is_the_one_that_ran_and_fits_as_the_default(cupy, monkeypatch):
    """GKMEANS_CUDA_ASSIGN=triton with GKMEANS_CUDA_UPDATE=rows: one kernel a Lloyd iteration (assignment
    and the update's atomics), the same fit as the default path."""
    pytest.importorskip("torch")
    pytest.importorskip("triton")
    from gkmeans._kernels.experimental import triton_assign

    X = cupy.asarray(make_blobs(50_000, 32, 20, random_state=2, dtype=np.float32)[0] + np.float32(50))
    default = gkmeans.KMeans(20, init=X[:20], n_init=1).fit(X)
    passes = []
    original = triton_assign.cupy_assign_and_sum
    monkeypatch.setattr(triton_assign, "cupy_assign_and_sum", lambda *a, **kw: passes.append(1) or original(*a, **kw))
    monkeypatch.setenv("GKMEANS_CUDA_ASSIGN", "triton")
    monkeypatch.setenv("GKMEANS_CUDA_UPDATE", "rows")
    fused = gkmeans.KMeans(20, init=X[:20], n_init=1).fit(X)
    assert len(passes) == fused.n_iter_
    assert fused.inertia_ == pytest.approx(default.inertia_, rel=1e-6)
    assert float(cupy.mean(fused.labels_ == default.labels_)) >= 0.9999
    np.testing.assert_allclose(cupy.asnumpy(fused.cluster_centers_), cupy.asnumpy(default.cluster_centers_),
                               rtol=1e-5, atol=1e-4)


def test_streamed_fit_through_pinned_buffers_equals_in_memory(cupy, monkeypatch):
    from gkmeans._kernels import cupy_

    X, _, _ = make_blobs(40_000, 16, 8, random_state=3)
    init = X[:8]
    staged = []
    original = cupy_.stream_to_device
    monkeypatch.setattr(cupy_, "stream_to_device", lambda *a, **kw: staged.append(1) or original(*a, **kw))
    streamed = gkmeans.KMeans(8, init=init, n_init=1, device="gpu").fit(gkmeans.chunked(X, chunk_rows=3000))
    assert staged, "the pinned-buffer stream did not run"
    assert streamed.device_ == "cuda:0" and isinstance(streamed.cluster_centers_, np.ndarray)
    in_memory = gkmeans.KMeans(8, init=init, n_init=1).fit(X)
    np.testing.assert_array_equal(streamed.labels_, in_memory.labels_)
    assert streamed.inertia_ == pytest.approx(in_memory.inertia_, rel=1e-9)


def test_batched_restarts_on_the_gpu_equal_sequential(cupy):
    X = cupy.asarray(make_blobs(20_000, 8, 6, cluster_std=3.0, random_state=4)[0])
    batched = gkmeans.KMeans(6, init="random", n_init=16, random_state=0, batch_restarts=True).fit(X)
    sequential = gkmeans.KMeans(6, init="random", n_init=16, random_state=0, batch_restarts=False).fit(X)
    assert batched.inertia_ == pytest.approx(sequential.inertia_, rel=1e-9)
    cupy.testing.assert_array_equal(batched.labels_, sequential.labels_)


def test_dask_with_cupy_chunks(cupy):
    da = pytest.importorskip("dask.array")
    X, _, _ = make_blobs(20_000, 8, 5, random_state=5)
    init = X[:5]
    dX = da.from_array(X, chunks=4000).map_blocks(cupy.asarray)
    on_dask = gkmeans.KMeans(5, init=init, n_init=1).fit(dX)
    local = gkmeans.KMeans(5, init=init, n_init=1).fit(X)
    assert isinstance(on_dask.cluster_centers_, cupy.ndarray) and on_dask.device_ == "dask:cuda"
    np.testing.assert_allclose(cupy.asnumpy(on_dask.cluster_centers_), local.cluster_centers_, rtol=1e-9)
    np.testing.assert_array_equal(cupy.asnumpy(on_dask.labels_.compute()), local.labels_)


@pytest.mark.parametrize("precision", ["tf32", "bf16"])
def test_reduced_precision_error_against_exact(cupy, precision):
    """TF32 / bf16 distance products: inertia and labels close to the exact fit (the documented error)."""
    X = cupy.asarray(make_blobs(100_000, 64, 32, random_state=6, dtype=np.float32)[0])
    init = X[:32]
    exact = gkmeans.KMeans(32, init=init, n_init=1).fit(X)
    reduced = gkmeans.KMeans(32, init=init, n_init=1, precision=precision).fit(X)
    expected = precision if int(cupy.cuda.Device().compute_capability) >= 80 else "exact"
    assert reduced.precision_ == expected
    assert reduced.inertia_ == pytest.approx(exact.inertia_, rel=1e-3)
    assert float(cupy.mean(reduced.labels_ == exact.labels_)) >= 0.99
    cupy.testing.assert_array_equal(reduced.predict(X), reduced.labels_)


@pytest.mark.parametrize("batch_restarts", [True, False])
def test_reduced_precision_keeps_the_centres_exact(cupy, batch_restarts):
    """Only the distance products are reduced: the centres are the exact means of their points
    (TF32 cluster sums would be off by about 1e-3 relative), with restarts batched or not."""
    if int(cupy.cuda.Device().compute_capability) < 80:
        pytest.skip("TF32 needs compute capability 8.0")
    X = make_blobs(50_000, 32, 8, random_state=4, dtype=np.float32)[0] + np.float32(100)
    model = gkmeans.KMeans(8, init="random", n_init=4, batch_restarts=batch_restarts, random_state=0, tol=0,
                           precision="tf32").fit(cupy.asarray(X))
    assert model.precision_ == "tf32"
    labels, centres = cupy.asnumpy(model.labels_), cupy.asnumpy(model.cluster_centers_)
    means = np.stack([X[labels == j].astype(np.float64).mean(axis=0) for j in range(8)])
    np.testing.assert_allclose(centres, means, rtol=1e-6, atol=0)


def test_memmap_to_the_gpu_is_streamed(cupy, tmp_path):
    X, _, _ = make_blobs(30_000, 8, 6, random_state=7)
    np.save(tmp_path / "X.npy", X)
    memmap = np.load(tmp_path / "X.npy", mmap_mode="r")
    on_gpu = gkmeans.KMeans(6, init=X[:6], n_init=1, device="gpu").fit(memmap)
    in_memory = gkmeans.KMeans(6, init=X[:6], n_init=1).fit(X)
    assert on_gpu.device_ == "cuda:0" and isinstance(on_gpu.labels_, np.ndarray)
    np.testing.assert_array_equal(on_gpu.labels_, in_memory.labels_)
    np.testing.assert_array_equal(on_gpu.predict(memmap), in_memory.labels_)


def test_sorted_update_on_the_gpu_equals_scatter(cupy, monkeypatch):
    X = cupy.asarray(make_blobs(30_000, 16, 8, random_state=8)[0])
    scatter = gkmeans.KMeans(80, random_state=0).fit(X)
    monkeypatch.setenv("GKMEANS_CUDA_UPDATE", "sort")
    sorted_ = gkmeans.KMeans(80, random_state=0).fit(X)
    assert sorted_.inertia_ == pytest.approx(scatter.inertia_, rel=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows, k, d", [(1000, 1024, 128), (333, 70, 5), (64, 1, 3), (5, 33, 40)])
@pytest.mark.parametrize("with_norms", [True, False])
def test_row_argmin_kernel_equals_the_array_path(cupy, dtype, rows, k, d, with_norms):
    """``cuda/row_argmin.cu`` against CuPy's add + argmin + gather, ties included."""
    from gkmeans._kernels.experimental.cuda_graph import cuda_argmin_rows

    rng = np.random.default_rng(rows + k)
    G = cupy.asarray(rng.normal(size=(rows, k)).astype(dtype))
    c_sq = cupy.asarray(rng.random(k).astype(dtype))
    if k > 2:
        G[:, k - 1] = G[:, 1]  # exact ties: the lower index must win
        c_sq[k - 1] = c_sq[1]
    block = cupy.asarray(rng.normal(size=(rows, d)).astype(dtype))
    norms = cupy.sum(block * block, axis=1)
    labels = cupy.empty(rows, dtype=cupy.int64)
    min_sq = cupy.empty(rows, dtype=dtype)
    cuda_argmin_rows(G, c_sq, block, norms if with_norms else None, labels, min_sq)
    values = G + c_sq
    expected = cupy.argmin(values, axis=1)
    cupy.testing.assert_array_equal(labels, expected)
    best = cupy.take_along_axis(values, expected[:, None], axis=1)[:, 0]
    cupy.testing.assert_allclose(min_sq, cupy.maximum(best + norms, 0), rtol=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_graph_replayed_fit_equals_the_array_path(cupy, monkeypatch, dtype):
    """GKMEANS_CUDA_ASSIGN=graph: captured once, replayed every iteration after, the same fit."""
    from gkmeans._kernels.experimental import cuda_graph

    X = cupy.asarray(make_blobs(60_000, 32, 40, cluster_std=2.0, random_state=8, dtype=dtype)[0])
    init = X[:40]
    # many chunks, the same for both: the replay must cover them all, and equal chunks give equal products
    monkeypatch.setenv("GKMEANS_GPU_CHUNK_BYTES", str(2**20))
    reference = gkmeans.KMeans(40, init=init, n_init=1, max_iter=30, tol=0).fit(X)
    launches = []
    original = cuda_graph._CapturedPass.__call__

    def counting(self, *args):
        result = original(self, *args)
        launches.append(self.graph is not None)
        return result

    monkeypatch.setattr(cuda_graph._CapturedPass, "__call__", counting)
    monkeypatch.setenv("GKMEANS_CUDA_ASSIGN", "graph")
    graphed = gkmeans.KMeans(40, init=init, n_init=1, max_iter=30, tol=0).fit(X)
    assert launches and all(launches), "the pass was not replayed as a CUDA graph"
    assert len(launches) >= graphed.n_iter_ - 1
    assert graphed.n_iter_ == reference.n_iter_
    cupy.testing.assert_array_equal(graphed.labels_, reference.labels_)
    assert graphed.inertia_ == pytest.approx(reference.inertia_, rel=1e-6)
    assert not cuda_graph._CACHE, "the fit must release its captured pass"
    cupy.testing.assert_array_equal(graphed.predict(X), graphed.labels_)


def test_graph_replay_in_tf32(cupy, monkeypatch):
    if int(cupy.cuda.Device().compute_capability) < 80:
        pytest.skip("TF32 needs compute capability 8.0")
    X = cupy.asarray(make_blobs(100_000, 64, 32, random_state=6, dtype=np.float32)[0])
    init = X[:32]
    exact = gkmeans.KMeans(32, init=init, n_init=1).fit(X)
    monkeypatch.setenv("GKMEANS_CUDA_ASSIGN", "graph")
    reduced = gkmeans.KMeans(32, init=init, n_init=1, precision="tf32").fit(X)
    assert reduced.precision_ == "tf32"
    assert reduced.inertia_ == pytest.approx(exact.inertia_, rel=1e-3)
    assert float(cupy.mean(reduced.labels_ == exact.labels_)) >= 0.99
