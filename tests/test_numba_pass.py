"""The compiled NumPy pass (Numba, the ``fast`` extra): the NumPy pass's labels, faster.

Skipped where Numba is not installed (the GPU image has none); CI installs it.
"""

from __future__ import annotations

import numpy as np
import pytest
from rounding import (
    assert_distances_equal_up_to_rounding,
    assert_labels_equal_up_to_rounding,
)

import gkmeans
from gkmeans._kernels import numba_pass, numpy_
from gkmeans.datasets import make_blobs

numba = pytest.importorskip("numba")


def _both_passes(monkeypatch, run):
    monkeypatch.setenv("GKMEANS_CPU_PASS", "numpy")
    plain = run()
    monkeypatch.setenv("GKMEANS_CPU_PASS", "numba")
    compiled = run()
    return plain, compiled


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, d, k, chunk_rows", [(5000, 32, 64, 4096), (3001, 5, 7, 1000), (2000, 128, 1024, 256),
                                                 (50, 3, 1, 16), (9, 2, 9, 4),
                                                 # the small-d loop: padded to 4, and 4 + 4
                                                 (4099, 3, 256, 2048), (3001, 7, 40, 1000)])
@pytest.mark.parametrize("with_shift", [False, True])
def test_compiled_pass_labels_as_the_numpy_pass(monkeypatch, dtype, n, d, k, chunk_rows, with_shift):
    rng = np.random.default_rng(n + k)
    X = (rng.normal(size=(n, d)) * 3 + 25).astype(dtype)
    centers = X[rng.choice(n, k, replace=False)] + rng.normal(scale=0.05, size=(k, d)).astype(dtype)
    weights = rng.uniform(0.5, 2.0, size=n).astype(dtype)
    shift = X.mean(axis=0) if with_shift else None
    shifted = X - shift if with_shift else X
    centers = (centers - shift if with_shift else centers).astype(dtype)
    x_sq = np.einsum("ij,ij->i", shifted, shifted)

    def run():
        return numpy_.assign_and_sum(X, centers, weights, xp=np, chunk_rows=chunk_rows, x_sq_norms=x_sq, shift=shift)

    (labels, min_sq, sums, wsums), (c_labels, c_min_sq, c_sums, c_wsums) = _both_passes(monkeypatch, run)
    # Not bit for bit: above ROW_MAJOR_MAX_CLUSTERS the compiled pass forms the products
    # transposed, and its blocks are of another height (a one-row block of the NumPy pass is a
    # matrix-vector product): other BLAS calls, which may round otherwise. The same labels
    # wherever a centre is nearest by more than the rounding, the same distances up to it.
    assert_labels_equal_up_to_rounding(c_labels, labels, shifted, centers)
    assert_distances_equal_up_to_rounding(c_min_sq, min_sq, shifted, centers)
    assert c_labels.dtype == np.int64 and c_min_sq.dtype == dtype and c_sums.dtype == np.float64
    # the NumPy pass sums each block in X's dtype first; the compiled one in float64 throughout
    exact, c_exact = np.zeros((k, d)), np.zeros((k, d))
    np.add.at(exact, labels, shifted.astype(np.float64) * weights[:, None].astype(np.float64))
    # each pass's sums are those of its own labels (which may differ at near-ties)
    np.add.at(c_exact, c_labels, shifted.astype(np.float64) * weights[:, None].astype(np.float64))
    np.testing.assert_allclose(c_sums, c_exact, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(sums, exact, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-3)
    np.testing.assert_allclose(c_wsums, np.bincount(c_labels, weights, minlength=k), rtol=1e-6)
    np.testing.assert_allclose(wsums, np.bincount(labels, weights, minlength=k), rtol=1e-6)

    def assign_only():
        return numpy_.assign(X, centers, xp=np, chunk_rows=chunk_rows, x_sq_norms=None, shift=shift)

    (labels_a, min_sq_a), (c_labels_a, c_min_sq_a) = _both_passes(monkeypatch, assign_only)
    # Within each path the BLAS calls are the same: the same labels, bit for bit.
    np.testing.assert_array_equal(labels_a, labels)
    np.testing.assert_array_equal(c_labels_a, c_labels)


def test_a_fit_through_the_compiled_pass_equals_the_numpy_fit(monkeypatch):
    X, _, _ = make_blobs(20_000, 16, 12, cluster_std=3.0, random_state=3, dtype=np.float32)

    def fit():
        return gkmeans.KMeans(12, random_state=0, n_init=2).fit(X)

    plain, compiled = _both_passes(monkeypatch, fit)
    np.testing.assert_array_equal(compiled.labels_, plain.labels_)
    assert compiled.n_iter_ == plain.n_iter_
    np.testing.assert_allclose(compiled.cluster_centers_, plain.cluster_centers_, rtol=1e-5, atol=1e-5)
    assert compiled.inertia_ == pytest.approx(plain.inertia_, rel=1e-6)


@pytest.mark.parametrize(
    "k, d, argmin",
    [
        (5, 12, "rows"),
        (numpy_.ROW_MAJOR_MAX_CLUSTERS + 1, numpy_.SMALL_D_MAX_FEATURES + 1, "block"),
        (numpy_.ROW_MAJOR_MAX_CLUSTERS + 1, 3, "small"),
        (numpy_.ROW_MAJOR_MAX_CLUSTERS + 1, numpy_.SMALL_D_MAX_FEATURES, "small"),
    ],
)
def test_the_compiled_kernels_are_the_ones_that_ran(monkeypatch, k, d, argmin):
    ran = []
    real = numba_pass.kernels()
    spy = numba_pass._Kernels(nearest_of_block=lambda *a: ran.append("block") or real.nearest_of_block(*a),
                              nearest_exact_of_block=real.nearest_exact_of_block,
                              nearest_small_d=lambda *a: ran.append("small") or real.nearest_small_d(*a),
                              decide_near_ties=real.decide_near_ties,
                              nearest_of_rows=lambda *a: ran.append("rows") or real.nearest_of_rows(*a),
                              add_to_clusters=lambda *a: ran.append("sums") or real.add_to_clusters(*a),
                              weighted_inertia=real.weighted_inertia, closer_of_block=real.closer_of_block)
    monkeypatch.setattr(numba_pass, "kernels", lambda: spy)
    monkeypatch.setattr(numpy_.BlockLabeller, "label_and_sum", None)  # the NumPy version must not run
    monkeypatch.setenv("GKMEANS_CPU_PASS", "numba")  # a pass this small runs plain NumPy under "auto"
    X, _, _ = make_blobs(3000, d, k, random_state=0)
    gkmeans.KMeans(k, random_state=0, n_init=1).fit(X)
    assert argmin in ran and "sums" in ran
    assert ({"rows", "block", "small"} - {argmin}).isdisjoint(ran)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 2, 8, numpy_.ROW_MAJOR_MAX_CLUSTERS])
