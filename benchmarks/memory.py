"""Peak memory of one fit, measured in a fresh process: ``python -m benchmarks.memory PEER N D K DTYPE``.

Prints JSON: the size of X, the resident memory before the fit (data made) and
the peak during the fit, in bytes. Linux ``VmHWM`` (the high-water mark of this
process image: ``ru_maxrss`` would also count the parent's pages from before
``exec``); run one peer per process.
"""

from __future__ import annotations

import json
import resource
import sys

import numpy as np


def _rss_now() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def _high_water_mark() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmHWM in /proc/self/status")


def blobs_in_place(n: int, d: int, k: int, dtype: np.dtype, cluster_std: float = 4.0) -> np.ndarray:
    """Gaussian blobs written block by block into X, so nothing larger than X is ever allocated."""
    rng = np.random.default_rng(0)
    centers = rng.uniform(-10, 10, size=(k, d))
    X = np.empty((n, d), dtype=dtype)
    for start in range(0, n, 65536):
        stop = min(n, start + 65536)
        labels = rng.integers(0, k, size=stop - start)
        X[start:stop] = centers[labels] + rng.normal(scale=cluster_std, size=(stop - start, d))
    return X


def main() -> None:
    peer_name, n, d, k, dtype = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    from benchmarks.peers import all_peers

    peer = next(p for p in all_peers() if p.name == peer_name)
    X = blobs_in_place(n, d, k, np.dtype(dtype))
    init = np.ascontiguousarray(X[:k])
    data_made = _rss_now()
    peer.warm_up(X, init)  # imports and compiled kernels, once per process: reported apart
    before = _rss_now()
    peer.fit(X, init, 5, 0.0)
    peak = _high_water_mark()
    print(json.dumps({"x_bytes": X.nbytes, "rss_before": before, "peak": peak,
                      "peak_over_before": max(0, peak - before), "warm_up_bytes": max(0, before - data_made)}))


if __name__ == "__main__":
    main()
