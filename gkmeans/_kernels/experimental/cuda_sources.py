"""The CUDA sources of ``cuda/`` and their kernels, compiled once per process by CuPy (NVRTC)."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import numpy as np

#: Each CUDA source of ``cuda/`` and its kernels for float32 and float64 data, looked up by name.
CUDA_KERNELS = {
    "fused_assign.cu": ("gk_fused_assign_f32", "gk_fused_assign_f64"),
    "row_argmin.cu": ("gk_row_argmin_f32", "gk_row_argmin_f64"),
    "cluster_sums.cu": ("gk_cluster_sums_f32", "gk_cluster_sums_f64"),
}
COMPILED: dict[str, Any] = {}


def cuda_module(name: str) -> Any:
    """``cuda/<name>`` compiled by CuPy's RawModule (NVRTC), with ``cuda/`` on the include path
    for the shared ``gk_common.cuh``."""
    import cupy

    folder = files(__package__).joinpath("cuda")  # a directory: the package is never zipped
    source = folder.joinpath(name).read_text(encoding="utf-8")
    return cupy.RawModule(code=source, options=("-std=c++17", f"-I{folder}"))


def cuda_kernel(source: str, dtype: Any) -> Any:
    """The kernel of ``cuda/<source>`` for ``dtype`` (float32, else float64): every kernel of the
    source is compiled once per process by :func:`cuda_module`, then cached."""
    for_float32, for_float64 = CUDA_KERNELS[source]
    name = for_float32 if dtype == np.float32 else for_float64
    if name not in COMPILED:
        module = cuda_module(source)
        for kernel in CUDA_KERNELS[source]:
            COMPILED[kernel] = module.get_function(kernel)
    return COMPILED[name]
