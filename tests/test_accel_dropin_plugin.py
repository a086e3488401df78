"""A pytest plugin (no tests here): scikit-learn's k-means names replaced by gkmeans' plain
drop-ins, ``gkmeans.KMeans`` and friends, for comparing scikit-learn's own tests under the
drop-in and under ``gkmeans.accel`` (see tests/test_accel_sklearn_suite.py). Hooks of a test
module are not called when pytest collects it, so collecting this file patches nothing."""

from __future__ import annotations

from typing import Any


def pytest_configure(config: Any) -> None:
    import sklearn.cluster
    import sklearn.cluster._kmeans

    import gkmeans

    for module in (sklearn.cluster, sklearn.cluster._kmeans):
        for name in ("KMeans", "MiniBatchKMeans", "k_means", "kmeans_plusplus"):
            setattr(module, name, getattr(gkmeans, name))
