"""A sparse fit reads the host once per Lloyd iteration, as a dense one does
(:mod:`tests.test_host_syncs`), however many blocks of rows a pass takes.

Counted on PyTorch sparse CSR tensors on the CPU, the sparse path that would run on a GPU: every
way a tensor reaches the host (``bool``, ``int``, ``float``, ``item``, a copy to NumPy, ...) is
patched to count, and the count per iteration is the difference between fits of different lengths.
"""

from __future__ import annotations

import collections

import numpy as np
import pytest
import scipy.sparse as sp

import gkmeans
from gkmeans._kernels import workspace
from gkmeans.datasets import make_blobs

torch = pytest.importorskip("torch")

#: The ways a tensor reaches the host.
TO_HOST = ("__bool__", "__int__", "__float__", "__index__", "item", "tolist", "numpy", "__array__")


@pytest.fixture
def host_reads(monkeypatch):
    counts: collections.Counter = collections.Counter()
    for name in TO_HOST:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            counts[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return counts


@pytest.fixture
def sparse_blobs():
    X, _, _ = make_blobs(6000, 6, 25, cluster_std=5.0, random_state=0)
    X[np.abs(X) < 3] = 0  # a third of the values not stored
    csr = sp.csr_matrix(X)
    tensor = torch.sparse_csr_tensor(
        torch.from_numpy(csr.indptr).long(),
        torch.from_numpy(csr.indices).long(),
        torch.from_numpy(csr.data.copy()),
        size=csr.shape,
    )
    return tensor, torch.from_numpy(X[:25].copy())


def _reads_per_iteration(host_reads, fit) -> float:
    totals = {}
    for max_iter in (3, 9):
        host_reads.clear()
        n_iter = fit(max_iter)
        assert n_iter == max_iter, "the data must not converge within the fits compared"
        totals[max_iter] = sum(host_reads.values())
    return (totals[9] - totals[3]) / 6


@pytest.mark.parametrize("small_blocks", [False, True])
def test_a_sparse_lloyd_run_reads_the_host_once_per_iteration(
    host_reads, sparse_blobs, monkeypatch, small_blocks
):
    tensor, init = sparse_blobs
    if small_blocks:  # 256-row blocks: 24 of them a pass
        monkeypatch.setattr(workspace, "CPU_DISTANCE_BLOCK", 0)
        monkeypatch.setattr(workspace, "CPU_WORKSPACE_CAP", 256 * 8 * 25)
    per_iteration = _reads_per_iteration(
        host_reads,
        lambda it: gkmeans.KMeans(25, init=init, n_init=1, max_iter=it, tol=0).fit(tensor).n_iter_,
    )
    assert per_iteration == 1
