"""The layout holds: experimental kernels load only when chosen, parameters are checked once,
one router decides how an input is processed, and no module grows past its size limit."""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import gkmeans
from gkmeans.datasets import make_blobs
from gkmeans.exceptions import InvalidParameterError
from gkmeans.pipelines import router
from gkmeans.pipelines.params import KMeansParams

PACKAGE = Path(__file__).resolve().parents[1] / "gkmeans"
#: No module of the package grows past this many lines.
MAX_MODULE_LINES = 600


def test_no_module_is_over_the_size_limit():
    sizes = {
        path.relative_to(PACKAGE).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_private_names_stay_inside_their_module():
    """No ``from gkmeans.x import _name`` and no ``module._name`` of another gkmeans module."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gkmeans"):
                for alias in node.names:
                    private = alias.name.startswith("_") and not alias.name.startswith("__")
                    is_module = (
                        PACKAGE.parent / f"{node.module}.{alias.name}".replace(".", "/")
                    ).exists() or (
                        PACKAGE.parent / (f"{node.module}.{alias.name}".replace(".", "/") + ".py")
                    ).exists()
                    if private and not is_module:
                        offenders.append(f"{path.name}: from {node.module} import {alias.name}")
                    modules.add(alias.asname or alias.name)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in modules
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                offenders.append(f"{path.name}: {node.value.id}.{node.attr}")
    assert offenders == []


def _loaded_after(code: str, **env: str) -> list[str]:
    script = textwrap.dedent(code) + (
        "\nimport sys\n"
        "print(sorted(m for m in sys.modules if m.startswith('gkmeans._kernels.experimental')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, **env},
    )
    return eval(out.stdout.strip().splitlines()[-1])  # noqa: S307 - our own printed list


def test_the_default_path_never_imports_the_experimental_kernels():
    fit = """
        import numpy as np, gkmeans
        X = np.random.default_rng(0).normal(size=(500, 3))
        model = gkmeans.KMeans(4, n_init=2, random_state=0).fit(X)
        model.predict(X); model.transform(X); model.score(X)
        gkmeans.MiniBatchKMeans(4, random_state=0, n_init=1).fit(X)
    """
    assert _loaded_after(fit) == []
    # Chosen for CuPy only: NumPy data still takes the default path and loads nothing.
    assert _loaded_after(fit, GKMEANS_CUDA_ASSIGN="fused") == []


def test_dispatch_reaches_an_experimental_kernel_only_through_the_configuration(monkeypatch):
    from gkmeans._kernels import dispatch

    cupy_like = type("cupy", (), {"__name__": "cupy"})
    monkeypatch.setattr(dispatch, "backend_name", lambda xp: "cupy")
    X = np.zeros((4, 2), dtype=np.float32)
    monkeypatch.delenv("GKMEANS_CUDA_ASSIGN", raising=False)
    monkeypatch.delenv("GKMEANS_CUDA_UPDATE", raising=False)
    assert dispatch.experimental(cupy_like, "assign", X) is None
    monkeypatch.setenv("GKMEANS_CUDA_ASSIGN", "fused")
    chosen = dispatch.experimental(cupy_like, "assign", X)
    assert chosen.func.__module__ == "gkmeans._kernels.experimental.selection"
    assert chosen.keywords == {"method": "fused"}
    assert dispatch.experimental(cupy_like, "segment_sum", X) is None


def test_parameters_are_checked_once_into_a_frozen_object():
    params = KMeansParams.check(n_clusters=3, n_init="auto", init="random", tol=0, verbose=True)
    assert (params.n_clusters, params.n_init, params.tol, params.verbose) == (3, 10, 0.0, True)
    with pytest.raises(AttributeError):
        params.n_clusters = 4  # frozen: nothing downstream changes or re-checks it
    with pytest.raises(InvalidParameterError, match="max_iter"):
        KMeansParams.check(n_clusters=3, max_iter=0)
    with pytest.raises(InvalidParameterError, match="batch_restarts=True cannot follow"):
        KMeansParams.check(n_clusters=3, batch_restarts=True, empty_cluster="drop")


def test_the_fit_checks_the_parameters_once(monkeypatch):
    calls = []
    original = KMeansParams.check.__func__

    @functools.wraps(original)
    def counting(cls, **kwargs):
        calls.append(kwargs["n_clusters"])
        return original(cls, **kwargs)

    monkeypatch.setattr(KMeansParams, "check", classmethod(counting))
    X, _, _ = make_blobs(300, 2, 3, random_state=0)
    gkmeans.KMeans(3, n_init=3, random_state=0).fit(X)
    gkmeans.KMeans(3, n_init=2, random_state=0).fit(gkmeans.chunked(X, chunk_rows=100))
    assert calls == [3, 3]


def test_one_router_decides_how_every_input_is_processed(monkeypatch):
    X, _, _ = make_blobs(300, 2, 3, random_state=0)
    assert isinstance(router.route(X, None, "cpu", 3, "fit"), router.InMemory)
    assert isinstance(router.route(gkmeans.chunked(X), None, "cpu", 3, "predict"), router.Streamed)
    dask_array = pytest.importorskip("dask.array")
    assert isinstance(
        router.route(dask_array.from_array(X), None, "cpu", 3, "score"), router.Distributed
    )

    seen = []
    original = router.route

    def spy(X, sample_weight, device, n_clusters, method):
        seen.append(method)
        return original(X, sample_weight, device, n_clusters, method)

    monkeypatch.setattr("gkmeans.estimator.route", spy)
    model = gkmeans.KMeans(3, random_state=0)
    model.fit_predict(X)
    model.predict(X)
    model.transform(X)
    model.score(X)
    assert seen == ["fit", "predict", "transform", "score"]
