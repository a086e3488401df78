"""What the bound-based exact k-means (Hamerly, Elkan, Yinyang) share: the loop, the bounds and
their whole-array (Array API) assignment step.

Every row keeps its label ``a``, an upper bound ``u >= d(x, c_a)`` and one lower bound per group
of centres, ``L_g <= min(d(x, c_j) for j in g, j != a)``: one group (Hamerly), one per centre
(Elkan) or about k/10 (Yinyang). When the centres move by ``p_j``, ``u += p_a`` and
``L_g -= max(p_j for j in g)`` keep the bounds true; ``2 H[a, g] - u``, with ``H[a, g]`` half the
distance from ``c_a`` to the nearest other centre of ``g``, is one more lower bound (triangle
inequality). A row whose every group bound exceeds ``u`` by the rounding margin below keeps its
label without any distance computed.

Same labels as Lloyd: Lloyd ranks centres by ``||c||^2 - 2 x.c`` in X's dtype, whose error is at
most ``delta = gamma (||x||^2 + max ||c||^2)`` (:func:`product_gamma`). A row is skipped only when
``lb^2 - u^2 > 2 delta`` for its lowest group bound ``lb``; then Lloyd's ranking puts ``c_a``
strictly first too. Bound updates round outwards (factors ``1 +- 4 eps``), so they stay bounds
on the true distances. Rows that fail are computed as Lloyd computes them, so their labels are
Lloyd's except where two centres are within rounding of each other (ties).

The whole-array step gathers the failing rows in chunks: their distance to ``c_a`` first (one
evaluation a row), then, for the rows still failing, all k distances (one product, as Lloyd's
pass), refreshing every group bound. The compiled CPU kernel
(:mod:`gkmeans._kernels.numba_bounds`) goes further, one group at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

import numpy as np

from gkmeans import _kernels as kernels
from gkmeans._compat import to_numpy
from gkmeans._validation import inertia_overflow
from gkmeans.algorithms.empty_clusters import (
    apply_policy,
    cluster_means,
)
from gkmeans.algorithms.frame import LloydData, frame_rows
from gkmeans.algorithms.history import Trace, host_copies
from gkmeans.algorithms.lloyd import LloydResult

#: A function from the centres (host, float64, (k, d)) to the group of each centre, (k,) int.
Grouping = Callable[[np.ndarray], np.ndarray]

#: Memory the bounds may take beyond X: the project's target for every algorithm,
#: ``0.3 x X + 64 MiB``, less what the fit takes besides (a shifted copy of X where one is made,
#: and about 16 MiB of passes and per-row arrays, measured by ``python -m benchmarks.bounds``).
#: Elkan's n x k bounds run only where they fit it.
BOUNDS_SHARE_OF_X = 0.3
BOUNDS_EXTRA_BYTES = 64 * 2**20
FIT_OTHER_BYTES = 16 * 2**20


def product_gamma(n_features: int, eps: float) -> float:
    """Relative error bound of Lloyd's ``||x||^2 - 2 x.c + ||c||^2`` in a dtype of epsilon ``eps``:
    a dot product of d terms errs by at most ``d eps |x||c|``, the additions by a few ``eps``."""
    return (2 * n_features + 10) * eps


def bounds_bytes(n_samples: int, n_groups: int, itemsize: int) -> int:
    """Bytes of the bounds: labels (int64), the upper bound, ``n_groups`` lower bounds a row and
    their minimum."""
    return n_samples * (8 + itemsize * (2 + n_groups))


def bounds_fit(n_samples: int, n_groups: int, itemsize: int, x_bytes: int, free: Any) -> bool:
    """Whether bounds of ``n_groups`` per row fit the memory target (``0.3 X + 64 MiB`` beyond X,
    less the rest of the fit, see :data:`FIT_OTHER_BYTES`) and an eighth of free memory (``free``
    None: unknown)."""
    need = bounds_bytes(n_samples, n_groups, itemsize)
    copy = x_bytes if x_bytes <= kernels.SHIFTED_COPY_MAX_BYTES else 0
    budget = BOUNDS_SHARE_OF_X * x_bytes + BOUNDS_EXTRA_BYTES - copy - FIT_OTHER_BYTES
    return need <= budget and (free is None or need <= free // 8)


@dataclass
class BoundState:
    """The bounds of every row (on the compute device, X's dtype; labels int64); ``None`` before
    the first pass or after the centres were renumbered (every row is then computed). The
    compiled step also keeps the centres' cumulative drifts (``totals``), the running cluster
    sums and weights (``sums``, float64, (k, d + 1)) and positive-weight member ``counts``."""

    labels: Any = None
    upper: Any = None
    lower: Any = None
    totals: Any = None
    sums: Any = None
    counts: Any = None


@dataclass(frozen=True)
class Geometry:
    """The centres' side of one pass (host, float64, rounded outwards): each centre's drift since
    the last pass, each group's largest drift, ``H`` (k, b) and the largest squared norm."""

    groups: np.ndarray
    n_groups: int
    drift: np.ndarray
    group_drift: np.ndarray
    half_gaps: np.ndarray
    max_sq_norm: float


def geometry(
    old: np.ndarray | None, new: np.ndarray, groups: np.ndarray, n_groups: int, eps: float
) -> Geometry:
    """:class:`Geometry` of centres ``new`` (host float64) moved from ``old`` (None: first pass),
    rounded outwards by ``eps`` (X's dtype) so that the casts to X's dtype keep them bounds."""
    k, d = new.shape
    grow, shrink = 1 + 4 * eps, 1 - 4 * eps
    drift = np.zeros(k) if old is None else np.sqrt(((new - old) ** 2).sum(axis=1)) * grow
    group_drift = np.zeros(n_groups)
    np.maximum.at(group_drift, groups, drift)
    gaps = _centre_gaps(new)
    np.fill_diagonal(gaps, np.inf)
    half = np.full((k, n_groups), np.inf)
    # Per group, each centre's nearest member of it: one reduction over the columns sorted by
    # group (a loop over the groups took 1.7 ms an iteration at k = 256, Elkan's 256 groups).
    order = np.argsort(groups, kind="stable")
    present, starts = np.unique(groups[order], return_index=True)
    half[:, present] = np.minimum.reduceat(gaps[:, order], starts, axis=1) / 2
    return Geometry(
        groups=groups,
        n_groups=n_groups,
        drift=drift,
        group_drift=group_drift * grow,
        half_gaps=half * shrink,
        max_sq_norm=float((new**2).sum(axis=1).max()) * grow,
    )


#: Elements of the (rows, k, d) differences :func:`_centre_gaps` forms at once.
GAP_BLOCK_ELEMENTS = 2**21


def _centre_gaps(centers: np.ndarray) -> np.ndarray:
    """Distances between every two centres (host float64, (k, k)) from their differences, a
    block of rows at a time (k x k x d at once would be 1 GiB at k = 1,024, d = 128)."""
    k, d = centers.shape
    out = np.empty((k, k))
    step = max(1, GAP_BLOCK_ELEMENTS // max(1, k * d))
    for start in range(0, k, step):
        diff = centers[start : start + step, None, :] - centers[None, :, :]
        out[start : start + step] = np.sqrt(np.einsum("ijf,ijf->ij", diff, diff))
    return out


def _fails(lower: Any, upper: Any, delta: Any, eps: float) -> Any:
    """Rows whose lowest lower bound does not clear the upper bound by Lloyd's margin (NaN, from
    a reset row's infinite bound, fails)."""
    clears = (lower > upper) & ((lower - upper) * (lower + upper) > 2 * delta * (1 + 16 * eps))
    return ~clears


def _group_minima(D: Any, geo: Geometry, xp: ModuleType) -> Any:
    """Per row, the minimum of ``D`` (rows x k) over each group's columns, (rows, b)."""
    if geo.n_groups == 1:
        return xp.min(D, axis=1, keepdims=True)
    if geo.n_groups == D.shape[1] and np.array_equal(geo.groups, np.arange(D.shape[1])):
        return D
    columns = []
    for g in range(geo.n_groups):
        ids = xp.asarray(np.flatnonzero(geo.groups == g), device=D.device)
        columns.append(xp.min(xp.take(D, ids, axis=1), axis=1))
    return xp.stack(columns, axis=1)


def _full_rows(
    data: LloydData, centers: Any, rows_idx: Any, delta: Any, geo: Geometry
) -> tuple[Any, Any, Any]:
    """Labels, upper and group lower bounds of the rows ``rows_idx`` from all k distances, by
    Lloyd's expansion (chunked); ``delta`` is their margin."""
    xp, X = data.xp, data.X
    k = centers.shape[0]
    eps = float(xp.finfo(X.dtype).eps)
    c_sq = xp.sum(centers * centers, axis=1)
    neg2_t = -2 * xp.permute_dims(centers, (1, 0))
    cols = xp.arange(k, dtype=xp.int64, device=X.device)
    chunk = kernels.chunk_rows_for(
        rows_idx.shape[0], 4 * (k + X.shape[1]) * 8, xp, X.device, cache_sized=True
    )
    labels, upper, lower = [], [], []
    total = rows_idx.shape[0]
    for start in range(0, total, chunk):
        ids = rows_idx[start : min(start + chunk, total)]
        block = frame_rows(data, ids)
        partial = block @ neg2_t + c_sq[None, :]
        nearest = xp.astype(xp.argmin(partial, axis=1), xp.int64)
        D = xp.clip(partial + xp.take(data.x_sq_norms, ids)[:, None], min=0)
        margin = xp.take(delta, ids)[:, None]
        up = xp.sqrt(xp.min(D, axis=1) + margin[:, 0]) * (1 + 4 * eps)
        is_nearest = cols[None, :] == nearest[:, None]
        others = xp.where(is_nearest, xp.full_like(D, math.inf), D)
        low = _group_minima(xp.sqrt(xp.clip(others - margin, min=0)) * (1 - 4 * eps), geo, xp)
        # Two centres within rounding of each other: Lloyd's own kernel settles the label (the
        # backend's pass may sum its products in another order), and the row's bounds reset.
        second = xp.min(xp.where(is_nearest, xp.full_like(partial, math.inf), partial), axis=1)
        tied = second - xp.min(partial, axis=1) <= 2 * margin[:, 0] * (1 + 16 * eps)
        tied_at = xp.nonzero(tied)[0]
        if tied_at.shape[0]:
            chosen, _ = kernels.assign(
                xp.take(block, tied_at, axis=0),
                centers,
                xp=xp,
                x_sq_norms=xp.take(data.x_sq_norms, xp.take(ids, tied_at)),
            )
            nearest = kernels.scatter_rows(nearest, tied, chosen, xp)
            up = xp.where(tied, xp.full_like(up, math.inf), up)
            low = xp.where(tied[:, None], xp.zeros_like(low), low)
        labels.append(nearest)
        upper.append(up)
        lower.append(low)
    return xp.concat(labels), xp.concat(upper), xp.concat(lower, axis=0)


def array_pass(
    data: LloydData, centers: Any, state: BoundState, geo: Geometry, gamma: float
) -> int:
    """The whole-array assignment step: updates ``state`` in place; returns the number of
    distances computed."""
    xp, X = data.xp, data.X
    n, k, d = X.shape[0], centers.shape[0], X.shape[1]
    dt, dev = X.dtype, X.device
    eps = float(xp.finfo(dt).eps)
    delta = gamma * (data.x_sq_norms + geo.max_sq_norm)
    if state.labels is None:
        every = xp.arange(n, dtype=xp.int64, device=dev)
        state.labels, state.upper, state.lower = _full_rows(data, centers, every, delta, geo)
        return n * k
    drift = xp.asarray(geo.drift, dtype=dt, device=dev)
    group_drift = xp.asarray(geo.group_drift, dtype=dt, device=dev)
    twice_half = xp.asarray(2 * geo.half_gaps, dtype=dt, device=dev)
    upper = (state.upper + xp.take(drift, state.labels)) * (1 + 4 * eps)
    lower = xp.clip(state.lower - group_drift[None, :], min=0) * (1 - 4 * eps)

    def lowest(rows_lower: Any, rows_labels: Any, rows_upper: Any) -> Any:
        # A reset row's upper bound is infinite and a group without another centre has an
        # infinite gap: such a row gets no bound from the gaps (and inf - inf is never formed).
        finite = xp.isfinite(rows_upper)
        safe_upper = xp.where(finite, rows_upper, xp.zeros_like(rows_upper))
        gaps = xp.take(twice_half, rows_labels, axis=0) - safe_upper[:, None]
        gaps = xp.where(finite[:, None], gaps, xp.full_like(gaps, -math.inf))
        return xp.min(xp.maximum(rows_lower, gaps), axis=1)

    fails = _fails(lowest(lower, state.labels, upper), upper, delta, eps)
    ids = xp.nonzero(fails)[0]
    evals = int(ids.shape[0])
    full_mask = fails
    if evals:
        # The exact distance to the assigned centre first: often enough to clear the bounds.
        rows = frame_rows(data, ids)
        diff = rows - xp.take(centers, xp.take(state.labels, ids), axis=0)
        tight = xp.sqrt(xp.sum(diff * diff, axis=1) * (1 + (d + 4) * eps)) * (1 + 4 * eps)
        upper = kernels.scatter_rows(upper, fails, tight, xp)
        ids_lowest = lowest(xp.take(lower, ids, axis=0), xp.take(state.labels, ids), tight)
        still = _fails(ids_lowest, tight, xp.take(delta, ids), eps)
        full_mask = kernels.scatter_rows(xp.zeros_like(fails), fails, still, xp)
    again = xp.nonzero(full_mask)[0]
    if again.shape[0]:
        labels, up, low = _full_rows(data, centers, again, delta, geo)
        state.labels = kernels.scatter_rows(state.labels, full_mask, labels, xp)
        upper = kernels.scatter_rows(upper, full_mask, up, xp)
        lower = kernels.scatter_rows(lower, full_mask, low, xp)
        evals += k * int(again.shape[0])
    state.upper, state.lower = upper, lower
    return evals


def _kernel_pass(
    native: Any,
    data: LloydData,
    centers: Any,
    state: BoundState,
    geo: Geometry,
    gamma: float,
    iteration: int,
) -> tuple[Any, Any, int, int | None]:
    """The compiled step: cluster sums and weights, distances computed, rows that changed
    cluster (None on a first pass); allocates the state first."""
    xp, X = data.xp, data.X
    (n, d), k = X.shape, centers.shape[0]
    fresh = state.labels is None
    if fresh:
        dev = X.device
        state.labels = xp.zeros(n, dtype=xp.int64, device=dev)
        state.upper = xp.zeros(n, dtype=X.dtype, device=dev)
        state.lower = xp.zeros((n, geo.n_groups + 1), dtype=X.dtype, device=dev)
        state.totals = xp.zeros(k + geo.n_groups + 1, dtype=xp.float64, device=dev)
        state.sums = xp.zeros((k, d + 1), dtype=xp.float64, device=dev)
        state.counts = xp.zeros(k, dtype=xp.int64, device=dev)
    evals, rows, previous, changed = native(
        X,
        data.shift,
        data.weights,
        data.x_sq_norms,
        centers,
        state.labels,
        state.upper,
        state.lower,
        state.totals,
        state.sums,
        state.counts,
        geo,
        gamma=gamma,
        fresh=fresh,
        iteration=iteration,
        xp=xp,
    )
    if rows.shape[0]:
        # Rows whose two nearest centres are within rounding take Lloyd's own kernel's label
        # (the step reset their bounds); their weight moves to that cluster.
        block = frame_rows(data, rows)
        chosen, _ = kernels.assign(block, centers, xp=xp, x_sq_norms=xp.take(data.x_sq_norms, rows))
        taken = xp.take(state.labels, rows)
        w = xp.astype(xp.take(data.weights, rows), xp.float64)
        rows_w = xp.concat([xp.astype(block, xp.float64), xp.ones_like(w)[:, None]], axis=1)
        for labels, sign in ((taken, -1), (chosen, 1)):
            moved, members = kernels.segment_sum(rows_w, labels, w, k, xp=xp)
            counted, _ = kernels.segment_sum(
                xp.astype(w > 0, xp.float64)[:, None], labels, xp.ones_like(w), k, xp=xp
            )
            state.sums = state.sums + sign * moved
            state.counts = state.counts + sign * xp.astype(xp.round(counted[:, 0]), xp.int64)
        # Only the compiled backends (NumPy, PyTorch CPU) get here: they assign by index.
        state.labels[rows] = chosen
        if not fresh:
            changed += int(xp.sum(xp.astype(chosen != previous, xp.int64)))
            changed -= int(xp.sum(xp.astype(taken != previous, xp.int64)))
        evals += k * int(rows.shape[0])
    empty = state.counts == 0
    zero = xp.zeros_like(state.sums[:, 0])
    sums = xp.where(empty[:, None], zero[:, None], state.sums[:, :d])
    weight_sums = xp.where(empty, zero, state.sums[:, d])
    return sums, weight_sums, evals, None if fresh else changed


@dataclass(frozen=True)
class BoundedResult(LloydResult):
    """A :class:`LloydResult` with the number of distances computed."""

    n_distance_evals: int = 0


def bounded_lloyd(
    data: LloydData,
    centers: Any,
    *,
    grouping: Grouping,
    max_iter: int,
    tol: float,
    empty_cluster: str,
    rng: np.random.Generator,
    verbose: bool = False,
    progress: Callable[[int], None] | None = None,
    score: bool = True,
    name: str = "bounds",
    trace: Trace | None = None,
) -> BoundedResult:
    """Lloyd's iterations (the rules of :func:`gkmeans.algorithms.lloyd.lloyd`) with the
    assignment step pruned by bounds grouped by ``grouping``; same parameters and result
    (``trace``: as Lloyd's, each iteration's inertia computed from its labels, an extra pass
    over X taken only when recording)."""
    xp, X = data.xp, data.X
    n, d = X.shape
    eps = float(xp.finfo(X.dtype).eps)
    gamma = product_gamma(d, eps)
    native = kernels.bounds_kernel(xp, X)
    state = BoundState()
    groups = grouping(np.asarray(to_numpy(centers), dtype=np.float64))
    previous = None
    labels_old = None
    strict_convergence = False
    n_iter = evals = possible = 0
    for iteration in range(max_iter):
        n_iter = iteration + 1
        k = centers.shape[0]
        host = np.asarray(to_numpy(centers), dtype=np.float64)
        geo = geometry(previous, host, groups, int(groups.max()) + 1, eps)
        changed = None
        if native is not None:
            sums, weight_sums, step, changed = _kernel_pass(
                native, data, centers, state, geo, gamma, iteration
            )
        else:
            step = array_pass(data, centers, state, geo, gamma)
            sums, weight_sums = kernels.segment_sum(X, state.labels, data.weights, k, xp=xp)
            if data.shift is not None:
                sums = sums - weight_sums[:, None] * xp.astype(data.shift, sums.dtype)[None, :]
        labels = state.labels
        evals, possible = evals + step, possible + n * k
        new_centers = cluster_means(sums, weight_sums, centers, xp)
        acc = sums.dtype
        if changed is not None:  # counted by the compiled step
            unchanged = xp.asarray(float(changed == 0), dtype=acc, device=X.device)
        elif labels_old is None:
            unchanged = xp.zeros((), dtype=acc, device=X.device)
        else:
            unchanged = xp.astype(xp.all(labels == labels_old), acc)
        flags = to_numpy(
            xp.stack(
                [
                    xp.sum(xp.astype(weight_sums == 0, acc)),
                    xp.astype(xp.sum((new_centers - centers) ** 2), acc),
                    unchanged,
                ]
            )
        )
        n_empty, center_shift, labels_unchanged = int(flags[0]), float(flags[1]), bool(flags[2])
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
        if verbose:
            shifted = centers if data.shift is None else centers + data.shift
            inertia = float(kernels.weighted_inertia(X, shifted, labels, data.weights, xp=xp))
            print(
                f"Iteration {iteration}, inertia {inertia}, {name}: {step} of {n * k} "
                f"distances computed ({1 - step / (n * k):.1%} skipped)."
            )
        previous = host
        if trace is not None:
            shifted = centers if data.shift is None else centers + data.shift
            inertia_now = kernels.weighted_inertia(X, shifted, labels, data.weights, xp=xp)
            kept_rows = xp.nonzero(weight_sums > 0)[0] if new_centers.shape[0] != k else None
            trace.step(*host_copies(xp, new_centers, inertia_now), kept=kept_rows)
        centers = new_centers
        if progress is not None:
            progress(n_iter)
        if new_centers.shape[0] != k:
            # The centres were renumbered: every row is computed again, in new groups.
            labels_old, state, previous = None, BoundState(), None
            groups = grouping(np.asarray(to_numpy(centers), dtype=np.float64))
            continue
        if labels_unchanged:
            if verbose:
                print(f"Converged at iteration {iteration}: strict convergence.")
            strict_convergence = n_empty == 0
            break
        if center_shift <= tol:
            if verbose:
                print(
                    f"Converged at iteration {iteration}: center shift {center_shift} within "
                    f"tolerance {tol}."
                )
            break
        # The whole-array step makes new labels each pass; the compiled one counts the changes.
        labels_old = labels if native is None else None
    if verbose:
        skipped = 1 - evals / possible
        print(f"{name}: {evals} of {possible} distances computed ({skipped:.1%} skipped).")
    if not score:
        return BoundedResult(centers, None, float("nan"), n_iter, trace, n_distance_evals=evals)
    shifted = centers if data.shift is None else centers + data.shift
    if strict_convergence:
        labels = state.labels
        inertia = float(kernels.weighted_inertia(X, shifted, labels, data.weights, xp=xp))
    else:
        labels, min_sq = kernels.assign(
            X, centers, xp=xp, x_sq_norms=data.x_sq_norms, shift=data.shift
        )
        inertia = float(xp.sum(min_sq * data.weights))
        evals += n * centers.shape[0]
    if not math.isfinite(inertia):
        raise inertia_overflow(inertia, X.dtype)
    return BoundedResult(centers, labels, inertia, n_iter, trace, n_distance_evals=evals)
