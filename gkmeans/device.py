"""The dispatcher: decides where a computation runs and moves arrays there and back.

``device="auto"`` computes where the data already is: CuPy arrays and CUDA
tensors stay on their GPU; a NumPy array moves to a GPU only when one is usable
and the work (``n_samples * n_features * n_clusters``) is at least
:data:`AUTO_GPU_MIN_WORK` (or ``GKMEANS_AUTO_GPU_MIN_WORK``, the crossover measured on this
machine by ``python -m benchmarks dispatch``); everything else stays on the CPU. ``"cpu"``,
``"gpu"`` and ``"cuda:N"`` force the choice; an explicit GPU that is not usable is
a :class:`~gkmeans.exceptions.GPUUnavailableError` that says what is missing.
The environment variable ``GKMEANS_DEVICE`` sets the default.

CuPy is imported only when a GPU is asked for, when the work is large enough
for ``"auto"`` to consider one, or by :func:`devices`.
"""

from __future__ import annotations

import functools
import os
import platform
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from gkmeans import config
from gkmeans._compat import (
    array_device,
    array_namespace,
    cupy_namespace,
    is_cupy_array,
    is_numpy_array,
    is_torch_array,
    move,
    numpy_namespace,
)
from gkmeans._sparse import is_sparse_rows
from gkmeans.exceptions import GPUUnavailableError

__all__ = [
    "devices",
    "DeviceStatus",
    "Placement",
    "resolve_placement",
    "parse_device",
    "AUTO_GPU_MIN_WORK",
    "auto_gpu_min_work",
]

#: Re-exported from :mod:`gkmeans.config`, which owns every ``GKMEANS_*`` default.
AUTO_GPU_MIN_WORK = config.AUTO_GPU_MIN_WORK


def auto_gpu_min_work() -> float:
    """The work from which ``device="auto"`` moves a NumPy array to a GPU:
    ``GKMEANS_AUTO_GPU_MIN_WORK`` where set (the crossover depends on the machine: a laptop's two
    cores against a workstation's sixty-four, a PCIe 3 bus against NVLink), else
    :data:`AUTO_GPU_MIN_WORK`.

    Returns
    -------
    float
        ``n_samples * n_features * n_clusters`` from which a NumPy array moves; ``inf``: never.

    Raises
    ------
    ValueError
        If the variable is set to something other than a number >= 0.
    """
    return config.auto_gpu_min_work()


_CUDA_SPEC = re.compile(r"^cuda(?::(\d+))?$")


@dataclass(frozen=True)
class DeviceRequest:
    """A parsed ``device=`` value: ``kind`` is "auto", "cpu" or "gpu"."""

    kind: str
    index: int | None = None


def parse_device(spec: str | None) -> DeviceRequest:
    """Parse ``device=`` (``None`` reads ``GKMEANS_DEVICE``, else ``"auto"``)."""
    source = "device"
    if spec is None:
        spec = config.device_spec()
        source = "GKMEANS_DEVICE environment variable"
    if not isinstance(spec, str):
        msg = f"device={spec!r} must be a string: 'auto', 'cpu', 'gpu' or 'cuda:N'"
        raise TypeError(msg)
    text = spec.strip().lower()
    if text in ("auto", "cpu", "gpu"):
        return DeviceRequest(text)
    match = _CUDA_SPEC.match(text)
    if match:
        return DeviceRequest("gpu", None if match.group(1) is None else int(match.group(1)))
    msg = f"{source}={spec!r} is not recognised; expected 'auto', 'cpu', 'gpu' or 'cuda:N'"
    raise ValueError(msg)


@dataclass(frozen=True)
class DeviceStatus:
    """One entry of :func:`devices`: a device, whether it is usable, and why not."""

    name: str
    usable: bool
    description: str
    reason: str | None = None

    def __str__(self) -> str:
        state = "usable" if self.usable else f"not usable: {self.reason}"
        return f"{self.name:<8} {self.description} ({state})"


@functools.lru_cache(maxsize=1)
def _cupy_cuda() -> tuple[ModuleType | None, int, str | None]:
    """(cupy module or None, number of CUDA devices, reason when there are none).

    Never raises: any failure becomes the reason.
    """
    try:
        import cupy
    except ImportError:
        return None, 0, "CuPy is not installed (pip install 'gkmeans[cuda12]' or 'gkmeans[cuda13]')"
    except Exception as exc:  # a broken CuPy install must not break detection
        return None, 0, f"CuPy failed to import: {exc}"
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:  # CUDARuntimeError without a driver
        return cupy, 0, f"no usable CUDA driver ({type(exc).__name__}: {exc})"
    if count == 0:
        return cupy, 0, "the CUDA driver reports no GPU"
    return cupy, count, None


def _gpu_name(cupy: ModuleType, index: int) -> str:
    try:
        props = cupy.cuda.runtime.getDeviceProperties(index)
        name = props["name"]
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception:  # the name is cosmetic; never fail over it
        return "CUDA GPU"


