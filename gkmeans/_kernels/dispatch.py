"""Which implementation of a kernel primitive runs for a namespace (and for one array).

The order: an experimental GPU kernel when the configuration chooses one
(:mod:`gkmeans._kernels.experimental`, imported only then), else the backend's native module
(``numpy_``, ``cupy_``, ``torch_``) when it defines the primitive and takes the array, else the
pure Array API version in :mod:`gkmeans._kernels.agnostic`.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import sys
from types import ModuleType
from typing import Any, Callable

from gkmeans import config
from gkmeans._compat import backend_name
from gkmeans._kernels import agnostic
from gkmeans._sparse import is_sparse_rows
from gkmeans.host_memory import host_available_bytes

NATIVE_MODULES = {"numpy": "numpy_", "cupy": "cupy_", "torch": "torch_"}
#: The one module through which experimental kernels are reached.
EXPERIMENTAL = "gkmeans._kernels.experimental.selection"


@functools.lru_cache(maxsize=32)
def native_module(xp: ModuleType) -> ModuleType | None:
    """The fast-path module for ``xp``'s backend, or None (imported on first use; looked up once per
    namespace: it is asked several times a pass)."""
    name = NATIVE_MODULES.get(backend_name(xp))
    return None if name is None else importlib.import_module(f"gkmeans._kernels.{name}")


def experimental(xp: ModuleType, primitive: str, X: Any) -> Callable[..., Any] | None:
    """The experimental kernel the configuration chooses for ``primitive`` on ``X``, or None."""
    if X is None or backend_name(xp) not in ("cupy", "torch"):
        return None
    chosen = config.experimental_kernels()
    if chosen is None:
        return None
    selection = importlib.import_module(EXPERIMENTAL)
    return selection.choose(backend_name(xp), primitive, X, *chosen)


def sparse(primitive: str, X: Any) -> Callable[..., Any]:
    """``primitive`` for sparse rows (``gkmeans._kernels.sparse_<library>``, imported on first
    use); a primitive that sparse rows lack is a TypeError, never a densifying fallback."""
    module = importlib.import_module(f"gkmeans._kernels.sparse_{X.kind}")
    impl = module.primitive(primitive)
    if impl is None:
        msg = f"{primitive} does not take sparse input ({X.kind} CSR rows); give a dense array"
        raise TypeError(msg)
    return impl


def native(xp: ModuleType, primitive: str, X: Any = None) -> Callable[..., Any] | None:
    """The backend's own ``primitive`` for data ``X`` (an experimental one where chosen), or None.
    A native module may define ``handles(primitive, X)`` to decline some of its arrays (PyTorch:
    CUDA tensors for the primitives it runs through NumPy). Sparse rows go to :func:`sparse`."""
    if is_sparse_rows(X):
        return sparse(primitive, X)
    chosen = experimental(xp, primitive, X)
    if chosen is not None:
        return chosen
    module = native_module(xp)
    impl = getattr(module, primitive, None) if module is not None else None
    if impl is None:
        return None
    handles = getattr(module, "handles", None)
    if X is not None and handles is not None and not handles(primitive, X):
        return None
    return impl


def pick(xp: ModuleType, primitive: str, X: Any = None) -> Callable[..., Any]:
    """The implementation of ``primitive`` to run: :func:`native`, else the agnostic one."""
    impl = native(xp, primitive, X)
    # Looked up at call time so tests can replace the fallback and prove it did not run.
    return impl if impl is not None else getattr(agnostic, primitive)


def implementation(xp: ModuleType, primitive: str, X: Any = None) -> str:
    """Which implementation ``primitive`` uses for ``xp`` (and data ``X`` where given):
    "native:<backend>" or "agnostic"."""
    return "agnostic" if native(xp, primitive, X) is None else f"native:{backend_name(xp)}"


def fit_scope(xp: ModuleType, device: Any) -> contextlib.AbstractContextManager[Any]:
    """Context a whole fit runs in: the backend's ``fit_scope(device)`` where it has one (NumPy:
    BLAS held to one thread from the first pass to the last, see :func:`.numpy_.fit_scope`),
    else nothing."""
    module = native_module(xp)
    scope = getattr(module, "fit_scope", None) if module is not None else None
    return contextlib.nullcontext() if scope is None else scope(device)


def on_gpu(xp: ModuleType, device: Any) -> bool:
    """Whether ``device`` of namespace ``xp`` is a GPU."""
    return backend_name(xp) == "cupy" or getattr(device, "type", "cpu") == "cuda"


def free_bytes(xp: ModuleType, device: Any) -> int | None:
    """Free memory on ``device`` (the host's available memory for CPU namespaces), or None if
    unknown."""
    module = native_module(xp)
    if module is not None and hasattr(module, "free_memory"):
        return module.free_memory(device)
    return host_available_bytes()


def release_workspaces(xp: ModuleType) -> None:
    """Free what kernels keep between calls of one fit (an experimental kernel's captured pass and
    its buffers); called when a fit ends and before a chunk that did not fit is retried smaller."""
    module = native_module(xp)
    if module is not None and hasattr(module, "release_workspaces"):
        module.release_workspaces()
    selection = sys.modules.get(EXPERIMENTAL)  # loaded only if an experimental kernel was chosen
    if selection is not None:
        selection.release_workspaces()


def release_cached_memory(xp: ModuleType, device: Any) -> None:
    """Give the backend's cached memory blocks (and the kernels' workspaces) back."""
    module = native_module(xp)
    if module is not None and hasattr(module, "release_cached_memory"):
        module.release_cached_memory(device)
    release_workspaces(xp)


def out_of_memory_errors(xp: ModuleType) -> tuple[type[BaseException], ...]:
    """Exceptions that mean "this chunk did not fit" for ``xp``'s backend (CuPy's is a
    MemoryError)."""
    module = native_module(xp)
    extra = (
        module.out_of_memory_errors()
        if module is not None and hasattr(module, "out_of_memory_errors")
        else ()
    )
    return (MemoryError, *extra)
