"""The classes and functions ``gkmeans.accel`` puts in place of scikit-learn's.

``KMeans`` subclasses scikit-learn's own class, so parameters, validation, ``isinstance``,
``clone``, pipelines and searches are scikit-learn's. Its ``fit`` decides per call whether
gkmeans can run it as scikit-learn would (:mod:`gkmeans.accel._rules`); if so it follows
scikit-learn's ``KMeans.fit`` step by step (validation, centring, starting centres drawn by
scikit-learn's own code from scikit-learn's random stream) and hands the Lloyd runs to
:func:`gkmeans.k_means`; otherwise it calls scikit-learn's ``fit``. ``predict``, ``transform``
and ``score`` are scikit-learn's, on the fitted attributes it expects.

``MiniBatchKMeans.fit`` and ``partial_fit`` (:mod:`gkmeans.accel._minibatch`) and
``kmeans_plusplus`` (:mod:`gkmeans.accel._plusplus`) likewise follow scikit-learn's code, drawing
from scikit-learn's random stream in scikit-learn's order, with gkmeans doing the arithmetic;
``k_means`` runs scikit-learn's function, which builds the patched ``KMeans``.

Pickling: an instance pickles as scikit-learn's own class looked up by name when loaded
(``getattr(importlib.import_module("sklearn.cluster._kmeans"), "KMeans")``), with scikit-learn's
fitted state, so a process without accel loads a plain scikit-learn estimator.
"""

from __future__ import annotations

import copyreg
import functools
import importlib
from typing import Any

import numpy as np
import sklearn
from sklearn.base import _fit_context
from sklearn.cluster import _kmeans as sk_kmeans
from sklearn.utils import check_random_state
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from sklearn.utils.extmath import row_norms
from sklearn.utils.validation import (
    _check_sample_weight,
    _is_arraylike_not_scalar,
    check_array,
    validate_data,
)

from gkmeans.accel import _minibatch, _plusplus
from gkmeans.accel._report import record
from gkmeans.accel._rules import (
    common_reason,
    kmeans_fit_reason,
    minibatch_reason,
    weighted_tol,
)
from gkmeans.api import k_means as gkmeans_k_means

#: scikit-learn's own objects, as they were when this module was imported.
ORIGINAL_KMEANS = sk_kmeans.KMeans
ORIGINAL_MINIBATCH = sk_kmeans.MiniBatchKMeans
ORIGINAL_K_MEANS = sk_kmeans.k_means
ORIGINAL_KMEANS_PLUSPLUS = sk_kmeans.kmeans_plusplus
SKLEARN_VERSION = sklearn.__version__


