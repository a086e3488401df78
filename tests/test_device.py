"""The dispatcher: parsing, detection that never crashes, clear errors, no needless imports."""

from __future__ import annotations

import subprocess
import sys
import types

import numpy as np
import pytest

import gkmeans
from gkmeans import GPUUnavailableError, KMeans
from gkmeans import device as device_module
from gkmeans.datasets import make_blobs
from gkmeans.device import DeviceRequest, parse_device, resolve_placement

X, _, _ = make_blobs(100, 3, 3, random_state=0)


@pytest.fixture
def fresh_detection():
    device_module._cupy_cuda.cache_clear()
    yield
    device_module._cupy_cuda.cache_clear()


def _fake_cupy(monkeypatch, get_count):
    runtime = types.SimpleNamespace(getDeviceCount=get_count, getDeviceProperties=lambda i: {"name": b"Fake GPU"})
    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=runtime, Device=lambda i: ("device", i))
    monkeypatch.setitem(sys.modules, "cupy", fake)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("auto", DeviceRequest("auto")),
        ("CPU", DeviceRequest("cpu")),
        ("gpu", DeviceRequest("gpu")),
        ("cuda", DeviceRequest("gpu")),
        ("cuda:2", DeviceRequest("gpu", 2)),
        (" cuda:0 ", DeviceRequest("gpu", 0)),
    ],
)
def test_parse_device(spec, expected):
    assert parse_device(spec) == expected


@pytest.mark.parametrize("spec", ["tpu", "cuda:", "cuda:x", "gpu:1", ""])
def test_parse_device_rejects(spec):
    with pytest.raises(ValueError, match="is not recognised; expected 'auto', 'cpu', 'gpu' or 'cuda:N'"):
        parse_device(spec)


def test_parse_device_type_error():
    with pytest.raises(TypeError, match="device=3 must be a string"):
        parse_device(3)


def test_environment_variable_sets_the_default(monkeypatch):
    monkeypatch.setenv("GKMEANS_DEVICE", "cpu")
    assert parse_device(None) == DeviceRequest("cpu")
    assert KMeans(3, random_state=0).fit(X).device_ == "cpu"
    monkeypatch.setenv("GKMEANS_DEVICE", "quantum")
    with pytest.raises(ValueError, match="GKMEANS_DEVICE environment variable='quantum' is not recognised"):
        KMeans(3).fit(X)
    # An explicit argument wins over the environment.
    assert KMeans(3, device="cpu", random_state=0).fit(X).device_ == "cpu"


def test_devices_lists_cpu_first_and_says_why_gpu_is_missing(fresh_detection):
    listed = gkmeans.devices()
    assert listed[0].name == "cpu" and listed[0].usable
    gpus = listed[1:]
    assert gpus, "a CUDA entry is always listed, usable or not"
    for entry in gpus:
        assert entry.usable or entry.reason
    assert "cpu" in str(listed[0])


def test_no_cupy_installed_is_named(monkeypatch, fresh_detection):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    entry = gkmeans.devices()[1]
    assert not entry.usable and "CuPy is not installed" in entry.reason
    with pytest.raises(GPUUnavailableError, match="CuPy is not installed"):
        KMeans(3, device="gpu").fit(X)


def test_no_driver_is_named(monkeypatch, fresh_detection):
    def no_driver():
        raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")

    _fake_cupy(monkeypatch, no_driver)
    entry = gkmeans.devices()[1]
    assert not entry.usable and "no usable CUDA driver" in entry.reason
    with pytest.raises(GPUUnavailableError, match="no usable CUDA driver.*cudaErrorInsufficientDriver"):
        KMeans(3, device="cuda:0").fit(X)


def test_missing_device_number_is_named(monkeypatch, fresh_detection):
    _fake_cupy(monkeypatch, lambda: 1)
    assert [d.name for d in gkmeans.devices()] == ["cpu", "cuda:0"]
    with pytest.raises(GPUUnavailableError, match=r"device='cuda:3' does not exist: 1 CUDA device\(s\) found"):
        resolve_placement(X, gkmeans._compat.array_namespace(X), "cuda:3")


