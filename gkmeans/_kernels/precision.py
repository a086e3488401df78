"""``precision=``: the arithmetic of a fit's distance products on a GPU."""

from __future__ import annotations

import contextlib
from types import ModuleType
from typing import Any

from gkmeans._kernels.dispatch import native_module, on_gpu

#: ``precision=`` options: "exact" computes in the data's dtype; "tf32" and "bf16" let float32
#: products on a CUDA GPU (compute capability 8.0+) use tensor cores in that format.
PRECISIONS = ("exact", "tf32", "bf16")


@contextlib.contextmanager
def matmul_precision(xp: ModuleType, device: Any, dtype: Any, precision: str) -> Any:
    """Context for the products of a fit or predict; yields the precision actually in force.

    Reduced precision applies to float32 data on a GPU whose backend offers it; everywhere
    else (the CPU, float64) the computation stays exact and "exact" is yielded. On such a GPU
    "exact" is set too, not assumed: CuPy's ``CUPY_TF32`` and PyTorch's
    ``set_float32_matmul_precision`` can make TF32 the process's default for float32 products.
    """
    native = native_module(xp)
    if (
        dtype != xp.float32
        or not on_gpu(xp, device)
        or native is None
        or not hasattr(native, "matmul_precision")
    ):
        yield "exact"
        return
    with native.matmul_precision(precision, device) as effective:
        yield effective


def exact_products(xp: ModuleType, device: Any) -> Any:
    """Context in which float32 products are exact, inside a reduced-precision fit too: for the
    products that are not distances (cluster sums of batched restarts, squared norms), whose
    results are centres and distances the fit promises exact."""
    return matmul_precision(xp, device, xp.float32, "exact")
