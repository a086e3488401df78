"""Sphinx configuration for the gkmeans documentation.

Build (from the repository root; no network needed):

    sphinx-build -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # document this checkout's gkmeans, and let the gallery import it
# The gallery's scripts run in this process and in any subprocess they start; both must find it.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
os.environ.setdefault("MPLBACKEND", "Agg")

import gkmeans  # noqa: E402

project = "gkmeans"
author = "gkmeans developers"
copyright = "gkmeans developers"  # noqa: A001 - Sphinx's name for it
release = gkmeans.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "**.codeobj.json"]

# MyST: headings get anchors so pages can link to sections; ```{directive} blocks work.
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# API pages come from the numpydoc docstrings; autosummary writes one page per object.
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"  # numpydoc's Parameters sections already give the types
numpydoc_show_class_members = False  # the autosummary template lists the methods
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# The gallery: every examples/plot_*.py is run at build time and its figures kept.
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": True,
    "show_memory": False,
    "write_computation_times": False,  # that page loads its table scripts from a CDN
    "plot_gallery": "True",
}

# No network: no intersphinx, no remote fonts or images, no version switcher.
html_theme = "pydata_sphinx_theme"
html_title = f"gkmeans {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": True,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_show_sourcelink = False
html_static_path: list[str] = []

templates_path = ["_templates"]
autosummary_ignore_module_all = False  # a module's __all__ is its public API
# Modules without an __all__, or whose __all__ holds more than a user needs: the names to show.
# A module not named here shows the classes and functions of its __all__.
autosummary_context = {
    "api_members": {
        "gkmeans": [],
        "gkmeans.estimator": ["KMeans", "MiniBatchKMeans"],
        "gkmeans.datasets": ["make_blobs"],
        "gkmeans.io": ["read_data"],
        "gkmeans.streaming": ["chunked", "ChunkedData"],
        "gkmeans.device": ["devices", "DeviceStatus"],
        "gkmeans.persistence": ["load_model", "save_model"],
        "gkmeans.exceptions": [
            "NotFittedError",
            "InvalidParameterError",
            "GPUUnavailableError",
            "EmptyClusterError",
            "EmptyClusterWarning",
            "ConvergenceWarning",
        ],
    }
}

# Every Python cross-reference must resolve: a misspelt name fails the build (with -W).
nitpicky = True


def _resolve_gkmeans_names(app, env, node, contnode):
    """Resolve references to gkmeans objects by what they are, not only where they are documented.

    ``gkmeans.KMeans`` is documented as ``gkmeans.estimator.KMeans`` (its module); a reference
    to the top-level name, or to a name relative to the docstring's module or to ``gkmeans``,
    is sent to the documented object. A name that exists but has no page of its own (a module
    constant, a helper) is shown as code without a link. A name that does not exist stays a
    warning.
    """
    import importlib

    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    module = node.get("py:module") or ""
    candidates = [target, f"{module}.{target}", f"gkmeans.{target}"]
    for name in candidates:
        if not name.startswith("gkmeans"):
            continue
        obj = _lookup(importlib, name)
        if obj is _MISSING:
            continue
        owner = getattr(obj, "__module__", None)
        qualname = getattr(obj, "__qualname__", None)
        domain = env.get_domain("py")
        if owner and qualname:
            node["reftarget"] = f"{owner}.{qualname}"
            found = domain.resolve_xref(
                env, node["refdoc"], app.builder, node["reftype"], node["reftarget"], node, contnode
            )
            if found is not None:
                return found
        return contnode  # a real object without a page: plain code
    return None


_MISSING = object()


def _lookup(importlib, dotted):
    """The object a dotted name refers to (importing modules as needed), or _MISSING."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            obj = getattr(obj, attribute, _MISSING)
            if obj is _MISSING:
                return _MISSING
        return obj
    return _MISSING


def setup(app):
    app.connect("missing-reference", _resolve_gkmeans_names)
