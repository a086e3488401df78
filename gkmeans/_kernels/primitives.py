"""The kernel primitives the algorithms call: each sizes its chunks, picks its implementation
(:mod:`gkmeans._kernels.dispatch`) and retries with smaller chunks when memory runs out."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

from gkmeans._kernels import near_ties
from gkmeans._kernels.dispatch import native, pick
from gkmeans._kernels.precision import exact_products
from gkmeans._kernels.workspace import accumulator_dtype, chunk_rows_for, run_in_chunks
from gkmeans._sparse import is_sparse_rows


def exact_ties_needed(
    X: Any, centers: Any, min_sq: Any, *, xp: ModuleType, x_sq_norms: Any = None
) -> bool:
    """Whether a pass of X against ``centers`` (shifted frame), already run without the exact
    route, must be run again with it (:mod:`gkmeans._kernels.near_ties`; one host read). The
    rows' largest squared norm comes from ``x_sq_norms`` where given, else from the pass's own
    distances ``min_sq`` (no second read of X): ``||x|| <= d(x, c) + ||c||`` with the computed
    ``d^2`` off by at most ``t (||x||^2 + ||c||^2)`` gives
    ``||x||^2 <= (2 max d^2 + 2 (1 + t) max ||c||^2) / (1 - 2 t)``. Sparse rows are never
    screened."""
    if is_sparse_rows(X) or X.shape[0] == 0:
        return False
    acc = accumulator_dtype(xp, X.device)
    if x_sq_norms is not None:
        largest = xp.astype(xp.max(x_sq_norms), acc)
    else:
        t = near_ties.tie_scale(X.shape[1], X.dtype, xp)
        flat = xp.astype(xp.reshape(centers, (-1, centers.shape[-1])), acc)
        c_sq_max = xp.max(xp.sum(flat * flat, axis=1))
        largest = (2 * xp.astype(xp.max(min_sq), acc) + 2 * (1 + t) * c_sq_max) / (1 - 2 * t)
    return near_ties.exceeds(float(tie_screen_ratio(centers, largest, X.dtype, xp=xp)))


def tie_screen_ratio(centers: Any, x_sq_max: Any, dtype: Any, *, xp: ModuleType) -> Any:
    """:func:`.near_ties.screen_ratio` (0-d array), by the backend's own screen where it has one
    (NumPy: a float32 first look at many centres, the same decision)."""
    impl = native(xp, "screen_ratio", centers)
    impl = near_ties.screen_ratio if impl is None else impl
    return impl(centers, x_sq_max, dtype, xp=xp)


def assign(
    X: Any,
    centers: Any,
    *,
    xp: ModuleType,
    x_sq_norms: Any = None,
    shift: Any = None,
    exact_ties: bool | None = None,
) -> tuple[Any, Any]:
    """Labels and squared distances to the nearest centre, for ``X - shift`` against centres
    in that shifted frame (see :func:`.agnostic.assign`). ``exact_ties``: whether the pass
    decides its near ties exactly (:func:`.near_ties.assign_exact`); None runs it without, then
    screens it (:func:`exact_ties_needed`, one host read) and runs it again where it must."""
    if exact_ties is None:
        result = assign(X, centers, xp=xp, x_sq_norms=x_sq_norms, shift=shift, exact_ties=False)
        if not exact_ties_needed(X, centers, result[1], xp=xp, x_sq_norms=x_sq_norms):
            return result
        exact_ties = True
    k = centers.shape[0]
    # The n x k block, its argmin and min, and a product temporary.
    chunk = chunk_rows_for(
        X.shape[0], k * (xp.finfo(X.dtype).bits // 8), xp, X.device, cache_sized=True
    )
    exact = exact_ties and not is_sparse_rows(X)
    impl = _exact_impl(xp, "assign_exact", X) if exact else pick(xp, "assign", X)
    return run_in_chunks(
        "assign",
        xp,
        X,
        chunk,
        lambda rows: impl(X, centers, xp=xp, chunk_rows=rows, x_sq_norms=x_sq_norms, shift=shift),
    )


def _summed_exactly(
    primitive: str,
    X: Any,
    centers: Any,
    weights: Any,
    xp: ModuleType,
    x_sq_norms: Any,
    shift: Any,
    row_bytes: int,
) -> tuple[Any, Any, Any, Any]:
    """A pass that decides its near ties exactly, with the cluster sums: the backend's
    ``assign_and_sum_exact`` where it has one, else :mod:`.near_ties`' (centres (k, d) or
    (runs, k, d)); ``row_bytes``, its temporaries a row."""
    acc = accumulator_dtype(xp, X.device)
    chunk = chunk_rows_for(X.shape[0], row_bytes, xp, X.device, cache_sized=True)
    impl = _exact_impl(xp, "assign_and_sum_exact", X)
    return run_in_chunks(
        primitive,
        xp,
        X,
        chunk,
        lambda rows: impl(
            X,
            centers,
            weights,
            xp=xp,
            acc_dtype=acc,
            chunk_rows=rows,
            x_sq_norms=x_sq_norms,
            shift=shift,
        ),
    )


def _exact_impl(xp: ModuleType, primitive: str, X: Any) -> Any:
    """The backend's own ``primitive`` (``assign_exact`` or ``assign_and_sum_exact``), else
    :mod:`.near_ties`' (looked up at call time, so tests can count its calls)."""
    impl = native(xp, primitive, X)
    return impl if impl is not None else getattr(near_ties, primitive)


