"""Plots for choosing k and looking at clusters (matplotlib, the ``plot`` extra, imported lazily).

Every function draws on ``ax`` (a new figure when None), returns the Axes, and
saves a PNG when ``path`` is given. The pictures of a fit's convergence, :func:`plot_history`
and :func:`animate_fit`, live in :mod:`gkmeans.plot_history` and are re-exported here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gkmeans._compat import to_numpy
from gkmeans._validation import check_array
from gkmeans.metrics import silhouette_samples
from gkmeans.plot_history import animate_fit, plot_history, projection, pyplot
from gkmeans.selection import ElbowResult

__all__ = ["plot_elbow", "plot_silhouette", "plot_clusters", "plot_history", "animate_fit"]


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    _, new_ax = pyplot().subplots(figsize=(6, 4))
    return new_ax


def _finish(ax: Any, path: Any) -> Any:
    if path is not None:
        ax.figure.tight_layout()
        ax.figure.savefig(path, dpi=110)
    return ax


def plot_elbow(result: ElbowResult, *, ax: Any = None, path: Any = None) -> Any:
    """Inertia against k, with the knee marked (or "no clear knee" in the title).

    Examples
    --------
    >>> from gkmeans.selection import elbow
    >>> from gkmeans.plot import plot_elbow
    >>> ax = plot_elbow(elbow(X, range(1, 11)), path="elbow.png")  # doctest: +SKIP
    """
    if not isinstance(result, ElbowResult):
        msg = (
            "plot_elbow expects the ElbowResult of gkmeans.selection.elbow; got "
            f"{type(result).__name__}"
        )
        raise TypeError(msg)
    ax = _axes(ax)
    ax.plot(result.ks, result.inertias, "o-", color="C0", label="inertia (WCSS)")
    knee = result.knee
    if knee.x is not None:
        y = result.inertias[result.ks.index(int(knee.x))]
        style = dict(color="C3") if knee.clear else dict(color="0.5", linestyle="--")
        ax.axvline(
            knee.x, **style, label=f"knee k={knee.x:g}" + ("" if knee.clear else " (not clear)")
        )
        ax.plot(
            [knee.x],
            [y],
            "o",
            markersize=10,
            markerfacecolor="none",
            markeredgecolor=style["color"],
        )
    ax.set_xlabel("number of clusters k")
    ax.set_ylabel("inertia")
    ax.set_yscale("log")
    ax.set_xticks(result.ks)
    title = f"Elbow: k = {result.k}" if result.k is not None else "Elbow: no clear knee"
    ax.set_title(title)
    ax.legend()
    return _finish(ax, path)


def plot_silhouette(X: Any, labels: Any, *, ax: Any = None, path: Any = None) -> Any:
    """The silhouette of every sample, grouped by cluster and sorted, with the mean as a line.

    Examples
    --------
    >>> from gkmeans.plot import plot_silhouette
    >>> ax = plot_silhouette(X, model.labels_, path="silhouette.png")  # doctest: +SKIP
    """
    values = np.asarray(to_numpy(silhouette_samples(X, labels)), dtype=np.float64)
    codes = np.unique(np.asarray(to_numpy(labels)), return_inverse=True)[1]
    ax = _axes(ax)
    bottom = 0
    for cluster in range(int(codes.max()) + 1):
        members = np.sort(values[codes == cluster])
        ax.fill_betweenx(
            np.arange(bottom, bottom + members.size),
            0,
            members,
            color=f"C{cluster % 10}",
            alpha=0.8,
        )
        ax.text(-0.05, bottom + members.size / 2, str(cluster), va="center", ha="right", fontsize=8)
        bottom += members.size + 10
    mean = float(values.mean())
    ax.axvline(mean, color="k", linestyle="--", label=f"mean {mean:.3f}")
    ax.set_xlabel("silhouette coefficient")
    ax.set_ylabel("samples, by cluster")
    ax.set_yticks([])
    ax.set_xlim(min(-0.1, float(values.min()) - 0.05), 1.0)
    ax.set_title("Silhouette per cluster")
    ax.legend(loc="lower right")
    return _finish(ax, path)


def plot_clusters(
    X: Any,
    labels: Any,
    centers: Any = None,
    *,
    ax: Any = None,
    path: Any = None,
    max_points: int = 20_000,
    random_state: Any = 0,
) -> Any:
    """Points coloured by cluster, with the centres; a PCA projection to 2-D when d > 2.

    At most ``max_points`` points are drawn (a random subset), to keep the file small.

    Examples
    --------
    >>> from gkmeans.plot import plot_clusters
    >>> ax = plot_clusters(  # doctest: +SKIP
    ...     X, model.labels_, model.cluster_centers_, path="clusters.png"
    ... )
    """
    points = np.asarray(to_numpy(check_array(X)[0]), dtype=np.float64)
    codes = np.asarray(to_numpy(labels))
    if codes.shape != (points.shape[0],):
        msg = f"labels has shape {codes.shape}; expected ({points.shape[0]},), one label per sample"
        raise ValueError(msg)
    # Principal axes of the data when d > 2: the 2-D view that keeps the most variance.
    mean, axes_, (xlabel, ylabel), projected = projection(points)
    if points.shape[0] > max_points:
        keep = np.random.default_rng(random_state).choice(
            points.shape[0], max_points, replace=False
        )
        points, codes = points[keep], codes[keep]
    shown = (points - mean) @ axes_
    ax = _axes(ax)
    colour_index = np.unique(codes, return_inverse=True)[1]
    # The same colour per cluster as plot_silhouette: C0, C1, ...
    ax.scatter(shown[:, 0], shown[:, 1], c=[f"C{i % 10}" for i in colour_index], s=6, alpha=0.6)
    if centers is not None:
        c = np.asarray(to_numpy(check_array(centers, name="centers")[0]), dtype=np.float64)
        c_shown = (c - mean) @ axes_
        ax.scatter(
            c_shown[:, 0], c_shown[:, 1], marker="X", s=120, c="k", edgecolors="w", label="centres"
        )
        ax.legend(loc="best")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title("Clusters (PCA projection)" if projected else "Clusters")
    return _finish(ax, path)
