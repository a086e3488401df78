"""Numba's ``njit`` as every compiled kernel of gkmeans uses it: GIL released, cached on disk.

Imported only by the compiled-kernel modules, inside the functions that build their kernels, so
that Numba is imported when a kernel is first asked for.
"""

from __future__ import annotations

from typing import Any


def njit_cached(function: Any) -> Any:
    """``numba.njit(nogil=True, cache=True)(function)``; compiled per process instead where there
    is no writable cache location. nogil: the CPU threads run blocks side by side."""
    import numba

    try:
        return numba.njit(nogil=True, cache=True)(function)
    except RuntimeError:  # no writable cache location
        return numba.njit(nogil=True)(function)
