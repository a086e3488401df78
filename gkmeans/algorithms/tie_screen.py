"""When a fit's passes must decide their near ties exactly (groups far apart in float32).

The screen of :mod:`gkmeans._kernels.near_ties` needs the largest squared norm of the rows (once
per fit) and the centres of the pass (on the device). The Lloyd loops bring its value over with
the one host read of their iteration, so a screened fit reads the host no more often.
"""

from __future__ import annotations

from typing import Any

from gkmeans import _kernels as kernels
from gkmeans._sparse import is_sparse_rows
from gkmeans.algorithms.frame import LloydData


class TieScreen:
    """The screen for one fit's data: :meth:`ratio` on the device, :meth:`decide` on the host.

    Sparse rows and empty data are never screened (their ratio is 0).
    """

    def __init__(self, data: LloydData, *, verbose: bool = False) -> None:
        self.xp, self.dtype, self.verbose = data.xp, data.X.dtype, verbose
        self.active = not is_sparse_rows(data.X) and data.X.shape[0] > 0
        self.device = data.X.device
        self.x_sq_max = self.xp.max(data.x_sq_norms) if self.active else None
        self.exact = False

    def ratio(self, centers: Any) -> Any:
        """The screen's ratio for a pass against ``centers`` ((k, d) or (runs, k, d)), a 0-d
        array on the device (see :func:`gkmeans._kernels.near_ties.screen_ratio`)."""
        if not self.active:
            acc = kernels.accumulator_dtype(self.xp, self.device)
            return self.xp.zeros((), dtype=acc, device=self.device)
        return kernels.tie_screen_ratio(centers, self.x_sq_max, self.dtype, xp=self.xp)

    def decide(self, ratio: float, iteration: int) -> bool:
        """Whether the next pass decides its near ties exactly, from :meth:`ratio` on the host;
        verbose says when a fit starts (or stops) doing so."""
        exact = kernels.exceeds_tie_share(ratio)
        if self.verbose and exact != self.exact:
            state = "decides" if exact else "no longer decides"
            print(
                f"Iteration {iteration}: the pass {state} near ties from the differences "
                f"(distance expansion's rounding / smallest squared centre separation = "
                f"{ratio:.3g})."
            )
        self.exact = exact
        return exact

    def now(self, centers: Any, iteration: int) -> bool:
        """:meth:`decide` for ``centers`` with a host read of its own (a fit's first pass, and
        centres an empty-cluster fix has moved)."""
        return self.decide(float(self.ratio(centers)), iteration)
