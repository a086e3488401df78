"""The graph-replayed cuBLAS assignment (``GKMEANS_CUDA_ASSIGN=graph``), checked without a GPU.

Its chunk and buffer logic (:class:`ChunkedGemmAssign`) is written against CuPy's array
API, so NumPy runs it here with a NumPy twin of the row-argmin kernel: the labels must be
the array path's exactly. The kernel, the capture and the replay run in tests/test_gpu.py.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import gkmeans
from gkmeans import config
from gkmeans._kernels import agnostic, cupy_
from gkmeans._kernels.experimental import selection
from gkmeans._kernels.experimental import cuda_graph
from gkmeans._kernels.experimental.cuda_graph import ChunkedGemmAssign, graph_chunk_rows
from gkmeans.datasets import make_blobs


def numpy_argmin_rows(G, c_sq, block, row_sq, labels_out, min_sq_out):
    """What ``cuda/row_argmin.cu`` computes, in NumPy."""
    values = G + c_sq
    nearest = values.argmin(axis=1)
    labels_out[...] = nearest
    best = np.take_along_axis(values, nearest[:, None], axis=1)[:, 0]
    norms = row_sq if row_sq is not None else np.einsum("ij,ij->i", block, block)
    np.maximum(best + norms, 0, out=min_sq_out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, chunk_rows", [(1000, 128), (1000, 1000), (1001, 250), (7, 3), (5, 64)])
@pytest.mark.parametrize("with_shift", [False, True])
def test_chunked_pass_equals_the_array_path(dtype, n, chunk_rows, with_shift):
    rng = np.random.default_rng(n + chunk_rows)
    X = (rng.normal(size=(n, 6)) + 40).astype(dtype)
    k = min(5, n)
    shift = X.mean(axis=0) if with_shift else None
    shifted = X - shift if with_shift else X
    x_sq_norms = np.einsum("ij,ij->i", shifted, shifted)
    work = ChunkedGemmAssign(np, X.shape, X.dtype, k, chunk_rows, with_shift=with_shift,
                             argmin_rows=numpy_argmin_rows)
    for draw in range(3):  # the same buffers, reloaded with new centres each pass
        centers = shifted[rng.choice(n, k, replace=False)] + rng.normal(scale=0.1, size=(k, 6)).astype(dtype)
        work.load(centers, shift)
        work.run(X, x_sq_norms)
        # the same chunking: BLAS may sum a 1-row product (gemv) differently from a block (gemm)
        labels, min_sq = agnostic.assign(X, centers, xp=np, chunk_rows=chunk_rows, x_sq_norms=x_sq_norms,
                                         shift=shift)
        np.testing.assert_array_equal(work.labels, labels)
        np.testing.assert_array_equal(work.min_sq, min_sq)
        assert work.labels.dtype == np.int64 and work.min_sq.dtype == dtype


class _COrder(np.ndarray):
    """NumPy arrays whose arithmetic results are C-contiguous, as CuPy's elementwise kernels make
    them (NumPy keeps the operands' layout: ``-2 * C.T`` is F-ordered there)."""

    def __array_wrap__(self, result, context=None, return_scalar=False):
        result = super().__array_wrap__(result, context, return_scalar)
        return result if np.ndim(result) == 0 else np.ascontiguousarray(result).view(_COrder)


class _COrderNumpy:
    """NumPy as a namespace whose new arrays are :class:`_COrder`."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def empty(shape, dtype=None):
        return np.empty(shape, dtype=dtype).view(_COrder)

    @staticmethod
    def zeros(shape, dtype=None):
        return np.zeros(shape, dtype=dtype).view(_COrder)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chunked_pass_keeps_the_array_paths_layout_of_the_products(dtype):
    """On a library whose ``-2 * C.T`` is C-contiguous (CuPy), the pass's -2 C^T must be as well:
    BLAS is called with other transpose flags otherwise and may sum in another order."""
    rng = np.random.default_rng(3)
    X = (rng.normal(size=(3000, 24)) + 40).astype(dtype).view(_COrder)
    shift = X.mean(axis=0)
    centers = (X[rng.choice(3000, 33, replace=False)] - shift + rng.normal(scale=0.1, size=(33, 24))).astype(dtype)
    centers = np.asarray(centers).view(_COrder)
    work = ChunkedGemmAssign(_COrderNumpy(), X.shape, X.dtype, 33, 512, with_shift=True,
                             argmin_rows=numpy_argmin_rows)
    expected_layout = -2 * centers.T
    assert expected_layout.flags.c_contiguous
    assert work.centers_t_neg2.strides == expected_layout.strides
    x_sq_norms = np.einsum("ij,ij->i", X - shift, X - shift)
    work.load(centers, shift)
    work.run(X, x_sq_norms)
    labels, min_sq = agnostic.assign(X, centers, xp=np, chunk_rows=512, x_sq_norms=x_sq_norms, shift=shift)
    np.testing.assert_array_equal(work.labels, labels)
    np.testing.assert_array_equal(work.min_sq, min_sq)


def test_chunked_pass_computes_row_norms_when_not_given():
    X, _, _ = make_blobs(2000, 8, 4, random_state=0)
    centers = X[:4].copy()
    work = ChunkedGemmAssign(np, X.shape, X.dtype, 4, 300, with_shift=False, argmin_rows=numpy_argmin_rows)
    work.load(centers, None)
    work.run(X, None)
    labels, min_sq = agnostic.assign(X, centers, xp=np, chunk_rows=300)
    np.testing.assert_array_equal(work.labels, labels)
    np.testing.assert_allclose(work.min_sq, min_sq, rtol=1e-12, atol=1e-12)


def test_a_pass_keeps_no_reference_to_the_data():
    X = np.ones((50, 3))
    work = ChunkedGemmAssign(np, X.shape, X.dtype, 2, 16, with_shift=True, argmin_rows=numpy_argmin_rows)
    assert all(value is not X for value in vars(work).values())


def test_graph_chunks_are_l2_sized_unless_chosen(monkeypatch):
    monkeypatch.delenv("GKMEANS_GPU_CHUNK_BYTES", raising=False)
    l2 = 50 * 2**20  # an H100's L2 cache
    # half the L2 for a (rows x 1024) float32 block
    assert graph_chunk_rows(10**6, 1024, 4, l2) == int(l2 * 0.5) // 4096
    assert graph_chunk_rows(500, 1024, 4, l2) == 500  # the memory policy's (halved) chunk is a ceiling
    assert graph_chunk_rows(10**6, 10**6, 8, l2) == cuda_graph.MIN_GRAPH_CHUNK_ROWS
    monkeypatch.setenv("GKMEANS_GPU_CHUNK_BYTES", str(2**27))
    assert graph_chunk_rows(32768, 1024, 4, l2) == 32768


def test_graph_method_routes_to_the_graph_pass(monkeypatch):
    calls = []
    monkeypatch.setattr(cuda_graph, "graph_assign", lambda X, centers, **kw: calls.append(kw) or ("l", "d"))
    monkeypatch.setenv("GKMEANS_CUDA_ASSIGN", "graph")
    X = np.ones((10, 2), dtype=np.float32)
    assert selection.cupy_assign(X, X[:2], xp=np, chunk_rows=4, x_sq_norms=None, shift=None, method="graph") == (
        "l", "d")
    assert calls == [{"chunk_rows": 4, "x_sq_norms": None, "shift": None}]
    # a strided X cannot be replayed at a fixed address: the array path takes it
    labels, _ = selection.cupy_assign(np.ones((10, 4), dtype=np.float32)[:, ::2], X[:2], xp=np, chunk_rows=4,
                                      method="graph")
    assert len(calls) == 1 and labels.shape == (10,)


def test_unknown_assign_method_is_named(monkeypatch):
    monkeypatch.setenv("GKMEANS_CUDA_ASSIGN", "tiles")
    with pytest.raises(ValueError, match=r"GKMEANS_CUDA_ASSIGN='tiles' is not recognised; expected one of "
                                         r"\('gemm', 'graph', 'fused', 'triton'\)"):
        config.cuda_assign()


def test_every_fit_releases_kernel_workspaces(monkeypatch):
    """A captured pass holds device buffers: the fit frees them when it ends, even on error."""
    from gkmeans._kernels import numpy_

    released = []
    monkeypatch.setattr(numpy_, "release_workspaces", lambda: released.append(1), raising=False)
    X, _, _ = make_blobs(300, 2, 3, random_state=0)
    gkmeans.KMeans(3, random_state=0, n_init=1).fit(X)
    assert released == [1]
    with pytest.raises(ValueError):
        gkmeans.KMeans(3, init=X[:2], n_init=1).fit(X)
    assert released == [1, 1]


def test_cupy_precision_context_sets_and_restores_the_compute_type(monkeypatch):
    """CuPy's TF32 / bf16 switch (a process-wide cuBLAS compute type), with a stand-in for CuPy's module."""
    linalg = types.SimpleNamespace(COMPUTE_TYPE_TF32="tf32-type", COMPUTE_TYPE_BF16="bf16-type",
                                   COMPUTE_TYPE_DEFAULT="default", current="default")
    linalg.get_compute_type = lambda dtype: linalg.current
    linalg.set_compute_type = lambda dtype, value: setattr(linalg, "current", value)
    core = types.ModuleType("cupy._core")
    core._routines_linalg = linalg
    monkeypatch.setitem(sys.modules, "cupy", types.ModuleType("cupy"))
    monkeypatch.setitem(sys.modules, "cupy._core", core)
    monkeypatch.setitem(sys.modules, "cupy._core._routines_linalg", linalg)
    hopper, volta = types.SimpleNamespace(compute_capability="90"), types.SimpleNamespace(compute_capability="70")
    with cupy_.matmul_precision("tf32", hopper) as effective:
        assert effective == "tf32" and linalg.current == "tf32-type"
    assert linalg.current == "default"
    with cupy_.matmul_precision("bf16", hopper) as effective:
        assert effective == "bf16" and linalg.current == "bf16-type"
    with cupy_.matmul_precision("tf32", volta) as effective:  # no tensor-core float32 before 8.0
        assert effective == "exact" and linalg.current == "default"
    # CUPY_TF32=1 makes TF32 the process's default: "exact" sets plain float32, and a fit's exact
    # products nested in a TF32 context are exact, the TF32 restored after them
    linalg.current = "tf32-type"
    with cupy_.matmul_precision("exact", hopper) as effective:
        assert effective == "exact" and linalg.current == "default"
    with cupy_.matmul_precision("tf32", hopper):
        with cupy_.matmul_precision("exact", hopper):
            assert linalg.current == "default"
        assert linalg.current == "tf32-type"
    assert linalg.current == "tf32-type"


def test_load_and_run_write_into_the_fixed_buffers():
    """A captured graph holds the buffers' addresses: loading new centres and running a pass must
    write into the same arrays, never bind new ones (the replay would read the old ones)."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(700, 5)) + 9
    shift = X.mean(axis=0)
    work = ChunkedGemmAssign(np, X.shape, X.dtype, 4, 256, with_shift=True, argmin_rows=numpy_argmin_rows)
    buffers = {name: value for name, value in vars(work).items() if isinstance(value, np.ndarray)}
    assert set(buffers) == {"centers", "shift", "centers_t_neg2", "c_sq", "products", "shifted", "labels", "min_sq"}
    addresses = {name: value.__array_interface__["data"][0] for name, value in buffers.items()}
    for draw in range(2):
        centers = X[rng.choice(700, 4, replace=False)] - shift
        work.load(centers, shift)
        work.run(X, None)
        for name, value in buffers.items():
            assert getattr(work, name) is value and value.__array_interface__["data"][0] == addresses[name], name
        np.testing.assert_array_equal(work.centers, centers)
        labels, _ = agnostic.assign(X, centers, xp=np, chunk_rows=256, shift=shift)
        np.testing.assert_array_equal(work.labels, labels)
