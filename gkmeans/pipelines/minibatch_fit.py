"""The mini-batch pipeline behind ``MiniBatchKMeans.fit`` and ``partial_fit``: validate, place,
choose the start, run the steps (:mod:`gkmeans.algorithms.minibatch`), and bring the results
back."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gkmeans import _kernels as kernels
from gkmeans._random import make_rng
from gkmeans._validation import check_array, check_n_features
from gkmeans.algorithms.init import InitData
from gkmeans.algorithms.minibatch import (
    MiniBatchState,
    minibatch_loop,
    minibatch_step,
    reassign_now,
)
from gkmeans.algorithms.predict_rule import predict_labels
from gkmeans.pipelines.in_memory import initialiser
from gkmeans.pipelines.params import MiniBatchParams
from gkmeans.pipelines.prepared import PreparedData, frame_mean, frame_sq_norms, prepare_data


@dataclass
class MiniBatchFit:
    """A mini-batch model after ``fit`` or a ``partial_fit`` step: the state the next
    ``partial_fit`` goes on from, and the fitted attributes in the caller's namespace.
    ``labels`` and ``inertia`` are None unless computed on the whole data."""

    state: MiniBatchState
    rng: np.random.Generator
    centers: Any
    device: str
    n_features: int
    labels: Any = None
    inertia: float | None = None


def _one_start(
    params: MiniBatchParams, data: PreparedData, X: Any, rng: np.random.Generator
) -> Any:
    """One start drawn from ``init_size`` rows picked at random with replacement, or from all rows
    when ``init_size`` covers them (scikit-learn's ``_init_centroids``)."""
    xp, k, n = data.xp, params.n_clusters, data.X_dev.shape[0]
    subset, w_subset = data.X_dev, data.weights
    if params.init_size < n:
        rows = rng.integers(0, n, params.init_size).astype(np.int64)
        picked = xp.asarray(rows, device=data.X_dev.device)
        subset = kernels.take_rows(subset, picked, xp=xp)
        w_subset = xp.take(w_subset, picked)
    sub_mean = frame_mean(subset, xp)
    init_data = InitData(
        subset,
        frame_sq_norms(subset, sub_mean, xp),
        w_subset,
        np.asarray(kernels.to_host(w_subset), dtype=np.float64),
        xp,
        shift=sub_mean,
    )
    # A callable init sees the rows the start is drawn from, as in scikit-learn.
    rows_for_callable = data.placement.to_caller(subset) if callable(params.init) else X
    start = initialiser(
        params.init, rows_for_callable, k, sub_mean, data.placement, data.X_dev.dtype
    )
    return start(init_data, rng) + sub_mean


def initial_centers(
    params: MiniBatchParams, data: PreparedData, X: Any, rng: np.random.Generator
) -> Any:
    """The best of ``n_init`` starts, judged by their inertia on a validation subset of
    ``init_size`` rows (drawn first, as scikit-learn does)."""
    xp, runs, n = data.xp, params.n_init, data.X_dev.shape[0]
    valid = xp.asarray(
        rng.integers(0, n, params.init_size).astype(np.int64), device=data.X_dev.device
    )
    X_valid = kernels.take_rows(data.X_dev, valid, xp=xp)
    w_valid = xp.take(data.weights, valid)
    best, best_inertia = None, None
    for run in range(runs):
        if params.verbose:
            print(f"Init {run + 1}/{runs} with method {params.init}")
        centers = _one_start(params, data, X, rng)
        shift = kernels.column_mean(centers, xp=xp)
        _, min_sq = kernels.assign(X_valid, centers - shift, xp=xp, shift=shift)
        inertia = float(xp.sum(min_sq * w_valid))
        if params.verbose:
            print(f"Inertia for init {run + 1}/{runs}: {inertia}")
        if best_inertia is None or inertia < best_inertia:
            best, best_inertia = centers, inertia
    return best


def _first_state(params: MiniBatchParams, data: PreparedData, centers: Any) -> MiniBatchState:
    """The state before the first step: the chosen start, no weight absorbed yet."""
    acc = kernels.accumulator_dtype(data.xp, data.X_dev.device)
    zeros = data.xp.zeros(params.n_clusters, dtype=acc, device=data.X_dev.device)
    return MiniBatchState(centers, zeros, batch_size=params.batch_size)


def tolerance(data: PreparedData, tol: float) -> float:
    """scikit-learn's absolute tolerance: ``tol`` times the mean over features of the variance of
    the data (unweighted, as scikit-learn's ``_tolerance``)."""
    if tol == 0:
        return 0.0
    xp = data.xp
    if not data.centred:  # sparse rows: from their norms and the column mean, never made dense
        mean = kernels.column_mean(data.X_dev, xp=xp)
        spread = xp.mean(data.x_sq_norms) - xp.sum(mean * mean)
        return float(spread) / data.X_dev.shape[1] * tol
    return float(xp.mean(xp.var(data.X_dev, axis=0))) * tol


def _published(
    data: PreparedData, state: MiniBatchState, rng: np.random.Generator, compute_labels: bool
) -> MiniBatchFit:
    """The fitted attributes of ``state`` (and the labels and inertia of ``data`` when asked)."""
    xp = data.xp
    fit = MiniBatchFit(
        state,
        rng,
        data.placement.to_caller(state.centers),
        data.placement.name,
        int(data.X_dev.shape[1]),
    )
    if compute_labels:
        labels, _ = predict_labels(data.X_dev, state.centers, xp)
        fit.labels = data.placement.to_caller(xp.astype(labels, xp.int32))
        fit.inertia = float(
            kernels.weighted_inertia(data.X_dev, state.centers, labels, data.weights, xp=xp)
        )
    return fit


def fit_minibatch(
    X: Any, estimator: Any, sample_weight: Any, compute_labels: bool
) -> tuple[MiniBatchFit, int]:
    """Mini-batch steps over X with the parameters of ``estimator`` (a ``MiniBatchKMeans``);
    returns the fit and the passes over the data it made (``n_iter_``)."""
    X, caller_xp = check_array(X, sparse=True)
    params = MiniBatchParams.check(estimator, X.shape[0])
    k, batch_size = params.n_clusters, params.batch_size
    rng = make_rng(params.random_state)
    data = prepare_data(X, caller_xp, sample_weight, k, params.device)
    xp, n = data.xp, X.shape[0]
    tol = tolerance(data, params.tol)
    state = _first_state(params, data, initial_centers(params, data, X, rng))
    n_steps = (params.max_iter * n) // batch_size  # >= 1: batch_size <= n
    minibatch_loop(
        data.X_dev,
        data.weights_host,
        state,
        xp=xp,
        rng=rng,
        batch_size=batch_size,
        n_steps=n_steps,
        tol=tol,
        max_no_improvement=params.max_no_improvement,
        reassignment_ratio=params.reassignment_ratio,
        verbose=params.verbose,
    )
    fit = _published(data, state, rng, compute_labels)
    if not compute_labels:
        # scikit-learn's estimate: the smoothed mean batch inertia times the total weight.
        fit.inertia = float(state.ewa_inertia or 0.0) * data.total_weight
    return fit, int(math.ceil(state.n_steps * batch_size / n))


def partial_fit_minibatch(
    X: Any, estimator: Any, sample_weight: Any, previous: MiniBatchFit | None, compute_labels: bool
) -> MiniBatchFit:
    """One mini-batch step on all of X, going on from ``previous`` (or initialising on X: one
    start, from ``init_size`` of its rows, as scikit-learn's ``partial_fit``). No stopping rule
    is checked."""
    X, caller_xp = check_array(X, sparse=True)
    if previous is not None:
        check_n_features(X, previous.n_features, type(estimator).__name__)
        params, k, rng = None, int(previous.state.centers.shape[0]), previous.rng
    else:
        params = MiniBatchParams.check(estimator, X.shape[0])
        k, rng = params.n_clusters, make_rng(params.random_state)
    data = prepare_data(X, caller_xp, sample_weight, k, estimator.device)
    xp = data.xp
    if previous is None:
        state = _first_state(params, data, _one_start(params, data, X, rng))
    else:
        state = previous.state
    state.centers = xp.astype(data.placement.to_compute(state.centers), data.X_dev.dtype)
    state.weight_sums = data.placement.to_compute(state.weight_sums)
    new_centers, _ = minibatch_step(
        data.X_dev,
        data.weights,
        state,
        xp=xp,
        rng=rng,
        random_reassign=reassign_now(state, state.batch_size, k, xp),
        reassignment_ratio=estimator.reassignment_ratio,
        verbose=bool(estimator.verbose),
    )
    state.centers = new_centers
    state.n_steps += 1
    return _published(data, state, rng, compute_labels)
