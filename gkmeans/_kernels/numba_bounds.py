"""The compiled assignment step of the bound-based algorithms (Numba, the ``fast`` extra).

One loop over the rows, in blocks shared among the CPU threads, for Hamerly, Elkan and Yinyang
alike: they differ only in how the centres are grouped (see
:mod:`gkmeans.algorithms.bounds_common` for the bounds and their rounding margin). Per row: move
the bounds by the centres' drift; if every group's lower bound clears the upper bound by Lloyd's
margin, keep the label and compute nothing; else compute the distance to the assigned centre,
then the distances to the centres of each group whose bound still fails (Elkan: single centres,
Hamerly: all of them), and refresh the bounds. The bounds are stored against the centres'
cumulative drift (a lower bound as ``L + C_g``, the upper as ``u - C_a``, C summed over the
iterations), so a row that is skipped is only read, never written; an extra column holds each
row's lowest bound over all groups, so a skipped row reads three numbers. Distances are computed
directly, ``sum((x - c)^2)`` in float64 from the row in X's dtype (the row Lloyd sees); a row
whose two nearest centres are within Lloyd's margin of each other is reported as ambiguous, for
Lloyd's own kernel to settle (its bounds are reset). The cluster sums are kept from pass to
pass, moved only by the rows that change cluster (float64, with exact member counts so that an
emptied cluster has exactly zero weight).

Numba is imported only when the kernel is first asked for; compiled code is cached on disk.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from gkmeans import config
from gkmeans._kernels.cpu_threads import in_threads
from gkmeans._kernels.numba_jit import njit_cached

#: Rows per block shared among the CPU threads (a few blocks per thread keep them balanced).
BLOCK_ROWS = 32768


@functools.lru_cache(maxsize=1)
def kernels() -> Any:
    """The compiled step; raises ImportError without Numba."""
    import math

    jit = njit_cached
    # The two helpers are module globals, not closure variables of bounds_step: Numba keys its
    # disk cache on the closure's contents, and a compiled function pickles differently in every
    # process, so a closure over them missed the cache and recompiled (~2 s) in each new process.
    global _sq_distance, _clears

    @jit
    def sq_distance(v: Any, centers: Any, j: int) -> float:
        # Squared: the square root is taken only for the few values that become bounds.
        s = 0.0
        for f in range(v.shape[0]):
            t = v[f] - centers[j, f]
            s += t * t
        return s

    @jit
    def clears(lb: float, u: float, margin: float) -> bool:
        # False for NaN (a reset row's infinite bounds): such a row is computed.
        return lb > u and (lb - u) * (lb + u) > margin

    _sq_distance, _clears = sq_distance, clears

    @jit
    def bounds_step(
        X: Any,
        shift: Any,
        has_shift: bool,
        weights: Any,
        x_sq: Any,
        centers: Any,
        members: Any,
        starts: Any,
        group_of: Any,
        half: Any,
        half_min: Any,
        cum_c: Any,
        cum_g: Any,
        cum_glob: float,
        glob_col: int,
        tiny: float,
        store_eps: float,
        gamma: float,
        max_sq: float,
        fresh: bool,
        grow: float,
        labels: Any,
        upper: Any,
        lower: Any,
        first: int,
        stop: int,
        d_sums: Any,
        d_weights: Any,
        d_counts: Any,
        ambiguous: Any,
        out: Any,
    ) -> None:
        d = X.shape[1]
        k = centers.shape[0]
        b = starts.shape[0] - 1
        v = np.empty(d)
        dist = np.empty(k)
        low = np.empty(b)
        examined = np.zeros(b, dtype=np.bool_)
        count = 0
        changed = 0
        for i in range(first, stop):
            margin = 2.0 * gamma * (x_sq[i] + max_sq) * (1.0 + 1e-3)
            a = labels[i]
            u = math.inf
            glob = -math.inf
            if not fresh:
                stored = upper[i]
                u = stored + cum_c[a] + tiny * (abs(stored) + cum_c[a])
                stored = lower[i, glob_col]
                glob = stored - cum_glob - tiny * (abs(stored) + cum_glob)
                if _clears(max(glob, 2.0 * half_min[a] - u), u, margin):
                    continue  # the label stands: nothing computed, nothing written
            for f in range(d):
                # The row in X's dtype, as Lloyd's pass subtracts the shift.
                v[f] = (X[i, f] - shift[f]) if has_shift else X[i, f]
            best = -1
            best_sq = math.inf
            own = math.inf
            if not fresh:
                dist[a] = _sq_distance(v, centers, a)
                best_sq = dist[a]
                own = math.sqrt(best_sq)
                count += 1
                u = own * grow
                best = a
                if _clears(max(glob, 2.0 * half_min[a] - u), u, margin):
                    value = u - cum_c[a]
                    upper[i] = value + abs(value) * store_eps
                    continue
            for g in range(b):
                if fresh:
                    low[g] = 0.0
                    examined[g] = True
                else:
                    stored = lower[i, g]
                    low[g] = stored - cum_g[g] - tiny * (abs(stored) + cum_g[g])
                    examined[g] = not _clears(max(low[g], 2.0 * half[a, g] - u), u, margin)
                if examined[g]:
                    for m in range(starts[g], starts[g + 1]):
                        j = members[m]
                        if j == a and not fresh:
                            continue
                        dj = _sq_distance(v, centers, j)
                        dist[j] = dj
                        count += 1
                        if dj < best_sq or (dj == best_sq and j < best):
                            best = j
                            best_sq = dj
            # New lower bounds: examined groups from their distances; the old centre's group,
            # when not examined and the label moved, takes the old distance too.
            is_ambiguous = False
            for g in range(b):
                if examined[g]:
                    m_g = math.inf
                    for m in range(starts[g], starts[g + 1]):
                        j = members[m]
                        if j != best:
                            m_g = min(m_g, dist[j])
                    is_ambiguous = is_ambiguous or m_g - best_sq <= margin
                    low[g] = math.sqrt(m_g)
                elif not fresh and g == group_of[a] and best != a:
                    low[g] = min(low[g], own)
                    is_ambiguous = is_ambiguous or dist[a] - best_sq <= margin
            best_d = math.sqrt(best_sq)
            if is_ambiguous:
                ambiguous[i] = k if fresh else a  # the previous label (k: none)
                upper[i] = math.inf
                for g in range(lower.shape[1]):
                    lower[i, g] = -math.inf
            else:
                value = best_d * grow - cum_c[best]
                upper[i] = value + abs(value) * store_eps
                lowest = math.inf
                for g in range(b):
                    lowest = min(lowest, low[g])
                    # A group neither computed nor left keeps its stored bound (still true).
                    if fresh or examined[g] or (best != a and g == group_of[a]):
                        value = low[g] / grow + cum_g[g]
                        lower[i, g] = value - abs(value) * store_eps
                value = lowest / grow + cum_glob
                lower[i, glob_col] = value - abs(value) * store_eps
            labels[i] = best
            w = weights[i]
            if fresh or best != a:
                d_weights[best] += w
                for f in range(d):
                    d_sums[best, f] += w * v[f]
                if w > 0:
                    d_counts[best] += 1
            if not fresh and best != a:
                changed += 1
                d_weights[a] -= w
                for f in range(d):
                    d_sums[a, f] -= w * v[f]
                if w > 0:
                    d_counts[a] -= 1
        out[0] += count
        out[1] += changed

    @jit
    def fresh_bounds_of_block(
        products: Any,
        block: Any,
        weights: Any,
        x_sq: Any,
        c_sq: Any,
        group_of: Any,
        gamma: float,
        max_sq: float,
        eps: float,
        store_eps: float,
        best: Any,
        second: Any,
        nearest: Any,
        low: Any,
        labels: Any,
        upper: Any,
        lower: Any,
        ambiguous: Any,
        d_sums: Any,
        d_weights: Any,
        d_counts: Any,
    ) -> None:
        """A first pass's labels and bounds for one block from Lloyd's expansion: ``products``
        (k x rows) is ``(-2 C) @ block.T``, so ``D_j = products + ||c_j||^2 + ||x||^2`` is within
        ``delta = gamma (||x||^2 + max ||c||^2)`` of each true squared distance. The upper bound
        is ``sqrt(D_min + delta)``, a group's lower bound ``sqrt(min D - delta)`` over its other
        centres, both rounded outwards (``1 +- 4 eps``, X's dtype). A row whose runner-up lies
        within ``2 delta`` of its nearest is ambiguous (Lloyd's kernel settles it, its bounds
        reset). Every row's weight and shifted row go into the sums of its label. The minima are
        taken across whole rows of points at once (``best``, ``second``, ``nearest``: per point;
        ``low``: (groups, rows)), so that they vectorise."""
        k, rows = products.shape
        d = block.shape[1]
        b = low.shape[0]
        glob_col = lower.shape[1] - 1
        for i in range(rows):
            best[i] = np.inf
            second[i] = np.inf
            nearest[i] = 0
        for j in range(k):
            cj = c_sq[j]
            label = np.int32(j)
            for i in range(rows):  # branch-free, so that it vectorises across points
                value = products[j, i] + cj
                current = best[i]
                closer = value < current
                second[i] = min(second[i], max(value, current))
                best[i] = value if closer else current
                nearest[i] = label if closer else nearest[i]
        for g in range(b):
            for i in range(rows):
                low[g, i] = np.inf
        for j in range(k):
            cj = c_sq[j]
            g = group_of[j]
            for i in range(rows):
                value = products[j, i] + cj
                value = np.inf if nearest[i] == j else value
                low[g, i] = min(low[g, i], value)
        for i in range(rows):
            xs = np.float64(x_sq[i])
            a = nearest[i]
            labels[i] = a
            delta = gamma * (xs + max_sq)
            if np.float64(second[i]) - np.float64(best[i]) <= 2.0 * delta * (1.0 + 1e-3):
                ambiguous[i] = k
                upper[i] = np.inf
                for g in range(glob_col + 1):
                    lower[i, g] = -np.inf
            else:
                top = np.float64(best[i]) + xs + delta
                u = math.sqrt(top if top > 0 else 0.0) * (1.0 + 4.0 * eps)
                upper[i] = u + u * store_eps
                lowest = np.inf
                for g in range(b):
                    floor = np.float64(low[g, i]) + xs - delta
                    bound = math.sqrt(floor if floor > 0 else 0.0) * (1.0 - 4.0 * eps)
                    if bound < lowest:
                        lowest = bound
                    lower[i, g] = bound - bound * store_eps
                lower[i, glob_col] = lowest - lowest * store_eps
            w = weights[i]
            d_weights[a] += w
            for f in range(d):
                d_sums[a, f] += w * np.float64(block[i, f])
            if w > 0:
                d_counts[a] += 1

    return bounds_step, fresh_bounds_of_block


def bounds_available(dtype: Any) -> bool:
    """Whether the compiled step of the bound-based algorithms runs for ``dtype`` data: Numba
    installed, float32/float64, and ``GKMEANS_CPU_PASS`` not "numpy"."""
    if dtype not in (np.float32, np.float64) or config.cpu_pass() == "numpy":
        return False
    try:
        kernels()
    except (ImportError, OSError, MemoryError):
        return False
    return True


def bounds_pass(
    X: np.ndarray,
    shift: Any,
    weights: np.ndarray,
    x_sq_norms: np.ndarray,
    centers: np.ndarray,
    labels: np.ndarray,
    upper: np.ndarray,
    lower: np.ndarray,
    totals: np.ndarray,
    sums: np.ndarray,
    counts: np.ndarray,
    geo: Any,
    *,
    gamma: float,
    fresh: bool,
    iteration: int,
    xp: Any,
) -> tuple[int, np.ndarray, np.ndarray, int]:
    """The compiled step: updates in place the labels, the bounds (``lower``: one column per
    group, then the lowest of them), the cumulative drifts ``totals`` (k centres, b groups, the
    largest), and the running cluster ``sums`` ((k, d + 1): sums of the shifted rows, then the
    weights) and positive-weight member ``counts``.

    Returns the distances computed, the rows whose nearest centres are within rounding (for
    Lloyd's kernel to settle) with their previous labels (k: none), and how many rows changed
    cluster."""
    step, fresh_step = kernels()
    n, d = X.shape
    k, b = centers.shape[0], geo.n_groups
    eps = float(np.finfo(X.dtype).eps)
    if fresh:
        totals[:] = 0.0
        sums[:] = 0.0
        counts[:] = 0
    else:
        totals[:k] += geo.drift
        totals[k : k + b] += geo.group_drift
        totals[k + b] += geo.group_drift.max()
    if fresh:
        return _fresh_pass(
            fresh_step,
            X,
            shift,
            weights,
            x_sq_norms,
            centers,
            labels,
            upper,
            lower,
            sums,
            counts,
            geo,
            gamma=gamma,
            eps=eps,
        )
    members = np.argsort(geo.groups, kind="stable").astype(np.int64)
    starts = np.searchsorted(geo.groups[members], np.arange(b + 1)).astype(np.int64)
    ambiguous = np.full(n, -1, dtype=np.int64)
    has_shift = shift is not None
    arguments = (
        X,
        shift if has_shift else np.zeros(d, dtype=X.dtype),
        has_shift,
        weights,
        x_sq_norms,
        centers.astype(np.float64),
        members,
        starts,
        geo.groups.astype(np.int64),
        geo.half_gaps,
        geo.half_gaps.min(axis=1),
        totals[:k].copy(),
        totals[k : k + b].copy(),
        float(totals[k + b]),
        lower.shape[1] - 1,
        # Float64 rounding of the cumulative drifts, summed over the iterations so far.
        (iteration + 8) * float(np.finfo(np.float64).eps),
        4 * eps,
        gamma,
        geo.max_sq_norm,
        fresh,
        1.0 + (d + 8) * eps,
        labels,
        upper,
        lower,
    )

    def work(share: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
        # Each thread moves its own sums; the shares are added below.
        d_sums, d_weights = np.zeros((k, d)), np.zeros(k)
        d_counts, out = np.zeros(k, dtype=np.int64), np.zeros(2, dtype=np.int64)
        for first, stop in share:
            step(*arguments, first, stop, d_sums, d_weights, d_counts, ambiguous, out)
        return d_sums, d_weights, d_counts, out

    parts = in_threads(n, BLOCK_ROWS, work)
    _add_shares([part[:3] for part in parts], sums, counts)
    evals = sum(int(part[3][0]) for part in parts)
    changed = sum(int(part[3][1]) for part in parts)
    rows = np.flatnonzero(ambiguous >= 0)
    return evals, rows, ambiguous[rows], changed


def fresh_block_rows(n_clusters: int, itemsize: int) -> int:
    """Rows per block of a first pass: a (k x rows) product block of about 512 KiB."""
    return max(1024, min(8192, (512 * 2**10) // max(1, n_clusters * itemsize)))


def _fresh_pass(
    fresh_step: Any,
    X: np.ndarray,
    shift: Any,
    weights: np.ndarray,
    x_sq_norms: np.ndarray,
    centers: np.ndarray,
    labels: np.ndarray,
    upper: np.ndarray,
    lower: np.ndarray,
    sums: np.ndarray,
    counts: np.ndarray,
    geo: Any,
    *,
    gamma: float,
    eps: float,
) -> tuple[int, np.ndarray, np.ndarray, int]:
    """A first pass as Lloyd's: each block's products with one BLAS call, then its labels, bounds
    and sums in one compiled loop (``fresh_bounds_of_block``), the blocks shared among the CPU
    threads. Every one of the n k distances is counted as computed."""
    n, d = X.shape
    k, b = centers.shape[0], geo.n_groups
    neg2_centers = np.ascontiguousarray(-2 * centers)
    c_sq = np.sum(centers * centers, axis=1)
    group_of = geo.groups.astype(np.int64)
    ambiguous = np.full(n, -1, dtype=np.int64)
    block_rows = fresh_block_rows(k, X.dtype.itemsize)
    store_eps = 4 * eps

    def work(share: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        products = np.empty(k * block_rows, dtype=X.dtype)
        shifted = None if shift is None else np.empty((block_rows, d), dtype=X.dtype)
        best, second = np.empty(block_rows, dtype=X.dtype), np.empty(block_rows, dtype=X.dtype)
        nearest = np.empty(block_rows, dtype=np.int32)
        low = np.empty(b * block_rows, dtype=X.dtype)
        d_sums, d_weights = np.zeros((k, d)), np.zeros(k)
        d_counts = np.zeros(k, dtype=np.int64)
        for first, stop in share:
            rows = stop - first
            block = (
                X[first:stop]
                if shift is None
                else np.subtract(X[first:stop], shift, out=shifted[:rows])
            )
            block_products = products[: k * rows].reshape(k, rows)
            np.matmul(neg2_centers, block.T, out=block_products)
            fresh_step(
                block_products,
                block,
                weights[first:stop],
                x_sq_norms[first:stop],
                c_sq,
                group_of,
                gamma,
                geo.max_sq_norm,
                eps,
                store_eps,
                best[:rows],
                second[:rows],
                nearest[:rows],
                low[: b * rows].reshape(b, rows),
                labels[first:stop],
                upper[first:stop],
                lower[first:stop],
                ambiguous[first:stop],
                d_sums,
                d_weights,
                d_counts,
            )
        return d_sums, d_weights, d_counts

    _add_shares(in_threads(n, block_rows, work), sums, counts)
    rows = np.flatnonzero(ambiguous >= 0)
    return n * k, rows, ambiguous[rows], 0


def _add_shares(shares: list[Any], sums: np.ndarray, counts: np.ndarray) -> None:
    """Add each thread share's moves (sums (k, d), weights (k,), member counts (k,)) to the
    running ``sums`` ((k, d + 1): the sums, then the weights) and ``counts``, in share order."""
    d = sums.shape[1] - 1
    for d_sums, d_weights, d_counts in shares:
        sums[:, :d] += d_sums
        sums[:, d] += d_weights
        counts += d_counts
