"""MiniBatchKMeans follows scikit-learn's rules: parameters, stopping, reassignment, messages.

scikit-learn's random stream cannot be reproduced (gkmeans draws from a numpy Generator), so
the two are driven with the same batches (a scripted Generator and RandomState hand both the
same rows) and compared step for step, or compared statistically over many seeds.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from gkmeans import MiniBatchKMeans
from gkmeans._random import choice_cdf
from gkmeans._validation import check_array
from gkmeans.algorithms.minibatch import MiniBatchState, converged
from gkmeans.pipelines.minibatch_fit import tolerance
from gkmeans.pipelines.params import MiniBatchParams
from gkmeans.pipelines.prepared import prepare_data

sklearn_cluster = pytest.importorskip("sklearn.cluster")
SkMiniBatchKMeans = sklearn_cluster.MiniBatchKMeans


@pytest.fixture(autouse=True)
def one_openmp_thread():
    """scikit-learn's OpenMP threads wait on one another at every small step: on a busy machine one
    thread runs these many tiny fits tens of times faster (results do not depend on it)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(1):
        yield


def separated_centres(rng: np.random.Generator, k: int, d: int) -> np.ndarray:
    """``k`` random centres in ``d`` dimensions, scaled so that the closest two are 10 apart."""
    centres = rng.normal(size=(k, d))
    gaps = [np.linalg.norm(a - b) for i, a in enumerate(centres) for b in centres[i + 1 :]]
    return centres * 10 / min(gaps)


def blobs(n: int = 600, k: int = 4, d: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``k`` round blobs of standard deviation 0.5 whose centres are at least 10 apart."""
    rng = np.random.default_rng(seed)
    centres = separated_centres(rng, k, d)
    y = rng.integers(0, k, n)
    return centres[y] + rng.normal(scale=0.5, size=(n, d)), y


class Script:
    """The rows of every batch and of every reassignment, the same for both libraries."""

    def __init__(self, n: int, batch_size: int, seed: int = 1) -> None:
        self.rng = np.random.default_rng(seed)
        self.n, self.batch_size = n, batch_size

    def batch(self) -> np.ndarray:
        return self.rng.integers(0, self.n, self.batch_size)

    def picks(self, n: int, size: int) -> np.ndarray:
        return self.rng.permutation(n)[:size]


class ScriptedGenerator(np.random.Generator):
    """gkmeans' generator: batch rows come from ``rng.random`` by inverse CDF on the sample
    weights (gkmeans._random.draw_with_replacement), so it returns the midpoint of each scripted
    row's CDF step; reassignments draw ``rng.choice(batch_size, size, replace=False)``."""

    def __init__(self, script: Script, weights: np.ndarray) -> None:
        super().__init__(np.random.PCG64(0))
        self.script = script
        cdf = choice_cdf(weights / weights.sum())
        self.mid = (np.r_[0.0, cdf[:-1]] + cdf) / 2

    def random(self, size=None, dtype=np.float64, out=None):  # noqa: ANN001, ANN201
        return self.mid[self.script.batch()]

    def choice(self, a, size=None, replace=True, p=None, axis=0, shuffle=True):  # noqa: ANN001, ANN201
        assert not replace
        return self.script.picks(int(a), int(size))


class ScriptedRandomState(np.random.RandomState):
    """scikit-learn's random state: ``choice`` with replacement draws a batch, without a
    reassignment."""

    def __init__(self, script: Script) -> None:
        super().__init__(0)
        self.script = script

    def choice(self, a, size=None, replace=True, p=None):  # noqa: ANN001, ANN201
        return self.script.batch() if replace else self.script.picks(int(a), int(size))


def fit_both(X, weights, init, backend=None, **params):  # noqa: ANN001, ANN003, ANN201
    """scikit-learn's and gkmeans' fits from ``init``, on the same scripted batches."""
    batch_size = params["batch_size"]
    sk = SkMiniBatchKMeans(
        init.shape[0], init=init, random_state=ScriptedRandomState(Script(len(X), batch_size)),
        **params,
    ).fit(X, sample_weight=weights)
    to = (lambda a: a) if backend is None else backend.asarray
    gk = MiniBatchKMeans(
        init.shape[0], init=to(init),
        random_state=ScriptedGenerator(Script(len(X), batch_size), weights), **params,
    ).fit(to(X), sample_weight=to(weights))
    return sk, gk


def far_start(X: np.ndarray, k: int) -> np.ndarray:
    """``k - 1`` data rows and one centre far from every row (it absorbs nothing at first)."""
    return np.vstack([X[: k - 1], np.full((1, X.shape[1]), 100.0)])


@pytest.mark.parametrize(
    ("weighted", "tol", "max_no_improvement"),
    [(False, 0.0, 10), (True, 0.0, 3), (False, 1e-3, 10), (True, 1e-2, None), (False, 0.0, None)],
)
def test_same_batches_stop_at_the_same_step(backend, weighted, tol, max_no_improvement):
    X, _ = blobs()
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(X)) if weighted else np.ones(len(X))
    sk, gk = fit_both(
        X, w, far_start(X, 4), backend, batch_size=32, max_iter=5, tol=tol,
        max_no_improvement=max_no_improvement,
    )
    assert gk.n_steps_ == sk.n_steps_ and gk.n_iter_ == sk.n_iter_
    assert backend.is_own(gk.cluster_centers_)
    centres = backend.to_numpy(gk.cluster_centers_)
    np.testing.assert_allclose(centres, sk.cluster_centers_, atol=1e-9)
    np.testing.assert_array_equal(backend.to_numpy(gk.labels_), sk.labels_)
    np.testing.assert_allclose(gk.inertia_, sk.inertia_, rtol=1e-9)