def segment_sum(
    X: Any, labels: Any, weights: Any, n_clusters: int, *, xp: ModuleType
) -> tuple[Any, Any]:
    """Per-cluster weighted sums of rows and per-cluster weights, in the accumulator dtype."""
    acc = accumulator_dtype(xp, X.device)
    row_bytes = (n_clusters + 2 * X.shape[1]) * 8
    chunk = chunk_rows_for(X.shape[0], row_bytes, xp, X.device)
    impl = pick(xp, "segment_sum", X)
    return run_in_chunks(
        "segment_sum",
        xp,
        X,
        chunk,
        lambda rows: impl(X, labels, weights, n_clusters, xp=xp, acc_dtype=acc, chunk_rows=rows),
    )


def weighted_inertia(X: Any, centers: Any, labels: Any, weights: Any, *, xp: ModuleType) -> Any:
    """Sum of weighted squared distances to the assigned centres (0-d array)."""
    acc = accumulator_dtype(xp, X.device)
    chunk = chunk_rows_for(X.shape[0], 3 * X.shape[1] * 8, xp, X.device)
    impl = pick(xp, "weighted_inertia", X)
    return run_in_chunks(
        "weighted_inertia",
        xp,
        X,
        chunk,
        lambda rows: impl(X, centers, labels, weights, xp=xp, acc_dtype=acc, chunk_rows=rows),
    )


def weighted_column_sums(X: Any, weights: Any, *, xp: ModuleType, shift: Any = None) -> Any:
    """``sum_i w_i (x_i - shift)``, shape (n_features,), in the accumulator dtype."""
    acc = accumulator_dtype(xp, X.device)
    chunk = chunk_rows_for(X.shape[0], 2 * X.shape[1] * 8, xp, X.device)
    impl = pick(xp, "weighted_column_sums", X)
    return run_in_chunks(
        "weighted_column_sums",
        xp,
        X,
        chunk,
        lambda rows: impl(X, weights, xp=xp, acc_dtype=acc, chunk_rows=rows, shift=shift),
    )


def spread_about_weighted_mean(spread: float, column_sums: Any, total_weight: float) -> float:
    """``sum_i w_i ||x_i - m_w||^2`` from ``spread`` = ``sum_i w_i ||x_i - s||^2`` and
    ``column_sums`` = ``sum_i w_i (x_i - s)`` about any shift s: the scale of the convergence
    tolerance. About the weighted mean m_w, integer weights give the repeated rows' tolerance (so
    the same stopping iteration). An overflowed spread is returned as it is, for the caller to
    report."""
    if not math.isfinite(spread):
        return spread
    return max(0.0, spread - float(column_sums @ column_sums) / total_weight)