class _Module:
    """Pickles as ``importlib.import_module(name)``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __reduce__(self) -> tuple:
        return (importlib.import_module, (self.name,))


class _ClassByName:
    """Pickles as ``getattr(importlib.import_module(module), name)``: the class is looked up when
    loaded (a reference to scikit-learn's class would fail pickle's identity check while the
    module's attribute is patched)."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __reduce__(self) -> tuple:
        return (getattr, (_Module(self.module), self.name))


def _reduce_to_sklearn(estimator: Any, original: type) -> tuple:
    """``__reduce__`` value that rebuilds ``estimator`` as an instance of ``original``."""
    cls = _ClassByName(original.__module__, original.__qualname__)
    state = estimator.__getstate__()
    if isinstance(state, dict):
        # scikit-learn stamps its version only on classes of its own modules; loading checks it.
        state = {**state, "_sklearn_version": SKLEARN_VERSION}
    return (copyreg._reconstructor, (cls, object, None), state)


class KMeans(ORIGINAL_KMEANS):
    """scikit-learn's ``KMeans`` (same parameters, attributes and methods), whose ``fit`` runs
    the Lloyd runs on gkmeans when gkmeans computes what scikit-learn computes."""

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
        """scikit-learn's ``KMeans.fit``, with the Lloyd runs on gkmeans where faithful."""
        reason = kmeans_fit_reason(self, X, SKLEARN_VERSION)
        if reason is None:
            reason = _fit_with_gkmeans(self, X, sample_weight)
            if reason is None:
                record("KMeans.fit", None)
                return self
        record("KMeans.fit", reason)
        return super().fit(X, y, sample_weight)

    def __reduce_ex__(self, protocol: Any) -> tuple:
        if type(self) is not KMeans:  # a user's subclass pickles as itself
            return super().__reduce_ex__(protocol)
        return _reduce_to_sklearn(self, ORIGINAL_KMEANS)


class MiniBatchKMeans(ORIGINAL_MINIBATCH):
    """scikit-learn's ``MiniBatchKMeans``, whose ``fit`` and ``partial_fit`` run the steps on
    gkmeans, with scikit-learn's draws, when gkmeans computes what scikit-learn computes."""

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
        """scikit-learn's ``MiniBatchKMeans.fit``, its steps on gkmeans where faithful."""
        reason = minibatch_reason(self, X, SKLEARN_VERSION)
        if reason is None:
            reason = _minibatch.fit(self, X, sample_weight)
            if reason is None:
                record("MiniBatchKMeans.fit", None)
                return self
        record("MiniBatchKMeans.fit", reason)
        return super().fit(X, y, sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
        """scikit-learn's ``MiniBatchKMeans.partial_fit``, its step on gkmeans where faithful."""
        reason = minibatch_reason(self, X, SKLEARN_VERSION)
        if reason is None:
            reason = _minibatch.partial_fit(self, X, sample_weight)
            if reason is None:
                record("MiniBatchKMeans.partial_fit", None)
                return self
        record("MiniBatchKMeans.partial_fit", reason)
        return super().partial_fit(X, y, sample_weight)

    def __reduce_ex__(self, protocol: Any) -> tuple:
        if type(self) is not MiniBatchKMeans:
            return super().__reduce_ex__(protocol)
        return _reduce_to_sklearn(self, ORIGINAL_MINIBATCH)


@functools.wraps(ORIGINAL_K_MEANS)
def k_means(*args: Any, **kwargs: Any) -> Any:
    # scikit-learn's function builds ``KMeans`` from its module, the patched class.
    return ORIGINAL_K_MEANS(*args, **kwargs)


@functools.wraps(ORIGINAL_KMEANS_PLUSPLUS)
def kmeans_plusplus(
    X: Any,
    n_clusters: Any,
    *,
    sample_weight: Any = None,
    x_squared_norms: Any = None,
    random_state: Any = None,
    n_local_trials: Any = None,
) -> Any:
    kwargs = {
        "sample_weight": sample_weight,
        "x_squared_norms": x_squared_norms,
        "random_state": random_state,
        "n_local_trials": n_local_trials,
    }
    reason = common_reason(X, SKLEARN_VERSION) or _plusplus.plusplus_reason(X, x_squared_norms)
    record("kmeans_plusplus", reason)
    if reason is None:
        return _plusplus.kmeans_plusplus(X, n_clusters, **kwargs)
    return ORIGINAL_KMEANS_PLUSPLUS(X, n_clusters, **kwargs)


#: What install() puts in place, by name.
REPLACEMENTS = {
    "KMeans": KMeans,
    "MiniBatchKMeans": MiniBatchKMeans,
    "k_means": k_means,
    "kmeans_plusplus": kmeans_plusplus,
}


def _fit_with_gkmeans(estimator: Any, X: Any, sample_weight: Any) -> str | None:
    """scikit-learn's ``KMeans.fit`` with gkmeans running the Lloyd runs; sets the fitted
    attributes and returns None, or returns why scikit-learn must fit instead (nothing set
    that scikit-learn's ``fit`` does not set again).

    Every step before the runs is scikit-learn's own code, in the order of its ``fit`` (1.9), so
    the starting centres are those scikit-learn would draw.
    """
    X = validate_data(
        estimator,
        X,
        accept_sparse="csr",
        dtype=[np.float64, np.float32],
        order="C",
        copy=estimator.copy_x,
        accept_large_sparse=False,
    )
    estimator._check_params_vs_input(X)
    random_state = check_random_state(estimator.random_state)
    sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
    tol, reason = weighted_tol(X, sample_weight, estimator.tol, estimator._tol)
    if reason is not None:
        return reason
    estimator._n_threads = _openmp_effective_n_threads()
    init = estimator.init
    init_is_array_like = _is_arraylike_not_scalar(init)
    if init_is_array_like:
        init = check_array(init, dtype=X.dtype, copy=True, order="C")
        estimator._validate_center_shape(X, init)
    # Centred as scikit-learn centres it, so that its draws see the same numbers.
    X_mean = X.mean(axis=0)
    X -= X_mean
    try:
        if init_is_array_like:
            init -= X_mean
        plusplus = isinstance(init, str) and init == "k-means++"
        norms = row_norms(X, squared=True) if plusplus else None
        starts = [
            estimator._init_centroids(
                X,
                x_squared_norms=norms,
                init=init,
                random_state=random_state,
                sample_weight=sample_weight,
            )
            for _ in range(estimator._n_init)
        ]
        unit = sample_weight[0] == 1 and np.ptp(sample_weight) == 0
        centers, labels, inertia, n_iter = gkmeans_k_means(
            X,
            estimator.n_clusters,
            # no weights rather than unit ones: gkmeans' unweighted passes are the faster ones
            sample_weight=None if unit else sample_weight,
            init=_Starts(starts),
            n_init=len(starts),
            max_iter=estimator.max_iter,
            tol=tol,
            random_state=0,  # unused: the starts are drawn above, relocation draws nothing
            return_n_iter=True,
        )
    finally:
        if not estimator.copy_x:
            X += X_mean  # scikit-learn centred the caller's array in place: restore it
    centers = np.asarray(centers, dtype=X.dtype)
    centers += X_mean
    estimator.cluster_centers_ = centers
    estimator._n_features_out = centers.shape[0]
    estimator.labels_ = np.asarray(labels, dtype=np.int32)
    estimator.inertia_ = float(inertia)
    estimator.n_iter_ = int(n_iter)
    return None


class _Starts:
    """An ``init`` callable for :func:`gkmeans.k_means` giving scikit-learn's starts in order."""

    def __init__(self, starts: list[Any]) -> None:
        self._starts = iter(starts)

    def __call__(self, X: Any, n_clusters: int, random_state: Any = None) -> Any:
        return next(self._starts)