def test_tolerance_is_scaled_by_the_unweighted_mean_variance(backend):
    from sklearn.cluster._kmeans import _tolerance

    X, y = blobs()
    weights = np.where(y == 0, 1.0, 1e-3)  # weighted, the variance would be one blob's
    data, caller_xp = check_array(backend.asarray(X))
    prepared = prepare_data(data, caller_xp, backend.asarray(weights), 4, None)
    np.testing.assert_allclose(tolerance(prepared, 1e-3), _tolerance(X, 1e-3), rtol=1e-12)
    assert tolerance(prepared, 0.0) == 0.0


def test_same_batches_reassign_the_same_centres():
    # The far centre absorbs nothing, so it is moved to a batch row at the first step; a high
    # ratio keeps reassigning later on.
    X, _ = blobs()
    for ratio in (0.01, 0.3):
        sk, gk = fit_both(X, np.ones(len(X)), far_start(X, 4), batch_size=16, max_iter=2,
                          reassignment_ratio=ratio, max_no_improvement=None)
        assert gk.n_steps_ == sk.n_steps_ == 2 * len(X) // 16
        np.testing.assert_allclose(gk.cluster_centers_, sk.cluster_centers_, atol=1e-9)
        np.testing.assert_allclose(gk._counts, sk._counts, rtol=1e-12)


def template(line: str) -> str:
    return re.sub(r"-?\d+(\.\d+)?(e[-+]?\d+)?", "#", line)


def numbers(text: str) -> np.ndarray:
    return np.asarray([float(m.group()) for m in re.finditer(r"-?\d+(\.\d+)?(e[-+]?\d+)?", text)])


def after_start(lines: list[str]) -> list[str]:
    """The lines after the report of the start's inertia."""
    starts = [i for i, line in enumerate(lines) if re.fullmatch(r"Inertia for init 1/1: \S+", line)]
    assert len(starts) == 1, lines[:10]
    return lines[starts[0] + 1 :]


@pytest.mark.parametrize(
    ("tol", "stop_message"),
    [(0.0, "Converged (lack of improvement in inertia) at step"),
     (1e-2, "Converged (small centers change) at step")],
)
def test_verbose_prints_scikit_learns_messages(capsys, tol, stop_message):
    X, _ = blobs()
    init = far_start(X, 4)
    params = {"batch_size": 32, "max_iter": 5, "tol": tol, "verbose": 1}
    script_sk, script_gk = Script(len(X), 32), Script(len(X), 32)
    SkMiniBatchKMeans(4, init=init, random_state=ScriptedRandomState(script_sk), **params).fit(X)
    theirs = capsys.readouterr().out.splitlines()
    MiniBatchKMeans(4, init=init, random_state=ScriptedGenerator(script_gk, np.ones(len(X))),
                    **params).fit(X)
    ours = capsys.readouterr().out.splitlines()
    assert all(lines[0].startswith("Init 1/1 with method ") for lines in (ours, theirs))
    # The first line prints the initial centres (an array, over several lines), then the inertia
    # of the start on a validation sample, which each library draws from its own random stream.
    ours, theirs = after_start(ours), after_start(theirs)
    assert [template(line) for line in ours] == [template(line) for line in theirs]
    np.testing.assert_allclose(numbers("\n".join(ours)), numbers("\n".join(theirs)), rtol=1e-9)
    assert ours[-1].startswith(stop_message)
    assert any(line.startswith("[MiniBatchKMeans] Reassigning 1 cluster centers.") for line in ours)
    first = r"Minibatch step 1/\d+: mean batch inertia: \S+"
    assert any(re.fullmatch(first, line) for line in ours)
    assert any(re.search(r"Minibatch step 2/\d+: mean batch inertia: \S+, ewa inertia: ", line)
               for line in ours)


