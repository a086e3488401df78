"""NumPy fast paths."""

from __future__ import annotations

import contextlib
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np

from .agnostic import row_chunks


def _in_threads(n_rows: int, chunk_rows: int, work: Callable[[list[tuple[int, int]]], Any]) -> list[Any]:
    """Share the row blocks among the CPU threads (interleaved) and run ``work`` on each share.

    BLAS is held to one thread meanwhile, so the threads do not oversubscribe the
    cores; without threadpoolctl (the ``fast`` extra) everything runs in one thread.
    """
    blocks = list(row_chunks(n_rows, chunk_rows))
    # Without threadpoolctl BLAS cannot be held to one thread, and our threads plus
    # BLAS's would oversubscribe the cores (measured slower than one thread).
    threads = cpu_threads() if _blas_controller() is not None else 1
    n_threads = max(1, min(threads, len(blocks)))
    if n_threads == 1:
        return [work(blocks)]
    shares = [blocks[i::n_threads] for i in range(n_threads)]
    with _one_blas_thread():
        return list(_pool(n_threads).map(work, shares))


class _BlockLabeller:
    """The part of a pass every NumPy kernel shares: shift a block, label it, record distances.

    Labels come from the argmin of ``-2 x.c + ||c||^2`` built in a reused buffer (the same
    arithmetic, in the same order, as :func:`.agnostic.assign`, so the same labels).
    """

    def __init__(self, X: np.ndarray, centers: np.ndarray, xp: Any, x_sq_norms: Any, shift: Any) -> None:
        self.X, self.xp, self.x_sq_norms, self.shift = X, xp, x_sq_norms, shift
        self.c_sq = np.sum(centers * centers, axis=1)
        self.centers_t_neg2 = np.ascontiguousarray(-2 * centers.T)
        self.labels = np.empty(X.shape[0], dtype=np.int64)
        self.min_sq = np.empty(X.shape[0], dtype=X.dtype)

    def buffers(self, chunk_rows: int) -> tuple[np.ndarray, np.ndarray]:
        """A thread's own (block x k) distance buffer and (block x d) shifted-rows buffer."""
        rows = min(chunk_rows, self.X.shape[0])
        return (np.empty((rows, self.c_sq.shape[0]), dtype=self.X.dtype),
                np.empty((rows, self.X.shape[1]), dtype=self.X.dtype))

    def label(self, start: int, stop: int, partial: np.ndarray, shifted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Label rows ``start:stop``; returns the shifted block and its labels (``partial`` holds the distances)."""
        rows = stop - start
        block = self.X[start:stop] if self.shift is None else np.subtract(self.X[start:stop], self.shift,
                                                                          out=shifted[:rows])
        block_sq = self.xp.vecdot(block, block) if self.x_sq_norms is None else self.x_sq_norms[start:stop]
        np.matmul(block, self.centers_t_neg2, out=partial)
        partial += self.c_sq
        nearest = partial.argmin(axis=1)
        self.labels[start:stop] = nearest
        best = np.take_along_axis(partial, nearest[:, None], axis=1)[:, 0]
        np.add(best, block_sq, out=self.min_sq[start:stop])
        return block, nearest

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        np.maximum(self.min_sq, 0, out=self.min_sq)
        return self.labels, self.min_sq


def assign(
    X: np.ndarray,
    centers: np.ndarray,
    *,
    xp: Any,
    chunk_rows: int,
    x_sq_norms: np.ndarray | None = None,
    shift: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`.agnostic.assign` with reused block buffers, in-place updates and CPU threads."""
    labeller = _BlockLabeller(X, centers, xp, x_sq_norms, shift)

    def work(share: list[tuple[int, int]]) -> None:
        distances, shifted = labeller.buffers(chunk_rows)
        for start, stop in share:
            labeller.label(start, stop, distances[: stop - start], shifted)

    _in_threads(X.shape[0], chunk_rows, work)
    return labeller.finish()


def assign_and_sum(
    X: np.ndarray,
    centers: np.ndarray,
    weights: np.ndarray,
    *,
    xp: Any,
    chunk_rows: int,
    x_sq_norms: np.ndarray | None = None,
    shift: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One Lloyd pass fused per block of rows, the blocks shared among CPU threads.

    Each block is shifted, multiplied with the centres, reduced to labels, and
    summed into per-thread cluster sums through a one-hot matrix product while it
    is still in cache (the same labels as :func:`assign`). Sums are per block in
    X's dtype and accumulated in float64.

    Returns labels, squared distances, sums of the shifted rows (float64, (k, d))
    and cluster weights (float64, (k,)).
    """
    k, d = centers.shape
    labeller = _BlockLabeller(X, centers, xp, x_sq_norms, shift)

    def work(share: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        distances, shifted = labeller.buffers(chunk_rows)
        sums = np.zeros((k, d), dtype=np.float64)
        weight_sums = np.zeros(k, dtype=np.float64)
        for start, stop in share:
            rows = stop - start
            partial = distances[:rows]
            block, nearest = labeller.label(start, stop, partial, shifted)
            block_weights = weights[start:stop]
            partial.fill(0)  # the distance buffer becomes the weighted one-hot matrix
            partial[np.arange(rows), nearest] = block_weights
            sums += partial.T @ block
            weight_sums += np.bincount(nearest, weights=block_weights, minlength=k)
        return sums, weight_sums

    results = _in_threads(X.shape[0], chunk_rows, work)
    labels, min_sq = labeller.finish()
    return labels, min_sq, np.sum([r[0] for r in results], axis=0), np.sum([r[1] for r in results], axis=0)


def cpu_threads() -> int:
    """CPU cores this process may use (``GKMEANS_NUM_THREADS`` overrides)."""
    override = os.environ.get("GKMEANS_NUM_THREADS")
    if override:
        return max(1, int(override))
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@functools.lru_cache(maxsize=4)
def _pool(n_threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(n_threads, thread_name_prefix="gkmeans")


@functools.lru_cache(maxsize=1)
def _blas_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


@contextlib.contextmanager
def _one_blas_thread():
    """Hold BLAS to one thread while our own threads share the cores (needs threadpoolctl)."""
    controller = _blas_controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


def segment_sum(
    X: np.ndarray, labels: np.ndarray, weights: np.ndarray, n_clusters: int, *, xp: Any, acc_dtype: Any, chunk_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster sums through one ``bincount`` over (label, feature) pairs per block.

    A flat bincount reads the block once, contiguously; a per-column bincount
    reads X ``n_features`` times with a stride and is 3x slower (measured at
    n=10^6, d=32, k=64). Accumulates in float64.
    """
    n, d = X.shape
    feature_offsets = np.arange(d)
    sums = np.zeros(n_clusters * d, dtype=np.float64)
    for start, stop in row_chunks(n, chunk_rows):
        block_labels = labels[start:stop]
        flat_index = (block_labels[:, None] * d + feature_offsets).ravel()
        weighted = X[start:stop] * weights[start:stop, None]
        sums += np.bincount(flat_index, weights=weighted.ravel(), minlength=n_clusters * d)
    weight_sums = np.bincount(labels, weights=weights, minlength=n_clusters).astype(np.float64, copy=False)
    return sums.reshape(n_clusters, d), weight_sums


def cluster_distance_sums(
    X: np.ndarray, x_sq_norms: np.ndarray, one_hot: np.ndarray, *, xp: Any, chunk_rows: int
) -> np.ndarray:
    """:func:`.agnostic.cluster_distance_sums` with one reused block buffer, updated in place."""
    n = X.shape[0]
    out = np.empty((n, one_hot.shape[1]), dtype=X.dtype)
    X_t_neg2 = np.ascontiguousarray(-2 * X.T)
    block_buffer = np.empty((min(chunk_rows, n), n), dtype=X.dtype)
    for start, stop in row_chunks(n, chunk_rows):
        sq = block_buffer[: stop - start]
        np.matmul(X[start:stop], X_t_neg2, out=sq)
        sq += x_sq_norms[None, :]
        sq += x_sq_norms[start:stop, None]
        np.maximum(sq, 0, out=sq)
        np.sqrt(sq, out=sq)
        np.matmul(sq, one_hot, out=out[start:stop])
    return out


def free_memory(device: Any) -> int | None:
    """Host memory available now, in bytes (None where the OS does not say)."""
    from .memory import host_available_bytes

    return host_available_bytes()
