"""Run existing scikit-learn k-means code on gkmeans, unedited.

After :func:`install`, ``sklearn.cluster.KMeans``, ``MiniBatchKMeans``, ``k_means`` and
``kmeans_plusplus`` (also as imported from ``sklearn.cluster._kmeans``) are gkmeans' objects:
subclasses and wrappers of scikit-learn's own that run a call on gkmeans when gkmeans computes
what scikit-learn computes, and scikit-learn's implementation otherwise (the reason is logged at
DEBUG level on the ``gkmeans.accel`` logger and counted in :func:`report`).

Three ways in: ``gkmeans.accel.install()`` in a program; ``python -m gkmeans.accel script.py
[args]`` (or ``-m module``); ``%load_ext gkmeans.accel`` in IPython or Jupyter. With
``GKMEANS_ACCEL_REPORT=1`` the report is printed to stderr at exit.

Examples
--------
>>> import gkmeans.accel
>>> gkmeans.accel.install()
>>> from sklearn.cluster import KMeans
>>> KMeans.__module__
'gkmeans.accel._estimators'
>>> gkmeans.accel.uninstall()
"""

from __future__ import annotations

from typing import Any

from gkmeans.accel._patch import install, is_installed, uninstall
from gkmeans.accel._report import format_summary, reset
from gkmeans.accel._report import summary as _summary

__all__ = [
    "install",
    "uninstall",
    "is_installed",
    "report",
    "format_report",
    "reset_report",
    "load_ipython_extension",
    "unload_ipython_extension",
]


def report() -> dict[str, Any]:
    """The calls seen since start (or :func:`reset_report`): accelerated or not, and why.

    Returns
    -------
    report : dict
        ``{"accelerated": int, "fallback": int, "calls": {name: {"accelerated": int,
        "fallback": {reason: int}}}}``, ``name`` being "KMeans.fit",
        "MiniBatchKMeans.fit", "MiniBatchKMeans.partial_fit" or "kmeans_plusplus"
        (``k_means`` is counted as the "KMeans.fit" it runs).

    Examples
    --------
    >>> import gkmeans.accel
    >>> sorted(gkmeans.accel.report())
    ['accelerated', 'calls', 'fallback']
    """
    return _summary()


def format_report() -> str:
    """:func:`report` as text, as ``GKMEANS_ACCEL_REPORT=1`` prints it at exit.

    Examples
    --------
    >>> import gkmeans.accel
    >>> gkmeans.accel.format_report().startswith("gkmeans.accel:")
    True
    """
    return format_summary()


def reset_report() -> None:
    """Forget the calls counted so far.

    Examples
    --------
    >>> import gkmeans.accel
    >>> gkmeans.accel.reset_report()
    >>> gkmeans.accel.report()["accelerated"]
    0
    """
    reset()


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext gkmeans.accel``: :func:`install` in an IPython or Jupyter session.

    Examples
    --------
    >>> import gkmeans.accel
    >>> gkmeans.accel.load_ipython_extension(None)
    >>> gkmeans.accel.is_installed()
    True
    >>> gkmeans.accel.unload_ipython_extension(None)
    """
    install()


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext gkmeans.accel``: :func:`uninstall`.

    Examples
    --------
    >>> import gkmeans.accel
    >>> gkmeans.accel.unload_ipython_extension(None)
    >>> gkmeans.accel.is_installed()
    False
    """
    uninstall()
