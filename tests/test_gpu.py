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
