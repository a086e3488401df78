"""Lloyd's algorithm, written once against the Array API.

One run: assign every point to its nearest centre, move every centre to the
weighted mean of its points, repeat until no label changes, the squared centre
shift falls to ``tol``, or ``max_iter`` is reached (scikit-learn's rules).
Empty clusters are handled by the policy the caller chose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from gkmeans import _kernels as kernels
from gkmeans._compat import to_numpy
from gkmeans._validation import inertia_overflow
from gkmeans.algorithms.empty_clusters import (
    apply_policy,
    cluster_means,
)
from gkmeans.algorithms.frame import LloydData
from gkmeans.algorithms.history import Trace, host_copies
from gkmeans.algorithms.tie_screen import TieScreen


@dataclass(frozen=True)
class LloydResult:
    """Outcome of one run: centres (shifted frame), labels matching them and their inertia
    (None and NaN when the run was not scored), iterations, and the run's trace when one was
    kept."""

    centers: Any
    labels: Any
    inertia: float
    n_iter: int
    trace: Trace | None = None


def lloyd(
    data: LloydData,
    centers: Any,
    *,
    max_iter: int,
    tol: float,
    empty_cluster: str,
    rng: np.random.Generator,
    verbose: bool = False,
    progress: Callable[[int], None] | None = None,
    score: bool = True,
    trace: Trace | None = None,
) -> LloydResult:
    """Run Lloyd iterations from ``centers`` (shifted frame, dtype of X).

    Parameters
    ----------
    data : LloydData
    centers : array of shape (k, n_features)
    max_iter : int
    tol : float
        Absolute tolerance on the sum of squared centre shifts.
    empty_cluster : {"relocate", "random", "drop", "error"}
    rng : numpy.random.Generator
        Used by ``empty_cluster="random"``.
    verbose : bool
        Print the inertia of every iteration and why the run stopped.
    progress : callable, optional
        Called with the iteration number after every iteration (the command line's bar).
    score : bool, default True
        Also return labels matching the final centres and their inertia (needed to
        compare restarts; a single run's caller computes its own).
    trace : Trace, optional
        Records the centres of every iteration and the inertia of their assignment (one copy
        of k x d numbers to the host per iteration); None records nothing and costs nothing.

    Returns
    -------
    LloydResult
        Labels are the argmin for the returned centres; with ``"drop"`` there
        may be fewer than k centres.
    """
    xp, X = data.xp, data.X
    labels_old = None
    strict_convergence = False
    labels = None
    n_iter = 0
    screen = TieScreen(data, verbose=verbose)
    exact = screen.now(centers, 0)
    for iteration in range(max_iter):
        n_iter = iteration + 1
        k = centers.shape[0]
        labels, min_sq, sums, weight_sums = kernels.assign_and_sum(
            X,
            centers,
            data.weights,
            xp=xp,
            x_sq_norms=data.x_sq_norms,
            shift=data.shift,
            exact_ties=exact,
        )
        new_centers = cluster_means(sums, weight_sums, centers, xp)
        # One host synchronisation per iteration: the empty count, the centre shift (in X's
        # dtype, as scikit-learn) and whether any label changed, brought over together.
        acc = sums.dtype
        unchanged = (
            xp.zeros((), dtype=acc, device=X.device)
            if labels_old is None
            else xp.astype(xp.all(labels == labels_old), acc)
        )
        state = to_numpy(
            xp.stack(
                [
                    xp.sum(xp.astype(weight_sums == 0, acc)),
                    xp.astype(xp.sum((new_centers - centers) ** 2), acc),
                    unchanged,
                    xp.astype(screen.ratio(new_centers), acc),
                ]
            )
        )
        n_empty, center_shift, labels_unchanged = int(state[0]), float(state[1]), bool(state[2])
        exact = screen.decide(float(state[3]), iteration + 1)
        if n_empty > 0:
            new_centers, center_shift = apply_policy(
                data,
                centers,
                new_centers,
                labels,
                sums,
                weight_sums,
                n_empty,
                empty_cluster,
                rng,
                n_iter,
            )
            exact = screen.now(new_centers, iteration + 1)
        if verbose:
            inertia = float(xp.sum(min_sq * data.weights))
            print(f"Iteration {iteration}, inertia {inertia}.")
        centers = new_centers
        if trace is not None:
            _record(trace, data, centers, min_sq, weight_sums if centers.shape[0] != k else None)
        if progress is not None:
            progress(n_iter)
        if new_centers.shape[0] != k:
            labels_old = None  # label numbers changed with the drop
            continue
        if labels_unchanged:
            if verbose:
                print(f"Converged at iteration {iteration}: strict convergence.")
            # As scikit-learn, stop; but centres an empty-cluster fix has just moved may no longer
            # have these labels, so they are assigned again below (batched runs do the same).
            strict_convergence = n_empty == 0
            break
        if center_shift <= tol:
            if verbose:
                print(
                    f"Converged at iteration {iteration}: center shift {center_shift} within "
                    f"tolerance {tol}."
                )
            break
        labels_old = labels
    if not score:
        return LloydResult(centers, None, float("nan"), n_iter, trace)
    if not strict_convergence:
        # Labels must be the argmin for the centres we return.
        labels, min_sq = kernels.assign(
            X, centers, xp=xp, x_sq_norms=data.x_sq_norms, shift=data.shift, exact_ties=exact
        )
    # The expansion's distances rank restarts; the fit computes the winner's exact inertia.
    inertia = float(xp.sum(min_sq * data.weights))
    if not math.isfinite(inertia):
        raise inertia_overflow(inertia, X.dtype)
    return LloydResult(centers, labels, inertia, n_iter, trace)


def _record(trace: Trace, data: LloydData, centers: Any, min_sq: Any, dropped_sums: Any) -> None:
    """One iteration into ``trace``: the new centres and the inertia of the assignment that made
    them (``dropped_sums``: the weight sums, when empty clusters were dropped)."""
    xp = data.xp
    inertia = xp.sum(min_sq * data.weights)
    kept = None if dropped_sums is None else xp.nonzero(dropped_sums > 0)[0]
    trace.step(*host_copies(xp, centers, inertia), kept=kept)
