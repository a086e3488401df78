"""Putting gkmeans' objects in place of scikit-learn's, and back.

The names are replaced on ``sklearn.cluster`` and ``sklearn.cluster._kmeans``, so code that
imports them after :func:`install` gets gkmeans' objects; :func:`uninstall` puts scikit-learn's
own objects back. scikit-learn is imported here, when :func:`install` is called.
"""

from __future__ import annotations

import atexit
import importlib
import sys
import threading
from typing import Any

from gkmeans import config
from gkmeans.accel._report import format_summary

#: The modules whose attributes are replaced.
MODULES = ("sklearn.cluster", "sklearn.cluster._kmeans")
#: The names replaced in each.
NAMES = ("KMeans", "MiniBatchKMeans", "k_means", "kmeans_plusplus")

_LOCK = threading.Lock()
#: (module, name) -> scikit-learn's object, while installed.
_SAVED: dict[tuple[str, str], Any] = {}
_AT_EXIT: list[bool] = []


def install() -> None:
    """Replace scikit-learn's k-means names by gkmeans' (a second call does nothing)."""
    with _LOCK:
        if _SAVED:
            return
        from gkmeans.accel import _estimators  # imports scikit-learn

        for module_name in MODULES:
            module = importlib.import_module(module_name)
            for name in NAMES:
                _SAVED[(module_name, name)] = getattr(module, name)
                setattr(module, name, _estimators.REPLACEMENTS[name])
        if config.accel_report() and not _AT_EXIT:
            atexit.register(_print_report)
            _AT_EXIT.append(True)


def uninstall() -> None:
    """Put scikit-learn's own objects back (nothing happens when not installed)."""
    with _LOCK:
        for (module_name, name), original in _SAVED.items():
            setattr(sys.modules[module_name], name, original)
        _SAVED.clear()


def is_installed() -> bool:
    """Whether :func:`install` is in effect."""
    return bool(_SAVED)


def _print_report() -> None:
    print(format_summary(), file=sys.stderr)
