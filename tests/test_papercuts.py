"""make_blobs' return values; every init method documented in KMeans' docstring."""

from __future__ import annotations

import numpy as np
import pytest

from gkmeans import InvalidParameterError, KMeans
from gkmeans.algorithms.init_methods import INIT_METHODS
from gkmeans.datasets import make_blobs


def test_make_blobs_returns_centres_unless_asked_not_to():
    X, y, centres = make_blobs(120, 3, 4, random_state=0)
    X2, y2 = make_blobs(120, 3, 4, random_state=0, return_centers=False)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert centres.shape == (4, 3)
    # the centres are those the blobs were drawn around
    for label in range(4):
        np.testing.assert_allclose(X[y == label].mean(0), centres[label], atol=0.7)
    with pytest.raises(InvalidParameterError, match="return_centers=1"):
        make_blobs(10, 2, 2, return_centers=1)


def test_make_blobs_two_values_match_scikit_learns_shape():
    datasets = pytest.importorskip("sklearn.datasets")
    theirs = datasets.make_blobs(120, 3, centers=4, random_state=0)
    ours = make_blobs(120, 3, 4, random_state=0, return_centers=False)
    assert len(ours) == len(theirs) == 2
    assert [a.shape for a in ours] == [a.shape for a in theirs]


@pytest.mark.parametrize("name", sorted(INIT_METHODS))
def test_kmeans_docstring_lists_every_init_method(name):
    assert f'"{name}"' in KMeans.__doc__.split("n_init :")[0]
