"""Pictures of a fit's convergence: the paths of the centres, and an animation of the fit.

Both read the centres recorded by ``KMeans(history=True)`` (``history_``, a
:class:`~gkmeans.algorithms.history.FitHistory`). matplotlib (the ``plot`` extra) is imported
only when a function is called; a GIF also needs Pillow, an MP4 the ``ffmpeg`` program.
Re-exported by :mod:`gkmeans.plot`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from gkmeans._compat import to_numpy
from gkmeans._validation import check_array, check_int
from gkmeans.algorithms.history import FitHistory
from gkmeans.estimator import KMeans

__all__ = ["animate_fit", "check_animation_path", "plot_history", "projection"]

#: Animation writers by file suffix: matplotlib's writer name and what it needs.
WRITERS = {".gif": ("pillow", "Pillow: pip install 'gkmeans[plot]'"), ".mp4": ("ffmpeg", "")}


def pyplot() -> Any:
    """matplotlib's pyplot, imported when a picture is drawn (matplotlib is the ``plot`` extra);
    ImportError with the install hint otherwise."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        msg = "gkmeans.plot needs matplotlib: pip install 'gkmeans[plot]'"
        raise ImportError(msg) from exc
    return plt


def projection(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[str, str], bool]:
    """The 2-D view of ``points`` (host, float64): their mean, the (d, 2) axes to project
    ``x - mean`` on, the axis labels, and whether it is a PCA projection (d > 2).

    For d > 2 the axes are the two principal directions (NumPy SVD on the host): the view
    that keeps the most variance. For d <= 2 the data's own coordinates (a zero mean).
    """
    if points.shape[1] > 2:
        mean = points.mean(0)
        axes = np.linalg.svd(points - mean, full_matrices=False)[2][:2].T
        return mean, axes, ("PC 1", "PC 2"), True
    origin = np.zeros(points.shape[1])
    if points.shape[1] == 2:
        return origin, np.eye(2), ("x0", "x1"), False
    return origin, np.array([[1.0, 0.0]]), ("x0", ""), False


def _history_of(source: Any) -> FitHistory:
    """A FitHistory, given one or a ``KMeans`` fitted with ``history=True``."""
    if isinstance(source, FitHistory):
        return source
    if isinstance(source, KMeans):
        if not hasattr(source, "history_"):
            raise ValueError(
                f"{type(source).__name__} has no history_: fit it with "
                "KMeans(..., history=True) to record the centres of every iteration"
            )
        return source.history_
    raise TypeError(
        "expected a FitHistory (KMeans(history=True).fit(X).history_) or a KMeans fitted with "
        f"history=True; got {type(source).__name__}"
    )


def _points(X: Any, history: FitHistory, max_points: int, random_state: Any) -> Any:
    """The points on the host (float64), a random subset of at most ``max_points``: the subset,
    its indices, the number of rows of X, and the 2-D view of all of them."""
    points = np.asarray(to_numpy(check_array(X)[0]), dtype=np.float64)
    n_features = history.centers.shape[2]
    if points.shape[1] != n_features:
        raise ValueError(
            f"X has {points.shape[1]} features, but the history's centres have {n_features}"
        )
    max_points = check_int(max_points, "max_points", 1)
    keep = np.arange(points.shape[0])
    if points.shape[0] > max_points:
        chosen = np.random.default_rng(random_state).choice(keep, max_points, replace=False)
        keep = np.sort(chosen)
    return points[keep], keep, points.shape[0], projection(points)


