"""`import gkmeans` stays light; submodules are attributes, imported on first use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import gkmeans

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = ("matplotlib", "PIL", "pyarrow", "sklearn", "scipy", "numba", "dask", "torch", "cupy")


def _run(code: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(out.stdout)


def test_import_gkmeans_imports_no_optional_dependency_and_no_lazy_submodule():
    got = _run(
        "import json, sys, gkmeans\n"
        f"optional = {OPTIONAL!r}\n"
        "print(json.dumps({'optional': [m for m in optional if m in sys.modules],\n"
        "  'lazy': [m for m in gkmeans.LAZY_SUBMODULES if 'gkmeans.' + m in sys.modules]}))"
    )
    assert got == {"optional": [], "lazy": []}


def test_every_lazy_submodule_is_an_attribute_and_still_imports_no_optional_dependency():
    got = _run(
        "import json, sys, types, gkmeans\n"
        "kinds = {m: type(getattr(gkmeans, m)).__name__ for m in gkmeans.LAZY_SUBMODULES}\n"
        f"optional = {OPTIONAL!r}\n"
        "print(json.dumps({'kinds': kinds, 'optional': [m for m in optional if m in sys.modules],\n"
        "  'same': all(getattr(gkmeans, m) is sys.modules['gkmeans.' + m] for m in kinds)}))"
    )
    assert set(got["kinds"]) == {
        "anomaly",
        "datasets",
        "image",
        "io",
        "metrics",
        "plot",
        "selection",
    }
    assert set(got["kinds"].values()) == {"module"}
    assert got["optional"] == [] and got["same"]


def test_from_import_dir_and_unknown_names():
    from gkmeans import image

    assert image.compress is gkmeans.image.compress
    assert set(gkmeans.LAZY_SUBMODULES) <= set(dir(gkmeans))
    assert {"KMeans", "load", "__version__"} <= set(dir(gkmeans))
    try:
        gkmeans.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("gkmeans.no_such_name did not raise AttributeError")