def test_row_major_compiled_pass_is_the_numpy_pass_bit_for_bit(monkeypatch, dtype, k):
    """Up to ROW_MAJOR_MAX_CLUSTERS the compiled pass makes the NumPy pass's BLAS call: the same
    labels and distances exactly, near-ties included."""
    rng = np.random.default_rng(k)
    X = (rng.normal(size=(20_011, 32)) + 25).astype(dtype)
    shift = X.mean(axis=0)
    centers = (X[rng.choice(X.shape[0], k, replace=False)] - shift).astype(dtype)
    if k > 2:
        centers[-1] = centers[1]  # exact ties: the lower index must win
    x_sq = np.einsum("ij,ij->i", X - shift, X - shift)

    def run():
        return numpy_.assign(X, centers, xp=np, chunk_rows=4096, x_sq_norms=x_sq, shift=shift)

    (labels, min_sq), (c_labels, c_min_sq) = _both_passes(monkeypatch, run)
    np.testing.assert_array_equal(c_labels, labels)
    np.testing.assert_array_equal(c_min_sq, min_sq)
    if k > 2:
        assert not np.any(c_labels == k - 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_under_auto_the_pass_depends_on_the_work_and_dtype_only(monkeypatch, dtype):
    """The compiled kernels iff a pass covers COMPILED_MIN_WORK pairs: not for smaller passes,
    however many ran before and whether or not Numba is loaded already (the two passes round
    differently in the last bits, and results must not depend on the process's history)."""
    monkeypatch.setenv("GKMEANS_CPU_PASS", "auto")
    small = numpy_.COMPILED_MIN_WORK - 1
    numba_pass.kernels()  # loaded: no shortcut for small passes
    assert numpy_.compiled_pass(small, dtype) is None
    assert numpy_.compiled_pass(10, dtype) is None
    assert numpy_.compiled_pass(numpy_.COMPILED_MIN_WORK, dtype) is numba_pass.kernels()
    # Many small passes, together far past any break-even, still run plain NumPy.
    assert all(numpy_.compiled_pass(small, dtype) is None for _ in range(64))
    assert numpy_.compiled_pass(10**12, np.int64) is None  # the kernels take floats only
    monkeypatch.setenv("GKMEANS_CPU_PASS", "numba")
    assert numpy_.compiled_pass(10, dtype) is numba_pass.kernels()  # asked for by name: always
    monkeypatch.setenv("GKMEANS_CPU_PASS", "numpy")
    assert numpy_.compiled_pass(10**12, dtype) is None


def test_small_passes_do_not_load_numba(monkeypatch):
    """Under "auto" a pass below COMPILED_MIN_WORK never asks for the kernels (never loads
    Numba); one at COMPILED_MIN_WORK does."""
    monkeypatch.setenv("GKMEANS_CPU_PASS", "auto")
    asked = []
    monkeypatch.setattr(numba_pass, "kernels", lambda: asked.append(1) or "kernels")
    assert numpy_.compiled_pass(numpy_.COMPILED_MIN_WORK - 1) is None
    assert asked == []
    assert numpy_.compiled_pass(numpy_.COMPILED_MIN_WORK) == "kernels"
    assert asked == [1]


def test_cpu_pass_choice_errors(monkeypatch):
    monkeypatch.setenv("GKMEANS_CPU_PASS", "fortran")
    with pytest.raises(ValueError, match=r"GKMEANS_CPU_PASS='fortran' is not recognised; expected one of "
                                         r"\('auto', 'numba', 'numpy'\)"):
        numpy_.compiled_pass()

    def no_numba():
        raise ImportError("No module named 'numba'")

    monkeypatch.setattr(numba_pass, "kernels", no_numba)
    monkeypatch.setenv("GKMEANS_CPU_PASS", "numba")
    with pytest.raises(ImportError, match=r"GKMEANS_CPU_PASS=numba needs Numba: pip install 'gkmeans\[fast\]'"):
        numpy_.compiled_pass()
    monkeypatch.setenv("GKMEANS_CPU_PASS", "auto")
    assert numpy_.compiled_pass(10**9) is None  # "auto" without Numba: plain NumPy


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_inertia_equals_the_array_path(monkeypatch, dtype):
    from gkmeans._kernels import agnostic

    rng = np.random.default_rng(4)
    X = (rng.normal(size=(70_001, 5)) + 10).astype(dtype)
    centers = X[:9].copy()
    labels = rng.integers(0, 9, size=X.shape[0])
    w = rng.uniform(0.5, 2, size=X.shape[0]).astype(dtype)
    expected = agnostic.weighted_inertia(X, centers, labels, w, xp=np, acc_dtype=np.float64, chunk_rows=4096)
    monkeypatch.setenv("GKMEANS_CPU_PASS", "numba")
    monkeypatch.setattr(agnostic, "weighted_inertia", None)  # the compiled loop must be the one that runs
    got = numpy_.weighted_inertia(X, centers, labels, w, xp=np, acc_dtype=np.float64, chunk_rows=4096)
    assert got.dtype == np.float64 and got.shape == ()
    assert float(got) == pytest.approx(float(expected), rel=1e-6 if dtype == np.float32 else 1e-12)
