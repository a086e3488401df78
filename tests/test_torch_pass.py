"""PyTorch CPU tensors run NumPy's passes on zero-copy views (gkmeans._kernels.torch_)."""

from __future__ import annotations

import numpy as np
import pytest

import gkmeans
from gkmeans import _kernels as kernels
from gkmeans._compat import array_namespace
from gkmeans._kernels import agnostic, torch_

torch = pytest.importorskip("torch")


@pytest.fixture
def data(rng):
    X = (rng.normal(size=(3001, 7)) + 5).astype(np.float32)
    centers = X[rng.choice(3001, 9, replace=False)] - X.mean(axis=0)
    return X, centers


def test_twins_give_numpy_results_bit_for_bit(data, rng):
    X, centers = data
    shift = X.mean(axis=0)
    w = rng.uniform(0.5, 2, size=X.shape[0]).astype(np.float32)
    Xt, Ct, wt, st = (torch.from_numpy(a.copy()) for a in (X, centers, w, shift))
    numpy_result = kernels.assign_and_sum(X, centers, w, xp=array_namespace(X), shift=shift)
    torch_result = kernels.assign_and_sum(Xt, Ct, wt, xp=array_namespace(Xt), shift=st)
    for expected, got in zip(numpy_result, torch_result):
        assert isinstance(got, torch.Tensor) and got.device.type == "cpu"
        np.testing.assert_array_equal(got.numpy(), expected)
    labels, min_sq = kernels.assign(Xt, Ct, xp=array_namespace(Xt), shift=st)
    np.testing.assert_array_equal(labels.numpy(), numpy_result[0])
    np.testing.assert_array_equal(min_sq.numpy(), numpy_result[1])
    assert labels.dtype == torch.int64 and min_sq.dtype == torch.float32


def test_accumulator_dtype_is_translated(data):
    """weighted_inertia receives torch.float64 as its accumulator and must hand NumPy's to the NumPy kernel."""
    X, centers = data
    labels = np.arange(X.shape[0]) % centers.shape[0]
    w = np.ones(X.shape[0], dtype=np.float32)
    expected = kernels.weighted_inertia(X, centers, labels, w, xp=array_namespace(X))
    Xt = torch.from_numpy(X)
    got = kernels.weighted_inertia(Xt, torch.from_numpy(centers), torch.from_numpy(labels), torch.from_numpy(w),
                                   xp=array_namespace(Xt))
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
    assert float(got) == float(expected)


def test_fit_matches_numpy_and_leaves_the_tensor_alone(data):
    X, _ = data
    Xt = torch.from_numpy(X.copy())
    before = Xt.clone()
    fitted_t = gkmeans.KMeans(9, n_init=2, random_state=3).fit(Xt)
    fitted_n = gkmeans.KMeans(9, n_init=2, random_state=3).fit(X)
    assert isinstance(fitted_t.labels_, torch.Tensor)
    np.testing.assert_array_equal(fitted_t.labels_.numpy(), fitted_n.labels_)
    np.testing.assert_allclose(fitted_t.inertia_, fitted_n.inertia_, rtol=1e-6)
    assert torch.equal(Xt, before)


def test_tensors_numpy_cannot_view_directly_still_work(data):
    """A tensor that requires grad, a strided one and a lazily negated one go through as well."""
    X, centers = data
    wide = torch.from_numpy(np.repeat(X, 2, axis=1))
    strided = wide[:, ::2]  # X again, every other column of a wider tensor
    assert not strided.is_contiguous()
    graded = torch.from_numpy(X.copy()).requires_grad_(True)
    negated = torch._neg_view(torch.from_numpy(-X))  # a lazily negated view: X again
    assert negated.is_neg()
    Ct = torch.from_numpy(centers)
    expected, _ = kernels.assign(X, centers, xp=array_namespace(X))
    for Xt in (strided, graded, negated):
        labels, _ = kernels.assign(Xt, Ct, xp=array_namespace(Xt))
        np.testing.assert_array_equal(labels.numpy(), expected)


def test_other_devices_and_dtypes_take_the_array_api_path(monkeypatch):
    """CUDA tensors (stood in for by the meta device) and float16 are declined, and the
    pure Array API version runs."""
    xp = array_namespace(torch.zeros(1))
    meta = torch.empty((10, 3), device="meta")
    half = torch.zeros((10, 3), dtype=torch.float16)
    for X in (meta, half):
        assert not torch_.handles("assign", X)
        assert kernels.implementation(xp, "assign", X) == "agnostic"
    assert torch_.handles("segment_sum", meta)  # index_add_ takes every device
    assert kernels.implementation(xp, "assign", torch.zeros((10, 3))) == "native:torch"

    ran = []
    # What the stub returns goes through the near-tie screen after the pass: real arrays.
    labels, distances = torch.zeros(10, dtype=torch.int64), torch.ones(10, dtype=torch.float16)
    monkeypatch.setattr(agnostic, "assign", lambda *a, **k: ran.append(1) or (labels, distances))
    result = kernels.assign(half, torch.zeros((2, 3), dtype=torch.float16), xp=xp)
    assert result[0] is labels and result[1] is distances
    assert ran == [1]


def test_cuda_free_memory_counts_the_allocators_unused_cache(monkeypatch):
    """Chunk sizes follow free memory: on CUDA, PyTorch's cached but unused blocks are free to us."""
    gib = 2**30
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (3 * gib, 80 * gib))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device: 10 * gib)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device: 6 * gib)
    assert torch_.free_memory(torch.device("cuda", 0)) == 7 * gib
    assert torch_.free_memory(torch.device("cpu")) > 0  # the host's available memory


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(4))
def test_a_tensor_fit_is_numpys_bit_for_bit(dtype, seed):
    """Labels, centres and inertia equal NumPy's exactly: the frame's shift too is NumPy's mean
    (torch.mean sums in another order, which moved every centre and inertia in the last bits)."""
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(300, 5)) * 1e3 + 1e4).astype(dtype)
    w = rng.random(300) + 0.1
    init = X[rng.choice(300, 6, replace=False)]
    ref = gkmeans.KMeans(6, init=init, n_init=1, max_iter=20, tol=0).fit(X, sample_weight=w)
    fit = gkmeans.KMeans(6, init=torch.asarray(init), n_init=1, max_iter=20, tol=0).fit(
        torch.asarray(X), sample_weight=torch.asarray(w))
    np.testing.assert_array_equal(fit.labels_.numpy(), ref.labels_)
    np.testing.assert_array_equal(fit.cluster_centers_.numpy(), ref.cluster_centers_)
    assert fit.inertia_ == ref.inertia_
