"""The CPU passes' threads: row blocks shared among the cores, BLAS held to one thread meanwhile."""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import os
from typing import Any, Callable

from threadpoolctl import ThreadpoolController

from gkmeans import config
from gkmeans._kernels.agnostic import row_chunks


def in_threads(
    n_rows: int, chunk_rows: int, work: Callable[[list[tuple[int, int]]], Any]
) -> list[Any]:
    """Share the row blocks among the CPU threads (interleaved) and run ``work`` on each share.

    BLAS is held to one thread meanwhile, so the threads do not oversubscribe the
    cores; without threadpoolctl (a dependency, missing only from an install made with
    ``--no-deps``) everything runs in one thread.
    """
    blocks = list(row_chunks(n_rows, chunk_rows))
    # Without threadpoolctl BLAS cannot be held to one thread, and our threads plus
    # BLAS's would oversubscribe the cores (measured slower than one thread).
    threads = cpu_threads() if blas_controller() is not None else 1
    n_threads = max(1, min(threads, len(blocks)))
    # BLAS at one thread even for one of ours: its threads would split products of a few
    # thousand rows, and OpenBLAS's idle threads spin between calls, slowing the passes between.
    with one_blas_thread():
        if n_threads == 1:
            return [work(blocks)]
        shares = [blocks[i::n_threads] for i in range(n_threads)]
        # The first share runs in this thread: one wake-up fewer (50-200 us on this kind of
        # machine, as much as a whole block of work at small sizes).
        others = [thread_pool(n_threads - 1).submit(work, share) for share in shares[1:]]
        try:
            first = work(shares[0])
        finally:
            # Never leave threads writing into the pass's buffers after it has returned or raised.
            concurrent.futures.wait(others)
        return [first, *(future.result() for future in others)]


def cpu_threads() -> int:
    """CPU cores this process may use (``GKMEANS_NUM_THREADS`` overrides)."""
    override = config.num_threads()
    if override is not None:
        return override
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@functools.lru_cache(maxsize=4)
def thread_pool(n_threads: int) -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(n_threads, thread_name_prefix="gkmeans")


@functools.lru_cache(maxsize=1)
def blas_controller() -> Any:
    return ThreadpoolController()


@contextlib.contextmanager
def one_blas_thread():
    """Hold BLAS to one thread while our own threads share the cores (needs threadpoolctl)."""
    controller = blas_controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield
