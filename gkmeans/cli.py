"""Command line: ``gkmeans demo`` and ``gkmeans devices`` (also ``python -m gkmeans``)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

import numpy as np

from . import __version__
from .datasets import make_blobs
from .device import devices
from .estimator import KMeans
from .exceptions import GPUUnavailableError


def _demo(args: argparse.Namespace) -> int:
    X, truth, _ = make_blobs(args.n_samples, args.n_features, args.n_clusters, cluster_std=args.cluster_std,
                             dtype=np.dtype(args.dtype), random_state=args.seed)
    model = KMeans(args.n_clusters, n_init=args.n_init, random_state=args.seed, device=args.device)
    start = time.perf_counter()
    model.fit(X)
    elapsed = time.perf_counter() - start
    sizes = np.bincount(np.asarray(model.labels_), minlength=args.n_clusters)
    print(f"gkmeans {__version__} demo: {args.n_samples} x {args.n_features} {args.dtype} Gaussian blobs, "
          f"{args.n_clusters} true clusters (seed {args.seed})")
    print(f"k           {model.cluster_centers_.shape[0]}")
    print(f"inertia     {model.inertia_:.6g}")
    print(f"iterations  {model.n_iter_}")
    print(f"device      {model.device_}")
    print(f"time        {elapsed:.3f} s")
    print(f"sizes       {sizes.tolist()}")
    return 0


def _devices(args: argparse.Namespace) -> int:
    for entry in devices():
        print(entry)
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gkmeans", description="Array-API k-means on CPU and GPU.")
    parser.add_argument("--version", action="version", version=f"gkmeans {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="cluster generated blobs and print the result")
    demo.add_argument("--n-samples", type=_positive_int, default=200_000)
    demo.add_argument("--n-features", type=_positive_int, default=16)
    demo.add_argument("--n-clusters", "-k", type=_positive_int, default=8)
    demo.add_argument("--n-init", type=_positive_int, default=1)
    demo.add_argument("--cluster-std", type=float, default=1.5)
    demo.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    demo.add_argument("--device", default=None, help="auto, cpu, gpu or cuda:N (default: $GKMEANS_DEVICE or auto)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=_demo)
    listing = commands.add_parser("devices", help="list the devices gkmeans can use, and why others are not usable")
    listing.set_defaults(run=_devices)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; user mistakes print one line and exit with status 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError, GPUUnavailableError) as exc:
        print(f"gkmeans: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