def _nearest(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of the nearest centre of each point (a dropped centre, NaN, is never nearest)."""
    distances = ((points[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
    return np.argmin(np.where(np.isnan(distances), np.inf, distances), axis=1)


def _colours(codes: np.ndarray) -> list[str]:
    # The same colour per cluster as plot_clusters and plot_silhouette: C0, C1, ...
    return [f"C{code % 10}" for code in codes]


def plot_history(
    X: Any,
    history: Any,
    *,
    ax: Any = None,
    path: Any = None,
    max_points: int = 20_000,
    random_state: Any = 0,
) -> Any:
    """The paths of the centres over the points: where every centre started, each iteration's
    position, and where it ended; a PCA projection to 2-D when d > 2.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        The data the model was fitted on (any Array API array or array-like).
    history : FitHistory or KMeans
        ``model.history_``, or the model itself, fitted with ``KMeans(..., history=True)``.
    ax : matplotlib Axes, optional
        Where to draw (a new figure when None).
    path : str or os.PathLike, optional
        Also save the figure there (PNG or any format matplotlib writes).
    max_points : int, default 20000
        At most this many points are drawn (a random subset), to keep the file small.
    random_state : int, optional
        Chooses that subset.

    Returns
    -------
    ax : matplotlib Axes
        Points coloured by their final label, one line per centre from its start (open circle)
        through every iteration (dots) to its end (cross).

    Examples
    --------
    >>> from gkmeans import KMeans
    >>> from gkmeans.plot import plot_history
    >>> model = KMeans(4, history=True, random_state=0).fit(X)  # doctest: +SKIP
    >>> ax = plot_history(X, model, path="history.png")  # doctest: +SKIP
    """
    history = _history_of(history)
    points, keep, n_rows, view = _points(X, history, max_points, random_state)
    mean, axes, labels, projected = view
    labelled = history.labels is not None and history.labels.shape[0] == n_rows
    codes = history.labels[keep] if labelled else _nearest(points, history.centers[-1])
    shown = (points - mean) @ axes
    paths = (history.centers - mean) @ axes  # (n_iter + 1, k, 2)
    if ax is None:
        _, ax = pyplot().subplots(figsize=(6, 4.5))
    ax.scatter(shown[:, 0], shown[:, 1], c=_colours(codes), s=5, alpha=0.35, linewidths=0)
    for cluster in range(paths.shape[1]):
        colour = f"C{cluster % 10}"
        track = paths[:, cluster, :]
        track = track[~np.isnan(track[:, 0])]
        ax.plot(track[:, 0], track[:, 1], "-", color="k", linewidth=2.6, zorder=3)
        ax.plot(
            track[:, 0],
            track[:, 1],
            "o-",
            color=colour,
            linewidth=1.6,
            markersize=4,
            markeredgecolor="k",
            markeredgewidth=0.5,
            zorder=4,
        )
        ax.plot(*track[0], "o", markersize=9, markerfacecolor="w", markeredgecolor="k", zorder=5)
        ax.plot(*track[-1], "X", markersize=12, color=colour, markeredgecolor="k", zorder=5)
    ax.plot([], [], "o", markerfacecolor="w", markeredgecolor="k", label="start")
    ax.plot([], [], "X", color="0.5", markeredgecolor="k", markersize=10, label="end")
    ax.legend(loc="best")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    title = f"Centres over {history.n_iter} iterations"
    ax.set_title(title + (" (PCA projection)" if projected else ""))
    if path is not None:
        ax.figure.tight_layout()
        ax.figure.savefig(path, dpi=110)
    return ax


def check_animation_path(path: Any) -> tuple[str, str]:
    """The animation writer for ``path`` by its suffix (".gif" or ".mp4"), checked to be usable
    before any work: (writer name, suffix).

    Raises
    ------
    ValueError
        Another suffix.
    ImportError
        matplotlib missing, or Pillow for a GIF.
    FileNotFoundError
        No ``ffmpeg`` program for an MP4.
    """
    suffix = Path(os.fspath(path)).suffix.lower()
    if suffix not in WRITERS:
        raise ValueError(
            f"the animation file {os.fspath(path)!r} must end in .gif or .mp4 (its format)"
        )
    pyplot()
    from matplotlib import animation

    name, hint = WRITERS[suffix]
    if suffix == ".gif":
        try:
            import PIL  # noqa: F401
        except ImportError as exc:
            raise ImportError(f"a GIF animation needs {hint}") from exc
    elif not animation.writers.is_available(name):
        raise FileNotFoundError(
            f"an .mp4 animation needs the ffmpeg program, which matplotlib does not find "
            f"(install ffmpeg, or write a .gif): {os.fspath(path)!r}"
        )
    return name, suffix


def animate_fit(
    X: Any,
    n_clusters: int = 8,
    *,
    path: Any = "fit.gif",
    model: Any = None,
    init: Any = "k-means++",
    max_iter: int = 300,
    random_state: Any = 0,
    fps: float = 4,
    trail: bool = True,
    max_points: int = 5_000,
    dpi: int = 80,
    progress: Callable[[int, int], None] | None = None,
) -> FitHistory:
    """Animate a k-means fit, one frame per iteration: the points coloured by their nearest
    centre, the centres, and the paths they came along.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        The data (any Array API array or array-like); a PCA projection to 2-D when d > 2.
    n_clusters : int, default 8
        Clusters of the fit made here (ignored when ``model`` is given).
    path : str or os.PathLike, default "fit.gif"
        The file to write: ".gif" (needs Pillow) or ".mp4" (needs the ffmpeg program).
    model : KMeans or FitHistory, optional
        A model already fitted on X with ``history=True`` (or its ``history_``); by default
        ``KMeans(n_clusters, init=init, n_init=1, max_iter=max_iter, random_state=random_state,
        history=True)`` is fitted here.
    init, max_iter, random_state
        As for :class:`gkmeans.KMeans`, for the fit made here; ``random_state`` also picks the
        points drawn when there are more than ``max_points``.
    fps : float, default 4
        Frames (iterations) per second.
    trail : bool, default True
        Draw each centre's path up to the frame's iteration.
    max_points : int, default 5000
        At most this many points are drawn (a random subset).
    dpi : int, default 80
        Resolution of the frames (6 x 4.5 inches).
    progress : callable, optional
        Called as ``progress(frame, n_frames)`` after every frame written.

    Returns
    -------
    history : FitHistory
        What was animated: ``history.n_iter + 1`` frames (the start, then every iteration).

    Examples
    --------
    >>> from gkmeans.plot import animate_fit
    >>> history = animate_fit(X, 4, path="fit.gif")  # doctest: +SKIP
    """
    name, _ = check_animation_path(path)
    if fps <= 0:
        raise ValueError(f"fps={fps!r} must be > 0")
    if model is None:
        model = KMeans(
            n_clusters,
            init=init,
            n_init=1,
            max_iter=max_iter,
            random_state=random_state,
            history=True,
        ).fit(X)
    history = _history_of(model)
    points, _, _, (mean, axes, labels, projected) = _points(X, history, max_points, random_state)
    shown = (points - mean) @ axes
    paths = (history.centers - mean) @ axes
    n_frames, n_clusters_shown = paths.shape[0], paths.shape[1]

    plt = pyplot()
    from matplotlib import animation

    figure, ax = plt.subplots(figsize=(6, 4.5), dpi=dpi)
    scatter = ax.scatter(shown[:, 0], shown[:, 1], s=6, alpha=0.5, linewidths=0)
    trails = [
        ax.plot([], [], "-", color=f"C{j % 10}", linewidth=1.8, zorder=3)[0]
        for j in range(n_clusters_shown)
    ]
    centres = ax.scatter(
        paths[0, :, 0], paths[0, :, 1], marker="X", s=160, edgecolors="k", zorder=4
    )
    low = np.nanmin(np.concatenate([shown, paths.reshape(-1, 2)]), axis=0)
    high = np.nanmax(np.concatenate([shown, paths.reshape(-1, 2)]), axis=0)
    margin = 0.05 * np.maximum(high - low, 1e-12)
    ax.set_xlim(low[0] - margin[0], high[0] + margin[0])
    ax.set_ylim(low[1] - margin[1], high[1] + margin[1])
    if trail:
        starts = paths[0][~np.isnan(paths[0, :, 0])]
        ax.plot(
            starts[:, 0],
            starts[:, 1],
            "o",
            markersize=7,
            markerfacecolor="w",
            markeredgecolor="k",
            zorder=3,
            label="start",
        )
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    suffix = " (PCA projection)" if projected else ""

    def draw(frame: int) -> list[Any]:
        codes = _nearest(points, history.centers[frame])
        scatter.set_color(_colours(codes))
        alive = ~np.isnan(paths[frame, :, 0])
        centres.set_offsets(paths[frame][alive])
        centres.set_facecolor(_colours(np.flatnonzero(alive)))
        for j, line in enumerate(trails):
            track = paths[: frame + 1, j, :] if trail else paths[:0, j, :]
            line.set_data(track[:, 0], track[:, 1])
        ax.set_title(
            f"iteration {frame} of {n_frames - 1}, inertia {history.inertia[frame]:.4g}{suffix}"
        )
        return [scatter, centres, *trails]

    draw(0)
    figure.tight_layout()  # with a title drawn, so that the frames leave room for it
    movie = animation.FuncAnimation(figure, draw, frames=n_frames, blit=False, repeat=False)
    writer = animation.writers[name](fps=fps)
    callback = None if progress is None else (lambda frame, total: progress(frame + 1, total))
    try:
        movie.save(os.fspath(path), writer=writer, dpi=dpi, progress_callback=callback)
    finally:
        plt.close(figure)
    return history