def weighted_spread(
    X: Any,
    x_sq_norms: Any,
    weights: Any,
    total_weight: float,
    *,
    xp: ModuleType,
    shift: Any = None,
    uniform_weights: bool = False,
) -> float:
    """:func:`spread_about_weighted_mean` of ``X - shift`` whose rows' squared norms are
    ``x_sq_norms``; with uneven weights the rows' sums take one pass more (with even ones the
    weighted mean is the mean)."""
    spread = float(weights @ x_sq_norms)
    if uniform_weights:
        return spread
    return spread_about_weighted_mean(
        spread, weighted_column_sums(X, weights, xp=xp, shift=shift), total_weight
    )


def sq_distances_to_rows(
    X: Any, x_sq_norms: Any, rows: Any, *, xp: ModuleType, shift: Any = None
) -> Any:
    """Squared distances from a few rows (shifted frame) to every row of ``X - shift``,
    shape (m, n)."""
    chunk = chunk_rows_for(X.shape[0], 2 * (rows.shape[0] + X.shape[1]) * 8, xp, X.device)
    impl = pick(xp, "sq_distances_to_rows", X)
    return run_in_chunks(
        "sq_distances_to_rows",
        xp,
        X,
        chunk,
        lambda n_rows: impl(X, x_sq_norms, rows, xp=xp, chunk_rows=n_rows, shift=shift),
    )


def closer_distances(
    X: Any,
    x_sq_norms: Any,
    rows: Any,
    closest: Any,
    weights: Any,
    *,
    xp: ModuleType,
    shift: Any = None,
) -> tuple[Any, Any]:
    """For each candidate row: every sample's squared distance to its nearest centre were the
    candidate added, (m, n), and the weighted potential, (m,) (see
    :func:`.agnostic.closer_distances`)."""
    row_bytes = 2 * (rows.shape[0] + X.shape[1]) * 8
    chunk = chunk_rows_for(X.shape[0], row_bytes, xp, X.device, cache_sized=True)
    impl = pick(xp, "closer_distances", X)
    return run_in_chunks(
        "closer_distances",
        xp,
        X,
        chunk,
        lambda n_rows: impl(
            X, x_sq_norms, rows, closest, weights, xp=xp, chunk_rows=n_rows, shift=shift
        ),
    )


def row_sq_norms(X: Any, *, xp: ModuleType, shift: Any = None) -> Any:
    """Squared norm of every row of ``X - shift``."""
    chunk = chunk_rows_for(X.shape[0], 2 * X.shape[1] * 8, xp, X.device)
    impl = pick(xp, "row_sq_norms", X)
    # Exact in a reduced-precision fit too: the array path's vecdot is a (batched) matrix product.
    with exact_products(xp, X.device):
        return run_in_chunks(
            "row_sq_norms", xp, X, chunk, lambda rows: impl(X, xp=xp, chunk_rows=rows, shift=shift)
        )


def column_mean(X: Any, *, xp: ModuleType) -> Any:
    """Mean of the rows of X: the shift of the centred frame (NumPy's for NumPy arrays and PyTorch
    CPU tensors alike, so that both fit the same, bit for bit)."""
    return pick(xp, "column_mean", X)(X, xp=xp)


def distinct_labels(labels: Any, n_clusters: int, *, xp: ModuleType) -> int:
    """How many different cluster ids (of ``0 .. n_clusters - 1``) occur in ``labels``."""
    return pick(xp, "distinct_labels", labels)(labels, n_clusters, xp=xp)


