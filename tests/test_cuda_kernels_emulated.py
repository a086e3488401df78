"""The CUDA kernels' logic, run on the host by tests/cuda_emulator.py (no GPU needed).

The library's own launch code (``fused_assign.fused_assign``, ``cuda_graph.cuda_argmin_rows``)
drives the shipped ``.cu`` sources through an emulated ``cupy.RawModule``: one OS thread
per CUDA thread, real barriers for ``__syncthreads`` and warp shuffles. The labels must be
the array path's; the distances match to rounding (the emulator does not contract into FMA
as nvcc does). Speed, and the GPU's own rounding, are measured by tests/test_gpu.py on a GPU.
"""

from __future__ import annotations

import contextlib
import sys
import types

import cuda_emulator
import numpy as np
import pytest
from kernel_data import separated
from rounding import assert_labels_equal_up_to_rounding

from gkmeans._kernels import agnostic
from gkmeans._kernels.experimental import cluster_sums as cluster_sums_module
from gkmeans._kernels.experimental import cuda_sources, selection
from gkmeans._kernels.experimental import fused_assign as fused
from gkmeans._kernels.experimental import cuda_graph
from gkmeans._kernels.experimental.cuda_graph import ChunkedGemmAssign

pytestmark = pytest.mark.skipif((why := cuda_emulator.why_unavailable()) is not None, reason=str(why))

def assert_within_expansion_rounding(min_sq, expected, shifted_rows, centers, labels):
    """The squared distances agree up to the rounding of ||x||^2 - 2 x.c + ||c||^2 summed in
    another order: d units in the last place of the terms that cancel."""
    d = shifted_rows.shape[1]
    scale = np.einsum("ij,ij->i", shifted_rows, shifted_rows) + np.sum(centers[labels] ** 2, axis=1)
    bound = d * np.finfo(shifted_rows.dtype).eps * scale
    assert np.all(np.abs(min_sq.astype(np.float64) - expected) <= bound), np.max(np.abs(min_sq - expected) / bound)


class _OnEmulatedDevice(np.ndarray):
    """A NumPy array whose ``device`` is a context manager, as a CuPy array's is."""

    @property
    def device(self):
        return contextlib.nullcontext()


@pytest.fixture
def emulated_cupy(monkeypatch):
    """``import cupy`` gives NumPy with an emulated RawModule; the kernel caches start empty."""
    fake = types.ModuleType("cupy")
    fake.__getattr__ = lambda name: getattr(np, name)
    fake.RawModule = cuda_emulator.EmulatedRawModule
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(cuda_sources, "COMPILED", {})
    return fake


def _array_path(X, centers, shift):
    return agnostic.assign(X, centers, xp=np, chunk_rows=X.shape[0], shift=shift)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, d, k", [
    (200, 20, 70),   # several centre tiles, a partial one; features not a multiple of the tile
    (65, 16, 3),     # fewer centres than a thread's micro-tile; one row past a block
    (130, 33, 64),   # exactly one centre tile; a feature tile of one column
])
@pytest.mark.parametrize("with_shift", [True, False])
def test_fused_kernel_labels_equal_the_array_path(emulated_cupy, dtype, n, d, k, with_shift):
    X, centres, members = separated(n, d, k, seed=n + k, dtype=dtype)
    shift = X.mean(axis=0) if with_shift else None
    centers = centres - shift if with_shift else centres
    labels, min_sq = fused.fused_assign(X.view(_OnEmulatedDevice), centers, shift=shift)
    expected_labels, expected_sq = _array_path(X, centers, shift)
    assert labels.dtype == np.int64 and min_sq.dtype == dtype
    np.testing.assert_array_equal(labels, expected_labels)
    np.testing.assert_array_equal(labels, members)
    assert_within_expansion_rounding(min_sq, expected_sq, X - shift if with_shift else X, centers, labels)


