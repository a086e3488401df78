"""Groups far apart in float32 (issue 18, item 4): centring on the column mean leaves two groups at
+-3e4, where the expansion ||x||^2 - 2 x.c + ||c||^2 rounds by far more than the squared
distances between neighbouring blobs. The pass-level screen sends such passes to the exact route,
so labels are a float64 brute force's on every route; ordinary data never take it."""

from __future__ import annotations

import importlib.util
import io
from contextlib import redirect_stdout

import numpy as np
import pytest

from gkmeans import KMeans, chunked, kmeans_plusplus
from gkmeans import _kernels as kernels
from gkmeans._compat import array_namespace
from gkmeans._kernels import near_ties, numpy_
from gkmeans.datasets import make_blobs

#: Two pairs of blobs 5 apart, the pairs at +3e4 and -3e4 along the first axis.
TRUE_CENTERS = np.array([[3e4, 0.0], [3e4 + 5, 0.0], [-3e4, 0.0], [-3e4 - 5, 0.0]])
#: Rows within this (in squared distance) of a tie may go either way: the centres themselves are
#: float32 (ulp 0.002 at 3e4), and the predict rule shifts them by their mean in float32.
TIE = 0.05

CPU_PASSES = ["numpy"] + (["numba"] if importlib.util.find_spec("numba") else [])