def test_verbose_reports_every_start(capsys):
    X, _ = blobs()
    MiniBatchKMeans(4, init="random", batch_size=64, random_state=0, verbose=1, n_init=2).fit(X)
    out = capsys.readouterr().out
    for run in (1, 2):
        assert f"Init {run}/2 with method random\n" in out
        assert re.search(rf"Inertia for init {run}/2: \S+\n", out)


def drive(stop_rule, inertias, shifts, n_steps, n_samples, batch_size):  # noqa: ANN001, ANN201
    """The step at which ``stop_rule(i, inertia, shift)`` first says stop (n_steps if never)."""
    for i, (inertia, shift) in enumerate(zip(inertias, shifts)):
        if stop_rule(i, inertia, shift):
            return i + 1
    return n_steps


SEQUENCES = {
    "noisy decrease": lambda r, m: 100 * np.exp(-np.arange(m) / 20) + r.uniform(0, 5, m),
    "flat noise": lambda r, m: 50 + r.normal(0, 1, m),
    "steady decrease": lambda r, m: 1000.0 - np.arange(m),
    "plateaus": lambda r, m: np.repeat(r.uniform(10, 20, m // 10 + 1), 10)[:m],
}


@pytest.mark.parametrize("sequence", sorted(SEQUENCES))
@pytest.mark.parametrize("max_no_improvement", [None, 0, 1, 3, 10])
@pytest.mark.parametrize("tol", [0.0, 0.05])
def test_stopping_step_and_messages_match_scikit_learn(capsys, sequence, max_no_improvement, tol):
    r = np.random.default_rng(len(sequence))
    n_steps, n_samples, batch_size = 200, 3000, 64
    inertias = SEQUENCES[sequence](r, n_steps) * batch_size
    shifts = r.uniform(0.0, 1.0, n_steps)
    sk = SkMiniBatchKMeans(max_no_improvement=max_no_improvement, verbose=1)
    sk._batch_size, sk._tol = batch_size, tol
    sk._ewa_inertia, sk._ewa_inertia_min, sk._no_improvement = None, None, 0
    theirs = drive(
        lambda i, inertia, shift: sk._mini_batch_convergence(i, n_steps, n_samples, shift, inertia),
        inertias, shifts, n_steps, n_samples, batch_size,
    )
    their_output = capsys.readouterr().out
    state = MiniBatchState(None, None)
    ours = drive(
        lambda i, inertia, shift: converged(
            state, i + 1, n_steps, n_samples, batch_size, shift, inertia, tol=tol,
            max_no_improvement=max_no_improvement, verbose=True,
        ),
        inertias, shifts, n_steps, n_samples, batch_size,
    )
    assert ours == theirs
    assert capsys.readouterr().out == their_output
    assert state.ewa_inertia == sk._ewa_inertia


def sklearn_resolved(estimator_kwargs: dict, n_samples: int) -> tuple[int, int]:
    sk = SkMiniBatchKMeans(**estimator_kwargs)
    sk._check_params_vs_input(np.zeros((n_samples, 2)))
    return sk._init_size, sk._n_init


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_clusters": 8},
        {"n_clusters": 8, "batch_size": 2},
        {"n_clusters": 8, "batch_size": 4},
        {"n_clusters": 8, "init_size": 10},
        {"n_clusters": 8, "init_size": 5},
        {"n_clusters": 8, "init_size": 5000},
        {"n_clusters": 3, "batch_size": 50, "init": "random"},
        {"n_clusters": 3, "init": "random", "n_init": 5},
        {"n_clusters": 3, "init": lambda X, k, random_state: X[:k]},
        {"n_clusters": 3, "init": np.zeros((3, 2))},
    ],
)
def test_init_size_and_n_init_resolve_as_scikit_learn(kwargs):
    n_samples = 200
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        their_init_size, their_n_init = sklearn_resolved(kwargs, n_samples)
        params = MiniBatchParams.check(MiniBatchKMeans(**kwargs), n_samples)
    assert (params.init_size, params.n_init) == (their_init_size, their_n_init)


def test_n_init_auto_for_gkmeans_own_methods():
    for init, runs in (("k-means||", 1), ("farthest-first", 3), ("random-box", 3)):
        assert MiniBatchParams.check(MiniBatchKMeans(3, init=init), 100).n_init == runs


