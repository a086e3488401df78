"""``KMeans`` and ``MiniBatchKMeans``: drop-ins for scikit-learn's estimators on any Array API
backend.

The estimators hold parameters and fitted attributes and follow scikit-learn's contract; the
work goes through one router (:func:`gkmeans.pipelines.router.route`) to the pipeline that
fits the input: in memory, streamed, or on Dask.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gkmeans import persistence
from gkmeans._params import ParamsMixin
from gkmeans._validation import feature_names
from gkmeans.exceptions import NotFittedError, sklearn_compatible
from gkmeans.pipelines.in_memory import KMeansFit, initial_centers
from gkmeans.pipelines.minibatch_fit import fit_minibatch, partial_fit_minibatch
from gkmeans.pipelines.params import KMeansParams
from gkmeans.pipelines.router import FittedModel, Route, in_memory, route


class KMeans(ParamsMixin):
    """K-means clustering (Lloyd), on NumPy, CuPy, PyTorch or any Array API library.

    Same parameters, attributes and behaviour as ``sklearn.cluster.KMeans``,
    plus ``device`` and ``empty_cluster``. Fitted arrays come back in the
    namespace and on the device of the data given to ``fit``.

    Parameters
    ----------
    n_clusters : int, default 8
        Number of clusters.
    init : {"k-means++", "k-means||", "random", "random-box", "farthest-first"}, callable or \
        array of shape (n_clusters, n_features)
        "k-means++": greedy k-means++ (``2 + int(ln k)`` local trials).
        "k-means||": scalable k-means++ (Bahmani et al. 2012): a few rounds that each
        sample about ``2 k`` candidates at once, reduced to k centres by weighted
        k-means++; fewer passes over X than k-means++ for large k or streamed data.
        "random": ``n_clusters`` distinct data points (weighted draw).
        "random-box": uniform points in the data's bounding box.
        "farthest-first": farthest-first traversal from a random first point.
        A callable is called as ``init(X, n_clusters, random_state=rng)`` with a
        ``numpy.random.Generator`` and must return the centres.
    n_init : "auto" or int, default "auto"
        Number of runs from different starts; the lowest inertia wins. "auto":
        1 for "k-means++", "k-means||" and explicit centres, 10 otherwise.
    max_iter : int, default 300
        Maximum Lloyd iterations per run.
    tol : float, default 1e-4
        Stop when the sum of squared centre shifts is at most ``tol`` times the
        mean per-feature variance of X (weighted by ``sample_weight``). A run
        also stops as soon as no label changes.
    verbose : int, default 0
        Print the inertia of every iteration.
    random_state : None, int, numpy.random.Generator or RandomState
        Seeds the host generator behind every random draw, so a seed gives
        the same start on every device.
    copy_x : bool, default True
        Whether gkmeans may copy X. It never modifies X; with True, data of at most
        64 MiB (and an eighth of free memory) is shifted by its mean once, into a
        copy, rather than block by block in every pass (the same rows, faster);
        False never copies it.
    algorithm : {"auto", "lloyd", "elkan", "hamerly", "yinyang"}, default "auto"
        "lloyd" computes every distance in every iteration. "hamerly", "elkan" and
        "yinyang" skip the distances that bounds (triangle inequality) prove cannot change
        a label: the same labels as Lloyd at every iteration (up to ties within
        rounding), hence the same result, in less time where many are skipped. "elkan"
        keeps n_samples x n_clusters bounds and runs "yinyang" where they would not fit in
        0.3 x X + 64 MiB. "auto" chooses from the data's shape and device by measured
        crossovers (see the user guide's "Algorithms" page). Batched restarts and
        reduced ``precision`` run Lloyd.
    device : {"auto", "cpu", "gpu", "cuda:N"} or None, default None
        Where to compute. None reads ``GKMEANS_DEVICE``, else "auto": data on a
        GPU stays there; NumPy data moves to a GPU only for large problems.
    empty_cluster : {"relocate", "random", "drop", "error"}, default "relocate"
        What to do when a cluster loses all its points: move its centre to the
        points farthest from their centres (scikit-learn's rule), re-draw it
        from the data, drop it (fewer clusters, with a warning) or raise
        :class:`~gkmeans.exceptions.EmptyClusterError`.
    batch_restarts : "auto" or bool, default "auto"
        Run the ``n_init`` restarts together, as one batched computation (X read once per
        iteration for all runs; one host synchronisation per iteration), instead of one
        after another. Same starts, same results. "auto": on a GPU always; on the CPU when a
        run is small (``n_samples * n_clusters <= 20,000``), where it measured faster.
        Not with ``empty_cluster="drop"``.
    precision : {"exact", "tf32", "bf16"}, default "exact"
        "exact" computes in the data's dtype. "tf32" / "bf16" let the distance products of
        float32 data on a CUDA GPU (compute capability 8.0+, CuPy or PyTorch) run on tensor
        cores in that format: faster, with distances good to about 1e-3 relative, so points
        near a boundary may change cluster. Elsewhere the fit stays exact. ``precision_``
        says which was used. Final centres and ``inertia_`` are computed from the labels
        with exact arithmetic.
    history : bool, default False
        Record the centres at every iteration of the winning run into ``history_`` (one copy
        of ``n_clusters x n_features`` numbers to the host per iteration; False costs nothing).
        In-memory, streamed and Dask fits alike.

    Attributes
    ----------
    cluster_centers_ : array of shape (n_clusters, n_features)
    labels_ : int32 array of shape (n_samples,)
    inertia_ : float
        Sum of weighted squared distances of the samples to their centre.
    n_iter_ : int
        Iterations of the best run.
    n_distance_evals_ : int
        Point-to-centre distances the best run computed (Lloyd:
        ``n_samples * n_clusters * n_iter_``); compare with that figure for the share skipped.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names.
    device_ : str
        Where the fit ran ("cpu" or "cuda:N").
    precision_ : str
        The precision of the fit's distance products ("exact" unless reduced precision was
        asked for and available).
    history_ : FitHistory
        Only with ``history=True``: ``centers`` of shape ``(n_iter_ + 1, n_clusters, n_features)``,
        the starting centres then those after every iteration, ``inertia`` of each, and the
        final ``labels``, as NumPy arrays (see :class:`gkmeans.algorithms.history.FitHistory`);
        drawn by :func:`gkmeans.plot.plot_history` and :func:`gkmeans.plot.animate_fit`.

    Examples
    --------
    >>> import numpy as np
    >>> from gkmeans import KMeans
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> km = KMeans(n_clusters=2, random_state=0).fit(X)
    >>> sorted(km.cluster_centers_[:, 0].tolist())
    [1.0, 10.0]
    >>> bool(km.predict(np.array([[0, 0], [12, 3]]))[0] != km.predict(np.array([[12, 3]]))[0])
    True
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init: Any = "k-means++",
        n_init: int | str = "auto",
        max_iter: int = 300,
        tol: float = 1e-4,
        verbose: int = 0,
        random_state: Any = None,
        copy_x: bool = True,
        algorithm: str = "auto",
        device: str | None = None,
        empty_cluster: str = "relocate",
        batch_restarts: bool | str = "auto",
        precision: str = "exact",
        history: bool = False,
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.copy_x = copy_x
        self.algorithm = algorithm
        self.device = device
        self.empty_cluster = empty_cluster
        self.batch_restarts = batch_restarts
        self.precision = precision
        self.history = history

    def __sklearn_tags__(self) -> Any:
        """Estimator tags for scikit-learn's tooling (imports scikit-learn, which asked for
        them)."""
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type="clusterer",
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(preserves_dtype=["float64", "float32"]),
            input_tags=InputTags(sparse=True, allow_nan=False),
            array_api_support=True,
            non_deterministic=False,
        )

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "cluster_centers_")

    # -------------------------------------------------------------------- fit
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> KMeans:
        """Compute k-means clustering.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            Training data: any Array API array or array-like; integers become float64.
        y : ignored
        sample_weight : array of shape (n_samples,), optional
            Non-negative weight of every sample (used by init, update and inertia).

        Returns
        -------
        self : KMeans
        """
        return self._fit(X, sample_weight)

    def _fit(self, X: Any, sample_weight: Any = None, progress: Any = None) -> KMeans:
        """``fit``, with an optional ``progress(run, iteration, max_iter)`` callback (the CLI's
        bar)."""
        params = KMeansParams.from_estimator(self)
        names = feature_names(X)
        result = route(X, sample_weight, params.device, params.n_clusters, "fit").fit(
            params, progress
        )
        return self._set_fitted(result, names)

    def _set_fitted(self, result: KMeansFit, names: Any) -> KMeans:
        """The fitted attributes, set in one place for in-memory, streamed and Dask fits."""
        self.cluster_centers_ = result.centers
        self.labels_ = result.labels
        self.inertia_ = result.inertia
        self.n_iter_ = result.n_iter
        evals = result.n_distance_evals
        k = int(result.centers.shape[0])
        self.n_distance_evals_ = (
            int(result.labels.shape[0]) * k * result.n_iter if evals is None else int(evals)
        )
        self.n_features_in_ = int(result.centers.shape[1])
        self.device_ = result.device
        self.precision_ = result.precision
        self._n_init = result.n_init
        if result.history is not None:
            self.history_ = result.history
        elif hasattr(self, "history_"):
            del self.history_
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
        """Fit, then return the labels of the training data (``labels_``)."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def fit_transform(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
        """Fit, then return the distances of the training data to every centre."""
        return self.fit(X, sample_weight=sample_weight).transform(X)

    # ---------------------------------------------------------------- predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "cluster_centers_"):
            msg = (
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )
            raise sklearn_compatible(NotFittedError)(msg)

    def _route(self, X: Any, sample_weight: Any, method: str) -> Route:
        """How ``X`` is processed by ``method`` (checks that the model is fitted first)."""
        self._check_fitted()
        return route(X, sample_weight, self.device, self.cluster_centers_.shape[0], method)

    def _fitted_model(self) -> FittedModel:
        return FittedModel(
            centers=self.cluster_centers_,
            n_features_in=self.n_features_in_,
            feature_names_in=getattr(self, "feature_names_in_", None),
            precision=getattr(self, "precision", "exact"),
            device=self.device,
            estimator_name=type(self).__name__,
        )

    def predict(self, X: Any) -> Any:
        """Index of the closest cluster centre for each sample.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)

        Returns
        -------
        labels : int32 array of shape (n_samples,), in X's namespace and device
        """
        return self._route(X, None, "predict").predict(self._fitted_model())

    def transform(self, X: Any) -> Any:
        """Euclidean distance of each sample to every cluster centre.

        Returns
        -------
        distances : array of shape (n_samples, n_clusters), in X's dtype, namespace and device
        """
        return self._route(X, None, "transform").transform(self._fitted_model())

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Opposite of the inertia of X on the fitted centres (higher is better)."""
        return self._route(X, sample_weight, "score").score(self._fitted_model())

    def _init_centroids(
        self,
        X: Any,
        x_squared_norms: Any,
        init: Any,
        random_state: Any,
        sample_weight: Any,
        init_size: int | None = None,
        n_centroids: int | None = None,
    ) -> Any:
        """Starting centres as ``fit`` draws them (scikit-learn's private hook, kept for its tests).

        ``x_squared_norms`` and ``init_size`` are accepted and unused: the norms are
        recomputed on centred data, and every sample takes part.
        """
        n_centroids = self.n_clusters if n_centroids is None else n_centroids
        return initial_centers(
            X,
            n_centroids,
            init,
            random_state=random_state,
            sample_weight=sample_weight,
            device=self.device,
        )

    def save(self, path: Any) -> None:
        """Save the fitted model to ``path`` (``.npz`` with a JSON header; see
        :func:`gkmeans.load`).

        Arrays are stored as NumPy, so a model fitted on a GPU loads anywhere.
        Parameters that cannot be stored (a callable ``init``, a Generator
        ``random_state``) come back as their defaults. The file is written beside ``path`` and
        renamed into place, so a save that fails leaves any previous file at ``path`` as it was.
        """
        self._check_fitted()
        persistence.save_model(self, path)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output names of ``transform``: ``kmeans0``, ``kmeans1``, ..."""
        self._check_fitted()
        prefix = type(self).__name__.lower()
        return np.asarray(
            [f"{prefix}{i}" for i in range(self.cluster_centers_.shape[0])], dtype=object
        )


class MiniBatchKMeans(KMeans):
    """Mini-batch k-means: a drop-in for ``sklearn.cluster.MiniBatchKMeans`` on any Array API
    backend.

    Each step draws ``batch_size`` samples (with replacement, proportionally to
    ``sample_weight``), assigns them and moves each centre towards its batch points
    with a per-centre learning rate; centres that absorbed little weight are
    reassigned to random batch points (``reassignment_ratio``). Stops after
    ``max_iter`` passes over the data, on a small centre shift (``tol`` > 0), or when
    the smoothed batch inertia stops improving for ``max_no_improvement`` steps.

    Parameters
    ----------
    n_clusters, init, random_state, verbose, device
        As for :class:`KMeans`.
    max_iter : int, default 100
        Passes over the data (``n_steps = max_iter * n_samples // batch_size``).
    batch_size : int, default 1024
    compute_labels : bool, default True
        Compute ``labels_`` and ``inertia_`` on the whole data after fitting.
    tol : float, default 0.0
        Stop when a step moves the centres by at most ``tol`` times the mean feature variance
        (squared shift; 0 disables it).
    max_no_improvement : int or None, default 10
    init_size : int, optional
        Samples used to initialise (default ``3 * batch_size``; below ``n_clusters`` it warns and
        becomes ``3 * n_clusters``).
    n_init : "auto" or int, default "auto"
        Initialisations tried (1 for k-means++/k-means||, 3 otherwise); the best on a
        validation sample of ``init_size`` points is kept. ``partial_fit`` makes one.
    reassignment_ratio : float, default 0.01

    Attributes
    ----------
    cluster_centers_, labels_, inertia_, n_features_in_, device_
        As for :class:`KMeans`.
    n_iter_ : int
        Passes over the data.
    n_steps_ : int
        Mini-batches processed.

    Examples
    --------
    >>> import numpy as np
    >>> from gkmeans import MiniBatchKMeans
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> model = MiniBatchKMeans(2, batch_size=3, random_state=0, n_init=3).fit(X)
    >>> sorted(model.cluster_centers_[:, 0].round().tolist())
    [1.0, 10.0]
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init: Any = "k-means++",
        max_iter: int = 100,
        batch_size: int = 1024,
        verbose: int = 0,
        compute_labels: bool = True,
        random_state: Any = None,
        tol: float = 0.0,
        max_no_improvement: int | None = 10,
        init_size: int | None = None,
        n_init: int | str = "auto",
        reassignment_ratio: float = 0.01,
        device: str | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.verbose = verbose
        self.compute_labels = compute_labels
        self.random_state = random_state
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.init_size = init_size
        self.n_init = n_init
        self.reassignment_ratio = reassignment_ratio
        self.device = device

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> MiniBatchKMeans:
        """Compute the centres by mini-batch steps over X (see the class docstring)."""
        self._route_in_memory(X, "fit")
        names = feature_names(X)
        fit, n_iter = fit_minibatch(X, self, sample_weight, bool(self.compute_labels))
        self._publish(fit)
        self.n_iter_ = n_iter
        if names is not None:
            self.feature_names_in_ = names
        if not self.compute_labels:
            self.inertia_ = fit.inertia
        return self

    def partial_fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> MiniBatchKMeans:
        """Update the model with one mini-batch X (initialising on it at the first call)."""
        previous = getattr(self, "_fit_state", None)
        self._publish(
            partial_fit_minibatch(X, self, sample_weight, previous, bool(self.compute_labels))
        )
        return self

    def _route_in_memory(self, X: Any, method: str) -> None:
        """Mini-batch steps draw rows at random from an in-memory array: chunked and Dask data are
        refused."""
        if not in_memory(X):
            msg = (
                f"MiniBatchKMeans.{method} takes an in-memory array, not {type(X).__name__}: give "
                "the chunks one by one to partial_fit, or fit KMeans, which streams chunked data "
                "and runs on Dask arrays"
            )
            raise TypeError(msg)

    def _publish(self, fit: Any) -> None:
        """Fitted attributes of a mini-batch fit (labels and inertia when computed)."""
        self._fit_state = fit
        self._counts = fit.state.weight_sums
        self.n_steps_ = fit.state.n_steps
        self.cluster_centers_ = fit.centers
        self.device_ = fit.device
        self.n_features_in_ = fit.n_features
        if fit.labels is not None:
            self.labels_ = fit.labels
            self.inertia_ = fit.inertia


def fit_with_progress(model: KMeans, X: Any, progress: Any, sample_weight: Any = None) -> KMeans:
    """``model.fit(X, sample_weight=sample_weight)``, calling ``progress(run, iteration, max_iter)``
    after every Lloyd iteration (the command line's progress bar).

    Parameters
    ----------
    model : KMeans
    X : array of shape (n_samples, n_features)
    progress : callable
    sample_weight : array of shape (n_samples,), optional

    Returns
    -------
    model : KMeans
        Fitted.
    """
    return model._fit(X, sample_weight, progress)


persistence.register_estimator(KMeans)
persistence.register_estimator(MiniBatchKMeans)
