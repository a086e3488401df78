"""Sparse input: SciPy CSR/CSC matrices and arrays, CuPy's ``cupyx.scipy.sparse`` matrices and
PyTorch sparse tensors, held as CSR rows without ever being made dense.

Sparse arrays are outside the Array API standard. At the public boundary a sparse input becomes a
:class:`SparseRows`: the library's own CSR matrix, the dense namespace its centres live in, and
its shape, dtype and device, which is what the algorithms look at. The kernel layer
(``gkmeans/_kernels/sparse_*.py``) does the arithmetic, so the algorithms stay one code.
Backends are recognised by type name: nothing here imports CuPy or PyTorch for a NumPy input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

#: The libraries whose sparse matrices are accepted, by the module their types live in.
SPARSE_KINDS = ("scipy", "cupy", "torch")


@dataclass(frozen=True, eq=False)
class SparseRows:
    """A sparse matrix as CSR rows: what the kernels compute on, never densified.

    ``matrix`` is the library's CSR matrix (``scipy.sparse.csr_matrix``,
    ``cupyx.scipy.sparse.csr_matrix`` or a PyTorch ``sparse_csr`` tensor), with sorted and
    summed duplicates; ``kind`` names the library ("scipy", "cupy", "torch"); ``xp`` is the dense
    Array API namespace of its centres and labels; ``source`` is the caller's object (given to a
    callable ``init``). ``cache`` keeps what a kernel computes once per matrix (row norms).
    """

    matrix: Any
    kind: str
    xp: ModuleType
    shape: tuple[int, int]
    dtype: Any
    device: Any
    source: Any = None
    cache: dict = field(default_factory=dict)

    @property
    def ndim(self) -> int:
        return 2

    @property
    def nnz(self) -> int:
        """Stored values."""
        if self.kind == "torch":
            return int(self.matrix.values().shape[0])
        return int(self.matrix.nnz)

    @property
    def probe(self) -> Any:
        """A one-value dense array of this namespace, dtype and device: what device placement
        looks at (sparse matrices are not Array API arrays)."""
        return self.xp.zeros((1, 1), dtype=self.dtype, device=self.device)

    def moved(self, xp: ModuleType, device: Any) -> SparseRows:
        """This matrix in namespace ``xp`` on ``device``: itself, or a SciPy matrix copied to a
        GPU as a CuPy one (the one move a placement asks of sparse data)."""
        if xp is self.xp and device == self.device:
            return self
        if self.kind == "scipy" and _module_of(xp) == "cupy":
            import cupyx.scipy.sparse as cupy_sparse

            with device:
                return _wrap(cupy_sparse.csr_matrix(self.matrix), "cupy", self.source)
        msg = (
            f"sparse {self.kind} data cannot be moved to {xp.__name__} on {device}; give the "
            "matrix on the device to compute on (SciPy matrices may go to a GPU as CuPy ones)"
        )
        raise TypeError(msg)


def _module_of(x: Any) -> str:
    """The top-level module of an object's type (or of a module)."""
    name = x.__name__ if isinstance(x, ModuleType) else type(x).__module__
    return name.split(".", 1)[0]


def _from_sparse_module(cls: type) -> bool:
    return cls.__module__.startswith(("scipy.sparse", "cupyx.scipy.sparse"))


def is_sparse_input(x: Any) -> bool:
    """Whether ``x`` is a sparse matrix or array of SciPy, CuPy (``cupyx.scipy.sparse``) or a
    sparse PyTorch tensor (any sparse layout)."""
    if any(_from_sparse_module(cls) for cls in type(x).__mro__):  # subclasses too
        return hasattr(x, "tocsr")
    module = type(x).__module__
    if module.startswith("torch") and type(x).__name__ == "Tensor":
        return str(x.layout) != "torch.strided"
    return False


def is_sparse_rows(x: Any) -> bool:
    """Whether ``x`` is a :class:`SparseRows`."""
    return isinstance(x, SparseRows)


def _namespace(kind: str) -> ModuleType:
    if kind == "scipy":
        import array_api_compat.numpy as xp
    elif kind == "cupy":
        import array_api_compat.cupy as xp
    else:
        import array_api_compat.torch as xp
    return xp


