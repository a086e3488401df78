"""Small data is shifted once, into a copy, instead of block by block (``copy_x``)."""

from __future__ import annotations

import numpy as np
import pytest

import gkmeans
from gkmeans import _kernels as kernels
from gkmeans._kernels import workspace
from gkmeans.datasets import make_blobs
from gkmeans.exceptions import InvalidParameterError


def _shifts_seen(monkeypatch):
    """Record the ``shift`` every Lloyd pass and k-means++ step receives."""
    seen = []
    for name in ("assign_and_sum", "closer_distances"):
        original = getattr(kernels, name)

        def spy(*args, _original=original, **kwargs):
            seen.append(kwargs.get("shift"))
            return _original(*args, **kwargs)

        monkeypatch.setattr(kernels, name, spy)
    return seen


def _far_blobs(dtype):
    X, _, _ = make_blobs(n_samples=2000, n_features=5, centers=6, cluster_std=1.0, random_state=3)
    return (X + 1000.0).astype(dtype)  # far from the origin: the shift matters in float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_copy_and_blockwise_shift_give_the_same_fit_bit_for_bit(backend, monkeypatch, dtype):
    X = backend.asarray(_far_blobs(dtype))
    seen = _shifts_seen(monkeypatch)
    copied = gkmeans.KMeans(6, n_init=3, random_state=0).fit(X)
    assert seen and all(shift is None for shift in seen)  # every pass read the shifted copy
    seen.clear()
    blockwise = gkmeans.KMeans(6, n_init=3, random_state=0, copy_x=False).fit(X)
    assert seen and all(shift is not None for shift in seen)
    np.testing.assert_array_equal(backend.to_numpy(copied.cluster_centers_),
                                  backend.to_numpy(blockwise.cluster_centers_))
    np.testing.assert_array_equal(backend.to_numpy(copied.labels_), backend.to_numpy(blockwise.labels_))
    assert copied.inertia_ == blockwise.inertia_ and copied.n_iter_ == blockwise.n_iter_


def test_data_above_the_allowance_is_shifted_block_by_block(monkeypatch):
    X = _far_blobs(np.float64)
    monkeypatch.setattr(workspace, "SHIFTED_COPY_MAX_BYTES", X.nbytes - 1)
    seen = _shifts_seen(monkeypatch)
    gkmeans.KMeans(6, n_init=1, random_state=0).fit(X)
    assert seen and all(shift is not None for shift in seen)
    monkeypatch.setattr(workspace, "SHIFTED_COPY_MAX_BYTES", X.nbytes)
    seen.clear()
    gkmeans.KMeans(6, n_init=1, random_state=0).fit(X)
    assert seen and all(shift is None for shift in seen)


def test_no_copy_without_free_memory_for_it(monkeypatch):
    X = _far_blobs(np.float64)
    monkeypatch.setattr(workspace, "free_bytes", lambda xp, device: 8 * X.nbytes - 8)
    assert not kernels.shifted_copy_fits(X, np)
    monkeypatch.setattr(workspace, "free_bytes", lambda xp, device: 8 * X.nbytes)
    assert kernels.shifted_copy_fits(X, np)


def test_the_caller_array_is_left_as_it_was():
    X = _far_blobs(np.float32)
    before = X.copy()
    gkmeans.KMeans(6, n_init=2, random_state=0).fit(X)
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_copy_x_must_be_a_bool(bad):
    with pytest.raises(InvalidParameterError, match=r"copy_x=.* must be True or False"):
        gkmeans.KMeans(2, copy_x=bad).fit(np.zeros((4, 2)))
    with pytest.raises(InvalidParameterError, match=r"copy_x=.* must be True or False"):
        gkmeans.k_means(np.zeros((4, 2)), 2, copy_x=bad)
