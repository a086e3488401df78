"""scikit-learn's own KMeans tests (``sklearn/cluster/tests/test_k_means.py``), their sparse
parametrisations, run with gkmeans' ``KMeans``, ``MiniBatchKMeans``, ``k_means`` and
``kmeans_plusplus`` in place of scikit-learn's.

The test module's source is read and its import of scikit-learn's estimators replaced by gkmeans'
(so the estimators bound in its ``parametrize`` lists are gkmeans' too), then executed here, where
pytest collects its tests. Parametrisations without a sparse input are skipped: the dense ones are
not this module's subject. Tests of scikit-learn's private helpers, which gkmeans
does not reach are skipped (:data:`NOT_APPLICABLE`).
"""

from __future__ import annotations

import importlib.util

import pytest
import scipy.sparse as sp

pytest.importorskip("sklearn")

_SOURCE_IMPORT = "from sklearn.cluster import KMeans, MiniBatchKMeans, k_means, kmeans_plusplus"
_spec = importlib.util.find_spec("sklearn.cluster.tests.test_k_means")
_source = open(_spec.origin, encoding="utf-8").read()
assert _SOURCE_IMPORT in _source, "scikit-learn's test module changed its imports"
exec(  # noqa: S102 - scikit-learn's test module, with gkmeans' estimators
    compile(
        _source.replace(
            _SOURCE_IMPORT, "from gkmeans import KMeans, MiniBatchKMeans, k_means, kmeans_plusplus"
        ),
        _spec.origin,
        "exec",
    )
)

#: Tests of scikit-learn's private helpers, which gkmeans' estimators do not reach (they pass, but
#: say nothing about gkmeans).
NOT_APPLICABLE = {
    "test_minibatch_update_consistency": "calls scikit-learn's private _mini_batch_step",
    "test_minibatch_reassign": "calls scikit-learn's private _mini_batch_step",
    "test_euclidean_distance": "scikit-learn's private _euclidean_sparse_dense",
    "test_inertia": "scikit-learn's private _inertia_sparse",
    "test_relocate_empty_clusters": "scikit-learn's private _relocate_empty_clusters_sparse",
}


@pytest.fixture
def global_dtype():
    """scikit-learn's default dtype under test (its conftest is not loaded here)."""
    return np.float64  # noqa: F821 - from the executed module


@pytest.fixture
def global_random_seed():
    """scikit-learn's default seed (its conftest is not loaded here)."""
    return 42


def _has_sparse(params: dict) -> bool:
    containers = set(CSR_CONTAINERS)  # noqa: F821 - from the executed module
    for value in params.values():
        values = value if isinstance(value, (list, tuple)) else [value]
        if any(sp.issparse(v) or v in containers for v in values if _hashable(v)):
            return True
    return False


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return sp.issparse(value)
    return True


@pytest.fixture(autouse=True)
def _sparse_only(request):
    name = request.node.originalname
    if name in NOT_APPLICABLE:
        pytest.skip(NOT_APPLICABLE[name])
    callspec = getattr(request.node, "callspec", None)
    if callspec is None or not _has_sparse(callspec.params):
        pytest.skip("no sparse input in this parametrisation")