def far_groups(seed: int = 0, dtype=np.float32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([c + rng.standard_normal((300, 2)) for c in TRUE_CENTERS]).astype(dtype)


def start_centers() -> np.ndarray:
    nudge = np.array([[0.3, -0.2], [-0.4, 0.1], [0.2, 0.3], [-0.1, -0.3]])
    return (TRUE_CENTERS + nudge).astype(np.float32)


def brute_force(X: np.ndarray, centers) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float64 labels and distances from the differences, and which rows are decided (not within
    TIE of a tie)."""
    diff = X.astype(np.float64)[:, None, :] - np.asarray(centers, dtype=np.float64)[None]
    sq = (diff**2).sum(axis=2)
    ordered = np.sort(sq, axis=1)
    return sq.argmin(axis=1), sq.min(axis=1), (ordered[:, 1] - ordered[:, 0]) > TIE


def assert_brute_force_labels(labels, X: np.ndarray, centers) -> None:
    expected, _, decided = brute_force(X, centers)
    assert decided.mean() > 0.99
    np.testing.assert_array_equal(np.asarray(labels)[decided], expected[decided])


@pytest.fixture(params=CPU_PASSES)
def cpu_pass(request, monkeypatch):
    monkeypatch.setenv("GKMEANS_CPU_PASS", request.param)
    return request.param


@pytest.fixture
def exact_calls(monkeypatch):
    """How many times the exact route ran (the primitives look it up at call time)."""
    calls = []

    def count(module, name):
        original = getattr(module, name)

        def counted(*args, **kwargs):
            calls.append(name)
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)

    count(near_ties, "assign_exact")
    count(near_ties, "assign_and_sum_exact")
    count(numpy_, "assign_exact")  # the compiled pass of the NumPy backend
    count(numpy_, "assign_and_sum_exact")
    return calls


def test_the_expansion_alone_mislabels_far_groups():
    """The premise: without the exact route hundreds of labels would be wrong."""
    X = far_groups()
    C = start_centers()
    partial = -2 * (X @ C.T) + (C * C).sum(axis=1)
    expected, _, decided = brute_force(X, C)
    assert np.count_nonzero(partial.argmin(axis=1)[decided] != expected[decided]) > 100


def test_the_screen_separates_far_groups_from_ordinary_data():
    X = far_groups()
    far = float(near_ties.screen_ratio(start_centers(), (X * X).sum(axis=1).max(), X.dtype, xp=np))
    assert far > 100 * near_ties.TIE_SHARE
    blobs, _, _ = make_blobs(
        20000, 32, 16, cluster_std=6.0, dtype=np.dtype("float32"), random_state=0
    )
    blobs -= blobs.mean(axis=0)
    centers, _ = kmeans_plusplus(blobs, 16, random_state=0)
    largest = (blobs * blobs).sum(axis=1).max()
    ordinary = float(near_ties.screen_ratio(centers, largest, blobs.dtype, xp=np))
    assert ordinary < near_ties.TIE_SHARE / 10
    assert float(near_ties.screen_ratio(centers[:1], 1.0, blobs.dtype, xp=np)) == 0
    assert float(near_ties.screen_ratio(np.stack([centers[0]] * 2), 1.0, blobs.dtype, xp=np)) == 0
    # Coincident centres tie exactly: the screen looks at the nearest distinct pair.
    doubled = np.concatenate([centers, centers[:2]])
    assert float(near_ties.screen_ratio(doubled, 1.0, blobs.dtype, xp=np)) == pytest.approx(
        float(near_ties.screen_ratio(centers, 1.0, blobs.dtype, xp=np)), rel=1e-6
    )


@pytest.mark.parametrize("shift", [False, True])
def test_assign_primitives_match_brute_force(backend, cpu_pass, shift):
    X = far_groups()
    C = start_centers()
    xp = array_namespace(backend.asarray(np.zeros(1)))
    mean = X.mean(axis=0) if shift else None
    C_frame = C - mean if shift else C
    args = dict(xp=xp, shift=None if mean is None else backend.asarray(mean))
    labels, min_sq = kernels.assign(backend.asarray(X), backend.asarray(C_frame), **args)
    expected, exact_sq, decided = brute_force(X, C)
    np.testing.assert_array_equal(backend.to_numpy(labels)[decided], expected[decided])
    np.testing.assert_allclose(backend.to_numpy(min_sq), exact_sq, rtol=1e-4, atol=1e-2)
    weights = backend.asarray(np.ones(X.shape[0], dtype=np.float32))
    labels2, _, sums, weight_sums = kernels.assign_and_sum(
        backend.asarray(X), backend.asarray(C_frame), weights, **args
    )
    labels2 = backend.to_numpy(labels2)
    np.testing.assert_array_equal(labels2, backend.to_numpy(labels))
    frame = X.astype(np.float64) - (0 if mean is None else mean)
    expected_sums = np.stack([frame[labels2 == j].sum(axis=0) for j in range(4)])
    np.testing.assert_allclose(backend.to_numpy(sums), expected_sums, rtol=1e-6, atol=1e-2)
    np.testing.assert_array_equal(backend.to_numpy(weight_sums), np.bincount(labels2, minlength=4))


def test_batched_pass_matches_brute_force(backend):
    X = far_groups()
    C = start_centers()
    xp = array_namespace(backend.asarray(np.zeros(1)))
    both = np.stack([C, C[::-1]])
    ones = backend.asarray(np.ones(X.shape[0], dtype=np.float32))
    labels, _, sums, weight_sums = kernels.assign_and_sum_batched(
        backend.asarray(X), backend.asarray(both), ones, xp=xp
    )
    labels = backend.to_numpy(labels)
    assert labels.shape == (X.shape[0], 2)
    assert_brute_force_labels(labels[:, 0], X, C)
    assert_brute_force_labels(labels[:, 1], X, C[::-1])
    assert backend.to_numpy(sums).shape == (2, 4, 2)
    counts = np.bincount(labels[:, 1], minlength=4)
    np.testing.assert_array_equal(backend.to_numpy(weight_sums)[1], counts)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fit_predict_transform_score_match_brute_force(backend, cpu_pass, seed):
    X = far_groups(seed)
    fit = KMeans(4, init=backend.asarray(start_centers()), n_init=1).fit(backend.asarray(X))
    centers = backend.to_numpy(fit.cluster_centers_)
    assert_brute_force_labels(backend.to_numpy(fit.labels_), X, centers)
    assert_brute_force_labels(backend.to_numpy(fit.predict(backend.asarray(X))), X, centers)
    distances = backend.to_numpy(fit.transform(backend.asarray(X)))
    assert_brute_force_labels(distances.argmin(axis=1), X, centers)
    _, exact_sq, _ = brute_force(X, centers)
    assert fit.score(backend.asarray(X)) == pytest.approx(-exact_sq.sum(), rel=1e-5)
    start64 = start_centers().astype(np.float64)
    reference = KMeans(4, init=start64, n_init=1).fit(X.astype(np.float64))
    assert fit.inertia_ == pytest.approx(reference.inertia_, rel=1e-5)


@pytest.mark.parametrize("algorithm", ["elkan", "hamerly", "yinyang"])
def test_bound_based_fits_match_brute_force(cpu_pass, algorithm):
    X = far_groups()
    fit = KMeans(4, init=start_centers(), n_init=1, algorithm=algorithm, tol=0).fit(X)
    assert_brute_force_labels(fit.labels_, X, fit.cluster_centers_)


def test_restarts_match_brute_force(cpu_pass):
    """Default k-means++ starts, several restarts (batched on the CPU at this size)."""
    X = far_groups()
    fit = KMeans(4, n_init=4, random_state=0, tol=0).fit(X)
    assert_brute_force_labels(fit.labels_, X, fit.cluster_centers_)
    assert_brute_force_labels(fit.predict(X), X, fit.cluster_centers_)


def test_streamed_fit_matches_brute_force(backend, cpu_pass):
    X = far_groups()
    chunks = [backend.asarray(X[i : i + 250]) for i in range(0, X.shape[0], 250)]
    fit = KMeans(4, init=start_centers(), n_init=1).fit(chunked(lambda: iter(chunks)))
    centers = np.asarray(fit.cluster_centers_)
    assert_brute_force_labels(np.asarray(fit.labels_), X, centers)
    assert_brute_force_labels(np.asarray(fit.predict(chunked(X, chunk_rows=333))), X, centers)
    _, exact_sq, _ = brute_force(X, centers)
    assert fit.inertia_ == pytest.approx(exact_sq.sum(), rel=1e-5)


def test_dask_fit_matches_brute_force(cpu_pass):
    da = pytest.importorskip("dask.array", reason="the dask extra is not installed")
    X = far_groups()
    fit = KMeans(4, init=start_centers(), n_init=1).fit(da.from_array(X, chunks=(250, 2)))
    centers = np.asarray(fit.cluster_centers_)
    assert_brute_force_labels(np.asarray(fit.labels_), X, centers)
    predicted = fit.predict(da.from_array(X, chunks=(333, 2)))
    assert_brute_force_labels(np.asarray(predicted), X, centers)


def test_far_groups_take_the_exact_route_and_verbose_says_so(exact_calls):
    out = io.StringIO()
    with redirect_stdout(out):
        KMeans(4, init=start_centers(), n_init=1, verbose=1).fit(far_groups())
    assert exact_calls
    assert "decides near ties from the differences" in out.getvalue()


@pytest.mark.parametrize("n_init", [1, 3])
def test_ordinary_data_never_take_the_exact_route(backend, cpu_pass, exact_calls, n_init):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 8)) + rng.integers(0, 6, (3000, 1)) * 3.0 + 1e3
    X = X.astype(np.float32)
    out = io.StringIO()
    with redirect_stdout(out):
        fit = KMeans(6, n_init=n_init, random_state=0, verbose=1).fit(backend.asarray(X))
    fit.predict(backend.asarray(X))
    fit.score(backend.asarray(X))
    KMeans(6, n_init=1, random_state=0).fit(chunked(X, chunk_rows=700))
    assert exact_calls == []
    assert "near ties" not in out.getvalue()


@pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="needs Numba")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shift", [False, True])
@pytest.mark.parametrize("extra_features", [0, 10])  # the small-d loop; BLAS products
def test_the_compiled_exact_pass_is_the_array_api_one(monkeypatch, dtype, shift, extra_features):
    """The NumPy backend's compiled exact pass (runner-up kept in the argmin, risky rows decided
    from float64 differences in the same loop) gives the Array API route's labels, distances and
    sums, and it is the compiled kernel that ran."""
    from gkmeans._kernels import numba_pass

    monkeypatch.setenv("GKMEANS_CPU_PASS", "numba")
    compiled = numba_pass.kernels()
    decided = []

    def spy(name):
        original = getattr(compiled, name)

        def counted(*args):
            decided.append(original(*args))
            return decided[-1]

        monkeypatch.setattr(compiled, name, counted)

    spy("nearest_exact_of_block")  # products from BLAS
    spy("decide_near_ties")  # after the small-d loop (these far groups have d = 2)
    X = far_groups(dtype=dtype)
    C = start_centers().astype(dtype)
    X = np.hstack([X, np.zeros((X.shape[0], extra_features), dtype=dtype)])
    C = np.hstack([C, np.zeros((C.shape[0], extra_features), dtype=dtype)])
    mean = X.mean(axis=0) if shift else None
    frame = X - mean if shift else X
    C_frame = C - mean if shift else C
    x_sq = (frame * frame).sum(axis=1)
    weights = np.random.default_rng(1).uniform(0.5, 2.0, X.shape[0]).astype(dtype)
    args = dict(xp=np, chunk_rows=500, x_sq_norms=x_sq, shift=mean)
    want = near_ties.assign_exact(X, C_frame, **args)
    got = numpy_.assign_exact(X, C_frame, **args)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-3)
    assert decided  # the compiled kernel ran
    if dtype == np.float32:  # far groups: most rows within float32's rounding bound
        assert sum(decided) > X.shape[0] // 2
    want_sums = near_ties.assign_and_sum_exact(X, C_frame, weights, acc_dtype=np.float64, **args)
    got_sums = numpy_.assign_and_sum_exact(X, C_frame, weights, acc_dtype=np.float64, **args)
    np.testing.assert_array_equal(got_sums[0], want_sums[0])
    np.testing.assert_allclose(got_sums[2], want_sums[2], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got_sums[3], want_sums[3], rtol=1e-12)
    assert_brute_force_labels(got[0], X, C)


@pytest.mark.parametrize("runs", [None, 3])
def test_the_numpy_screen_decides_as_the_float64_one(monkeypatch, runs):
    """From SCREEN_FLOAT32_MIN_CLUSTERS float32 centres the NumPy backend's screen looks at them
    in float32 first: an upper bound of the float64 ratio where that bound already clears the
    share, the float64 screen itself otherwise (close or coincident centres, far groups)."""
    k = numpy_.SCREEN_FLOAT32_MIN_CLUSTERS
    X, _, _ = make_blobs(20000, 16, k, cluster_std=2.0, dtype=np.dtype("float32"), random_state=0)
    X -= X.mean(axis=0)
    centers, _ = kmeans_plusplus(X, k, random_state=0)
    if runs is not None:
        centers = np.stack([np.roll(centers, r, axis=0) for r in range(runs)])
    largest = (X * X).sum(axis=1).max()
    float64_calls = []
    original = near_ties.screen_ratio

    def counted(*args, **kwargs):
        float64_calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(near_ties, "screen_ratio", counted)
    fast = float(numpy_.screen_ratio(centers, largest, X.dtype, xp=np))
    assert float64_calls == []  # ordinary centres: decided in float32
    exact = float(original(centers, largest, X.dtype, xp=np))
    assert exact <= fast <= near_ties.TIE_SHARE
    assert fast == pytest.approx(exact, rel=1e-2)
    # Two coincident centres and a pair within the share: the float64 screen decides.
    flat = centers.reshape(-1, k, 16)
    coincident = flat.copy()
    coincident[:, 1] = coincident[:, 0]
    close = flat.copy()
    close[:, 1] = close[:, 0] + np.float32(1e-3)
    for case in (coincident, close):
        float64_calls.clear()
        got = float(numpy_.screen_ratio(case, largest, X.dtype, xp=np))
        assert float64_calls == [1]
        assert got == float(original(case, largest, X.dtype, xp=np))
    assert near_ties.exceeds(float(numpy_.screen_ratio(close, largest, X.dtype, xp=np)))
    # Far groups in float32: the float64 screen, which sends the pass to the exact route.
    far = np.concatenate([start_centers()] * (k // 4)) + np.arange(k)[:, None].astype(np.float32) * 7
    ratio = float(numpy_.screen_ratio(far, (far * far).sum(axis=1).max(), far.dtype, xp=np))
    assert ratio == float(original(far, (far * far).sum(axis=1).max(), far.dtype, xp=np))
