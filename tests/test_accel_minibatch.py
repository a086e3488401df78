"""gkmeans.accel runs MiniBatchKMeans and kmeans_plusplus with scikit-learn's draws: the results
are scikit-learn's, the calls are reported as accelerated, and the calls it cannot reproduce run
scikit-learn's code and say why."""

from __future__ import annotations

import logging

import numpy as np
import pytest

pytest.importorskip("sklearn")

import scipy.sparse  # noqa: E402
import sklearn.cluster  # noqa: E402

import gkmeans.accel  # noqa: E402

ORIGINAL_MINIBATCH = sklearn.cluster.MiniBatchKMeans
ORIGINAL_PLUSPLUS = sklearn.cluster.kmeans_plusplus


@pytest.fixture(autouse=True)
def one_openmp_thread():
    """scikit-learn's OpenMP threads wait on one another at every small step (results do not
    depend on it)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(1):
        yield


@pytest.fixture
def accel():
    gkmeans.accel.reset_report()
    gkmeans.accel.install()
    yield gkmeans.accel
    gkmeans.accel.uninstall()


@pytest.fixture(scope="module")
def blobs():
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(900, n_features=4, centers=5, cluster_std=1.5, random_state=3)
    return X


def _counts(call: str) -> tuple[int, dict[str, int]]:
    entry = gkmeans.accel.report()["calls"].get(call, {"accelerated": 0, "fallback": {}})
    return entry["accelerated"], entry["fallback"]


def _far_start(X: np.ndarray, k: int) -> np.ndarray:
    """``k - 1`` rows and one centre far from all rows: it absorbs nothing, so it is reassigned."""
    return np.vstack([X[: k - 1], np.full((1, X.shape[1]), 100.0)])


def _assert_same_fit(model, expected, X, labels=True):  # noqa: ANN001, ANN202
    rtol, atol = 1e-6, 1e-8
    assert model.n_steps_ == expected.n_steps_
    assert getattr(model, "n_iter_", None) == getattr(expected, "n_iter_", None)
    assert model.cluster_centers_.dtype == expected.cluster_centers_.dtype == X.dtype
    np.testing.assert_allclose(model.cluster_centers_, expected.cluster_centers_, rtol, atol)
    np.testing.assert_allclose(model._counts, expected._counts, rtol=rtol)
    assert model._n_since_last_reassign == expected._n_since_last_reassign
    np.testing.assert_allclose(model.inertia_, expected.inertia_, rtol=rtol)
    if labels:
        assert model.labels_.dtype == expected.labels_.dtype
        np.testing.assert_array_equal(model.labels_, expected.labels_)


def _init(name: str, X: np.ndarray, k: int):  # noqa: ANN202
    if name == "array":
        return X[:k].copy()
    if name == "callable":
        return lambda data, n, random_state: data[random_state.permutation(len(data))[:n]]
    return name


FIT_CASES = {
    "k-means++": {"init": "k-means++"},
    "random, 3 inits": {"init": "random", "n_init": 3},
    "array": {"init": "array"},
    "callable": {"init": "callable"},
    "small batches, tol": {"batch_size": 32, "tol": 1e-3},
    "no labels": {"batch_size": 64, "compute_labels": False},
    "no early stop": {"batch_size": 100, "max_no_improvement": None, "max_iter": 3},
    "init_size": {"batch_size": 50, "init_size": 120, "n_init": 2},
}


@pytest.mark.parametrize("case", list(FIT_CASES), ids=list(FIT_CASES))
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("seed", [0, 11])
def test_fit_gives_sklearns_results(accel, blobs, case, weighted, seed):
    params = dict(FIT_CASES[case], n_clusters=5, random_state=seed)
    params["init"] = _init(params.get("init", "k-means++"), blobs, 5)
    weights = np.random.default_rng(seed).uniform(0.2, 3.0, len(blobs)) if weighted else None
    expected = ORIGINAL_MINIBATCH(**params).fit(blobs, sample_weight=weights)
    model = sklearn.cluster.MiniBatchKMeans(**params).fit(blobs, sample_weight=weights)
    assert _counts("MiniBatchKMeans.fit") == (1, {})
    _assert_same_fit(model, expected, blobs, labels=params.get("compute_labels", True))


@pytest.mark.parametrize("seed", [5, 6])
@pytest.mark.parametrize("ratio", [0.01, 0.3])
def test_fit_reassigns_as_sklearn(accel, blobs, seed, ratio):
    X = blobs
    params = dict(
        n_clusters=4,
        init=_far_start(X, 4),
        n_init=1,
        batch_size=16,
        max_iter=2,
        reassignment_ratio=ratio,
        max_no_improvement=None,
        random_state=seed,
    )
    expected = ORIGINAL_MINIBATCH(**params).fit(X)
    model = sklearn.cluster.MiniBatchKMeans(**params).fit(X)
    assert _counts("MiniBatchKMeans.fit") == (1, {})
    assert np.abs(expected.cluster_centers_).max() < 50  # the far centre was moved to a row
    _assert_same_fit(model, expected, X)


def test_a_shared_random_state_is_advanced_as_sklearn_advances_it(accel, blobs):
    ours, theirs = np.random.RandomState(4), np.random.RandomState(4)
    model = sklearn.cluster.MiniBatchKMeans(5, batch_size=40, random_state=ours).fit(blobs)
    expected = ORIGINAL_MINIBATCH(5, batch_size=40, random_state=theirs).fit(blobs)
    _assert_same_fit(model, expected, blobs)
    assert ours.randint(2**31) == theirs.randint(2**31)  # the same number of draws were made


@pytest.mark.parametrize("init", ["k-means++", "random", "array"])
def test_partial_fit_sequences_give_sklearns_results(accel, blobs, init):
    X = blobs
    params = dict(n_clusters=4, init=_init(init, X, 4), random_state=2, reassignment_ratio=0.2)
    ours, theirs = sklearn.cluster.MiniBatchKMeans(**params), ORIGINAL_MINIBATCH(**params)
    rng = np.random.default_rng(0)
    ours.partial_fit(X[:30])
    theirs.partial_fit(X[:30])
    held = ours.cluster_centers_, ours._counts  # scikit-learn updates these arrays in place
    for size in (12, 300, 300, 50, 200, 9, 120):
        rows = X[rng.integers(0, len(X), size)]
        weights = rng.uniform(0.5, 2.0, size)
        ours.partial_fit(rows, sample_weight=weights)
        theirs.partial_fit(rows, sample_weight=weights)
        _assert_same_fit(ours, theirs, rows)
    assert held[0] is ours.cluster_centers_ and held[1] is ours._counts
    assert _counts("MiniBatchKMeans.partial_fit") == (8, {})


def test_partial_fit_of_single_rows(accel, blobs):
    # One row has no spread of its own: it is judged with the centres it is compared with.
    params = dict(n_clusters=3, random_state=0)
    ours = sklearn.cluster.MiniBatchKMeans(**params).partial_fit(blobs[:50])
    theirs = ORIGINAL_MINIBATCH(**params).partial_fit(blobs[:50])
    for row in range(50, 60):
        ours.partial_fit(blobs[row : row + 1])
        theirs.partial_fit(blobs[row : row + 1])
        _assert_same_fit(ours, theirs, blobs[row : row + 1])
    assert _counts("MiniBatchKMeans.partial_fit") == (11, {})


def test_partial_fit_goes_on_from_an_accelerated_fit(accel, blobs):
    params = dict(n_clusters=5, batch_size=50, random_state=0)
    ours = sklearn.cluster.MiniBatchKMeans(**params).fit(blobs)
    theirs = ORIGINAL_MINIBATCH(**params).fit(blobs)
    for start in range(0, 300, 100):
        ours.partial_fit(blobs[start : start + 100])
        theirs.partial_fit(blobs[start : start + 100])
        _assert_same_fit(ours, theirs, blobs[start : start + 100])
    assert _counts("MiniBatchKMeans.fit") == (1, {})
    assert _counts("MiniBatchKMeans.partial_fit") == (3, {})


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("n_clusters", [1, 5, 40])
def test_kmeans_plusplus_gives_sklearns_indices(accel, blobs, dtype, weighted, n_clusters):
    X = blobs.astype(dtype)
    weights = np.random.default_rng(3).uniform(0.0, 2.0, len(X)) if weighted else None
    for seed in range(3):
        centers, indices = sklearn.cluster.kmeans_plusplus(
            X, n_clusters, sample_weight=weights, random_state=seed
        )
        their_centers, their_indices = ORIGINAL_PLUSPLUS(
            X, n_clusters, sample_weight=weights, random_state=seed
        )
        np.testing.assert_array_equal(indices, their_indices)
        np.testing.assert_array_equal(centers, their_centers)
        assert centers.dtype == X.dtype and indices.dtype == their_indices.dtype
    assert _counts("kmeans_plusplus") == (3, {})


def test_kmeans_plusplus_local_trials_and_shared_random_state(accel, blobs):
    ours, theirs = np.random.RandomState(9), np.random.RandomState(9)
    for trials in (1, 7):
        got = sklearn.cluster.kmeans_plusplus(blobs, 6, random_state=ours, n_local_trials=trials)
        want = ORIGINAL_PLUSPLUS(blobs, 6, random_state=theirs, n_local_trials=trials)
        np.testing.assert_array_equal(got[1], want[1])
    assert ours.randint(2**31) == theirs.randint(2**31)
    assert _counts("kmeans_plusplus") == (2, {})


def test_kmeans_plusplus_raises_sklearns_errors(accel, blobs):
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="'n_local_trials' parameter of kmeans_pl"):
        sklearn.cluster.kmeans_plusplus(blobs, 3, n_local_trials=0)
    with pytest.raises(ValueError, match="n_samples=3 should be >= n_clusters=5"):
        sklearn.cluster.kmeans_plusplus(blobs[:3], 5)
    bad = blobs.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        sklearn.cluster.kmeans_plusplus(bad, 3)


def _fallbacks(X: np.ndarray) -> dict:
    """(call, arguments, part of the reason) for calls accel leaves to scikit-learn."""
    sparse = scipy.sparse.csr_matrix(X)
    return {
        "verbose": ("fit", dict(n_clusters=3, verbose=1), X, "verbose"),
        "sparse": ("fit", dict(n_clusters=3), sparse, "SciPy sparse"),
        "sparse partial_fit": ("partial_fit", dict(n_clusters=3), sparse, "SciPy sparse"),
        "ratio above 1": (
            "fit",
            dict(n_clusters=3, reassignment_ratio=2.0, batch_size=200),
            X,
            "reassignment_ratio=2.0",
        ),
        "float32": ("fit", dict(n_clusters=3), X.astype(np.float32), "float32 data"),
        "float32 partial_fit": (
            "partial_fit",
            dict(n_clusters=3),
            X.astype(np.float32),
            "float32 data",
        ),
        "far from the origin": ("fit", dict(n_clusters=3), X + 1e5, "far from the origin"),
        "far from the origin, partial_fit": (
            "partial_fit",
            dict(n_clusters=3),
            X + 1e5,
            "far from the origin",
        ),
    }


FALLBACKS = [
    "verbose",
    "sparse",
    "sparse partial_fit",
    "ratio above 1",
    "float32",
    "float32 partial_fit",
    "far from the origin",
    "far from the origin, partial_fit",
]


@pytest.mark.parametrize("case", FALLBACKS)
def test_calls_it_cannot_reproduce_run_sklearn_and_say_why(accel, blobs, case, caplog, capsys):
    method, params, X, reason = _fallbacks(blobs)[case]
    params["random_state"] = 0
    outcomes = []
    for cls in (sklearn.cluster.MiniBatchKMeans, ORIGINAL_MINIBATCH):
        with caplog.at_level(logging.DEBUG, logger="gkmeans.accel"):
            try:
                outcomes.append(getattr(cls(**params), method)(X).cluster_centers_)
            except ValueError as error:  # scikit-learn's own failure, the same for both
                outcomes.append(str(error))
    if isinstance(outcomes[1], str):
        assert outcomes[0] == outcomes[1]
    else:
        np.testing.assert_array_equal(outcomes[0], outcomes[1])
    accelerated, fallback = _counts(f"MiniBatchKMeans.{method}")
    assert accelerated == 0 and sum(fallback.values()) == 1
    assert reason in next(iter(fallback))
    assert any(reason in record.getMessage() for record in caplog.records)


def test_kmeans_plusplus_fallbacks_say_why(accel, blobs):
    norms = (blobs**2).sum(axis=1)
    cases = [
        ((blobs.tolist(), 3), {}, "not a float32 or float64 NumPy array"),
        ((blobs, 3), {"x_squared_norms": norms}, "x_squared_norms is given"),
        ((scipy.sparse.csr_matrix(blobs), 3), {}, "SciPy sparse"),
        ((blobs.astype(np.float32) + 1e4, 3), {}, "far from the origin"),
    ]
    for args, kwargs, reason in cases:
        gkmeans.accel.reset_report()
        try:
            got = sklearn.cluster.kmeans_plusplus(*args, random_state=0, **kwargs)[1]
        except Exception as error:  # noqa: BLE001 - whatever scikit-learn does, accel does
            got = type(error)
        try:
            want = ORIGINAL_PLUSPLUS(*args, random_state=0, **kwargs)[1]
        except Exception as error:  # noqa: BLE001
            want = type(error)
        assert type(got) is type(want) and np.array_equal(got, want)
        accelerated, fallback = _counts("kmeans_plusplus")
        assert accelerated == 0 and reason in next(iter(fallback)), fallback


def test_other_array_libraries_are_left_to_sklearn(accel, blobs, backend):
    if backend.name == "numpy":
        pytest.skip("NumPy is accelerated (the tests above)")
    X = backend.asarray(blobs)
    outcomes = []
    for cls in (sklearn.cluster.MiniBatchKMeans, ORIGINAL_MINIBATCH):
        try:
            outcomes.append(cls(3, random_state=0).fit(X).labels_.tolist())
        except Exception as error:  # noqa: BLE001 - whatever scikit-learn does, accel does
            outcomes.append(type(error))
    assert outcomes[0] == outcomes[1]
    accelerated, fallback = _counts("MiniBatchKMeans.fit")
    assert accelerated == 0 and "not NumPy" in next(iter(fallback))
