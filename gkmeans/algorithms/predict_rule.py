"""The predict rule: the nearest centre, with data and centres shifted by the centres' mean.

``fit`` computes its final labels by the same rule on the same centres, so ``labels_ ==
predict(X)`` holds bit for bit, whatever the rounding.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from gkmeans import _kernels as kernels


def predict_labels(X: Any, centers: Any, xp: ModuleType) -> tuple[Any, Any]:
    """The predict rule: nearest centre with data and centres shifted by the centres' mean.

    ``fit`` uses it for the final labels, so ``labels_ == predict(X)`` holds exactly.
    """
    shift = kernels.column_mean(centers, xp=xp)
    return kernels.assign(X, centers - shift, xp=xp, shift=shift)