def test_init_size_below_n_clusters_warns(backend):
    X, _ = blobs()
    message = (
        "init_size=3 should be larger than n_clusters=4. Setting it to min(3*n_clusters, n_samples)"
    )
    with pytest.warns(RuntimeWarning, match=re.escape(message)) as record:
        SkMiniBatchKMeans(4, init_size=3, n_init=1, random_state=0).fit(X)
    with pytest.warns(RuntimeWarning, match=re.escape(message)) as record:
        MiniBatchKMeans(4, init_size=3, random_state=0).fit(backend.asarray(X))
    assert record[0].filename == __file__  # points at the caller's line
    with pytest.warns(RuntimeWarning, match=re.escape(message)) as record:
        MiniBatchKMeans(4, init_size=3, random_state=0).partial_fit(backend.asarray(X[:100]))
    assert record[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MiniBatchKMeans(4, init_size=4, random_state=0).fit(backend.asarray(X))


def test_explicit_centres_with_several_starts_warn_at_the_caller():
    X, _ = blobs()
    expected = "performing only one init in MiniBatchKMeans instead of n_init=3"
    with pytest.warns(RuntimeWarning, match=expected) as record:
        MiniBatchKMeans(4, init=X[:4], n_init=3).fit(X)
    assert record[0].filename == __file__


def test_partial_fit_never_stops_and_counts_batches_as_scikit_learn(capsys):
    X, _ = blobs(n=1200)
    ours = MiniBatchKMeans(4, batch_size=100, random_state=0, verbose=1)
    theirs = SkMiniBatchKMeans(4, batch_size=100, random_state=0)
    # The first call fixes the rows each call counts towards a reassignment (10, against a
    # threshold of 10 * n_clusters = 40), whatever the size of the later calls.
    since = []
    for size in (10, 300, 300, 300, 50, 200):
        chunk = X[:size]
        ours.partial_fit(chunk)
        theirs.partial_fit(chunk)
        since.append(theirs._n_since_last_reassign)
        assert ours._fit_state.state.n_since_last_reassign == theirs._n_since_last_reassign
    assert since == [0, 10, 20, 30, 0, 10]
    assert ours.n_steps_ == theirs.n_steps_ == 6
    assert ours._fit_state.state.ewa_inertia is None  # no stopping rule ran
    out = capsys.readouterr().out
    assert "Minibatch step" not in out and "Init" not in out  # one start, no stopping messages


def test_inertia_without_labels_scales_with_the_total_weight():
    X, _ = blobs()
    init = X[:4]
    unit = MiniBatchKMeans(4, init=init, compute_labels=False, batch_size=64, random_state=0).fit(X)
    double = MiniBatchKMeans(4, init=init, compute_labels=False, batch_size=64, random_state=0).fit(
        X, sample_weight=np.full(len(X), 2.0)
    )
    assert double.n_steps_ == unit.n_steps_
    np.testing.assert_allclose(double.inertia_, 2 * unit.inertia_, rtol=1e-9)


def duplicated_blobs() -> tuple[np.ndarray, np.ndarray]:
    """Four separated blobs of two distinct rows, each row repeated 100 times: random starts often
    repeat a row, and the copy that absorbs nothing is only revived by reassignment."""
    rng = np.random.default_rng(123)
    centres = separated_centres(rng, 4, 2)
    y = np.repeat(np.arange(4), 2)
    rows = centres[y] + rng.normal(scale=0.5, size=(8, 2))
    return np.repeat(rows, 100, axis=0), np.repeat(y, 100)


def recovery_rate(estimator, X, y, seeds, **params):  # noqa: ANN001, ANN003, ANN201
    found = 0
    for seed in range(seeds):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            labels = np.asarray(estimator(4, init="random", n_init=1, batch_size=100,
                                          random_state=seed, **params).fit(X).labels_)
        pairs = set(zip(y.tolist(), labels.tolist()))
        found += len(pairs) == 4 == len(set(labels.tolist()))  # one cluster per blob
    return found / seeds


def test_random_starts_recover_blobs_as_often_as_scikit_learn():
    X, y = duplicated_blobs()
    seeds = 50
    theirs = recovery_rate(SkMiniBatchKMeans, X, y, seeds)
    ours = recovery_rate(MiniBatchKMeans, X, y, seeds)
    # 50 fits a side: the binomial noise of the difference is about 0.1 at these rates.
    assert abs(ours - theirs) <= 0.15, (ours, theirs)
    # The data needs the reassignment: without it, dead copies stay dead.
    assert recovery_rate(MiniBatchKMeans, X, y, seeds, reassignment_ratio=0.0) < ours