def assign_and_sum(
    X: Any,
    centers: Any,
    weights: Any,
    *,
    xp: ModuleType,
    x_sq_norms: Any = None,
    shift: Any = None,
    exact_ties: bool | None = None,
) -> tuple[Any, Any, Any, Any]:
    """One Lloyd pass: labels and squared distances for ``X - shift`` against ``centers``
    (shifted frame), and the per-cluster weighted sums of the shifted rows and weights.

    Backends with a fused native pass (NumPy: blocks shared among threads) use it;
    the others compose :func:`assign` and :func:`segment_sum`, summing raw rows in
    float64 and moving the sums into the shifted frame. ``exact_ties`` as in :func:`assign`
    (a pass that decides its near ties exactly is the backend's fused ``assign_and_sum_exact``
    where it has one, else composes the two).
    """
    if exact_ties is None:
        result = assign_and_sum(
            X, centers, weights, xp=xp, x_sq_norms=x_sq_norms, shift=shift, exact_ties=False
        )
        if not exact_ties_needed(X, centers, result[1], xp=xp, x_sq_norms=x_sq_norms):
            return result
        exact_ties = True
    k = centers.shape[0]
    exact = exact_ties and not is_sparse_rows(X)
    if exact and native(xp, "assign_and_sum_exact", X) is not None:
        row_bytes = k * (xp.finfo(X.dtype).bits // 8)
        return _summed_exactly(
            "assign_and_sum", X, centers, weights, xp, x_sq_norms, shift, row_bytes
        )
    fused = None if exact else native(xp, "assign_and_sum", X)
    if fused is not None:
        chunk = chunk_rows_for(
            X.shape[0], k * (xp.finfo(X.dtype).bits // 8), xp, X.device, cache_sized=True
        )
        return run_in_chunks(
            "assign_and_sum",
            xp,
            X,
            chunk,
            lambda rows: fused(
                X, centers, weights, xp=xp, chunk_rows=rows, x_sq_norms=x_sq_norms, shift=shift
            ),
        )
    labels, min_sq = assign(
        X, centers, xp=xp, x_sq_norms=x_sq_norms, shift=shift, exact_ties=exact_ties
    )
    sums, weight_sums = segment_sum(X, labels, weights, k, xp=xp)
    if shift is not None:
        sums = sums - weight_sums[:, None] * xp.astype(shift, sums.dtype)[None, :]
    return labels, min_sq, sums, weight_sums


def assign_and_sum_batched(
    X: Any,
    centers: Any,
    weights: Any,
    *,
    xp: ModuleType,
    x_sq_norms: Any = None,
    shift: Any = None,
    exact_ties: bool | None = None,
) -> tuple[Any, Any, Any, Any]:
    """One Lloyd pass for several runs at once (centres of shape (r, k, d), shifted frame):
    labels and distances of shape (n, r), sums (r, k, d) and weights (r, k) in the accumulator
    dtype. ``exact_ties`` as in :func:`assign` (one screen for all the runs; a pass that decides
    its near ties exactly runs the runs one after another)."""
    if exact_ties is None:
        result = assign_and_sum_batched(
            X, centers, weights, xp=xp, x_sq_norms=x_sq_norms, shift=shift, exact_ties=False
        )
        if not exact_ties_needed(X, centers, result[1], xp=xp, x_sq_norms=x_sq_norms):
            return result
        exact_ties = True
    runs, k, _ = centers.shape
    acc = accumulator_dtype(xp, X.device)
    if exact_ties and not is_sparse_rows(X):
        return _summed_exactly(
            "assign_and_sum_batched", X, centers, weights, xp, x_sq_norms, shift, 3 * k * 8
        )
    # The n x (r k) product block, its one-hot twin and the comparison mask.
    row_bytes = 3 * runs * k * (xp.finfo(X.dtype).bits // 8)
    chunk = chunk_rows_for(X.shape[0], row_bytes, xp, X.device, cache_sized=True)
    impl = pick(xp, "assign_and_sum_batched", X)
    return run_in_chunks(
        "assign_and_sum_batched",
        xp,
        X,
        chunk,
        lambda rows: impl(
            X,
            centers,
            weights,
            xp=xp,
            acc_dtype=acc,
            chunk_rows=rows,
            x_sq_norms=x_sq_norms,
            shift=shift,
            exact=lambda: exact_products(xp, X.device),
        ),
    )


def bounds_kernel(xp: ModuleType, X: Any) -> Any:
    """The backend's compiled step of the bound-based algorithms for ``X`` (NumPy and PyTorch CPU
    with Numba: :mod:`gkmeans._kernels.numba_bounds`), or None: the algorithms then run their
    whole-array step (:func:`gkmeans.algorithms.bounds_common.array_pass`)."""
    return native(xp, "bounds_pass", X)


def stream_to_device(batches: Any, *, xp: ModuleType, device: Any) -> Any:
    """Batches of host arrays (tuples, None allowed) moved to the compute device one by one;
    on CuPy through pinned buffers, the next copy overlapping the work on the current batch."""
    return pick(xp, "stream_to_device")(batches, xp=xp, device=device)


def sq_distances_to_assigned(X: Any, centers: Any, labels: Any, *, xp: ModuleType) -> Any:
    """Exact squared distance of every row to its assigned centre, shape (n,)."""
    chunk = chunk_rows_for(X.shape[0], 3 * X.shape[1] * 8, xp, X.device)
    impl = pick(xp, "sq_distances_to_assigned", X)
    return run_in_chunks(
        "sq_distances_to_assigned",
        xp,
        X,
        chunk,
        lambda rows: impl(X, centers, labels, xp=xp, chunk_rows=rows),
    )


def pairwise_sq_distances(X: Any, centers: Any, *, xp: ModuleType, root: bool = False) -> Any:
    """Squared distances from every row of X to every centre, shape (n, k), exact near zero
    (``root``: the Euclidean distances, rooted block by block before rounding to X's dtype)."""
    # The expansion's (rows x k) temporaries in the accumulator dtype, and the shifted block.
    row_bytes = (4 * centers.shape[0] + 2 * X.shape[1]) * 8
    chunk = chunk_rows_for(X.shape[0], row_bytes, xp, X.device)
    acc = accumulator_dtype(xp, X.device)
    impl = pick(xp, "pairwise_sq_distances", X)
    return run_in_chunks(
        "pairwise_sq_distances",
        xp,
        X,
        chunk,
        lambda rows: impl(X, centers, xp=xp, chunk_rows=rows, acc_dtype=acc, root=root),
    )


def cluster_distance_sums(X: Any, x_sq_norms: Any, one_hot: Any, *, xp: ModuleType) -> Any:
    """Per row, the sum of Euclidean distances to each cluster's members, shape (n, k)."""
    row_bytes = 2 * X.shape[0] * (xp.finfo(X.dtype).bits // 8)
    chunk = chunk_rows_for(X.shape[0], row_bytes, xp, X.device)
    impl = pick(xp, "cluster_distance_sums", X)
    return run_in_chunks(
        "cluster_distance_sums",
        xp,
        X,
        chunk,
        lambda rows: impl(X, x_sq_norms, one_hot, xp=xp, chunk_rows=rows),
    )


def distance_block(X: Any, x_sq_norms: Any, start: int, stop: int, *, xp: ModuleType) -> Any:
    """Euclidean distances from rows ``start:stop`` of X to every row, (stop - start, n): one
    block of an exact pairwise score (the caller sizes the block)."""
    return pick(xp, "distance_block", X)(X, x_sq_norms, start, stop, xp=xp)


def take_rows(X: Any, indices: Any, *, xp: ModuleType, dense: bool = False) -> Any:
    """Rows ``indices`` of X, as X is (sparse rows stay sparse) or, with ``dense``, as a dense
    array (for a few rows: starting centres, relocated ones)."""
    return pick(xp, "take_rows", X)(X, indices, xp=xp, dense=dense)


def column_bounds(X: Any, keep: Any, *, xp: ModuleType) -> tuple[Any, Any]:
    """Columns' minima and maxima over the rows where ``keep`` is True, each (n_features,)."""
    return pick(xp, "column_bounds", X)(X, keep, xp=xp)
