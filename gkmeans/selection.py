"""Choosing k: the elbow of the inertia curve (Kneedle), quality scores per k, the gap statistic.

The data are validated and moved to the compute device once; every k is then
fitted on the device-resident array.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from gkmeans import _kernels as kernels
from gkmeans import metrics as quality
from gkmeans._compat import array_namespace, to_numpy
from gkmeans._random import make_rng
from gkmeans._sparse import is_sparse_rows, refuse_sparse
from gkmeans._validation import (
    check_array,
    check_bool,
    check_float,
    check_int,
    check_sample_weight,
)
from gkmeans.device import resolve_placement
from gkmeans.estimator import KMeans

__all__ = [
    "elbow",
    "find_knee",
    "Knee",
    "ElbowResult",
    "gap_statistic",
    "GapResult",
    "SCORES",
    "SILHOUETTE_AUTO_SAMPLE",
]

#: Scores ``elbow`` can compute per k, and whether higher is better.
SCORES = {
    "silhouette": (quality.silhouette_score, True),
    "calinski_harabasz": (quality.calinski_harabasz_score, True),
    "davies_bouldin": (quality.davies_bouldin_score, False),
}

#: A knee is "clear" when the drop of log-inertia into it is at least this many times
#: the drop out of it. Data with no cluster structure follow inertia ~ k^(-2/d), for
#: which that ratio is log(k/(k-1)) / log((k+1)/k) <= log 2 / log 1.5 = 1.71 whatever d;
#: lattice effects on uniform data (a 2 x 2 grid in a square) reach about 3 (measured),
#: while separated blobs give 30 and more.
CLEAR_KNEE_RATIO = 5.0

#: ``elbow(..., sample_size="auto")`` computes the silhouette on this many random rows when X
#: has more. The exact silhouette compares every pair of rows (O(n^2)): on a shared 2-core
#: CPU 40,000 rows took 30-45 s and 10,000 rows 0.3-0.6 s (16 times fewer pairs), so 200,000
#: rows (25 times the pairs of 40,000) take many minutes per k. On those 40,000 blob rows
#: (8 features, k=6) the 10,000-row estimate was 0.4677 +- 0.0016 (mean and sd over 10 draws)
#: against the exact 0.4679.
SILHOUETTE_AUTO_SAMPLE = 10_000


@dataclass(frozen=True)
class Knee:
    """Where Kneedle found the knee of a curve, and whether it is a clear one."""

    index: int | None
    x: float | None
    clear: bool
    reason: str
    sharpness: float | None = None


def _kneedle_index(x: np.ndarray, y: np.ndarray, sensitivity: float) -> int | None:
    """Kneedle (Satopää et al. 2011) for a decreasing convex curve; None when no knee."""
    x_norm = (x - x.min()) / (x.max() - x.min())
    span = y.max() - y.min()
    if span <= 0:
        return None
    # A decreasing convex curve flipped into an increasing concave one.
    y_norm = 1.0 - (y - y.min()) / span
    difference = y_norm - x_norm
    # The knee is the point farthest above the chord (the global maximum of the
    # difference curve, so an early wobble cannot end the search), accepted only
    # if the curve then falls below Kneedle's threshold.
    knee = int(np.argmax(difference[1:-1])) + 1
    threshold = difference[knee] - sensitivity * float(np.mean(np.diff(x_norm)))
    return knee if np.any(difference[knee + 1 :] < threshold) else None


def find_knee(x: Iterable[float], y: Iterable[float], *, sensitivity: float = 1.0) -> Knee:
    """Find the knee of a decreasing, convex curve such as inertia against k.

    Kneedle (Satopää, Albrecht, Irwin & Raghavan 2011) finds the point farthest
    above the chord of the normalised curve, and accepts it only when the curve
    falls below a threshold (``sensitivity``) after it. The knee is then called
    *clear* when the drop in log(y) into it is at least :data:`CLEAR_KNEE_RATIO`
    times the drop out of it; curves without cluster structure, like inertia
    on uniform noise, are smooth power laws that never reach that ratio.

    Parameters
    ----------
    x : sequence of float, increasing
    y : sequence of float, positive
    sensitivity : float, default 1.0
        Kneedle's S: larger is more conservative.

    Returns
    -------
    Knee

    Examples
    --------
    >>> from gkmeans.selection import find_knee
    >>> knee = find_knee([1, 2, 3, 4, 5, 6], [100.0, 40.0, 10.0, 9.0, 8.5, 8.0])
    >>> knee.x, knee.clear
    (3.0, True)
    """
    x_arr, y_arr = np.asarray(list(x), dtype=np.float64), np.asarray(list(y), dtype=np.float64)
    check_float(sensitivity, "sensitivity", 0.0)
    if x_arr.shape != y_arr.shape or x_arr.ndim != 1 or x_arr.size < 3:
        msg = (
            f"find_knee needs x and y of the same length >= 3; got {x_arr.shape} and {y_arr.shape}"
        )
        raise ValueError(msg)
    if np.any(np.diff(x_arr) <= 0):
        raise ValueError("find_knee needs strictly increasing x")
    if np.any(y_arr <= 0):
        msg = f"find_knee needs a positive curve (it works on log y); got min(y)={y_arr.min()}"
        raise ValueError(msg)
    # Kneedle on log(y): inertia spans orders of magnitude, and on a linear scale the
    # chord is dominated by the first few k, which pulls the knee early (a 7-blob
    # curve gave 6); on the log scale the fall into the true k stands out.
    index = _kneedle_index(x_arr, np.log(y_arr), sensitivity)
    if index is None:
        return Knee(
            None, None, False, "no knee: the curve has no point that stands out from its chord"
        )
    if index + 1 >= y_arr.size:
        return Knee(
            index,
            float(x_arr[index]),
            False,
            "knee at the edge of the range: widen the range to confirm it",
        )
    drop_in = math.log(y_arr[index - 1] / y_arr[index])
    drop_out = math.log(y_arr[index] / y_arr[index + 1])
    sharpness = drop_in / drop_out if drop_out > 0 else float("inf")
    if sharpness >= CLEAR_KNEE_RATIO:
        return Knee(
            index, float(x_arr[index]), True, f"clear knee (sharpness {sharpness:.1f})", sharpness
        )
    return Knee(
        index,
        float(x_arr[index]),
        False,
        f"no clear knee: the curve bends smoothly (sharpness {sharpness:.1f} < {CLEAR_KNEE_RATIO})",
        sharpness,
    )


@dataclass(frozen=True)
class ElbowResult:
    """Inertia (and optional scores) for every k of a sweep, with the knee."""

    ks: list[int]
    inertias: list[float]
    fit_times: list[float]
    n_iters: list[int]
    knee: Knee
    scores: dict[str, list[float]] = field(default_factory=dict)
    #: Rows the silhouette was computed on (the same random rows for every k), or None
    #: when it used every row (or was not computed).
    silhouette_sample_size: int | None = None

    @property
    def k(self) -> int | None:
        """The k at a clear knee, else None (see ``knee.reason``)."""
        return int(self.knee.x) if self.knee.clear and self.knee.x is not None else None

    def best_k(self, score: str) -> int:
        """The k with the best value of ``score`` (max silhouette / CH, min Davies-Bouldin)."""
        if score not in self.scores:
            msg = f"score {score!r} was not computed; this sweep has {sorted(self.scores)}"
            raise ValueError(msg)
        higher_is_better = SCORES[score][1]
        pairs = [(k, v) for k, v in zip(self.ks, self.scores[score]) if not math.isnan(v)]
        choose = max if higher_is_better else min
        return choose(pairs, key=lambda pair: pair[1])[0]

    def __str__(self) -> str:
        lines = [
            f"{'k':>4} {'inertia':>14} {'time s':>8}"
            + "".join(f" {name:>18}" for name in self.scores)
        ]
        for i, k in enumerate(self.ks):
            row = f"{k:>4} {self.inertias[i]:>14.6g} {self.fit_times[i]:>8.3f}"
            row += "".join(f" {self.scores[name][i]:>18.6g}" for name in self.scores)
            lines.append(row)
        if self.silhouette_sample_size is not None and "silhouette" in self.scores:
            lines.append(
                f"silhouette: estimated on {self.silhouette_sample_size} random rows (the same "
                "for every k); sample_size=None computes it on every row"
            )
        lines.append(
            f"knee: k={self.knee.x:g} — {self.knee.reason}"
            if self.knee.x is not None
            else f"knee: {self.knee.reason}"
        )
        return "\n".join(lines)


def _k_values(k_range: Iterable[int], n_samples: int) -> list[int]:
    ks = [check_int(k, "k", 1) for k in k_range]
    if len(ks) < 3 or any(b <= a for a, b in zip(ks, ks[1:])):
        msg = f"k_range must hold at least 3 increasing values; got {ks}"
        raise ValueError(msg)
    if ks[-1] > n_samples:
        msg = f"k_range goes up to {ks[-1]} but there are only n_samples={n_samples} samples"
        raise ValueError(msg)
    return ks


def _silhouette_sample(sample_size: Any, n_samples: int) -> int | None:
    """The rows ``elbow`` scores the silhouette on: an int, or None for every row."""
    if sample_size == "auto":
        return SILHOUETTE_AUTO_SAMPLE if n_samples > SILHOUETTE_AUTO_SAMPLE else None
    if sample_size is None:
        return None
    if isinstance(sample_size, str):
        msg = f"sample_size={sample_size!r} must be 'auto', None or an int"
        raise ValueError(msg)
    sample_size = check_int(sample_size, "sample_size", 2)
    if sample_size > n_samples:
        msg = f"sample_size={sample_size} must be <= n_samples={n_samples}"
        raise ValueError(msg)
    return None if sample_size == n_samples else sample_size


def _sample_generator(rng: np.random.Generator) -> np.random.Generator:
    """A generator for the silhouette rows that leaves ``rng``'s stream (the fits') as it is, so
    a seed gives the same fits whether or not the silhouette is sampled."""
    try:
        return rng.spawn(1)[0]
    except TypeError:  # a bit generator without a SeedSequence: draw from the stream itself
        return rng


def elbow(
    X: Any,
    k_range: Iterable[int] = range(1, 11),
    *,
    init: Any = "k-means++",
    n_init: int | str = "auto",
    max_iter: int = 300,
    tol: float = 1e-4,
    random_state: Any = None,
    sample_weight: Any = None,
    device: str | None = None,
    scores: Iterable[str] = (),
    sensitivity: float = 1.0,
    sample_size: int | str | None = "auto",
    verbose: bool = False,
) -> ElbowResult:
    """Fit k-means for every k and find the elbow of the inertia curve.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    k_range : iterable of int, default range(1, 11)
        At least 3 increasing values.
    init, n_init, max_iter, tol, random_state, device
        As for :class:`gkmeans.KMeans`; the data move to the device once.
    sample_weight : array of shape (n_samples,), optional
    scores : iterable of {"silhouette", "calinski_harabasz", "davies_bouldin"}
        Also score every k >= 2 (NaN for k = 1) so ``best_k(score)`` can recommend one.
        Calinski-Harabasz and Davies-Bouldin cost O(n k) per k; the silhouette O(n^2)
        (see ``sample_size``).
    sensitivity : float, default 1.0
        Kneedle's sensitivity S.
    sample_size : "auto", int or None, default "auto"
        Rows the silhouette is computed on, drawn at random once and shared by every k
        (as scikit-learn's ``silhouette_score(..., sample_size=)``). "auto":
        :data:`SILHOUETTE_AUTO_SAMPLE` (10,000) rows when X has more, every row
        otherwise; None: every row (exact, O(n^2) per k, in blocks of rows on the
        compute device); an int: that many rows. The draw comes from a child of
        ``random_state``'s generator, so the fits are the same either way.
        ``ElbowResult.silhouette_sample_size`` records it.
    verbose : bool, default False
        Print one line per k to standard error as the sweep goes (k, inertia, seconds).

    Returns
    -------
    ElbowResult
        ``k`` is the k at a clear knee, or None with ``knee.reason`` saying why.

    Examples
    --------
    >>> from gkmeans.datasets import make_blobs
    >>> from gkmeans.selection import elbow
    >>> X, _, _ = make_blobs(600, 2, 4, cluster_std=0.5, random_state=0)
    >>> elbow(X, range(1, 9), random_state=0).k
    4
    """
    X, caller_xp = check_array(X, sparse=True)  # sparse rows stay sparse (fits and scores)
    ks = _k_values(k_range, X.shape[0])
    scores = tuple(scores)
    unknown = [name for name in scores if name not in SCORES]
    if unknown:
        msg = f"scores {unknown} are not known; expected some of {sorted(SCORES)}"
        raise ValueError(msg)
    check_bool(verbose, "verbose")
    silhouette_rows = _silhouette_sample(sample_size, X.shape[0])
    placement = resolve_placement(X, caller_xp, device, work=X.shape[0] * X.shape[1] * ks[-1])
    X_dev = placement.to_compute(X)  # moved once, reused for every k
    xp = placement.xp
    weights = None
    if sample_weight is not None:
        weights, _ = check_sample_weight(sample_weight, X.shape[0], xp, X_dev.dtype, X_dev.device)
    rng = make_rng(random_state)
    pick = X_pick = None
    if silhouette_rows is not None and "silhouette" in scores:
        pick = xp.asarray(
            quality.sample_rows(X.shape[0], silhouette_rows, _sample_generator(rng)),
            device=X_dev.device,
        )
        X_pick = (
            kernels.take_rows(X_dev, pick, xp=xp)
            if is_sparse_rows(X_dev)
            else xp.take(X_dev, pick, axis=0)
        )
    inertias, times, iters = [], [], []
    score_values: dict[str, list[float]] = {name: [] for name in scores}
    for k in ks:
        model = KMeans(
            k, init=init, n_init=n_init, max_iter=max_iter, tol=tol, random_state=rng, device="auto"
        )
        start = time.perf_counter()
        model.fit(X_dev, sample_weight=weights)
        times.append(time.perf_counter() - start)
        inertias.append(model.inertia_)
        iters.append(model.n_iter_)
        for name in scores:
            rows, labels = X_dev, model.labels_
            if name == "silhouette" and pick is not None:
                rows, labels = X_pick, xp.take(labels, pick, axis=0)
            n_found = int(array_namespace(labels).unique_values(labels).shape[0])
            score_values[name].append(
                SCORES[name][0](rows, labels) if 2 <= n_found < rows.shape[0] else float("nan")
            )
        if verbose:
            print(
                f"elbow: k={k} inertia={model.inertia_:.6g} fit {times[-1]:.2f} s"
                + (f", scores {time.perf_counter() - start - times[-1]:.2f} s" if scores else ""),
                file=sys.stderr,
                flush=True,
            )
    return ElbowResult(
        ks,
        inertias,
        times,
        iters,
        _sweep_knee(ks, inertias, sensitivity),
        score_values,
        silhouette_rows if "silhouette" in scores else None,
    )


def _sweep_knee(ks: list[int], inertias: list[float], sensitivity: float) -> Knee:
    """The knee of an elbow sweep. An inertia of exactly 0 (every point on a centre: data of few
    distinct points, such as binary or categorical codes) ends the curve there, the sharpest knee
    there is; Kneedle, which works on log(inertia), cannot take it."""
    first_zero = next((i for i, value in enumerate(inertias) if value <= 0), None)
    if first_zero is None:
        return find_knee(ks, inertias, sensitivity=sensitivity)
    k = ks[first_zero]
    return Knee(
        first_zero,
        float(k),
        True,
        f"inertia is 0 from k={k} on: every point sits on a centre (the data "
        f"hold at most {k} distinct point{'' if k == 1 else 's'})",
        float("inf"),
    )


@dataclass(frozen=True)
class GapResult:
    """Gap statistic per k (Tibshirani, Walther & Hastie 2001) and the k it picks."""

    ks: list[int]
    gaps: list[float]
    std_errors: list[float]
    log_inertias: list[float]
    reference_log_inertias: list[float]
    k: int | None
    k_max_gap: int


def gap_statistic(
    X: Any,
    k_range: Iterable[int] = range(1, 11),
    *,
    n_references: int = 10,
    reference: str = "box",
    n_init: int | str = "auto",
    random_state: Any = None,
    device: str | None = None,
) -> GapResult:
    """The gap statistic: how much lower log(inertia) is than on structureless reference data.

    ``Gap(k) = mean_b log W*_kb - log W_k`` over ``n_references`` uniform reference
    sets; the chosen k is the smallest with ``Gap(k) >= Gap(k+1) - s_{k+1}``, where
    ``s = sd * sqrt(1 + 1/B)`` (Tibshirani's rule, returned as ``k``; None when no k
    qualifies). That rule is conservative when blobs form groups: it stops at the
    first level of the hierarchy; ``k_max_gap`` (the k of the largest gap) is the
    other common reading. ``reference="box"`` (default) draws the references
    uniformly in the bounding box of X; ``"pca"`` in the box of X rotated onto its
    principal axes (on blob data it stopped at k=1 more often, measured).

    Examples
    --------
    >>> from gkmeans.datasets import make_blobs
    >>> from gkmeans.selection import gap_statistic
    >>> X, _, _ = make_blobs(300, 2, 3, cluster_std=0.3, random_state=0)
    >>> gap_statistic(X, range(1, 7), n_references=5, random_state=0).k
    3
    """
    refuse_sparse(
        X,
        "gap_statistic",
        "its reference data sets are dense, uniform in the bounding box of X (n_samples x "
        "n_features each); use elbow(), which takes sparse rows, or give a dense array",
    )
    X, caller_xp = check_array(X)
    ks = _k_values(k_range, X.shape[0])
    n_references = check_int(n_references, "n_references", 1)
    if reference not in ("pca", "box"):
        msg = f"reference={reference!r} is not recognised; expected 'pca' or 'box'"
        raise ValueError(msg)
    rng = make_rng(random_state)
    placement = resolve_placement(X, caller_xp, device, work=X.shape[0] * X.shape[1] * ks[-1])
    X_dev = placement.to_compute(X)
    xp = placement.xp
    # The reference box is built on the host: d x d linear algebra and uniform draws.
    host = np.asarray(to_numpy(X), dtype=np.float64)
    centred = host - host.mean(0)
    rotation = (
        np.linalg.svd(centred, full_matrices=False)[2].T
        if reference == "pca"
        else np.eye(host.shape[1])
    )
    projected = centred @ rotation
    low, high = projected.min(0), projected.max(0)

    def log_w(data: Any, k: int) -> float:
        model = KMeans(k, n_init=n_init, random_state=rng, device="auto").fit(data)
        return math.log(max(model.inertia_, np.finfo(np.float64).tiny))

    observed = [log_w(X_dev, k) for k in ks]
    ref_logs = np.empty((n_references, len(ks)))
    for b in range(n_references):
        sample = rng.uniform(low, high, size=projected.shape) @ rotation.T + host.mean(0)
        sample_dev = xp.asarray(sample, dtype=X_dev.dtype, device=X_dev.device)
        ref_logs[b] = [log_w(sample_dev, k) for k in ks]
    gaps = ref_logs.mean(0) - np.asarray(observed)
    errors = ref_logs.std(0) * math.sqrt(1 + 1 / n_references)
    chosen = next(
        (ks[i] for i in range(len(ks) - 1) if gaps[i] >= gaps[i + 1] - errors[i + 1]), None
    )
    return GapResult(
        ks,
        gaps.tolist(),
        errors.tolist(),
        observed,
        ref_logs.mean(0).tolist(),
        chosen,
        ks[int(np.argmax(gaps))],
    )
