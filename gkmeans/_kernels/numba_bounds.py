"""The compiled assignment step of the bound-based algorithms (Numba, the ``fast`` extra).

One loop over the rows, in blocks shared among the CPU threads, for Hamerly, Elkan and Yinyang
alike: they differ only in how the centres are grouped (see
:mod:`gkmeans.algorithms.bounds_common` for the bounds and their rounding margin). Per row: move
the bounds by the centres' drift; if every group's lower bound clears the upper bound by Lloyd's
margin, keep the label and compute nothing; else compute the distance to the assigned centre,
then the distances to the centres of each group whose bound still fails (Elkan: single centres,
Hamerly: all of them), and refresh the bounds. Distances are computed directly,
``sum((x - c)^2)`` in float64 from the row in X's dtype (the row Lloyd sees); a row whose two
nearest centres are within Lloyd's margin of each other is reported as ambiguous, for Lloyd's own
kernel to settle (its bounds are reset). The cluster sums of the new labels are accumulated in
the same pass, in float64, per thread.

Numba is imported only when the kernel is first asked for; compiled code is cached on disk.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from gkmeans import config
from gkmeans._kernels.cpu_threads import in_threads

#: Rows per block shared among the CPU threads (a few blocks per thread keep them balanced).
BLOCK_ROWS = 4096


@functools.lru_cache(maxsize=1)
def kernels() -> Any:
    """The compiled step; raises ImportError without Numba."""
    import math

    import numba

    def jit(function: Any) -> Any:
        try:
            return numba.njit(nogil=True, cache=True)(function)
        except RuntimeError:  # no writable cache location: compile per process instead
            return numba.njit(nogil=True)(function)

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
        drift: Any,
        group_drift: Any,
        half: Any,
        gamma: float,
        max_sq: float,
        fresh: bool,
        grow: float,
        shrink: float,
        labels: Any,
        upper: Any,
        lower: Any,
        first: int,
        stop: int,
        sums: Any,
        weight_sums: Any,
        ambiguous: Any,
    ) -> int:
        d = X.shape[1]
        k = centers.shape[0]
        b = starts.shape[0] - 1
        slack = 1.0 + 1e-3
        if True:
            v = np.empty(d)
            dist = np.empty(k)
            low = np.empty(b)
            examined = np.zeros(b, dtype=np.bool_)
            count = 0
            for i in range(first, stop):
                for f in range(d):
                    # The row in X's dtype, as Lloyd's pass subtracts the shift.
                    v[f] = (X[i, f] - shift[f]) if has_shift else X[i, f]
                margin = 2.0 * gamma * (x_sq[i] + max_sq) * slack
                a = labels[i]
                u = math.inf
                failing = fresh
                if fresh:
                    for g in range(b):
                        low[g] = 0.0
                else:
                    u = (upper[i] + drift[a]) * grow
                    for g in range(b):
                        low[g] = max(lower[i, g] - group_drift[g], 0.0) * shrink
                    for g in range(b):
                        lb = max(low[g], 2.0 * half[a, g] - u)
                        # Written so that NaN (a reset row's infinite bound) fails.
                        if not (lb > u and (lb - u) * (lb + u) > margin):
                            failing = True
                            break
                best = a
                best_d = u
                is_ambiguous = False
                if failing:
                    best = -1
                    best_d = math.inf
                    if not fresh:
                        s = 0.0
                        for f in range(d):
                            t = v[f] - centers[a, f]
                            s += t * t
                        dist[a] = math.sqrt(s)
                        count += 1
                        u = dist[a] * grow
                        best = a
                        best_d = dist[a]
                    for g in range(b):
                        examined[g] = fresh
                        if not fresh:
                            lb = max(low[g], 2.0 * half[a, g] - u)
                            examined[g] = not (lb > u and (lb - u) * (lb + u) > margin)
                        if examined[g]:
                            for m in range(starts[g], starts[g + 1]):
                                j = members[m]
                                if j == a and not fresh:
                                    continue
                                s = 0.0
                                for f in range(d):
                                    t = v[f] - centers[j, f]
                                    s += t * t
                                dj = math.sqrt(s)
                                dist[j] = dj
                                count += 1
                                if dj < best_d or (dj == best_d and j < best):
                                    best = j
                                    best_d = dj
                    # New lower bounds: examined groups from their distances; the old centre's
                    # group, when not examined and the label moved, takes the old distance.
                    best_sq = best_d * best_d
                    for g in range(b):
                        if examined[g]:
                            m_g = math.inf
                            for m in range(starts[g], starts[g + 1]):
                                j = members[m]
                                if j == best:
                                    continue
                                dj = dist[j]
                                if dj < m_g:
                                    m_g = dj
                                if dj * dj - best_sq <= margin:
                                    is_ambiguous = True
                            low[g] = m_g
                        elif not fresh and g == group_of[a] and best != a:
                            if dist[a] < low[g]:
                                low[g] = dist[a]
                            if dist[a] * dist[a] - best_sq <= margin:
                                is_ambiguous = True
                    u = best_d * grow
                labels[i] = best
                ambiguous[i] = is_ambiguous
                if is_ambiguous:
                    upper[i] = math.inf
                    for g in range(b):
                        lower[i, g] = 0.0
                else:
                    upper[i] = u
                    for g in range(b):
                        lower[i, g] = low[g] * shrink
                w = weights[i]
                weight_sums[best] += w
                for f in range(d):
                    sums[best, f] += w * v[f]
        return count

    return bounds_step


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
    geo: Any,
    *,
    gamma: float,
    fresh: bool,
    xp: Any,
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """The compiled step above: updates ``labels``, ``upper`` and ``lower`` in
    place; returns the cluster sums (shifted frame, float64), their weights, the distances
    computed and the rows whose nearest centres are within rounding (for Lloyd's kernel)."""
    step = kernels()
    n, d = X.shape
    k = centers.shape[0]
    eps = float(np.finfo(X.dtype).eps)
    members = np.argsort(geo.groups, kind="stable").astype(np.int64)
    starts = np.searchsorted(geo.groups[members], np.arange(geo.n_groups + 1)).astype(np.int64)
    ambiguous = np.zeros(n, dtype=np.bool_)
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
        geo.drift,
        geo.group_drift,
        geo.half_gaps,
        gamma,
        geo.max_sq_norm,
        fresh,
        1.0 + (d + 8) * eps,
        1.0 - (d + 8) * eps,
        labels,
        upper,
        lower,
    )

    def work(share: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, int]:
        # Each thread sums into its own arrays; the shares are added below.
        sums, weight_sums, count = np.zeros((k, d)), np.zeros(k), 0
        for first, stop in share:
            count += step(*arguments, first, stop, sums, weight_sums, ambiguous)
        return sums, weight_sums, count

    parts = in_threads(n, BLOCK_ROWS, work)
    sums = functools.reduce(np.add, [part[0] for part in parts])
    weight_sums = functools.reduce(np.add, [part[1] for part in parts])
    evals = sum(part[2] for part in parts)
    return sums, weight_sums, int(evals), np.flatnonzero(ambiguous)
