"""Command line: ``gkmeans`` (also ``python -m gkmeans``).

Commands: ``demo``, ``devices``, ``fit``, ``predict``, ``elbow``, ``compress-image``,
``sample-image``. A user mistake (missing file, bad shape, non-numeric column,
unknown option) prints one line ``gkmeans: error: ...`` and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, NoReturn, Sequence

import numpy as np

from gkmeans._progress import ProgressBar
from gkmeans._version import __version__
from gkmeans.datasets import make_blobs
from gkmeans.device import devices
from gkmeans.estimator import KMeans, fit_with_progress
from gkmeans.exceptions import EmptyClusterError, GPUUnavailableError, NotFittedError
from gkmeans.image import compress, decompress, read_image, sample_image, write_image
from gkmeans.io import read_data
from gkmeans.persistence import load_model
from gkmeans.pipelines.params import resolve_n_init
from gkmeans.plot import plot_elbow
from gkmeans.selection import elbow
from gkmeans.streaming import chunked

#: Exceptions that mean "the user asked for something that cannot be done", not a bug.
USER_ERRORS = (
    ValueError,
    TypeError,
    GPUUnavailableError,
    FileNotFoundError,
    ImportError,
    EmptyClusterError,
    NotFittedError,
    IsADirectoryError,
    PermissionError,
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line instead of argparse's usage block."""
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _summary(model: KMeans, elapsed: float, n_samples: int) -> None:
    sizes = np.bincount(np.asarray(model.labels_), minlength=model.cluster_centers_.shape[0])
    print(f"samples     {n_samples}")
    print(f"k           {model.cluster_centers_.shape[0]}")
    print(f"inertia     {model.inertia_:.6g}")
    print(f"iterations  {model.n_iter_}")
    print(f"sizes       {sizes.tolist()}")
    print(f"device      {model.device_}")
    print(f"time        {elapsed:.3f} s")


def _fit_with_progress(model: KMeans, X: Any, quiet: bool) -> float:
    bar = ProgressBar(
        "k-means", resolve_n_init(model.n_init, model.init, "KMeans"), enabled=not quiet
    )
    start = time.perf_counter()
    try:
        fit_with_progress(model, X, bar)
    finally:
        bar.close()
    return time.perf_counter() - start


def _demo(args: argparse.Namespace) -> int:
    X, _, _ = make_blobs(
        args.n_samples,
        args.n_features,
        args.n_clusters,
        cluster_std=args.cluster_std,
        dtype=np.dtype(args.dtype),
        random_state=args.seed,
    )
    model = KMeans(args.n_clusters, n_init=args.n_init, random_state=args.seed, device=args.device)
    elapsed = _fit_with_progress(model, X, args.quiet)
    print(
        f"gkmeans {__version__} demo: {args.n_samples} x {args.n_features} {args.dtype} Gaussian "
        f"blobs, {args.n_clusters} true clusters (seed {args.seed})"
    )
    _summary(model, elapsed, args.n_samples)
    return 0


def _devices(args: argparse.Namespace) -> int:
    for entry in devices():
        print(entry)
    return 0


def _data(args: argparse.Namespace) -> Any:
    """The data file: read whole, or (``--stream``, .npy only) wrapped to be read one chunk at a
    time."""
    if not getattr(args, "stream", False):
        return read_data(args.data)
    if not str(args.data).endswith(".npy"):
        raise ValueError(
            f"--stream reads .npy files; {args.data!r} is not one (convert it with numpy.save)"
        )

    return chunked(args.data, chunk_rows=args.chunk_rows)


def _fit(args: argparse.Namespace) -> int:
    X = _data(args)
    model = KMeans(
        args.k,
        init=args.init,
        n_init=args.n_init if args.n_init == "auto" else int(args.n_init),
        max_iter=args.max_iter,
        tol=args.tol,
        random_state=args.seed,
        device=args.device,
        empty_cluster=args.empty_cluster,
    )
    elapsed = _fit_with_progress(model, X, args.quiet)
    _summary(model, elapsed, int(model.labels_.shape[0]))
    model.save(args.out)
    labels_path = args.labels or str(Path(args.out).with_suffix("")) + "-labels.npy"
    np.save(labels_path, np.asarray(model.labels_))
    print(f"model       {args.out}")
    print(f"labels      {labels_path}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    if args.device is not None:
        model.set_params(device=args.device)
    X = _data(args)
    labels = np.asarray(model.predict(X))
    np.save(args.out, labels)
    sizes = np.bincount(labels, minlength=model.cluster_centers_.shape[0])
    print(f"samples     {labels.shape[0]}")
    print(f"sizes       {sizes.tolist()}")
    print(f"score       {model.score(X):.6g}")
    print(f"labels      {args.out}")
    return 0


def _stream_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stream",
        action="store_true",
        help="read the .npy file one chunk at a time (data larger than memory)",
    )
    parser.add_argument(
        "--chunk-rows",
        type=_positive_int,
        default=None,
        help="rows per chunk with --stream (default: about 64 MiB)",
    )


def _k_range(text: str) -> range:
    try:
        if ":" in text:
            low, high = (int(part) for part in text.split(":", 1))
        else:
            low, high = 1, int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a range like 2:12") from None
    if low < 1 or high - low < 2:
        raise argparse.ArgumentTypeError(
            f"{text!r} must be LOW:HIGH with 1 <= LOW and at least 3 values"
        )
    return range(low, high + 1)


