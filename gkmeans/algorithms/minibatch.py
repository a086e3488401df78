"""Mini-batch k-means (Sculley 2010, as scikit-learn implements it), against the Array API.

Each step assigns a batch to the nearest centres and moves every centre towards its
batch points with a per-centre learning rate (the running weight of the points it
has absorbed); centres that absorbed little are now and then reassigned to random
batch points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable

import numpy as np

from gkmeans import _kernels as kernels
from gkmeans._random import choice_cdf, draw_with_replacement


@dataclass
class MiniBatchState:
    """Everything that carries over from one step to the next (so ``partial_fit`` can resume).

    ``batch_size`` is what each step adds to ``n_since_last_reassign``: the batch size of ``fit``,
    or ``min(batch_size, rows of the first call)`` for ``partial_fit``, as in scikit-learn.
    """

    centers: Any
    weight_sums: Any
    batch_size: int = 0
    n_steps: int = 0
    n_since_last_reassign: int = 0
    ewa_inertia: float | None = None
    ewa_inertia_min: float | None = None
    no_improvement: int = 0
    extra: dict = field(default_factory=dict)


def minibatch_step(
    batch: Any,
    batch_weights: Any,
    state: MiniBatchState,
    *,
    xp: ModuleType,
    rng: np.random.Generator,
    random_reassign: bool,
    reassignment_ratio: float,
    verbose: bool = False,
) -> tuple[Any, float]:
    """One step: returns the new centres and the batch inertia (before the update).

    ``state.weight_sums`` is updated in place of the old array (a new array is stored).
    """
    centers = state.centers
    k = centers.shape[0]
    shift = kernels.column_mean(
        centers, xp=xp
    )  # keeps float32 distances from cancelling far from the origin
    labels, min_sq = kernels.assign(batch, centers - shift, xp=xp, shift=shift)
    inertia = float(xp.sum(min_sq * batch_weights))
    sums, batch_weight = kernels.segment_sum(batch, labels, batch_weights, k, xp=xp)
    old = xp.astype(state.weight_sums, sums.dtype)
    total = old + batch_weight
    safe = xp.where(total > 0, total, xp.ones_like(total))
    moved = (xp.astype(centers, sums.dtype) * old[:, None] + sums) / safe[:, None]
    new_centers = xp.astype(
        xp.where((batch_weight > 0)[:, None], moved, xp.astype(centers, sums.dtype)), centers.dtype
    )
    weight_sums = total
    if random_reassign and reassignment_ratio > 0:
        host_weights = np.asarray(kernels.to_host(weight_sums), dtype=np.float64)
        to_reassign = host_weights < reassignment_ratio * host_weights.max()
        # Never reassign more than half the batch (scikit-learn's guard).
        if to_reassign.sum() > 0.5 * batch.shape[0]:
            keep = np.argsort(host_weights)[int(0.5 * batch.shape[0]) :]
            to_reassign[keep] = False
        n_reassign = int(to_reassign.sum())
        if n_reassign:
            if verbose:
                print(f"[MiniBatchKMeans] Reassigning {n_reassign} cluster centers.")
            picks = rng.choice(batch.shape[0], size=n_reassign, replace=False).astype(np.int64)
            rows = kernels.take_rows(
                batch, xp.asarray(picks, device=batch.device), xp=xp, dense=True
            )
            ids = xp.asarray(np.flatnonzero(to_reassign).astype(np.int64), device=batch.device)
            one_hot = xp.astype(
                ids[:, None] == xp.arange(k, dtype=xp.int64, device=batch.device)[None, :],
                centers.dtype,
            )
            mask = xp.asarray(to_reassign, device=batch.device)
            new_centers = xp.where(
                mask[:, None], xp.permute_dims(one_hot, (1, 0)) @ rows, new_centers
            )
            # As scikit-learn: restart their counts at the smallest kept count, so they are not
            # reassigned again at once.
            floor = float(host_weights[~to_reassign].min()) if (~to_reassign).any() else 1.0
            weight_sums = xp.where(
                mask, xp.asarray(floor, dtype=weight_sums.dtype, device=batch.device), weight_sums
            )
    state.weight_sums = weight_sums
    return new_centers, inertia


def converged(
    state: MiniBatchState,
    step: int,
    n_steps: int,
    n_samples: int,
    batch_size: int,
    centers_squared_diff: float,
    batch_inertia: float,
    *,
    tol: float,
    max_no_improvement: int | None,
    verbose: bool = False,
) -> bool:
    """scikit-learn's stopping rules (``MiniBatchKMeans._mini_batch_convergence``) after step
    ``step`` (counted from 1) of at most ``n_steps``.

    The first step never stops (its inertia measures the start). Later steps keep an
    exponentially weighted average (EWA) of the mean batch inertia, with weight
    ``min(2 * batch_size / (n_samples + 1), 1)`` on the new value, and stop when the squared
    centre shift is at most ``tol`` (``tol > 0``), or when the EWA has not reached a new minimum
    for ``max_no_improvement`` steps in a row. ``state`` keeps the EWA, its minimum and the count.
    With ``verbose``, prints scikit-learn's messages.
    """
    batch_inertia /= batch_size  # comparable whatever the batch size
    if step == 1:
        if verbose:
            print(f"Minibatch step {step}/{n_steps}: mean batch inertia: {batch_inertia}")
        return False
    if state.ewa_inertia is None:
        state.ewa_inertia = batch_inertia
    else:
        alpha = min(batch_size * 2.0 / (n_samples + 1), 1.0)
        state.ewa_inertia = state.ewa_inertia * (1 - alpha) + batch_inertia * alpha
    if verbose:
        print(
            f"Minibatch step {step}/{n_steps}: mean batch inertia: {batch_inertia}, "
            f"ewa inertia: {state.ewa_inertia}"
        )
    if tol > 0.0 and centers_squared_diff <= tol:
        if verbose:
            print(f"Converged (small centers change) at step {step}/{n_steps}")
        return True
    if state.ewa_inertia_min is None or state.ewa_inertia < state.ewa_inertia_min:
        state.no_improvement = 0
        state.ewa_inertia_min = state.ewa_inertia
    else:
        state.no_improvement += 1
    if max_no_improvement is not None and state.no_improvement >= max_no_improvement:
        if verbose:
            print(f"Converged (lack of improvement in inertia) at step {step}/{n_steps}")
        return True
    return False


def reassign_now(state: MiniBatchState, batch_size: int, n_clusters: int, xp: ModuleType) -> bool:
    """Whether this step reassigns little-used centres: when a centre has no weight yet, or once
    ``10 * n_clusters`` samples have been seen since the last reassignment (scikit-learn's rule)."""
    state.n_since_last_reassign += batch_size
    if bool(xp.any(state.weight_sums == 0)) or state.n_since_last_reassign >= 10 * n_clusters:
        state.n_since_last_reassign = 0
        return True
    return False


def minibatch_loop(
    X: Any,
    weights_host: np.ndarray,
    state: MiniBatchState,
    *,
    xp: ModuleType,
    rng: np.random.Generator,
    batch_size: int,
    n_steps: int,
    tol: float,
    max_no_improvement: int | None,
    reassignment_ratio: float,
    verbose: bool,
    draw_rows: Callable[[int], np.ndarray] | None = None,
) -> MiniBatchState:
    """Up to ``n_steps`` mini-batch steps over X (rows drawn with replacement, proportionally to
    ``weights_host``), stopping early by :func:`converged`; ``state`` is updated and returned.

    ``draw_rows(size)``, when given, draws each batch's row indices instead (gkmeans.accel draws
    them from scikit-learn's RandomState, in scikit-learn's order); ``rng`` still makes the
    reassignment draws, so it may be a RandomState then."""
    n = X.shape[0]
    k = state.centers.shape[0]
    if draw_rows is None:
        cdf = choice_cdf(weights_host / weights_host.sum())

        def draw_rows(size: int) -> np.ndarray:
            return draw_with_replacement(rng, cdf, size)

    unit = xp.ones(batch_size, dtype=X.dtype, device=X.device)
    for step in range(1, n_steps + 1):
        picked = draw_rows(batch_size)
        batch = kernels.take_rows(X, xp.asarray(picked, device=X.device), xp=xp)
        new_centers, batch_inertia = minibatch_step(
            batch,
            unit,
            state,
            xp=xp,
            rng=rng,
            random_reassign=reassign_now(state, batch_size, k, xp),
            reassignment_ratio=reassignment_ratio,
            verbose=verbose,
        )
        shift = float(xp.sum((new_centers - state.centers) ** 2)) if tol > 0 else 0.0
        state.centers = new_centers
        state.n_steps += 1
        stop = converged(
            state,
            step,
            n_steps,
            n,
            batch_size,
            shift,
            batch_inertia,
            tol=tol,
            max_no_improvement=max_no_improvement,
            verbose=verbose,
        )
        if stop:
            break
    return state
