"""The parameters of a k-means fit, checked once and carried through the pipelines.

:meth:`KMeansParams.check` turns what a user gave (``KMeans(...)``'s attributes or
``k_means``'s keywords) into one frozen object; nothing below it checks them again.
Checks that need the data (``n_clusters <= n_samples``, explicit centres' shape) run
where the data is seen.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from gkmeans._compat import is_array_api_obj
from gkmeans._kernels import PRECISIONS
from gkmeans._validation import (
    check_array,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_n_clusters_vs_samples,
)
from gkmeans.algorithms.batched_restarts import BATCHABLE_POLICIES
from gkmeans.algorithms.bounds_choice import ALGORITHMS
from gkmeans.algorithms.empty_clusters import EMPTY_CLUSTER_POLICIES
from gkmeans.algorithms.init_methods import AUTO_N_INIT, INIT_METHODS
from gkmeans.exceptions import InvalidParameterError


def is_explicit_init(init: Any) -> bool:
    """Whether ``init`` is an array-like of centres (not a method name or callable)."""
    return not isinstance(init, str) and not callable(init)


def check_init(init: Any) -> None:
    """``init`` must be a known method name, a callable or an array-like."""
    if isinstance(init, str):
        check_choice(init, "init", tuple(INIT_METHODS))
    elif not callable(init) and not is_array_api_obj(init) and not hasattr(init, "__len__"):
        msg = (
            f"init={init!r} must be one of {tuple(INIT_METHODS)}, a callable or an array of shape "
            "(n_clusters, n_features)"
        )
        raise InvalidParameterError(msg)


def resolve_n_init(n_init: Any, init: Any, estimator_name: str, stacklevel: int = 4) -> int:
    """``n_init="auto"`` as scikit-learn: 1 for k-means++ and explicit centres, 10 otherwise.

    Explicit centres always give one run (with a RuntimeWarning if more were asked).
    """
    if isinstance(n_init, str):
        check_choice(n_init, "n_init", ("auto",))
        if isinstance(init, str):
            return AUTO_N_INIT[init]
        return 10 if callable(init) else 1
    n_init = check_int(n_init, "n_init", 1)
    if is_explicit_init(init) and n_init != 1:
        warnings.warn(
            "Explicit initial center position passed: performing only one init in "
            f"{estimator_name} instead of n_init={n_init}.",
            RuntimeWarning,
            stacklevel=stacklevel,
        )
        return 1
    return n_init


def check_centers_shape(centers: Any, n_clusters: int, n_features: int) -> Any:
    """Validate initial centres (explicit or from a callable): finite, numeric,
    shape (n_clusters, n_features)."""
    centers, _ = check_array(centers, name="init", dtype=None)
    if centers.shape[0] != n_clusters:
        msg = (
            f"The shape of the initial centers {tuple(centers.shape)} does not match "
            f"the number of clusters {n_clusters}."
        )
        raise ValueError(msg)
    if centers.shape[1] != n_features:
        msg = (
            f"The shape of the initial centers {tuple(centers.shape)} does not match "
            f"the number of features of the data {n_features}."
        )
        raise ValueError(msg)
    return centers


def check_batch_restarts(batch_restarts: Any, empty_cluster: str) -> Any:
    """``batch_restarts``: "auto", True or False; True cannot follow a policy that changes a run's
    k."""
    if isinstance(batch_restarts, str):
        check_choice(batch_restarts, "batch_restarts", ("auto",))
        return batch_restarts
    if not isinstance(batch_restarts, (bool, np.bool_)):
        raise InvalidParameterError(
            f"batch_restarts={batch_restarts!r} must be 'auto', True or False"
        )
    if batch_restarts and empty_cluster not in BATCHABLE_POLICIES:
        msg = (
            f"batch_restarts=True cannot follow empty_cluster={empty_cluster!r} (a run would "
            f"change its k); use one of {BATCHABLE_POLICIES} or batch_restarts=False"
        )
        raise InvalidParameterError(msg)
    return bool(batch_restarts)


@dataclass(frozen=True)
class KMeansParams:
    """Checked parameters of a k-means fit (the names and meanings of :class:`gkmeans.KMeans`).

    ``n_init`` is the resolved number of runs; ``init`` a method name, a callable or the
    caller's array-like of centres (its shape is checked against the data). Build it with
    :meth:`check`.
    """

    n_clusters: int
    init: Any
    n_init: int
    max_iter: int
    tol: float
    verbose: bool
    random_state: Any
    algorithm: str
    device: Any
    empty_cluster: str
    batch_restarts: Any
    precision: str
    copy_x: bool
    estimator_name: str
    history: bool = False

    @classmethod
    def check(
        cls,
        *,
        n_clusters: Any,
        init: Any = "k-means++",
        n_init: Any = "auto",
        max_iter: Any = 300,
        tol: Any = 1e-4,
        verbose: Any = 0,
        random_state: Any = None,
        algorithm: Any = "auto",
        device: Any = None,
        empty_cluster: Any = "relocate",
        batch_restarts: Any = "auto",
        precision: Any = "exact",
        copy_x: Any = True,
        estimator_name: str = "KMeans",
        history: Any = False,
    ) -> KMeansParams:
        """Check every parameter and return them as one object.

        Raises
        ------
        InvalidParameterError
            Naming the first parameter with a wrong type or value and what was expected.
        """
        check_choice(precision, "precision", PRECISIONS)
        copy_x = check_bool(copy_x, "copy_x")
        history = check_bool(history, "history")
        n_clusters = check_int(n_clusters, "n_clusters", 1)
        max_iter = check_int(max_iter, "max_iter", 1)
        tol = check_float(tol, "tol", 0.0)
        check_choice(algorithm, "algorithm", ALGORITHMS)
        check_choice(empty_cluster, "empty_cluster", EMPTY_CLUSTER_POLICIES)
        check_init(init)
        verbose = bool(
            check_int(int(verbose) if isinstance(verbose, bool) else verbose, "verbose", 0)
        )
        batch_restarts = check_batch_restarts(batch_restarts, empty_cluster)
        if algorithm == "elkan" and n_clusters == 1:
            warnings.warn(
                "algorithm='elkan' doesn't make sense for a single cluster. Using 'lloyd' instead.",
                RuntimeWarning,
                stacklevel=4,
            )
        runs = resolve_n_init(n_init, init, estimator_name, stacklevel=4)
        return cls(
            n_clusters=n_clusters,
            init=init,
            n_init=runs,
            max_iter=max_iter,
            tol=tol,
            verbose=verbose,
            random_state=random_state,
            algorithm=algorithm,
            device=device,
            empty_cluster=empty_cluster,
            batch_restarts=batch_restarts,
            precision=precision,
            copy_x=copy_x,
            estimator_name=estimator_name,
            history=history,
        )

    @classmethod
    def from_estimator(cls, estimator: Any) -> KMeansParams:
        """:meth:`check` of the parameters of ``estimator`` (a ``KMeans``, read from its attributes
        of the same names; a subclass's own extra parameters are not read)."""
        names = [
            name for name in inspect.signature(cls.check).parameters if name != "estimator_name"
        ]
        options = {name: getattr(estimator, name) for name in names}
        return cls.check(**options, estimator_name=type(estimator).__name__)


#: Restarts ``n_init="auto"`` gives a mini-batch fit (scikit-learn's ``default_n_init=3``): one for
#: the methods that already spread the centres, three for the others and for a callable.
MINIBATCH_AUTO_N_INIT = 3


def minibatch_n_init(n_init: Any, init: Any, estimator_name: str, stacklevel: int) -> int:
    """``n_init`` of a mini-batch fit as scikit-learn's ``MiniBatchKMeans`` resolves it: "auto" is 1
    for k-means++ (and k-means||) and explicit centres, 3 otherwise; explicit centres always give
    one run (with a RuntimeWarning if more were asked). ``stacklevel`` is the one that names the
    user's line from this function's caller."""
    if isinstance(n_init, str):
        check_choice(n_init, "n_init", ("auto",))
        if isinstance(init, str):
            return 1 if AUTO_N_INIT[init] == 1 else MINIBATCH_AUTO_N_INIT
        return MINIBATCH_AUTO_N_INIT if callable(init) else 1
    return resolve_n_init(n_init, init, estimator_name, stacklevel=stacklevel + 2)


def minibatch_init_size(
    init_size: Any, batch_size: int, n_clusters: int, n_samples: int, stacklevel: int
) -> int:
    """Rows a mini-batch start is drawn from, by scikit-learn's rule: ``3 * batch_size`` by default
    (``3 * n_clusters`` if that is fewer than ``n_clusters``); a given value below ``n_clusters``
    warns and becomes ``3 * n_clusters``; never more than ``n_samples``. ``stacklevel`` is the one
    that names the user's line from this function's caller."""
    if init_size is None:
        init_size = 3 * batch_size
        if init_size < n_clusters:
            init_size = 3 * n_clusters
    else:
        init_size = check_int(init_size, "init_size", 1)
        if init_size < n_clusters:
            warnings.warn(
                f"init_size={init_size} should be larger than n_clusters={n_clusters}. Setting it "
                "to min(3*n_clusters, n_samples)",
                RuntimeWarning,
                stacklevel=stacklevel + 1,
            )
            init_size = 3 * n_clusters
    return min(init_size, n_samples)


@dataclass(frozen=True)
class MiniBatchParams:
    """Checked parameters of a mini-batch fit whose data has ``n_samples`` rows
    (the names and meanings of :class:`gkmeans.MiniBatchKMeans`); build it with :meth:`check`.
    ``n_init`` is the resolved number of starts, ``init_size`` the resolved number of rows."""

    n_clusters: int
    init: Any
    n_init: int
    batch_size: int
    init_size: int
    max_iter: int
    tol: float
    max_no_improvement: int | None
    reassignment_ratio: float
    verbose: bool
    random_state: Any
    device: Any
    estimator_name: str

    @classmethod
    def check(cls, estimator: Any, n_samples: int) -> MiniBatchParams:
        """The parameters of a ``MiniBatchKMeans`` (read from its attributes) for data of
        ``n_samples`` rows. Called from ``fit`` and ``partial_fit`` (through one pipeline
        function), so its warnings point at the caller of those: ``stacklevel=4`` seen from here."""
        name = type(estimator).__name__
        k = check_int(estimator.n_clusters, "n_clusters", 1)
        check_n_clusters_vs_samples(k, n_samples)
        check_init(estimator.init)
        batch_size = min(check_int(estimator.batch_size, "batch_size", 1), n_samples)
        no_improvement = estimator.max_no_improvement
        if no_improvement is not None:
            no_improvement = check_int(no_improvement, "max_no_improvement", 0)
        verbose = estimator.verbose
        verbose = check_int(int(verbose) if isinstance(verbose, bool) else verbose, "verbose", 0)
        return cls(
            n_clusters=k,
            init=estimator.init,
            n_init=minibatch_n_init(estimator.n_init, estimator.init, name, stacklevel=4),
            batch_size=batch_size,
            init_size=minibatch_init_size(
                estimator.init_size, batch_size, k, n_samples, stacklevel=4
            ),
            max_iter=check_int(estimator.max_iter, "max_iter", 1),
            tol=check_float(estimator.tol, "tol", 0.0),
            max_no_improvement=no_improvement,
            reassignment_ratio=check_float(estimator.reassignment_ratio, "reassignment_ratio", 0.0),
            verbose=bool(verbose),
            random_state=estimator.random_state,
            device=estimator.device,
            estimator_name=name,
        )
