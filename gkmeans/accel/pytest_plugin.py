"""A pytest plugin that runs a test session with accel installed:
``python -m pytest -p gkmeans.accel.pytest_plugin ...`` (for example scikit-learn's own tests,
``--pyargs sklearn.cluster.tests.test_k_means``)."""

from __future__ import annotations

from typing import Any

from gkmeans.accel import install


def pytest_configure(config: Any) -> None:
    """Install accel before any test module is imported."""
    install()
