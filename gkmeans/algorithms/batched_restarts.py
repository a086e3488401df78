"""Restarts run together: ``n_init`` Lloyd runs as one batched computation, written once against the
Array API.

The course material's advice — run 50 to 1000 random initialisations and keep the
best — costs a Python loop of ``n_init`` fits when run one after another. Here all
runs advance together: every iteration reads X once, multiplies each block with the
centres of all live runs in one product and sums all runs' clusters in one more
(:func:`gkmeans._kernels.assign_and_sum_batched`), and brings a single small array to
the host (empty counts, centre shifts and "labels changed" for every run). A run that
converges leaves the batch; the others go on. Each run follows exactly the rules of
:func:`gkmeans.algorithms.lloyd.lloyd`, so from the same starts the runs end where sequential
runs would (up to the rounding of wider matrix products).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gkmeans import _kernels as kernels
from gkmeans._compat import to_numpy
from gkmeans._validation import inertia_overflow
from gkmeans.algorithms.empty_clusters import (
    cluster_means,
    empty_cluster_message,
    random_reseed,
    relocate,
)
from gkmeans.algorithms.frame import LloydData
from gkmeans.algorithms.history import Trace, host_copies
from gkmeans.algorithms.lloyd import LloydResult
from gkmeans.algorithms.tie_screen import TieScreen
from gkmeans.exceptions import EmptyClusterError

#: empty_cluster policies a batch can follow: "drop" changes a run's k, which a batch cannot hold.
BATCHABLE_POLICIES = ("relocate", "random", "error")


def batched_lloyd(
    data: LloydData,
    starts: Any,
    *,
    max_iter: int,
    tol: float,
    empty_cluster: str,
    rngs: list[np.random.Generator],
    verbose: bool = False,
    progress: Callable[[int, int], None] | None = None,
    traces: list[Trace] | None = None,
) -> list[LloydResult]:
    """Run one Lloyd run per start, all together; return each run's result (scored).

    Parameters
    ----------
    data : LloydData
    starts : array of shape (n_runs, n_clusters, n_features)
        Starting centres of every run, shifted frame, X's dtype.
    max_iter, tol, empty_cluster, verbose
        As :func:`gkmeans.algorithms.lloyd.lloyd` (``empty_cluster`` one of
        :data:`BATCHABLE_POLICIES`).
    rngs : list of numpy.random.Generator
        Each run's generator for its empty clusters re-drawn at random (as its sequential run's
        ``rng``).
    progress : callable, optional
        Called as ``progress(runs_finished, iteration)`` after every iteration.

    Returns
    -------
    list of LloydResult
        In the order of ``starts``: centres, labels for those centres, their inertia
        (from the distance expansion, to rank the runs) and iterations.
    """
    if empty_cluster not in BATCHABLE_POLICIES:
        raise ValueError(
            f"empty_cluster={empty_cluster!r} cannot be batched; use one of {BATCHABLE_POLICIES}"
        )
    xp, X = data.xp, data.X
    n_runs = starts.shape[0]
    live = np.arange(n_runs)
    centers = starts
    final_centers: list[Any] = [None] * n_runs
    n_iters = np.zeros(n_runs, dtype=int)
    labels_old = None
    screen = TieScreen(data, verbose=verbose)
    exact = screen.now(centers, 0)
    for iteration in range(max_iter):
        labels, min_sq, sums, weight_sums = kernels.assign_and_sum_batched(
            X,
            centers,
            data.weights,
            xp=xp,
            x_sq_norms=data.x_sq_norms,
            shift=data.shift,
            exact_ties=exact,
        )
        new_centers = cluster_means(sums, weight_sums, centers, xp)
        acc = sums.dtype
        n_empty = xp.sum(xp.astype(weight_sums == 0, acc), axis=1)
        unchanged = (
            xp.zeros(len(live), dtype=acc, device=X.device)
            if labels_old is None
            else xp.astype(xp.all(labels == labels_old, axis=0), acc)
        )
        shifts = xp.sum(xp.astype((new_centers - centers) ** 2, acc), axis=(1, 2))
        # The one host synchronisation of the iteration, for every run at once.
        ratio = xp.astype(screen.ratio(new_centers), acc) * xp.ones_like(shifts)
        state = np.asarray(
            to_numpy(xp.stack([n_empty, unchanged, shifts, ratio])), dtype=np.float64
        )
        exact = screen.decide(float(state[3, 0]), iteration + 1)
        for slot in np.flatnonzero(state[0] > 0):
            run_sums, run_weights = sums[int(slot), ...], weight_sums[int(slot), ...]
            run_centers = centers[int(slot), ...]
            if empty_cluster == "error":
                raise EmptyClusterError(
                    empty_cluster_message(np.asarray(to_numpy(run_weights)), iteration + 1)
                )
            if empty_cluster == "relocate":
                fixed = relocate(
                    data,
                    run_centers,
                    labels[:, int(slot)],
                    run_sums,
                    run_weights,
                    int(state[0, slot]),
                )
            else:
                fixed = random_reseed(
                    data,
                    run_centers,
                    run_sums,
                    run_weights,
                    int(state[0, slot]),
                    rngs[int(live[slot])],
                )
            new_centers[int(slot), ...] = fixed
            state[2, slot] = float(xp.sum((fixed - run_centers) ** 2))
            exact = screen.now(new_centers, iteration + 1)
        if verbose:
            inertia = to_numpy(
                xp.sum(xp.astype(min_sq, acc) * xp.astype(data.weights, acc)[:, None], axis=0)
            )
            print(
                f"Iteration {iteration}, inertia of the {len(live)} live runs "
                f"{np.round(inertia, 6).tolist()}."
            )
        if traces is not None:
            _record(traces, live, data, new_centers, min_sq)
        n_iters[live] = iteration + 1
        done = (state[1] > 0) | (state[2] <= tol)
        for slot in np.flatnonzero(done):
            final_centers[live[slot]] = new_centers[int(slot), ...]
        keep = np.flatnonzero(~done)
        live = live[keep]
        if progress is not None:
            progress(n_runs - len(live), iteration + 1)
        if len(live) == 0:
            break
        keep_index = xp.asarray(keep.astype(np.int64), device=X.device)
        centers = xp.take(new_centers, keep_index, axis=0)
        labels_old = xp.take(labels, keep_index, axis=1)
    for position, run in enumerate(live):  # runs that reached max_iter
        final_centers[run] = centers[position, ...]
    return _score(data, xp.stack(final_centers), n_iters, traces)


def _record(
    traces: list[Trace], live: np.ndarray, data: LloydData, centers: Any, min_sq: Any
) -> None:
    """One iteration of every live run into its trace (one copy to the host for all)."""
    xp = data.xp
    acc = kernels.accumulator_dtype(xp, data.X.device)
    inertia = xp.sum(xp.astype(min_sq, acc) * xp.astype(data.weights, acc)[:, None], axis=0)
    host, values = host_copies(xp, centers, inertia)
    for slot, run in enumerate(live):
        traces[int(run)].step(host[slot], values[slot])


def _score(
    data: LloydData, centers: Any, n_iters: np.ndarray, traces: list[Trace] | None = None
) -> list[LloydResult]:
    """Labels and inertia of every run's final centres, in one batched pass."""
    xp = data.xp
    labels, min_sq, _, _ = kernels.assign_and_sum_batched(
        data.X, centers, data.weights, xp=xp, x_sq_norms=data.x_sq_norms, shift=data.shift
    )
    acc = kernels.accumulator_dtype(xp, data.X.device)
    inertia = np.asarray(
        to_numpy(xp.sum(xp.astype(min_sq, acc) * xp.astype(data.weights, acc)[:, None], axis=0))
    )
    if not np.all(np.isfinite(inertia)):
        raise inertia_overflow(inertia.tolist(), data.X.dtype)
    return [
        LloydResult(
            centers[run, ...],
            labels[:, run],
            float(inertia[run]),
            int(n_iters[run]),
            None if traces is None else traces[run],
        )
        for run in range(centers.shape[0])
    ]