def test_fused_launch_covers_every_row_once(emulated_cupy):
    X, centres, _ = separated(129, 8, 5, seed=3, dtype=np.float32)
    fused.fused_assign(X.view(_OnEmulatedDevice), centres)
    kernel = cuda_sources.COMPILED["gk_fused_assign_f32"]
    (grid, block), = kernel.launches
    assert block == (*fused.FUSED_BLOCK, 1)
    assert grid == (3, 1, 1)  # ceil(129 / 64) blocks of FUSED_ROWS_PER_BLOCK rows


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_kernel_breaks_ties_towards_the_lowest_centre(emulated_cupy, dtype):
    """Copies of one centre in the same thread, another thread of the tile, and another tile:
    the lowest index wins everywhere, as with argmin."""
    X, centres, _ = separated(150, 12, 80, seed=11, dtype=dtype)
    X[:16] = centres[0] + np.random.default_rng(0).normal(scale=0.5, size=(16, 12))
    for copy in (1, 9, 67):  # 1: the same thread as 0 (4 centres each); 9: another thread; 67: the next tile
        centres[copy] = centres[0]
    labels, _ = fused.fused_assign(X.view(_OnEmulatedDevice), centres)
    expected, _ = _array_path(X, centres, None)
    # The array path's BLAS product may round equal centres differently by their place in it
    # (OpenBLAS's Haswell kernels do), so it need not break these ties itself: its labels
    # elsewhere, and the lowest copy here.
    assert_labels_equal_up_to_rounding(labels, expected, X, centres)
    assert np.all(labels[:16] == 0)


def test_fused_kernel_gives_a_valid_label_to_a_row_without_finite_distances(emulated_cupy):
    X, centres, _ = separated(70, 8, 6, seed=5, dtype=np.float32)
    X[3] = np.nan
    labels, min_sq = fused.fused_assign(X.view(_OnEmulatedDevice), centres)
    assert labels[3] == 0  # not the sentinel 2^31 - 1, which would index past the clusters
    expected, _ = _array_path(np.delete(X, 3, axis=0), centres, None)
    np.testing.assert_array_equal(np.delete(labels, 3), expected)


def _graph_pass(X, centers, shift, chunk_rows, with_norms):
    shifted = X - shift if shift is not None else X
    x_sq_norms = np.einsum("ij,ij->i", shifted, shifted) if with_norms else None
    work = ChunkedGemmAssign(np, X.shape, X.dtype, centers.shape[0], chunk_rows, with_shift=shift is not None,
                             argmin_rows=cuda_graph.cuda_argmin_rows)
    work.load(centers, shift)
    work.run(X, x_sq_norms)
    return work.labels, work.min_sq, x_sq_norms


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, d, k, chunk_rows", [
    (100, 40, 5, 37),    # fewer centres than lanes; norms over more features than lanes; ragged chunks
    (61, 7, 100, 61),    # centres over several lane strides; rows not a multiple of 8
])
@pytest.mark.parametrize("with_norms", [True, False])
def test_row_argmin_kernel_in_the_chunked_pass_equals_the_array_path(emulated_cupy, dtype, n, d, k, chunk_rows,
                                                                     with_norms):
    X, centres, members = separated(n, d, k, seed=n * k, dtype=dtype)
    shift = X.mean(axis=0)
    centers = centres - shift
    labels, min_sq, x_sq_norms = _graph_pass(X, centers, shift, chunk_rows, with_norms)
    expected_labels, expected_sq = agnostic.assign(X, centers, xp=np, chunk_rows=chunk_rows, x_sq_norms=x_sq_norms,
                                                   shift=shift)
    np.testing.assert_array_equal(labels, expected_labels)
    np.testing.assert_array_equal(labels, members)
    if with_norms:  # the same additions in the same order: the same distances
        np.testing.assert_array_equal(min_sq, expected_sq)
    else:  # the kernel sums the norms lane by lane
        assert_within_expansion_rounding(min_sq, expected_sq, X - shift, centers, labels)


