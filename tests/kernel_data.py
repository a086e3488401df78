"""Test data shared by the kernel tests (the emulated CUDA kernels and the Triton kernel)."""

from __future__ import annotations

import numpy as np


def separated(n: int, d: int, k: int, seed: int, dtype=np.float32):
    """Points near k well-separated centres, far from the origin (the shift matters): X (n, d),
    the centres (k, d), both ``dtype``, and each point's centre (n,)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=10.0, size=(k, d)) + 50.0
    members = rng.integers(0, k, size=n)
    X = (centres[members] + rng.normal(scale=0.5, size=(n, d))).astype(dtype)
    return X, centres.astype(dtype), members
