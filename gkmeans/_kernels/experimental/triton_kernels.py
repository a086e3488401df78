"""The Triton kernel of :mod:`.triton_assign`, in a module of its own: Triton resolves the functions
a kernel calls among its module's globals, and this module, which imports Triton, is imported only
when the kernel is first used. (No ``from __future__ import annotations`` here: Triton reads the
``tl.constexpr`` annotations as objects.)"""

import triton
import triton.language as tl


@triton.jit
def shifted_rows(X, shift, rows, row_ok, f0, features, d, stride_x, HAS_SHIFT: tl.constexpr):
    """Features ``f0 + features`` of ``rows`` of X, shifted; 0 outside X (padding lanes)."""
    f_ok = (f0 + features) < d
    inside = row_ok[:, None] & f_ok[None, :]
    x = tl.load(X + rows[:, None] * stride_x + (f0 + features)[None, :], mask=inside, other=0.0).to(
        tl.float32
    )
    if HAS_SHIFT:
        s = tl.load(shift + f0 + features, mask=f_ok, other=0.0).to(tl.float32)
        x = tl.where(inside, x - s[None, :], 0.0)
    return x


@triton.jit
def assign_kernel(
    X,
    shift,
    C,
    c_sq,
    labels,
    min_sq,
    weights,
    sums,
    weight_sums,
    n,
    k,
    d,
    stride_x,
    stride_c,
    HAS_SHIFT: tl.constexpr,
    PRECISION: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    BLOCK_D: tl.constexpr,
    ONE_D_BLOCK: tl.constexpr,
    UPDATE: tl.constexpr,
):
    rows = (tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)).to(tl.int64)
    row_ok = rows < n
    features = tl.arange(0, BLOCK_D)
    best = tl.full((BLOCK_N,), float("inf"), tl.float32)
    best_index = tl.zeros((BLOCK_N,), tl.int64)
    # The rows' squared norms, from the shifted rows themselves (exact float32 sums).
    if ONE_D_BLOCK:
        # All features in one block: the shifted rows are loaded once for every centre tile.
        x_all = shifted_rows(X, shift, rows, row_ok, 0, features, d, stride_x, HAS_SHIFT)
        row_sq = tl.sum(x_all * x_all, axis=1)
    else:
        row_sq = tl.zeros((BLOCK_N,), tl.float32)
        for f0 in range(0, d, BLOCK_D):
            x = shifted_rows(X, shift, rows, row_ok, f0, features, d, stride_x, HAS_SHIFT)
            row_sq += tl.sum(x * x, axis=1)
    for c0 in range(0, k, BLOCK_K):
        centres = (c0 + tl.arange(0, BLOCK_K)).to(tl.int64)
        c_ok = centres < k
        acc = tl.zeros((BLOCK_N, BLOCK_K), tl.float32)
        for f0 in range(0, d, BLOCK_D):
            f_ok = (f0 + features) < d
            if ONE_D_BLOCK:
                x = x_all
            else:
                x = shifted_rows(X, shift, rows, row_ok, f0, features, d, stride_x, HAS_SHIFT)
            c = tl.load(
                C + centres[None, :] * stride_c + (f0 + features)[:, None],
                mask=c_ok[None, :] & f_ok[:, None],
                other=0.0,
            ).to(tl.float32)
            if PRECISION == "bf16":
                acc += tl.dot(x.to(tl.bfloat16), c.to(tl.bfloat16), out_dtype=tl.float32)
            else:
                acc += tl.dot(x, c, input_precision=PRECISION)
        centre_sq = tl.load(c_sq + centres, mask=c_ok, other=0.0).to(tl.float32)
        value = tl.where(c_ok[None, :], centre_sq[None, :] - 2.0 * acc, float("inf"))
        tile_best = tl.min(value, axis=1)
        tile_index = tl.argmin(value, axis=1).to(tl.int64) + c0
        better = tile_best < best  # strict: an equal value in a later tile keeps the lower index
        best = tl.where(better, tile_best, best)
        best_index = tl.where(better, tile_index, best_index)
    tl.store(labels + rows, best_index, mask=row_ok)
    distance = best + row_sq
    tl.store(min_sq + rows, tl.where(distance > 0.0, distance, 0.0), mask=row_ok)
    if UPDATE:
        # The update in the same pass: each shifted row, weighted, added to its cluster's float64
        # sums by atomics (the rows are re-read from the cache, not from memory a second time).
        w = tl.load(weights + rows, mask=row_ok, other=0.0).to(tl.float64)
        tl.atomic_add(weight_sums + best_index, w, mask=row_ok)
        if ONE_D_BLOCK:
            f_ok = features < d
            tl.atomic_add(
                sums + best_index[:, None] * d + features[None, :],
                x_all.to(tl.float64) * w[:, None],
                mask=row_ok[:, None] & f_ok[None, :],
            )
        else:
            for f0 in range(0, d, BLOCK_D):
                f_ok = (f0 + features) < d
                x = shifted_rows(X, shift, rows, row_ok, f0, features, d, stride_x, HAS_SHIFT)
                tl.atomic_add(
                    sums + best_index[:, None] * d + (f0 + features)[None, :],
                    x.to(tl.float64) * w[:, None],
                    mask=row_ok[:, None] & f_ok[None, :],
                )