def test_auto_stays_on_cpu_when_gpu_unusable_even_for_big_work(monkeypatch, fresh_detection):
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setattr(device_module, "AUTO_GPU_MIN_WORK", 0)
    assert KMeans(3, random_state=0, device="auto").fit(X).device_ == "cpu"


def test_auto_below_threshold_never_probes_the_gpu(monkeypatch, fresh_detection):
    def must_not_probe():
        raise AssertionError("GPU probed for a small NumPy problem")

    _fake_cupy(monkeypatch, must_not_probe)
    placement = resolve_placement(X, gkmeans._compat.array_namespace(X), "auto", work=10)
    assert placement.name == "cpu"


def test_auto_threshold_from_the_environment(monkeypatch, fresh_detection):
    """GKMEANS_AUTO_GPU_MIN_WORK moves the crossover both ways: a machine's own measurement."""
    _fake_cupy(monkeypatch, lambda: 1)
    monkeypatch.setattr(device_module, "_cupy_placement", lambda index, xp, dev: ("moved to", index))
    xp = gkmeans._compat.array_namespace(X)
    assert resolve_placement(X, xp, "auto", work=10**9).name == "cpu"  # default threshold 1e10
    monkeypatch.setenv("GKMEANS_AUTO_GPU_MIN_WORK", "1e9")
    assert device_module.auto_gpu_min_work() == 1e9
    assert resolve_placement(X, xp, "auto", work=10**9) == ("moved to", 0)
    assert resolve_placement(X, xp, "auto", work=10**9 - 1).name == "cpu"
    monkeypatch.setenv("GKMEANS_AUTO_GPU_MIN_WORK", "inf")
    assert resolve_placement(X, xp, "auto", work=10**15).name == "cpu"
    monkeypatch.setenv("GKMEANS_AUTO_GPU_MIN_WORK", " ")
    assert device_module.auto_gpu_min_work() == device_module.AUTO_GPU_MIN_WORK


@pytest.mark.parametrize("text", ["lots", "-1", "nan", "1e9 points"])
def test_auto_threshold_from_the_environment_rejects_what_is_not_a_work(monkeypatch, text):
    monkeypatch.setenv("GKMEANS_AUTO_GPU_MIN_WORK", text)
    match = rf"GKMEANS_AUTO_GPU_MIN_WORK='{text}' is not a work threshold; expected a number .* >= 0"
    with pytest.raises(ValueError, match=match):
        KMeans(3, device="auto").fit(X)
    # an explicit device never reads it
    assert KMeans(3, device="cpu", random_state=0).fit(X).device_ == "cpu"


def test_fitting_numpy_never_imports_cupy_or_torch():
    code = (
        "import sys, numpy as np, gkmeans;"
        "X = np.random.default_rng(0).normal(size=(500, 4));"
        "km = gkmeans.KMeans(3, random_state=0).fit(X); km.predict(X); km.transform(X);"
        "bad = [m for m in ('cupy', 'torch') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_torch_gpu_request_without_cuda_is_clear():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is available")
    with pytest.raises(GPUUnavailableError, match=r"torch.cuda.is_available\(\) is False"):
        KMeans(3, device="gpu").fit(torch.asarray(X))


def test_cpu_request_keeps_cpu_arrays_in_place(backend):
    Xb = backend.asarray(X)
    placement = resolve_placement(Xb, gkmeans._compat.array_namespace(Xb), "cpu")
    assert placement.name == "cpu" and placement.xp is placement.caller_xp
    assert placement.to_compute(Xb) is Xb


def test_placement_moves_across_namespaces_and_back():
    """The route a GPU placement takes (NumPy caller, other compute namespace),
    exercised here with array-api-strict as the compute namespace."""
    import array_api_strict

    from gkmeans.device import Placement

    numpy_xp = gkmeans._compat.array_namespace(X)
    placement = Placement(array_api_strict, array_api_strict.Device("CPU_DEVICE"), numpy_xp, "cpu", "other")
    moved = placement.to_compute(X)
    assert isinstance(moved, array_api_strict._array_object.Array)
    back = placement.to_caller(moved * 2)
    assert isinstance(back, np.ndarray)
    np.testing.assert_array_equal(back, X * 2)
