"""The CPU passes' threads: row blocks shared among the cores, BLAS held to one thread meanwhile."""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import itertools
import os
import threading
from typing import Any, Callable

import threadpoolctl
from threadpoolctl import ThreadpoolController

from gkmeans import config
from gkmeans._kernels.agnostic import row_chunks


def in_threads(
    n_rows: int, chunk_rows: int, work: Callable[[list[tuple[int, int]]], Any]
) -> list[Any]:
    """Share the row blocks among the CPU threads and run ``work`` on each share; returns the
    results of the shares in share order.

    With several threads the blocks are dealt (interleaved) into
    :data:`gkmeans.config.CPU_SHARES_PER_THREAD` shares per thread, and each thread takes the
    next share not yet taken until none is left: a thread that the OS slows (another process on
    its core) takes fewer shares instead of holding up the pass. The shares themselves, and the
    order of their results, do not depend on which thread ran them, so sums added share by share
    are the same from run to run. One thread runs every block as one share.

    BLAS is held to one thread meanwhile (:func:`one_blas_thread`), so the threads do not
    oversubscribe the cores; without threadpoolctl (a dependency, missing only from an install
    made with ``--no-deps``) everything runs in one thread.
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
        n_shares = min(len(blocks), n_threads * config.CPU_SHARES_PER_THREAD)
        shares = [blocks[i::n_shares] for i in range(n_shares)]
        results: list[Any] = [None] * n_shares
        taken = itertools.count()
        lock = threading.Lock()

        def drain() -> None:
            while True:
                with lock:
                    index = next(taken)
                if index >= n_shares:
                    return
                try:
                    results[index] = work(shares[index])
                except BaseException:
                    with lock:  # the other threads take no new share
                        for _ in range(n_shares):
                            next(taken)
                    raise

        # This thread drains too: one wake-up fewer (50-200 us on this kind of machine, as
        # much as a whole block of work at small sizes).
        others = [thread_pool(n_threads - 1).submit(drain) for _ in range(n_threads - 1)]
        try:
            drain()
        finally:
            # Never leave threads writing into the pass's buffers after it has returned or raised.
            concurrent.futures.wait(others)
        for future in others:
            future.result()  # a thread's error, raised here
        return results


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
    """The process's pool of ``n_threads`` threads (emptied in a forked child, see
    :func:`_after_fork_in_child`)."""
    return concurrent.futures.ThreadPoolExecutor(n_threads, thread_name_prefix="gkmeans")


@functools.lru_cache(maxsize=1)
def blas_controller() -> Any:
    return ThreadpoolController()


@functools.lru_cache(maxsize=2)
def _blas_scopes(controller: Any) -> tuple[Any, Any]:
    """The BLAS libraries of ``controller`` split by whose thread count threadpoolctl sets:
    (the process's, the calling thread's). OpenBLAS on OpenMP keeps a count per calling thread
    (threadpoolctl's ``OpenBLASController``); the others keep one for the process."""
    blas = [lib for lib in controller.lib_controllers if lib.user_api == "blas"]
    per_thread = [
        lib.filepath
        for lib in blas
        if lib.internal_api == "openblas" and getattr(lib, "threading_layer", None) == "openmp"
    ]
    shared = [lib.filepath for lib in blas if lib.filepath not in per_thread]
    return controller.select(filepath=shared), controller.select(filepath=per_thread)


def _release_blas_control() -> None:
    """Give up threadpoolctl's control of OpenBLAS's process-wide count, if this thread has it.

    threadpoolctl 3.8 lets one live thread at a time set that count (the first to set it,
    until it lets go) and silently ignores the others. The thread that restores BLAS after the
    last pass may not be the one that limited it before the first, so control is held only for
    the moment of each change. (Older threadpoolctl has no such control: nothing to give up.)
    """
    openblas = getattr(threadpoolctl, "OpenBLASController", None)
    release = getattr(openblas, "clear_controlling_thread", None)
    if release is not None:
        release()


class _BlasLimit:
    """BLAS held to one thread while any pass of this process runs, restored after the last.

    A process-wide thread count cannot be limited and restored by each thread on its own: with
    fits in several threads, A enters (saves N), B enters (saves 1), A leaves (restores N while
    B still runs), B leaves (restores 1: BLAS stays at one thread for the rest of the process).
    So the first pass in sets the limit, the last one out restores the count the first found,
    and a lock orders them.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.limiter: Any = None
        # Bumped in a forked child, so that a pass still running in the thread that forked
        # does not leave, in the child, a limit it entered in the parent.
        self.generation = 0

    def enter(self, shared: Any) -> int:
        with self.lock:
            if self.users == 0:
                self.limiter = shared.limit(limits=1)
                _release_blas_control()
            self.users += 1
            return self.generation

    def leave(self, generation: int) -> None:
        with self.lock:
            if generation != self.generation:
                return
            self.users -= 1
            if self.users == 0:
                limiter, self.limiter = self.limiter, None
                limiter.restore_original_limits()
                _release_blas_control()

    def reset_in_child(self) -> None:
        """In a forked child: the passes that held the limit ran in threads the child does not
        have and will never leave it, so BLAS's count is restored now."""
        self.lock = threading.Lock()  # the parent's was held across the fork (_before_fork)
        limiter, self.limiter, self.users = self.limiter, None, 0
        self.generation += 1
        if limiter is not None:
            limiter.restore_original_limits()
            _release_blas_control()


_blas_limit = _BlasLimit()


@contextlib.contextmanager
def one_blas_thread():
    """Hold BLAS to one thread while our own threads share the cores (needs threadpoolctl).

    Safe from several threads at once: a process-wide count is limited by the first pass in and
    restored by the last one out (:class:`_BlasLimit`); a count kept per thread (OpenBLAS on
    OpenMP) is limited and restored by each thread for itself.
    """
    controller = blas_controller()
    if controller is None:
        yield
        return
    shared, per_thread = _blas_scopes(controller)
    generation = _blas_limit.enter(shared)
    try:
        if per_thread.lib_controllers:
            with per_thread.limit(limits=1):
                yield
        else:
            yield
    finally:
        _blas_limit.leave(generation)


def _before_fork() -> None:
    # Fork only between BLAS changes: threadpoolctl's own lock, taken inside one, would stay
    # held in the child, and the child's restore (_after_fork_in_child) would wait on it forever.
    _blas_limit.lock.acquire()


def _after_fork_in_parent() -> None:
    _blas_limit.lock.release()


def _after_fork_in_child() -> None:
    """Forget what belongs to the parent's threads: a forked child has only the thread that
    forked, so work handed to the parent's pool would wait forever for threads that do not exist
    there (the child's pool starts its own on first use)."""
    thread_pool.cache_clear()
    _blas_limit.reset_in_child()


if hasattr(os, "register_at_fork"):  # POSIX only; elsewhere processes are spawned, not forked
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
