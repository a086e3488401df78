"""Sampled silhouette and Dunn index, and the elbow sweep's sampled silhouette and progress."""

from __future__ import annotations

import numpy as np
import pytest

from gkmeans import InvalidParameterError, KMeans, metrics, selection
from gkmeans.datasets import make_blobs

sk_metrics = pytest.importorskip("sklearn.metrics")

X, Y, _ = make_blobs(600, 4, 5, cluster_std=2.5, random_state=0)


@pytest.mark.parametrize("sample_size", [2, 50, 599, 600])
def test_sampled_silhouette_equals_scikit_learn_on_the_drawn_rows(backend, sample_size):
    pick = metrics.sample_rows(X.shape[0], sample_size, random_state=7)
    labels = Y[pick]
    if not 1 < np.unique(labels).shape[0] < sample_size:  # e.g. 2 rows: no silhouette exists
        with pytest.raises(ValueError, match=f"sample_size={sample_size}"):
            metrics.silhouette_score(
                backend.asarray(X), backend.asarray(Y), sample_size=sample_size, random_state=7
            )
        return
    expected = sk_metrics.silhouette_score(X[pick], labels)
    got = metrics.silhouette_score(
        backend.asarray(X), backend.asarray(Y), sample_size=sample_size, random_state=7
    )
    assert isinstance(got, float)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)


def test_sample_of_every_row_is_the_exact_score():
    exact = metrics.silhouette_score(X, Y)
    np.testing.assert_allclose(
        metrics.silhouette_score(X, Y, sample_size=600, random_state=1), exact, rtol=1e-9
    )


def test_sampled_silhouette_is_close_to_scikit_learns_own_sampling():
    # different draws (scikit-learn permutes with a RandomState), the same estimate
    ours = [metrics.silhouette_score(X, Y, sample_size=300, random_state=s) for s in range(5)]
    theirs = [sk_metrics.silhouette_score(X, Y, sample_size=300, random_state=s) for s in range(5)]
    exact = sk_metrics.silhouette_score(X, Y)
    assert abs(np.mean(ours) - exact) < 0.03 and abs(np.mean(theirs) - exact) < 0.03


def test_sample_rows_are_distinct_and_seeded():
    a = metrics.sample_rows(1000, 400, random_state=3)
    assert a.dtype == np.int64 and np.unique(a).shape[0] == 400 and a.min() >= 0 and a.max() < 1000
    np.testing.assert_array_equal(a, metrics.sample_rows(1000, 400, random_state=3))
    assert not np.array_equal(a, metrics.sample_rows(1000, 400, random_state=4))


@pytest.mark.parametrize(
    ("sample_size", "error", "message"),
    [
        (1, InvalidParameterError, "sample_size=1 must be an int >= 2"),
        (0, InvalidParameterError, "sample_size=0"),
        (601, ValueError, "sample_size=601 must be <= n_samples=600"),
        (2.5, InvalidParameterError, "sample_size=2.5"),
        (True, InvalidParameterError, "sample_size=True"),
    ],
)
def test_bad_sample_size_is_named(sample_size, error, message):
    with pytest.raises(error, match=message):
        metrics.silhouette_score(X, Y, sample_size=sample_size)
    with pytest.raises(error, match=message):
        metrics.dunn_index(X, Y, sample_size=sample_size)


def test_sampled_labels_must_match_rows():
    with pytest.raises(ValueError, match=r"labels has shape \(599,\)"):
        metrics.silhouette_score(X, Y[:-1], sample_size=10)


def test_sampled_dunn_index_is_the_index_of_the_drawn_rows(backend):
    pick = metrics.sample_rows(X.shape[0], 200, random_state=2)
    got = metrics.dunn_index(
        backend.asarray(X), backend.asarray(Y), sample_size=200, random_state=2
    )
    assert got == pytest.approx(metrics.dunn_index(X[pick], Y[pick]), rel=1e-9)
    # fewer pairs: the closest pair across clusters is no closer, the widest cluster no wider
    assert got >= metrics.dunn_index(X, Y) * (1 - 1e-12)


