"""``algorithm=``: the registry of the bound-based algorithms and what "auto" and "elkan" run.

"auto" picks among Lloyd, Hamerly, Elkan and Yinyang from the problem's shape and where it runs,
by the crossovers measured in ``benchmarks/results/bounds-2026-12-03.md``
(``python -m benchmarks.bounds``); Elkan's n x k bounds run only where they fit the memory target
(:func:`gkmeans.algorithms.bounds_common.bounds_fit`), Yinyang in their place otherwise.
"""

from __future__ import annotations

from typing import Any, Callable

from gkmeans.algorithms.bounds_common import bounds_fit
from gkmeans.algorithms.bounds_elkan import elkan
from gkmeans.algorithms.bounds_hamerly import hamerly
from gkmeans.algorithms.bounds_yinyang import yinyang

#: ``algorithm=`` options: "auto" chooses; "lloyd" is plain Lloyd; the others prune distances by
#: bounds and give Lloyd's labels.
ALGORITHMS = ("auto", "lloyd", "elkan", "hamerly", "yinyang")
#: The bound-based runs, by name (each takes the options of :func:`gkmeans.algorithms.lloyd.lloyd`).
BOUND_ALGORITHMS: dict[str, Callable[..., Any]] = {
    "hamerly": hamerly,
    "elkan": elkan,
    "yinyang": yinyang,
}


#: "auto" runs Lloyd below this many (row, centre) pairs a pass, Hamerly below this k, and for
#: larger k Yinyang from this many features, Lloyd below (measured at d = 3 and d = 32, see the
#: module docstring).
AUTO_MIN_PAIRS = 2**17
AUTO_HAMERLY_BELOW_K = 32
AUTO_YINYANG_MIN_D = 16
#: Up to this many features "auto" runs Lloyd at every k: the CPU pass forms the distances in its
#: own loop there (no matrix product), at a few tenths of a nanosecond a pair, and no bound
#: pays (``python -m benchmarks.bounds``, the photos, d = 3, time to convergence: k = 16,
#: Lloyd 0.05-0.08 s, Hamerly 0.12-0.23 s; k = 64, 0.10-0.17 against 0.28-0.46 s for the best
#: bound; k = 256, 0.32-0.92 against 0.59-1.08 s).
AUTO_LLOYD_MAX_D = 8


def resolve_algorithm(
    algorithm: str,
    n_samples: int,
    n_features: int,
    n_clusters: int,
    *,
    itemsize: int,
    free: Any,
    compiled: bool,
    gpu: bool,
) -> str:
    """The algorithm to run for ``algorithm`` (checked) on data of this shape.

    ``compiled``: whether the compiled CPU step is available; ``gpu``: whether the data is on a
    GPU; ``free``: the device's free bytes (None: unknown). "elkan" whose n x k bounds would not
    fit the memory target runs Yinyang (which takes fewer groups where k / 10 would not fit).
    """
    x_bytes = n_samples * n_features * itemsize
    if algorithm == "auto":
        algorithm = _auto(n_samples, n_features, n_clusters, compiled=compiled, gpu=gpu)
    if algorithm == "elkan" and not bounds_fit(n_samples, n_clusters, itemsize, x_bytes, free):
        algorithm = "yinyang"
    if algorithm != "lloyd" and n_clusters == 1:
        algorithm = "lloyd"  # no other centre to bound
    return algorithm


def _auto(n_samples: int, n_features: int, n_clusters: int, *, compiled: bool, gpu: bool) -> str:
    """The measured choice (benchmarks/results/bounds-2026-12-03.md)."""
    if gpu or not compiled or n_clusters < 4 or n_samples * n_clusters < AUTO_MIN_PAIRS:
        # Unmeasured on a GPU, where Lloyd's pass is one product; without the compiled step the
        # whole-array step gathers rows and only pays where most rows are skipped; small
        # problems take milliseconds either way.
        return "lloyd"
    if n_features <= AUTO_LLOYD_MAX_D:
        return "lloyd"
    if n_clusters < AUTO_HAMERLY_BELOW_K:
        return "hamerly"
    # Many centres: below AUTO_YINYANG_MIN_D features Lloyd's pass (BLAS and a compiled argmin)
    # beats the bounds' row loop even when they skip 95-98 % of the distances; above, Yinyang.
    return "yinyang" if n_features >= AUTO_YINYANG_MIN_D else "lloyd"
