"""The centres of a fit at every iteration (``KMeans(history=True)``), recorded on the host.

A :class:`Trace` follows one run: the starting centres, then the centres after every iteration
and the inertia of the assignment that produced them, each brought to the host in one copy of
k x d numbers (plus the inertia). The algorithms take a trace as an optional argument and do
nothing more when they get None, so a fit without history makes no extra copy and no extra host
synchronisation. :meth:`Trace.finish` turns the winning run's trace into the
:class:`FitHistory` the estimator publishes as ``history_``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from gkmeans._compat import to_numpy


@dataclass(frozen=True)
class FitHistory:
    """The path of a fit's winning run, as NumPy arrays on the host.

    Attributes
    ----------
    centers : ndarray of shape (n_iter + 1, n_clusters, n_features)
        ``centers[0]``: the starting centres; ``centers[i]``: the centres after ``i`` iterations
        (``centers[-1]`` is ``cluster_centers_``). In the data's dtype. With
        ``empty_cluster="drop"`` a dropped cluster's rows are NaN from the iteration it was
        dropped, and ``n_clusters`` counts the clusters the run started with.
    inertia : ndarray of shape (n_iter + 1,)
        ``inertia[i]``: sum of weighted squared distances of the samples to their nearest centre
        of ``centers[i]`` (float64). The last one is the fit's ``inertia_``; the others come from
        the iterations' own distances, computed in the data's dtype.
    labels : ndarray of shape (n_samples,) or None
        The fit's final labels (``labels_``), int32; None for a Dask fit, whose ``labels_`` stay
        lazy.
    """

    centers: np.ndarray
    inertia: np.ndarray
    labels: np.ndarray | None

    @property
    def n_iter(self) -> int:
        """Iterations recorded (``centers`` has one more row: the start)."""
        return int(self.centers.shape[0]) - 1


def _host_dtype(xp: ModuleType, dtype: Any) -> np.dtype:
    return np.dtype(np.float32 if dtype == xp.float32 else np.float64)


def host_copies(xp: ModuleType, centers: Any, inertia: Any = None) -> tuple[np.ndarray, Any]:
    """``centers`` (and ``inertia``, a scalar or one per run) on the host in one copy.

    The two travel together as float64 (exact for float32 centres), and the centres come back in
    their own dtype, so that adding the data's mean on the host rounds as the device does.
    """
    dtype = _host_dtype(xp, centers.dtype)
    if inertia is None:
        return np.asarray(to_numpy(centers)).astype(dtype, copy=False), None
    wide = xp.float64 if dtype == np.float64 or inertia.dtype == xp.float64 else xp.float32
    flat = xp.concat(
        [
            xp.reshape(xp.astype(centers, wide), (-1,)),
            xp.reshape(xp.astype(inertia, wide), (-1,)),
        ]
    )
    host = np.asarray(to_numpy(flat), dtype=np.float64)
    n_centres = math.prod(centers.shape)
    values = host[:n_centres].reshape(tuple(centers.shape)).astype(dtype)
    return values, host[n_centres:] if inertia.ndim else float(host[n_centres])


class Trace:
    """The host record of one run: starting centres, then one row per iteration.

    Parameters
    ----------
    start : ndarray of shape (n_clusters, n_features)
        The run's starting centres on the host (see :func:`host_copies`), in the frame the run
        computes in (the caller adds the shift back in :meth:`finish`).
    """

    def __init__(self, start: np.ndarray) -> None:
        self._centers = [np.array(start)]
        self._inertia: list[float] = []
        self._alive = np.arange(start.shape[0])  # which starting clusters are still there

    @classmethod
    def of(cls, xp: ModuleType, centers: Any) -> Trace:
        """A trace starting at ``centers`` (any namespace; one copy to the host)."""
        return cls(host_copies(xp, centers)[0])

    def step(self, centers: np.ndarray, inertia: float, kept: Any = None) -> None:
        """Record one iteration: the new centres (host) and the inertia of the centres they
        replaced. ``kept``: indices of the clusters kept when some were dropped."""
        if kept is not None:
            self._alive = self._alive[np.asarray(to_numpy(kept), dtype=np.int64)]
        if centers.shape[0] != self._centers[0].shape[0]:
            full = np.full(self._centers[0].shape, np.nan, dtype=centers.dtype)
            full[self._alive] = centers
            centers = full
        self._centers.append(np.array(centers))
        self._inertia.append(float(inertia))

    def finish(self, shift: Any, labels: Any, inertia: float) -> FitHistory:
        """The run's :class:`FitHistory`: every row shifted by ``shift`` (host), the fit's final
        ``labels`` (host or None) and ``inertia`` appended."""
        centers = np.stack(self._centers)
        centers = centers + np.asarray(shift, dtype=centers.dtype).reshape(1, 1, -1)
        return FitHistory(
            centers=centers,
            inertia=np.asarray([*self._inertia, inertia], dtype=np.float64),
            labels=None if labels is None else np.asarray(labels, dtype=np.int32),
        )


__all__ = ["FitHistory", "Trace", "host_copies"]
