"""Every example in a public docstring runs and prints what it shows.

Run through ``doctest`` on the imported package (the installed one), one test per module.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import gkmeans

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(gkmeans.__path__, prefix="gkmeans.") if not info.name.endswith("__main__")
)


def test_every_module_is_found():
    assert {"gkmeans.estimator", "gkmeans.metrics", "gkmeans._kernels.agnostic"} <= set(MODULES)


#: Modules that import an optional dependency at import time (every other module imports its
#: optional ones on first use): Triton's kernels, which Triton reads from their module's globals.
NEEDS = {"gkmeans._kernels.experimental.triton_kernels": "triton"}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    if name in NEEDS:
        pytest.importorskip(NEEDS[name], reason=f"{name} needs {NEEDS[name]} (not installed)")
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
    if name in PUBLIC_WITH_EXAMPLES:
        assert result.attempted > 0, f"{name} has no runnable example"


PUBLIC_WITH_EXAMPLES = {
    "gkmeans.estimator", "gkmeans.api", "gkmeans.metrics", "gkmeans.selection", "gkmeans.image",
    "gkmeans.anomaly", "gkmeans.persistence", "gkmeans.device", "gkmeans.datasets",
}