def devices() -> list[DeviceStatus]:
    """List the compute devices gkmeans can use, and why the others are unusable.

    Returns
    -------
    list of DeviceStatus
        The CPU first, then one entry per CUDA device seen through CuPy, or one
        unusable ``"cuda"`` entry whose ``reason`` says what is missing.

    Examples
    --------
    >>> import gkmeans
    >>> gkmeans.devices()[0].name
    'cpu'
    """
    cpu = DeviceStatus(
        "cpu", True, f"{platform.machine() or 'CPU'}, {os.cpu_count()} cores (NumPy)"
    )
    cupy, count, reason = _cupy_cuda()
    if count == 0:
        return [cpu, DeviceStatus("cuda", False, "CUDA GPU (CuPy)", reason)]
    return [cpu] + [
        DeviceStatus(f"cuda:{i}", True, f"{_gpu_name(cupy, i)} (CuPy)") for i in range(count)
    ]


@dataclass(frozen=True)
class Placement:
    """Where a computation runs (``xp``, ``device``) and where results go back to."""

    xp: ModuleType
    device: Any
    caller_xp: ModuleType
    caller_device: Any
    name: str

    def to_compute(self, x: Any) -> Any:
        """Move an array (of any supported namespace) to the compute namespace and device."""
        if is_sparse_rows(x):
            return x.moved(self.xp, self.device)
        return move(x, array_namespace(x), self.xp, self.device)

    def to_caller(self, x: Any) -> Any:
        """Move a computed array back to the caller's namespace and device."""
        return move(x, self.xp, self.caller_xp, self.caller_device)


def _location(x: Any) -> tuple[str, int | None]:
    """("cuda", index) for an array on a CUDA GPU, else ("cpu", None)."""
    if is_cupy_array(x):
        return "cuda", int(x.device.id)
    if is_torch_array(x) and x.device.type == "cuda":
        return "cuda", int(x.device.index or 0)
    return "cpu", None


def _stay(x: Any, xp: ModuleType) -> Placement:
    kind, index = _location(x)
    dev = array_device(x)
    return Placement(xp, dev, xp, dev, "cpu" if kind == "cpu" else f"cuda:{index}")


def _cupy_placement(index: int, caller_xp: ModuleType, caller_device: Any) -> Placement:
    cupy, count, reason = _cupy_cuda()
    if count == 0:
        raise GPUUnavailableError(f"a GPU was requested but none is usable: {reason}")
    if index >= count:
        msg = (
            f"device='cuda:{index}' does not exist: {count} CUDA device(s) found "
            f"(cuda:0..cuda:{count - 1})"
        )
        raise GPUUnavailableError(msg)
    return Placement(
        cupy_namespace(), cupy.cuda.Device(index), caller_xp, caller_device, f"cuda:{index}"
    )


def _torch_cuda_placement(x: Any, index: int, xp: ModuleType) -> Placement:
    import torch

    if not torch.cuda.is_available():
        raise GPUUnavailableError(
            "a GPU was requested for a PyTorch tensor but torch.cuda.is_available() is False"
        )
    count = torch.cuda.device_count()
    if index >= count:
        msg = f"device='cuda:{index}' does not exist: PyTorch sees {count} CUDA device(s)"
        raise GPUUnavailableError(msg)
    return Placement(xp, torch.device(f"cuda:{index}"), xp, array_device(x), f"cuda:{index}")


def resolve_placement(
    x: Any, xp: ModuleType, device: str | None = None, work: int = 0
) -> Placement:
    """Decide where to compute on ``x`` (already validated, namespace ``xp``).

    Parameters
    ----------
    x : array
        The caller's data.
    xp : module
        Its Array API namespace.
    device : {"auto", "cpu", "gpu", "cuda:N"} or None
        ``None`` reads ``GKMEANS_DEVICE`` (default ``"auto"``).
    work : int
        ``n_samples * n_features * n_clusters``; used by ``"auto"`` only.
    """
    request = parse_device(device)
    if is_sparse_rows(x):
        # Placed as a dense array of its namespace and device would be, but "auto" keeps it
        # there: the sparse GPU path is not measured against the CPU one.
        x = x.probe
        if request.kind == "auto":
            return _stay(x, xp)
    kind, index = _location(x)
    caller_device = array_device(x)
    if request.kind == "auto":
        if kind == "cuda" or not is_numpy_array(x) or work < auto_gpu_min_work():
            return _stay(x, xp)
        _, count, _ = _cupy_cuda()
        return _cupy_placement(0, xp, caller_device) if count else _stay(x, xp)
    if request.kind == "cpu":
        if kind == "cpu":
            return _stay(x, xp)
        if is_torch_array(x):
            import torch

            return Placement(xp, torch.device("cpu"), xp, caller_device, "cpu")
        return Placement(numpy_namespace(), "cpu", xp, caller_device, "cpu")
    target = request.index if request.index is not None else (index if kind == "cuda" else 0)
    if is_torch_array(x):
        return _torch_cuda_placement(x, target, xp)
    if kind == "cuda" and target == index:
        return _stay(x, xp)
    return _cupy_placement(target, xp, caller_device)
