"""Backends every algorithm test runs on.

NumPy and array-api-strict always; PyTorch CPU tensors when PyTorch is installed;
CuPy arrays, and PyTorch CUDA tensors ("torch_cuda"), when a CUDA GPU is usable.
``GKMEANS_TEST_BACKENDS=numpy,torch`` picks a subset, and a backend named there that
cannot run is an error, not a skip.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import pytest

# The Triton kernel (gkmeans/_kernels/experimental/triton_assign.py) runs under Triton's interpreter on machines
# without an NVIDIA GPU. The variable must be set before Triton is first imported: Triton makes its
# standard functions (tl.min, tl.argmin, ...) interpreted or compiled when it is imported.
if "TRITON_INTERPRET" not in os.environ and not os.path.exists("/dev/nvidiactl"):
    os.environ["TRITON_INTERPRET"] = "1"

ALL_BACKENDS = ("numpy", "array_api_strict", "torch", "torch_cuda", "cupy")
#: The module of each backend whose name is not its module's.
MODULES = {"torch_cuda": "torch"}
#: Backends that need a GPU (marker ``gpu``).
GPU_BACKENDS = ("torch_cuda", "cupy")


@dataclass(frozen=True)
class Backend:
    """A test backend: converts NumPy test data to its arrays and back."""

    name: str
    module: ModuleType

    def asarray(self, a: Any, dtype: Any = None) -> Any:
        a = np.asarray(a) if dtype is None else np.asarray(a, dtype=dtype)
        if self.name == "torch":
            return self.module.asarray(a.copy())
        if self.name == "torch_cuda":
            return self.module.asarray(a.copy(), device="cuda")
        return self.module.asarray(a)

    def to_numpy(self, x: Any) -> np.ndarray:
        from gkmeans._compat import to_numpy

        return np.asarray(to_numpy(x))

    def is_own(self, x: Any) -> bool:
        """Whether ``x`` is an array of this backend (namespace preserved)."""
        from gkmeans._compat import array_namespace, backend_name

        name = backend_name(array_namespace(x))
        if self.name in ("torch", "torch_cuda"):  # one namespace, told apart by the device
            return name == "torch" and x.device.type == ("cuda" if self.name == "torch_cuda" else "cpu")
        return name == self.name


def _why_unavailable(name: str) -> str | None:
    try:
        module = importlib.import_module(MODULES.get(name, name))
    except ImportError as exc:
        return f"{MODULES.get(name, name)} is not installed ({exc})"
    if name == "torch_cuda" and not module.cuda.is_available():
        return "PyTorch sees no CUDA device (torch.cuda.is_available() is False)"
    if name == "cupy":
        try:
            if module.cuda.runtime.getDeviceCount() < 1:
                return "CuPy sees no CUDA device"
        except Exception as exc:  # no driver
            return f"CuPy has no usable CUDA device ({type(exc).__name__})"
    return None


def _selected() -> list[tuple[str, str | None]]:
    requested = os.environ.get("GKMEANS_TEST_BACKENDS")
    if not requested:
        return [(name, _why_unavailable(name)) for name in ALL_BACKENDS]
    names = [name.strip() for name in requested.split(",") if name.strip()]
    unknown = [name for name in names if name not in ALL_BACKENDS]
    if unknown:
        raise pytest.UsageError(f"GKMEANS_TEST_BACKENDS names unknown backends {unknown}; known: {ALL_BACKENDS}")
    for name in names:
        reason = _why_unavailable(name)
        if reason is not None:
            raise pytest.UsageError(f"GKMEANS_TEST_BACKENDS asks for {name!r}, which cannot run: {reason}")
    return [(name, None) for name in names]


SELECTED = _selected()


def _backend_params() -> list[Any]:
    params = []
    for name, reason in SELECTED:
        marks = [pytest.mark.gpu] if name in GPU_BACKENDS else []
        if reason is not None:
            marks.append(pytest.mark.skip(reason=reason))
        params.append(pytest.param(name, id=name, marks=marks))
    return params


@pytest.fixture(params=_backend_params())
def backend(request: pytest.FixtureRequest) -> Backend:
    """Every selected backend (skipped, with its reason, where it cannot run)."""
    return Backend(request.param, importlib.import_module(MODULES.get(request.param, request.param)))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)

