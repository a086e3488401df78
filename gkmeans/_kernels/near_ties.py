"""Labels the distance expansion cannot decide: groups of centres far from each other.

Every pass ranks the centres of a row by ``-2 x.c + ||c||^2`` (the expansion
``||x||^2 - 2 x.c + ||c||^2`` without its constant term). Two computed values can be in the
wrong order only where they lie within ``tie_scale(d) * (||x||^2 + ||c||^2)`` of each other
(:func:`tie_scale`). Centring on the column mean keeps that small for one group of data, but
not for two groups far from each other: at +-3e4 in float32 the bound is about 650, against
squared distances of 25 between neighbouring centres.

A screen decides for a whole pass, at no cost per row: ``err = tie_scale(d) * (max ||x||^2 +
max ||c||^2)`` against the smallest squared distance between two centres. Below
:data:`TIE_SHARE` of it (ordinary data: about 1e-5) the pass runs as it always does; above, it
takes :func:`assign_exact`, which decides every row whose two nearest values lie within that
row's bound from the differences ``x - c`` in float64.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

from gkmeans._compat import supports_float64
from gkmeans._kernels.agnostic import row_chunks, scatter_rows

#: The pass takes the exact route when the expansion's rounding bound exceeds this share of the
#: smallest squared distance between two centres.
TIE_SHARE = 1e-2

#: The (rows, k, d) differences of :func:`assign_exact` are built this many elements at a time.
EXACT_SUB_ELEMENTS = 2**18


def tie_scale(n_features: int, dtype: Any, xp: ModuleType) -> float:
    """``s`` such that two computed values of ``-2 x.c + ||c||^2`` (``dtype``) can be in the wrong
    order only within ``s * (||x||^2 + max ||c||^2)`` of each other: ``2 (d + 2)`` units of
    rounding ``u`` per value (a d-term product in any order, the centre's norm, the sum),
    doubled for the pair, plus the rounding of the shifted row: ``4 (d + 4) u``."""
    return 2 * (n_features + 4) * float(xp.finfo(dtype).eps)


def _accumulator(xp: ModuleType, device: Any) -> Any:
    return xp.float64 if supports_float64(xp, device) else xp.float32


def screen_ratio(centers: Any, x_sq_max: Any, dtype: Any, *, xp: ModuleType) -> Any:
    """The pass's rounding bound over the smallest squared distance between two centres of a run,
    a 0-d array (centres (k, d) or (runs, k, d), in the frame of the rows whose largest squared
    norm is ``x_sq_max``). Coincident centres are left out (they tie exactly); 0 without two
    distinct centres."""
    k, d = centers.shape[-2], centers.shape[-1]
    acc = _accumulator(xp, centers.device)
    c = xp.astype(xp.reshape(centers, (-1, k, d)), acc)
    c_sq_max = xp.max(xp.sum(c * c, axis=2))
    x_sq_max = xp.astype(xp.asarray(x_sq_max, device=c.device), acc)
    err = tie_scale(d, dtype, xp) * (x_sq_max + c_sq_max)
    if k < 2:
        return xp.zeros((), dtype=acc, device=c.device)
    # Centred on each run's mean, so that the Gram expansion of the separations stays fine.
    c = c - xp.mean(c, axis=1, keepdims=True)
    norms = xp.sum(c * c, axis=2)
    gram = c @ xp.permute_dims(c, (0, 2, 1))
    sep = norms[:, :, None] + norms[:, None, :] - 2 * gram
    # Coincident centres tie exactly for every row (the expansion computes the same values for
    # both): pairs within the Gram expansion's own rounding are left out, as is the diagonal.
    tiny = tie_scale(d, acc, xp) * xp.max(norms)
    inf = xp.asarray(math.inf, dtype=acc, device=c.device)
    sep = xp.where(sep > tiny, sep, inf)
    smallest = xp.min(sep)
    finite = smallest < inf
    return xp.where(finite, err / xp.where(finite, smallest, xp.ones_like(smallest)), 0 * err)


def exceeds(ratio: float) -> bool:
    """Whether a :func:`screen_ratio` (on the host) sends the pass to :func:`assign_exact`."""
    return bool(ratio > TIE_SHARE)


def assign_exact(
    X: Any,
    centers: Any,
    *,
    xp: ModuleType,
    chunk_rows: int,
    x_sq_norms: Any | None = None,
    shift: Any | None = None,
) -> tuple[Any, Any]:
    """:func:`.agnostic.assign` with the rows whose runner-up lies within the expansion's rounding
    of the nearest (:func:`tie_scale`) decided again among all centres from the differences
    ``(x - shift) - c`` in float64 (ties to the lowest index), their distances taken from there.
    Reads the host once a block (how many rows to decide): it runs only where the screen sends
    a pass."""
    n, (k, d) = X.shape[0], centers.shape
    dev = X.device
    acc = _accumulator(xp, dev)
    c_sq = xp.sum(centers * centers, axis=1)
    centers_t_neg2 = -2 * xp.permute_dims(centers, (1, 0))
    centers_acc = xp.astype(centers, acc)
    ids = xp.arange(k, dtype=xp.int64, device=dev)
    scale, c_sq_max = tie_scale(d, X.dtype, xp), xp.max(c_sq)
    sub_rows = max(1, EXACT_SUB_ELEMENTS // (k * d))
    labels = xp.empty(n, dtype=xp.int64, device=dev)
    min_sq = xp.empty(n, dtype=X.dtype, device=dev)
    for start, stop in row_chunks(n, chunk_rows):
        block = X[start:stop, :]
        if shift is not None:
            block = block - shift
        block_sq = xp.vecdot(block, block) if x_sq_norms is None else x_sq_norms[start:stop]
        partial = block @ centers_t_neg2 + c_sq[None, :]
        nearest = xp.astype(xp.argmin(partial, axis=1), xp.int64)
        best = xp.min(partial, axis=1)
        inf = xp.asarray(math.inf, dtype=partial.dtype, device=dev)
        second = xp.min(xp.where(ids[None, :] == nearest[:, None], inf, partial), axis=1)
        risky = (second - best) <= scale * (block_sq + c_sq_max)
        dist = best + block_sq
        at = xp.nonzero(risky)[0]
        if at.shape[0]:
            rows = xp.astype(xp.take(X[start:stop, :], at, axis=0), acc)
            if shift is not None:
                rows = rows - xp.astype(shift, acc)
            exact_labels, exact_sq = [], []
            for lo, hi in row_chunks(rows.shape[0], sub_rows):
                diff = rows[lo:hi, None, :] - centers_acc[None, :, :]
                sq = xp.sum(diff * diff, axis=2)
                exact_labels.append(xp.astype(xp.argmin(sq, axis=1), xp.int64))
                exact_sq.append(xp.astype(xp.min(sq, axis=1), X.dtype))
            nearest = scatter_rows(nearest, risky, xp.concat(exact_labels), xp)
            dist = scatter_rows(dist, risky, xp.concat(exact_sq), xp)
        labels[start:stop] = nearest
        min_sq[start:stop] = xp.clip(dist, min=0)
    return labels, min_sq


def assign_and_sum_exact(
    X: Any,
    centers: Any,
    weights: Any,
    *,
    xp: ModuleType,
    acc_dtype: Any,
    chunk_rows: int,
    x_sq_norms: Any | None = None,
    shift: Any | None = None,
) -> tuple[Any, Any, Any, Any]:
    """One Lloyd pass by :func:`assign_exact`: labels, distances, and the per-cluster weighted
    sums of the shifted rows and weights in ``acc_dtype``; centres (k, d), or (runs, k, d) for
    batched runs (labels and distances then (n, runs), sums (runs, k, d), weights (runs, k))."""
    if centers.ndim == 3:
        parts = [
            assign_and_sum_exact(
                X,
                centers[r, ...],
                weights,
                xp=xp,
                acc_dtype=acc_dtype,
                chunk_rows=chunk_rows,
                x_sq_norms=x_sq_norms,
                shift=shift,
            )
            for r in range(centers.shape[0])
        ]
        return tuple(xp.stack([p[i] for p in parts], axis=int(i < 2)) for i in range(4))  # type: ignore[return-value]
    k, d = centers.shape
    labels, min_sq = assign_exact(
        X, centers, xp=xp, chunk_rows=chunk_rows, x_sq_norms=x_sq_norms, shift=shift
    )
    sums = xp.zeros((k, d), dtype=acc_dtype, device=X.device)
    weight_sums = xp.zeros(k, dtype=acc_dtype, device=X.device)
    ids = xp.arange(k, dtype=xp.int64, device=X.device)
    for start, stop in row_chunks(X.shape[0], chunk_rows):
        block = xp.astype(X[start:stop, :], acc_dtype)
        if shift is not None:
            block = block - xp.astype(shift, acc_dtype)
        one_hot = xp.astype(labels[start:stop, None] == ids[None, :], acc_dtype)
        one_hot = one_hot * xp.astype(weights[start:stop], acc_dtype)[:, None]
        sums = sums + xp.permute_dims(one_hot, (1, 0)) @ block
        weight_sums = weight_sums + xp.sum(one_hot, axis=0)
    return labels, min_sq, sums, weight_sums