def _elbow(args: argparse.Namespace) -> int:
    X = read_data(args.data)
    scores = tuple(name for name in args.scores.split(",") if name) if args.scores else ()
    result = elbow(
        X,
        args.k,
        n_init=args.n_init if args.n_init == "auto" else int(args.n_init),
        random_state=args.seed,
        device=args.device,
        scores=scores,
    )
    print(result)
    for name in scores:
        print(f"best k by {name}: {result.best_k(name)}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")

        plot_elbow(result, path=args.plot)
        print(f"plot        {args.plot}")
    return 0


def _compress_image(args: argparse.Namespace) -> int:
    picture = read_image(args.input)
    start = time.perf_counter()
    packed = compress(
        picture,
        args.colors,
        device=args.device,
        random_state=args.seed,
        max_fit_pixels=None if args.max_fit_pixels == 0 else args.max_fit_pixels,
    )
    elapsed = time.perf_counter() - start
    write_image(args.output, decompress(packed))
    height, width, _ = packed.shape
    print(f"image       {args.input} ({width} x {height})")
    print(f"colours     {args.colors} ({packed.bits_per_pixel} bits per pixel + palette)")
    print(f"ratio       {packed.ratio:.2f}x smaller than 24-bit RGB")
    print(f"fitted on   {packed.fit_pixels} pixels")
    print(f"time        {elapsed:.3f} s")
    print(f"written     {args.output}")
    return 0


def _sample_image(args: argparse.Namespace) -> int:
    try:
        height, width = (int(part) for part in args.size.lower().split("x"))
    except ValueError:
        raise ValueError(
            f"--size {args.size!r} must look like HEIGHTxWIDTH, e.g. 384x512"
        ) from None
    write_image(args.output, sample_image((height, width), random_state=args.seed))
    print(f"written     {args.output} ({width} x {height})")
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def _n_init(text: str) -> str:
    if text != "auto":
        _positive_int(text)
    return text


def _common(parser: argparse.ArgumentParser, *, quiet: bool = True) -> None:
    parser.add_argument(
        "--device", default=None, help="auto, cpu, gpu or cuda:N (default: $GKMEANS_DEVICE or auto)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    if quiet:
        parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gkmeans", description="Array-API k-means on CPU and GPU.")
    parser.add_argument("--version", action="version", version=f"gkmeans {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = commands.add_parser("demo", help="cluster generated blobs and print the result")
    demo.add_argument("--n-samples", type=_positive_int, default=200_000)
    demo.add_argument("--n-features", type=_positive_int, default=16)
    demo.add_argument("--n-clusters", "-k", type=_positive_int, default=8)
    demo.add_argument("--n-init", type=_positive_int, default=1)
    demo.add_argument("--cluster-std", type=float, default=1.5)
    demo.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    _common(demo)
    demo.set_defaults(run=_demo)

    listing = commands.add_parser(
        "devices", help="list the devices gkmeans can use, and why others are not usable"
    )
    listing.set_defaults(run=_devices)

    fit = commands.add_parser(
        "fit", help="cluster DATA (.npy, .csv or .parquet); save the model and labels"
    )
    fit.add_argument("data")
    fit.add_argument("-k", "--n-clusters", dest="k", type=_positive_int, required=True)
    fit.add_argument(
        "--init",
        default="k-means++",
        choices=["k-means++", "k-means||", "random", "random-box", "farthest-first"],
    )
    fit.add_argument("--n-init", type=_n_init, default="auto")
    fit.add_argument("--max-iter", type=_positive_int, default=300)
    fit.add_argument("--tol", type=float, default=1e-4)
    fit.add_argument(
        "--empty-cluster", default="relocate", choices=["relocate", "random", "drop", "error"]
    )
    fit.add_argument("--out", default="model.npz", help="model file (default model.npz)")
    fit.add_argument("--labels", default=None, help="labels file (default: <model>-labels.npy)")
    _stream_options(fit)
    _common(fit)
    fit.set_defaults(run=_fit)

    predict = commands.add_parser("predict", help="label DATA with a saved model")
    predict.add_argument("model")
    predict.add_argument("data")
    predict.add_argument("--out", default="labels.npy", help="labels file (default labels.npy)")
    predict.add_argument("--device", default=None)
    _stream_options(predict)
    predict.set_defaults(run=_predict)

    elbow = commands.add_parser("elbow", help="inertia for a range of k, and the knee")
    elbow.add_argument("data")
    elbow.add_argument(
        "-k", type=_k_range, default=range(1, 11), help="range LOW:HIGH (default 1:10)"
    )
    elbow.add_argument("--n-init", type=_n_init, default="auto")
    elbow.add_argument(
        "--scores", default="", help="comma-separated: silhouette,calinski_harabasz,davies_bouldin"
    )
    elbow.add_argument(
        "--plot", default=None, help="write the elbow plot to this PNG (needs matplotlib)"
    )
    _common(elbow, quiet=False)
    elbow.set_defaults(run=_elbow)

    image = commands.add_parser(
        "compress-image", help="quantise an image to --colors colours with k-means"
    )
    image.add_argument("input")
    image.add_argument("output")
    image.add_argument("--colors", "--colours", type=_positive_int, default=16)
    image.add_argument(
        "--max-fit-pixels",
        type=int,
        default=250_000,
        help="fit on at most this many pixels (0: all)",
    )
    _common(image, quiet=False)
    image.set_defaults(run=_compress_image)

    sample = commands.add_parser("sample-image", help="write the built-in photo-like test picture")
    sample.add_argument("output")
    sample.add_argument("--size", default="384x512", help="HEIGHTxWIDTH (default 384x512)")
    sample.add_argument("--seed", type=int, default=0)
    sample.set_defaults(run=_sample_image)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; user mistakes print one line and exit with status 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except USER_ERRORS as exc:
        print(f"gkmeans: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
