"""Host-side random numbers: one ``numpy.random.Generator`` drives every device.

Draws are made on the host and moved to the device, so one seed gives the same
starting point on NumPy, CuPy, PyTorch and array-api-strict.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

RandomStateLike = Any  # None | int | numpy.random.Generator | numpy.random.RandomState


def make_rng(random_state: RandomStateLike) -> np.random.Generator:
    """A ``Generator`` from ``None`` (fresh entropy), an int seed, a Generator or a RandomState.

    A legacy ``RandomState`` seeds a new Generator from one draw, so it advances
    as scikit-learn's estimators advance it.
    """
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            msg = (
                f"random_state={random_state} must be a non-negative int, a Generator, a "
                "RandomState or None"
            )
            raise ValueError(msg)
        return np.random.default_rng(int(random_state))
    msg = (
        f"random_state={random_state!r} must be None, an int, a numpy.random.Generator or a "
        "RandomState"
    )
    raise ValueError(msg)


def weighted_index(rng: np.random.Generator, cumulative_weights: np.ndarray) -> int:
    """Draw an index with probability proportional to its weight, by inverse CDF.

    Inverse-CDF sampling on the cumulative weights gives the same point whether
    a sample has integer weight m or appears m times in a row, and never picks
    a zero-weight sample (``1 - u`` lies in (0, 1]).
    """
    total = cumulative_weights[-1]
    target = (1.0 - rng.random()) * total
    index = int(np.searchsorted(cumulative_weights, target, side="left"))
    return min(index, cumulative_weights.shape[0] - 1)


def choice_cdf(probabilities: np.ndarray) -> np.ndarray:
    """The normalised cumulative distribution ``Generator.choice`` builds from ``p`` on every call,
    made once for :func:`draw_with_replacement`."""
    cdf = np.cumsum(np.asarray(probabilities, dtype=np.float64))
    cdf /= cdf[-1]
    return cdf


def draw_with_replacement(rng: np.random.Generator, cdf: np.ndarray, size: int) -> np.ndarray:
    """``rng.choice(len(cdf), size, replace=True, p=p)`` for ``cdf = choice_cdf(p)``: the same draws
    from the same stream, without the O(n) cumulative sum and checks of ``p`` that ``choice``
    repeats every call (at n = 10^6 they were most of a mini-batch step)."""
    return np.asarray(cdf.searchsorted(rng.random(size), side="right"), dtype=np.int64)


def run_generators(rng: np.random.Generator, runs: int) -> list[np.random.Generator]:
    """One generator per restart, for the draws a run makes while it runs (empty clusters re-drawn
    at random), independent of ``rng``'s own stream, which draws the starts: so restarts run one
    after another or all together (batched) make the same draws. Spawned from ``rng``'s seed
    sequence, which leaves its stream where it was."""
    try:
        return list(rng.spawn(runs))
    except (AttributeError, TypeError, ValueError):  # a bit generator without a seed sequence
        return [np.random.default_rng(seed) for seed in rng.integers(0, 2**63 - 1, size=runs)]
