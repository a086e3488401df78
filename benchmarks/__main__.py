"""``python -m benchmarks run [--quick] [--device cpu|gpu] [--out DIR] [--points N,D,K ...] [--repeats R]``; ``python -m benchmarks silhouette``;
``python -m benchmarks dask``; ``python -m benchmarks out-of-core``; ``python -m benchmarks restarts``;
``python -m benchmarks quality``; ``python -m benchmarks dispatch``; ``python -m benchmarks transform``;
``python -m benchmarks shifted-copy``; ``python -m benchmarks precision``; ``python -m benchmarks gpu-passes``;
``python -m benchmarks compare --before A.json --after B.json``."""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys

#: Subcommands that run one script of this folder, with the script's own options.
SCRIPTS = {"silhouette": "silhouette_vs_sklearn", "dask": "dask_vs_dask_ml", "out-of-core": "out_of_core",
           "restarts": "restarts", "quality": "quality", "dispatch": "dispatch", "transform": "transform",
           "shifted-copy": "shifted_copy", "precision": "precision",
           "gpu-passes": "gpu_passes", "compare": "compare"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="the k-means suite: gkmeans and its peers side by side")
    run.add_argument("--quick", action="store_true", help="two small grid points (about a minute on 2 cores)")
    run.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    run.add_argument("--out", default="benchmarks/results")
    run.add_argument("--max-seconds", type=float, default=None,
                     help="start no new grid point after this many seconds (results are written after each)")
    run.add_argument("--stop-seconds", type=float, default=None,
                     help="start no new convergence run after this many seconds: the run then ends cleanly, "
                          "its reports complete, before a hard time limit would kill it")
    run.add_argument("--points", nargs="+", metavar="N,D,K", default=None,
                     help="run these shapes (both dtypes on the CPU) in place of the grid's; no memory runs")
    run.add_argument("--repeats", type=int, default=1,
                     help="time each peer's fixed-iteration fit this many times, peers in alternating order; "
                          "the best counts")
    run.add_argument("--name", default=None, help="results file name without suffix (default <device>-<date>)")
    commands.add_parser("silhouette", help="exact silhouette score against scikit-learn")
    commands.add_parser("dask", help="distributed k-means against dask-ml on one LocalCluster")
    commands.add_parser("out-of-core", help="a streamed fit of a file larger than the process may map")
    commands.add_parser("restarts", help="batched restarts against sequential restarts")
    commands.add_parser("quality", help="MiniBatchKMeans and k-means|| quality against full k-means")
    commands.add_parser("dispatch", help="CPU against GPU fit times: the device='auto' threshold (needs a GPU)")
    commands.add_parser("transform", help="transform (distances to every centre) against scikit-learn")
    commands.add_parser("shifted-copy", help="small data shifted once into a copy against block by block")
    commands.add_parser("precision", help="the error of TF32 / bf16 distance products, emulated on the CPU")
    commands.add_parser("compare", help="two trees' result JSONs side by side: time per iteration and equal results")
    commands.add_parser("gpu-passes", help="one pass of each kind timed alone: GEMM floors, Triton configurations, updates (needs a GPU)")
    args, rest = parser.parse_known_args(argv)
    if args.command in SCRIPTS:
        module = importlib.import_module(f"benchmarks.{SCRIPTS[args.command]}")
        sys.argv = [SCRIPTS[args.command], *rest]  # each script parses its own options
        module.main()
        return 0
    from benchmarks.suite import run as run_suite

    run_suite(args.quick, args.device, args.out, "python -m benchmarks " + " ".join(shlex.quote(a) for a in argv),
              max_seconds=args.max_seconds, stop_seconds=args.stop_seconds,
              shapes=[tuple(int(float(v)) for v in p.split(",")) for p in args.points] if args.points else None,
              repeats=args.repeats, stem=args.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
