"""gkmeans: one Array API k-means for NumPy on a laptop and CuPy/PyTorch on a GPU."""

from . import metrics, selection
from .api import (
    compute_centroids,
    cost,
    find_closest_centroids,
    k_means,
    kmeans_init_centroids,
    kmeans_parallel,
    kmeans_plusplus,
    run_kmeans,
)
from .device import devices
from .estimator import KMeans, MiniBatchKMeans
from .persistence import load_model as load
from .streaming import ChunkedData, chunked
from .exceptions import (
    ConvergenceWarning,
    EmptyClusterError,
    EmptyClusterWarning,
    GPUUnavailableError,
    InvalidParameterError,
    NotFittedError,
)

__version__ = "0.1.0"

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