def _wrap(matrix: Any, kind: str, source: Any) -> SparseRows:
    """A canonical CSR matrix of ``kind`` as :class:`SparseRows`."""
    xp = _namespace(kind)
    if kind == "torch":
        dtype, device = matrix.dtype, matrix.device
    elif kind == "cupy":
        dtype, device = matrix.dtype, matrix.data.device
    else:
        dtype, device = matrix.dtype, "cpu"
    return SparseRows(matrix, kind, xp, tuple(int(s) for s in matrix.shape), dtype, device, source)


def _float_kind(dtype: Any, name: str) -> str:
    """ "keep" for float32/float64, "float64" for bool and integers; complex and others refused."""
    text = str(dtype).rsplit(".", 1)[-1]
    if text in ("float32", "float64"):
        return "keep"
    if text.startswith("complex"):
        msg = f"Complex data not supported: {name} has dtype {text}; expected real numbers"
        raise ValueError(msg)
    if text == "bool" or text.startswith(("int", "uint")) or text.startswith("float"):
        return "float64"
    msg = f"{name} has dtype {text}; expected a real numeric dtype"
    raise TypeError(msg)


def _scipy_csr(x: Any, name: str) -> Any:
    """A canonical CSR copy (or the matrix itself when it is one already) of a SciPy matrix."""
    import scipy.sparse as sp

    matrix = x.tocsr() if x.format != "csr" else x
    if _float_kind(matrix.dtype, name) == "float64":
        matrix = matrix.astype(np.float64)
    if not isinstance(matrix, sp.csr_matrix):
        matrix = sp.csr_matrix(matrix)  # one type for the kernels (csr_array shares the data)
    if not matrix.has_canonical_format:
        matrix = matrix.copy()  # never modify the caller's matrix
        matrix.sum_duplicates()
    return matrix


def _cupy_csr(x: Any, name: str) -> Any:
    import cupy

    matrix = x.tocsr() if x.format != "csr" else x
    if _float_kind(matrix.dtype, name) == "float64":
        matrix = matrix.astype(cupy.float64)
    if not matrix.has_canonical_format:
        matrix = matrix.copy()
        matrix.sum_duplicates()
    return matrix


def _torch_csr(x: Any, name: str) -> Any:
    import torch

    if x.layout == torch.sparse_coo:
        matrix = x.coalesce().to_sparse_csr()
    elif x.layout != torch.sparse_csr:
        matrix = x.to_sparse_csr()
    else:
        matrix = x
    if _float_kind(matrix.dtype, name) == "float64":
        matrix = matrix.to(torch.float64)
    return matrix


def sparse_rows(x: Any, name: str = "X") -> SparseRows:
    """``x`` (a sparse input, see :func:`is_sparse_input`) as :class:`SparseRows`, checked: 2-D,
    a real dtype (bool and integers become float64), finite stored values. The caller's matrix
    is never modified; a copy is made only for another format, dtype or duplicate entries."""
    if len(x.shape) != 2:
        msg = f"Expected 2D sparse matrix for {name}, got shape {tuple(x.shape)}"
        raise ValueError(msg)
    modules = [cls.__module__ for cls in type(x).__mro__]
    if any(module.startswith("scipy.sparse") for module in modules):
        rows = _wrap(_scipy_csr(x, name), "scipy", x)
    elif any(module.startswith("cupyx") for module in modules):
        rows = _wrap(_cupy_csr(x, name), "cupy", x)
    else:
        rows = _wrap(_torch_csr(x, name), "torch", x)
    values = stored_values(rows)
    xp = rows.xp
    if not bool(xp.all(xp.isfinite(values))):
        kind = "NaN" if bool(xp.any(xp.isnan(values))) else "infinity"
        msg = f"Input {name} contains {kind}; k-means needs finite values (no NaN or inf)."
        raise ValueError(msg)
    return rows


def stored_values(rows: SparseRows) -> Any:
    """The stored values of the matrix, a dense 1-D array of its namespace (no copy)."""
    if rows.kind == "torch":
        return rows.matrix.values()
    return rows.matrix.data


def refuse_sparse(x: Any, function: str, reason: str) -> None:
    """Raise a TypeError naming ``function`` when ``x`` is sparse input (or sparse rows): for the
    functions that would have to make sparse data dense, which gkmeans never does silently."""
    if is_sparse_rows(x) or is_sparse_input(x):
        msg = (
            f"{function} does not take sparse input ({type(x).__name__} of shape "
            f"{tuple(x.shape)}): {reason}"
        )
        raise TypeError(msg)
