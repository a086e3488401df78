"""The only importer of ``array_api_compat``: namespace lookup and array conversion.

Everything else in gkmeans asks this module which namespace an array belongs to,
moves arrays between namespaces through it, and never imports a backend itself.
Backends are recognised by type name (array-api-compat looks in ``sys.modules``),
so inspecting a NumPy array never imports CuPy or PyTorch.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
from array_api_compat import array_namespace as _array_namespace
from array_api_compat import device as _array_device
from array_api_compat import (
    is_array_api_obj,
    is_array_api_strict_namespace,
    is_cupy_array,
    is_cupy_namespace,
    is_numpy_array,
    is_numpy_namespace,
    is_torch_array,
    is_torch_namespace,
    to_device,
)

from gkmeans._sparse import is_sparse_rows

__all__ = [
    "array_namespace",
    "array_device",
    "is_array_api_obj",
    "is_cupy_array",
    "is_numpy_array",
    "is_torch_array",
    "backend_name",
    "to_numpy",
    "move",
    "supports_float64",
    "to_device",
]


def array_namespace(*arrays: Any, **kwargs: Any) -> ModuleType:
    """The Array API namespace of ``arrays`` (sparse rows: their centres' dense namespace)."""
    return _array_namespace(*(x.probe if is_sparse_rows(x) else x for x in arrays), **kwargs)


def array_device(x: Any) -> Any:
    """The device of an array (or of sparse rows)."""
    return x.device if is_sparse_rows(x) else _array_device(x)


def backend_name(xp: ModuleType) -> str:
    """Short name of the library behind an Array API namespace.

    One of ``"numpy"``, ``"cupy"``, ``"torch"``, ``"array_api_strict"`` or the
    namespace's own module name for anything else.
    """
    if is_numpy_namespace(xp):
        return "numpy"
    if is_cupy_namespace(xp):
        return "cupy"
    if is_torch_namespace(xp):
        return "torch"
    if is_array_api_strict_namespace(xp):
        return "array_api_strict"
    return xp.__name__


def dtype_name(dtype: Any) -> str:
    """A dtype's plain name in any library ("float32" for NumPy's, PyTorch's ``torch.float32`` and
    array-api-strict's), for error messages."""
    return str(dtype).rsplit(".", 1)[-1]


def to_numpy(x: Any) -> np.ndarray:
    """Copy any supported array to a host NumPy array (no copy for NumPy input)."""
    if isinstance(x, np.ndarray):
        return x
    if is_cupy_array(x):
        return x.get()
    if is_torch_array(x):
        return x.detach().cpu().numpy()
    try:
        return np.from_dlpack(x)
    except (TypeError, BufferError, AttributeError, RuntimeError):
        return np.asarray(x)


def move(x: Any, src_xp: ModuleType, dst_xp: ModuleType, dst_device: Any) -> Any:
    """Move ``x`` from namespace ``src_xp`` to ``dst_xp`` on ``dst_device``.

    Within one library this is a device transfer (a no-op when already there);
    across libraries the array goes through host memory, which is the only
    route every backend supports.
    """
    if src_xp is dst_xp:
        if array_device(x) == dst_device:
            return x
        if is_cupy_namespace(dst_xp):
            # array-api-compat's to_device cannot copy between two CUDA devices.
            with dst_device:
                return dst_xp.asarray(x, copy=True)
        return to_device(x, dst_device)
    return dst_xp.asarray(to_numpy(x), device=dst_device)


def supports_float64(xp: ModuleType, device: Any) -> bool:
    """Whether ``xp`` can compute in float64 on ``device`` (Apple MPS cannot)."""
    try:
        dtypes = xp.__array_namespace_info__().dtypes(device=device, kind="real floating")
    except (AttributeError, TypeError, ValueError):
        return True
    return "float64" in dtypes


def numpy_namespace() -> ModuleType:
    """array-api-compat's NumPy namespace (where CPU computations on host data run)."""
    import array_api_compat.numpy as numpy_xp

    return numpy_xp


def cupy_namespace() -> ModuleType:
    """array-api-compat's CuPy namespace (imports CuPy: call it only once a GPU is chosen)."""
    import array_api_compat.cupy as cupy_xp

    return cupy_xp
