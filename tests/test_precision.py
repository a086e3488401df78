"""``precision=``: exact by default, reduced precision only where a GPU backend offers it."""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pytest

from gkmeans import InvalidParameterError, KMeans, k_means
from gkmeans import _kernels as kernels
from gkmeans._kernels import precision as precision_module
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

    def outermost() -> list[str]:  # the contexts entered by fit / predict, not the exact ones nested in them
        return [p for p in entered if p != "exact"]

    monkeypatch.setattr(numpy_, "matmul_precision", fake_context, raising=False)
    monkeypatch.setattr(precision_module, "on_gpu", lambda xp, device: True)
    X = _blobs()
    model = KMeans(5, random_state=0, precision="tf32").fit(X)
    assert model.precision_ == "tf32" and entered[0] == "tf32" and outermost() == ["tf32"]
    model.predict(X)
    model.transform(X)
    assert outermost() == ["tf32"] * 3
    KMeans(5, random_state=0, precision="tf32").fit(X.astype(np.float64))  # float64 is never reduced
    assert len(outermost()) == 3
    centers, labels, inertia = k_means(X, 5, random_state=0, precision="bf16")
    assert outermost()[-1] == "bf16"
    # an exact fit sets exact products (TF32 may be the process's default for float32 products)
    entered.clear()
    exact = KMeans(5, random_state=0).fit(X)
    assert exact.precision_ == "exact" and entered and set(entered) == {"exact"}


def test_reduced_precision_reaches_the_distance_products_only(monkeypatch):
    """In a TF32 fit (simulated on array-api-strict, every product watched) only the distances lose
    mantissa bits: the cluster sums of batched restarts and the squared norms are computed under
    exact products, so the centres and the inertia the fit reports are exact."""
    import types

    from gkmeans._compat import backend_name
    from gkmeans._kernels import agnostic

    xps = pytest.importorskip("array_api_strict")
    mode = ["exact"]

    @contextlib.contextmanager
    def fake_context(precision, device):
        previous, mode[0] = mode[0], precision
        try:
            yield precision
        finally:
            mode[0] = previous

    original_native = kernels.native_module
    monkeypatch.setattr(precision_module, "native_module", lambda xp: types.SimpleNamespace(matmul_precision=fake_context)
                        if backend_name(xp) == "array_api_strict" else original_native(xp))
    monkeypatch.setattr(precision_module, "on_gpu", lambda xp, device: True)
    products = []
    original_matmul = type(xps.asarray(0.0)).__matmul__

    def watched(self, other):
        products.append((mode[0], tuple(self.shape), tuple(other.shape)))
        return original_matmul(self, other)

    monkeypatch.setattr(type(xps.asarray(0.0)), "__matmul__", watched)
    norms_modes = []
    original_norms = agnostic.row_sq_norms

    def watched_norms(*args, **kwargs):
        norms_modes.append(mode[0])
        return original_norms(*args, **kwargs)

    monkeypatch.setattr(agnostic, "row_sq_norms", watched_norms)
    X = _blobs()
    n, d = X.shape
    model = KMeans(5, init="random", n_init=3, batch_restarts=True, random_state=0, precision="tf32").fit(
        xps.asarray(X))
    assert model.precision_ == "tf32" and mode == ["exact"]
    distances = [m for m, left, right in products if right == (d, 3 * 5)]
    sums = [m for m, left, right in products if left[0] == 3 * 5 and right[1] == d]
    assert distances and set(distances) == {"tf32"}
    assert sums and set(sums) == {"exact"}
    assert norms_modes and set(norms_modes) == {"exact"}


def test_reseeded_centres_are_the_drawn_rows_bit_for_bit(monkeypatch):
    """Empty clusters restart exactly at the drawn rows (placed by index: a product would round them
    in a TF32 fit), in cluster order; the others take their means."""
    from gkmeans.algorithms.empty_clusters import reseeded_means

    xps = pytest.importorskip("array_api_strict")

    def no_products(self, other):
        raise AssertionError("reseeded_means must not multiply matrices")

    monkeypatch.setattr(type(xps.asarray(0.0)), "__matmul__", no_products)
    new_rows = np.array([[1 + 2.0**-20, 5.0], [7.0, 1 / 3]], dtype=np.float32)
    centers = np.full((4, 2), 9.0, dtype=np.float32)
    sums = np.array([[2.0, 4.0], [0, 0], [3.0, 6.0], [0, 0]])
    weight_sums = np.array([2.0, 0.0, 3.0, 0.0])
    out = reseeded_means(xps.asarray(centers), xps.asarray(sums), xps.asarray(weight_sums), xps.asarray(new_rows), xps)
    np.testing.assert_array_equal(np.asarray(out), np.array([[1, 2], new_rows[0], [1, 2], new_rows[1]],
                                                            dtype=np.float32))


def test_pytorch_precision_context_sets_and_restores_the_matmul_precision():
    """PyTorch's float32 matmul precision is process-wide (Lightning and others set "high"): a CUDA fit
    sets its own — "highest" for exact — and restores the caller's after; CPU tensors are left alone."""
    import types

    torch = pytest.importorskip("torch")
    from gkmeans._kernels import torch_

    cuda, cpu = types.SimpleNamespace(type="cuda"), types.SimpleNamespace(type="cpu")
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("high")
        for precision, expected in [("exact", "highest"), ("tf32", "high"), ("bf16", "medium")]:
            with torch_.matmul_precision(precision, cuda) as effective:
                assert effective == precision and torch.get_float32_matmul_precision() == expected
            assert torch.get_float32_matmul_precision() == "high"
        with torch_.matmul_precision("tf32", cuda):
            with torch_.matmul_precision("exact", cuda):  # a fit's exact products inside a TF32 fit
                assert torch.get_float32_matmul_precision() == "highest"
            assert torch.get_float32_matmul_precision() == "high"
        with torch_.matmul_precision("tf32", cpu) as effective:
            assert effective == "exact" and torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision(before)


def test_reduced_precision_ranks_restarts_on_their_exact_inertia(monkeypatch):
    """Under TF32 (simulated) a run's expansion inertia is rounded: restarts are ranked on their exact
    inertia. Here the expansion inertias are scrambled so that they rank the runs backwards: the
    reduced-precision fit still keeps the best run, the exact one (which trusts them) does not."""
    from gkmeans._kernels import numpy_
    from gkmeans.pipelines import in_memory as _fit

    @contextlib.contextmanager
    def fake_context(precision, device):
        yield precision

    monkeypatch.setattr(numpy_, "matmul_precision", fake_context, raising=False)
    monkeypatch.setattr(precision_module, "on_gpu", lambda xp, device: True)
    original_lloyd = _fit.lloyd

    def scrambled(*args, **kwargs):
        result = original_lloyd(*args, **kwargs)
        return dataclasses.replace(result, inertia=1e12 - result.inertia)

    X = make_blobs(2000, 2, 6, cluster_std=2.5, random_state=3, dtype=np.float32)[0]
    options = dict(init="random", n_init=8, batch_restarts=False, random_state=1)
    runs = [KMeans(6, init="random", n_init=1, random_state=seed).fit(X).inertia_ for seed in range(3)]
    assert len(set(np.round(runs, 3))) > 1  # the restarts do end at different inertias
    honest = KMeans(6, **options).fit(X)
    monkeypatch.setattr(_fit, "lloyd", scrambled)
    reduced = KMeans(6, precision="tf32", **options).fit(X)
    fooled = KMeans(6, **options).fit(X)
    assert reduced.precision_ == "tf32" and reduced.inertia_ == honest.inertia_
    assert fooled.inertia_ > honest.inertia_