# ---------------------------------------------------------------- elbow
def test_elbow_samples_the_silhouette_above_the_auto_size(monkeypatch):
    monkeypatch.setattr(selection, "SILHOUETTE_AUTO_SAMPLE", 250)
    sampled = selection.elbow(X, range(1, 6), random_state=0, scores=("silhouette",))
    full = selection.elbow(X, range(1, 6), random_state=0, scores=("silhouette",), sample_size=None)
    assert sampled.silhouette_sample_size == 250 and full.silhouette_sample_size is None
    assert "estimated on 250 random rows" in str(sampled)
    assert "estimated" not in str(full)
    # the draw does not touch the fits' random stream
    assert sampled.inertias == full.inertias
    assert np.isnan(sampled.scores["silhouette"][0]) and np.isnan(full.scores["silhouette"][0])
    np.testing.assert_allclose(
        sampled.scores["silhouette"][1:], full.scores["silhouette"][1:], atol=0.06
    )
    assert sampled.scores["silhouette"][1:] != full.scores["silhouette"][1:]


def test_elbow_full_silhouette_equals_scikit_learn(backend):
    result = selection.elbow(
        backend.asarray(X), range(1, 5), random_state=0, scores=("silhouette",), sample_size=None
    )
    rng = np.random.default_rng(0)  # the sweep's fits, one after another from one generator
    for k, score in zip(result.ks, result.scores["silhouette"]):
        labels = KMeans(k, random_state=rng).fit(X).labels_
        if k == 1:
            assert np.isnan(score)
            continue
        np.testing.assert_allclose(score, sk_metrics.silhouette_score(X, labels), rtol=1e-6)


def test_elbow_sampled_silhouette_is_the_score_of_its_rows():
    # the rows come from a child of the sweep's generator (documented), so the scores can be
    # recomputed from the same rows and the same fits
    result = selection.elbow(
        X, range(2, 5), random_state=5, scores=("silhouette",), sample_size=120
    )
    rng = np.random.default_rng(5)
    pick = metrics.sample_rows(600, 120, rng.spawn(1)[0])
    for k, score in zip(result.ks, result.scores["silhouette"]):
        labels = KMeans(k, random_state=rng).fit(X).labels_
        np.testing.assert_allclose(
            score, sk_metrics.silhouette_score(X[pick], labels[pick]), rtol=1e-6
        )


def test_elbow_int_sample_size_and_its_errors():
    result = selection.elbow(
        X, range(1, 4), random_state=0, scores=("silhouette", "davies_bouldin"), sample_size=100
    )
    assert result.silhouette_sample_size == 100
    assert (
        selection.elbow(X, range(1, 4), random_state=0, sample_size=100).silhouette_sample_size
        is None
    )
    with pytest.raises(ValueError, match="sample_size=601 must be <= n_samples=600"):
        selection.elbow(X, range(1, 4), scores=("silhouette",), sample_size=601)
    with pytest.raises(InvalidParameterError, match="sample_size=1"):
        selection.elbow(X, range(1, 4), scores=("silhouette",), sample_size=1)
    with pytest.raises(ValueError, match="sample_size='all'"):
        selection.elbow(X, range(1, 4), scores=("silhouette",), sample_size="all")
    with pytest.raises(InvalidParameterError, match="verbose='yes'"):
        selection.elbow(X, range(1, 4), verbose="yes")


def test_elbow_verbose_prints_one_line_per_k_to_stderr(capsys):
    result = selection.elbow(X, range(1, 5), random_state=0, verbose=True, scores=("silhouette",))
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert captured.out == ""
    assert len(lines) == 4
    for k, inertia, line in zip(result.ks, result.inertias, lines):
        assert line.startswith(f"elbow: k={k} inertia={inertia:.6g} fit ") and line.endswith(" s")
    selection.elbow(X, range(1, 5), random_state=0)
    assert capsys.readouterr().err == ""
