"""``python -m benchmarks run [--quick] [--device cpu|gpu] [--out DIR]``; ``python -m benchmarks silhouette``."""

from __future__ import annotations

import argparse
import shlex
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="the k-means suite: gkmeans and its peers side by side")
    run.add_argument("--quick", action="store_true", help="two small grid points (about a minute on 2 cores)")
    run.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    run.add_argument("--out", default="benchmarks/results")
    commands.add_parser("silhouette", help="exact silhouette score against scikit-learn")
    args, rest = parser.parse_known_args(argv)
    if args.command == "silhouette":
        from benchmarks.silhouette_vs_sklearn import main as silhouette

        sys.argv = ["silhouette_vs_sklearn", *rest]
        silhouette()
        return 0
    from benchmarks.suite import run as run_suite

    run_suite(args.quick, args.device, args.out, "python -m benchmarks " + " ".join(shlex.quote(a) for a in argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