def test_row_argmin_kernel_breaks_ties_towards_the_lowest_centre(emulated_cupy):
    X, centres, _ = separated(40, 6, 70, seed=2, dtype=np.float64)
    X[:16] = centres[0] + np.random.default_rng(0).normal(scale=0.5, size=(16, 6))
    for copy in (1, 32, 64):  # 1: another lane; 32, 64: lane 0 again, on later strides
        centres[copy] = centres[0]
    labels, _, _ = _graph_pass(X, centres, None, 40, True)
    expected, _ = agnostic.assign(X, centres, xp=np, chunk_rows=40)
    np.testing.assert_array_equal(labels, expected)
    assert np.all(labels[:16] == 0)


def test_emulator_rejects_what_the_gpu_would_silently_misread(emulated_cupy):
    """The checks the emulated launches make are real: a wrong scalar width and a strided array fail."""
    module = cuda_sources.cuda_module("row_argmin.cu")
    kernel = module.get_function("gk_row_argmin_f32")
    G = np.zeros((8, 4), np.float32)
    c_sq = np.zeros(4, np.float32)
    block = np.zeros((8, 2), np.float32)
    labels = np.zeros(8, np.int64)
    min_sq = np.zeros(8, np.float32)
    good = (G, c_sq, block, c_sq, np.int32(0), np.int32(8), np.int32(4), np.int32(2), labels, min_sq)
    kernel((1,), (256,), good)
    with pytest.raises(TypeError, match="needs numpy.int32"):
        kernel((1,), (256,), good[:5] + (np.int64(8),) + good[6:])
    with pytest.raises(TypeError, match="non-contiguous"):
        kernel((1,), (256,), (np.zeros((8, 8), np.float32)[:, :4],) + good[1:])
    with pytest.raises(TypeError, match="float64 array"):
        kernel((1,), (256,), (G.astype(np.float64),) + good[1:])
    with pytest.raises(RuntimeError, match="warp of 16 threads"):
        kernel((1,), (16,), good)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, d, k", [(300, 7, 5), (40, 1, 3), (513, 16, 64)])
def test_cluster_sums_kernel_equals_the_array_path(emulated_cupy, monkeypatch, dtype, n, d, k):
    """GKMEANS_CUDA_UPDATE=rows: every element added, cast and weighted, to its cluster (atomics racing
    for real in the emulator), weights per row; an empty cluster stays 0. The fast kernel is the one
    that ran (the launch is recorded), through segment_sum's own dispatch."""
    rng = np.random.default_rng(n + d + k)
    X = (rng.normal(size=(n, d)) * 10 + 3).astype(dtype)
    labels = rng.integers(0, k - 1, size=n)  # cluster k - 1 stays empty
    weights = rng.uniform(0.5, 2.0, size=n).astype(dtype)
    expected_sums, expected_weights = agnostic.segment_sum(X, labels, weights, k, xp=np, acc_dtype=np.float64,
                                                           chunk_rows=n)
    monkeypatch.setitem(sys.modules, "cupyx", types.ModuleType("cupyx"))
    monkeypatch.setenv("GKMEANS_CUDA_UPDATE", "rows")
    monkeypatch.setattr(cluster_sums_module, "CLUSTER_SUMS_MAX_BLOCKS", 2)  # fewer threads than elements: the grid-stride loop
    sums, weight_sums = selection.cupy_segment_sum(X.view(_OnEmulatedDevice), labels, weights, k, xp=np,
                                                   acc_dtype=np.float64, chunk_rows=n, method="rows")
    assert sums.dtype == np.float64 and weight_sums.dtype == np.float64
    np.testing.assert_allclose(sums, expected_sums, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(weight_sums, expected_weights, rtol=1e-12)
    assert np.all(sums[k - 1] == 0) and weight_sums[k - 1] == 0
    kernel = cuda_sources.cuda_kernel("cluster_sums.cu", dtype)
    assert kernel.launches[-1] == ((min(2, -(-n * d // 256)), 1, 1), (cluster_sums_module.CLUSTER_SUMS_THREADS, 1, 1))
