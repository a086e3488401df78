"""At most one host synchronisation per Lloyd iteration (issue: GPU fast path).

On a GPU every value brought to the host (``bool(x)``, ``float(x)``, a copy to NumPy) waits for
all the work queued before it; one such wait per chunk would leave the device idle between
chunks. The array-agnostic core is what runs on CuPy around the kernels, so the waits are
counted on array-api-strict arrays, whose every way to the host is one of the methods patched
here: the count per iteration is the difference between fits of different lengths.
"""

from __future__ import annotations

import collections

import pytest

import gkmeans
from gkmeans.datasets import make_blobs

xps = pytest.importorskip("array_api_strict")

#: The ways an array-api-strict array reaches the host.
TO_HOST = ("__bool__", "__int__", "__float__", "__index__", "__complex__", "__array__", "__dlpack__", "tolist")


@pytest.fixture
def host_reads(monkeypatch):
    from array_api_strict._array_object import Array

    counts: collections.Counter = collections.Counter()
    for name in TO_HOST:
        original = getattr(Array, name, None)
        if original is None:
            continue

        def counted(self, *args, _original=original, _name=name, **kwargs):
            counts[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Array, name, counted)
    return counts


def _reads_per_iteration(host_reads, fit) -> float:
    totals = {}
    for max_iter in (3, 9):
        host_reads.clear()
        n_iter = fit(max_iter)
        assert n_iter == max_iter, "the data must not converge within the fits compared"
        totals[max_iter] = sum(host_reads.values())
    return (totals[9] - totals[3]) / 6


@pytest.fixture
def overlapping():
    X, _, _ = make_blobs(6000, 6, 25, cluster_std=5.0, random_state=0)
    return X


def test_one_lloyd_run_reads_the_host_once_per_iteration(host_reads, overlapping):
    X, init = xps.asarray(overlapping), xps.asarray(overlapping[:25])
    per_iteration = _reads_per_iteration(
        host_reads, lambda it: gkmeans.KMeans(25, init=init, n_init=1, max_iter=it, tol=0).fit(X).n_iter_)
    assert per_iteration == 1


def test_batched_restarts_read_the_host_once_per_iteration_for_all_runs(host_reads, overlapping):
    X = xps.asarray(overlapping)
    per_iteration = _reads_per_iteration(
        host_reads, lambda it: gkmeans.KMeans(25, init="random", n_init=6, max_iter=it, tol=0, random_state=0,
                                              batch_restarts=True).fit(X).n_iter_)
    # (<= : the final comparison of the restarts reads a count that depends on the partitions found)
    assert per_iteration <= 1


def test_a_streamed_pass_reads_the_host_once_however_many_chunks(host_reads, overlapping):
    """Streamed fits fold each chunk's sums on the device and bring the pass's total over once."""
    chunks = [xps.asarray(overlapping[i:i + 1000]) for i in range(0, 6000, 1000)]
    init = overlapping[:25]
    per_iteration = _reads_per_iteration(
        host_reads, lambda it: gkmeans.KMeans(25, init=init, n_init=1, max_iter=it, tol=0).fit(
            gkmeans.chunked(lambda: iter(chunks))).n_iter_)
    assert per_iteration == 1


@pytest.mark.parametrize("init", ["k-means++", "farthest-first"])
def test_seeding_reads_the_host_not_once_per_centre(host_reads, overlapping, init):
    """k-means++ picks a centre a step, k steps (1,024 at the GPU target): the uniform draws come from
    the host, the sampling, the candidates' distances and the choice stay on the device."""
    X = xps.asarray(overlapping)
    totals = {}
    for k in (10, 20):
        host_reads.clear()
        gkmeans.KMeans(k, init=init, n_init=1, max_iter=1, random_state=0).fit(X)
        totals[k] = sum(host_reads.values())
    assert totals[20] == totals[10]


@pytest.mark.parametrize("batch_restarts", [False, True])
def test_history_off_adds_no_host_read_and_on_one_copy_per_iteration(host_reads, overlapping, batch_restarts):
    """``history=False`` (the default) reads the host as a fit without the option; ``True`` adds one
    copy of the centres (all runs' together) per iteration."""
    X = xps.asarray(overlapping)
    n_init = 3 if batch_restarts else 1
    init = "random" if batch_restarts else xps.asarray(overlapping[:25])

    def fit(**extra):
        return lambda it: gkmeans.KMeans(25, init=init, n_init=n_init, max_iter=it, tol=0, random_state=0,
                                         batch_restarts=batch_restarts, **extra).fit(X).n_iter_

    without = _reads_per_iteration(host_reads, fit())
    off = _reads_per_iteration(host_reads, fit(history=False))
    on = _reads_per_iteration(host_reads, fit(history=True))
    assert off == without and without <= 1
    assert on == without + 1
