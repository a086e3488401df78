"""gkmeans: one Array API k-means for NumPy on a laptop and CuPy/PyTorch on a GPU.

The submodules in ``LAZY_SUBMODULES`` (``gkmeans.image``, ``gkmeans.metrics``, ...) are
attributes of the package, imported on first use (PEP 562), so ``import gkmeans`` stays
quick and never imports an optional dependency (matplotlib, Pillow, PyArrow, scikit-learn,
SciPy, Numba, Dask, PyTorch, CuPy).
"""

import importlib
from typing import Any

from gkmeans._version import __version__
from gkmeans.api import (
    compute_centroids,
    cost,
    find_closest_centroids,
    k_means,
    kmeans_init_centroids,
    kmeans_parallel,
    kmeans_plusplus,
    run_kmeans,
)
from gkmeans.device import devices
from gkmeans.estimator import KMeans, MiniBatchKMeans
from gkmeans.exceptions import (
    ConvergenceWarning,
    EmptyClusterError,
    EmptyClusterWarning,
    GPUUnavailableError,
    InvalidParameterError,
    NotFittedError,
)
from gkmeans.persistence import load_model as load
from gkmeans.streaming import ChunkedData, chunked

__all__ = [
    "KMeans",
    "MiniBatchKMeans",
    "chunked",
    "ChunkedData",
    "k_means",
    "kmeans_plusplus",
    "kmeans_parallel",
    "find_closest_centroids",
    "compute_centroids",
    "kmeans_init_centroids",
    "run_kmeans",
    "cost",
    "devices",
    "load",
    "metrics",
    "selection",
    "ConvergenceWarning",
    "EmptyClusterError",
    "EmptyClusterWarning",
    "GPUUnavailableError",
    "InvalidParameterError",
    "NotFittedError",
    "__version__",
]

#: Submodules reached as ``gkmeans.<name>`` and imported on first use.
LAZY_SUBMODULES = ("anomaly", "datasets", "image", "io", "metrics", "plot", "selection")


def __getattr__(name: str) -> Any:
    """Import a submodule of :data:`LAZY_SUBMODULES` on first access (PEP 562)."""
    if name in LAZY_SUBMODULES:
        return importlib.import_module(f"gkmeans.{name}")  # also binds gkmeans.<name>
    msg = f"module 'gkmeans' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    """The package's names, the lazy submodules included."""
    return sorted(set(globals()) | set(LAZY_SUBMODULES))
