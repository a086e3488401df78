"""``precision=``: exact by default, reduced precision only where a GPU backend offers it."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from gkmeans import InvalidParameterError, KMeans, k_means
from gkmeans import _kernels as kernels
from gkmeans.datasets import make_blobs


def _blobs(dtype=np.float32):
    return make_blobs(3000, 4, 5, random_state=0, dtype=dtype)[0]


def test_precision_is_validated():
    with pytest.raises(InvalidParameterError, match="precision='fp8' is not recognised"):
        KMeans(3, precision="fp8").fit(_blobs())


@pytest.mark.parametrize("precision", ["tf32", "bf16"])
def test_reduced_precision_on_the_cpu_stays_exact(backend, precision):
    X = backend.asarray(_blobs())
    reduced = KMeans(5, random_state=0, precision=precision).fit(X)
    exact = KMeans(5, random_state=0).fit(X)
    assert reduced.precision_ == "exact" and exact.precision_ == "exact"
    np.testing.assert_array_equal(backend.to_numpy(reduced.labels_), backend.to_numpy(exact.labels_))
    assert reduced.inertia_ == exact.inertia_


def test_the_backend_context_wraps_fit_and_predict(monkeypatch):
    """Where a backend offers reduced precision (simulated here), fit and predict run inside its context."""
    from gkmeans._kernels import numpy_

    entered = []

    @contextlib.contextmanager
    def fake_context(precision, device):
        entered.append(precision)
        yield precision

    monkeypatch.setattr(numpy_, "matmul_precision", fake_context, raising=False)
    monkeypatch.setattr(kernels, "_on_gpu", lambda xp, device: True)
    X = _blobs()
    model = KMeans(5, random_state=0, precision="tf32").fit(X)
    assert model.precision_ == "tf32" and entered == ["tf32"]
    model.predict(X)
    model.transform(X)
    assert entered == ["tf32"] * 3
    KMeans(5, random_state=0, precision="tf32").fit(X.astype(np.float64))  # float64 is never reduced
    assert len(entered) == 3
    centers, labels, inertia = k_means(X, 5, random_state=0, precision="bf16")
    assert entered[-1] == "bf16"
