"""gkmeans: one Array API k-means for NumPy on a laptop and CuPy/PyTorch on a GPU."""

from gkmeans import metrics, selection
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
