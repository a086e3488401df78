"""Command line: ``gkmeans`` (also ``python -m gkmeans``).

Commands: ``demo``, ``devices``, ``fit``, ``predict``, ``elbow``, ``animate``,
``compress-image``, ``sample-image``. A user mistake (missing file, bad shape, non-numeric column,
unknown option) or a failed write prints one line ``gkmeans: error: ...`` and exits with
status 2; Ctrl-C prints ``gkmeans: interrupted`` and exits with 130; a closed output pipe
(``gkmeans ... | head``) ends the command silently with 141.

Output files are never the command's input files (checked through symlinks and hard links,
before any work) and are written all or nothing: to temporary files beside them, renamed
into place only when every output is complete (:func:`gkmeans.persistence.atomic_outputs`).
"""

from __future__ import annotations

import argparse
import os
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
from gkmeans.persistence import atomic_outputs, load_model
from gkmeans.pipelines.params import resolve_n_init
from gkmeans.plot import plot_elbow
from gkmeans.plot_history import animate_fit, check_animation_path
from gkmeans.selection import elbow
from gkmeans.streaming import chunked

#: Exceptions that mean "the user asked for something that cannot be done", not a bug.
USER_ERRORS = (
    ValueError,
    TypeError,
    GPUUnavailableError,
    ImportError,
    EmptyClusterError,
    NotFittedError,
    OSError,  # a missing file or folder, no permission, a full disk, a file-size limit
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line instead of argparse's usage block."""
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _same_file(first: str, second: str) -> bool:
    if os.path.realpath(first) == os.path.realpath(second):
        return True
    try:
        return os.path.samefile(first, second)  # hard links
    except OSError:
        return False


def _check_paths(inputs: dict[str, str], outputs: dict[str, str]) -> None:
    """Refuse, before any work, outputs that would overwrite an input or each other, or that
    cannot be written (a folder, a missing folder)."""
    for option, output in outputs.items():
        for role, source in inputs.items():
            if _same_file(output, source):
                raise ValueError(
                    f"{option} {output!r} is the {role} input file {source!r}; writing it would "
                    "destroy the input: choose another output path"
                )
        if os.path.isdir(output):
            raise IsADirectoryError(f"{option} {output!r} is a folder; expected a file path")
        folder = os.path.dirname(os.path.realpath(output))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"{option} {output!r}: there is no folder {folder!r}")
    named = list(outputs.items())
    for i, (option, output) in enumerate(named):
        for other, second in named[i + 1 :]:
            if _same_file(output, second):
                raise ValueError(
                    f"{option} {output!r} and {other} {second!r} are the same file: choose two "
                    "different paths"
                )


def _save_labels(path: str, labels: Any) -> None:
    """The labels as ``.npy`` under exactly this name (``np.save`` would append ".npy")."""
    with open(path, "wb") as handle:
        np.save(handle, np.asarray(labels), allow_pickle=False)


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
    labels_path = args.labels or str(Path(args.out).with_suffix("")) + "-labels.npy"
    _check_paths({"data": args.data}, {"--out": args.out, "--labels": labels_path})
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
    # the files first: a reader that stops early (| head) must not cost the outputs
    with atomic_outputs(args.out, labels_path) as (model_file, labels_file):
        model.save(model_file)
        _save_labels(labels_file, model.labels_)
    _summary(model, elapsed, int(model.labels_.shape[0]))
    print(f"model       {args.out}")
    print(f"labels      {labels_path}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    _check_paths({"model": args.model, "data": args.data}, {"--out": args.out})
    model = load_model(args.model)
    if args.device is not None:
        model.set_params(device=args.device)
    X = _data(args)
    labels = np.asarray(model.predict(X))
    with atomic_outputs(args.out) as (labels_file,):
        _save_labels(labels_file, labels)
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
    # matplotlib appends ".png" to a name without a suffix: name that file
    plot = args.plot and (args.plot if Path(args.plot).suffix else args.plot + ".png")
    _check_paths({"data": args.data}, {"--plot": plot} if plot else {})
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
    if plot:  # the file first: a reader that stops early (| head) must not cost the plot
        import matplotlib

        matplotlib.use("Agg")

        with atomic_outputs(plot) as (plot_file,):
            plot_elbow(result, path=plot_file)
    print(result)
    for name in scores:
        print(f"best k by {name}: {result.best_k(name)}")
    if plot:
        print(f"plot        {plot}")
    return 0


def _animate(args: argparse.Namespace) -> int:
    check_animation_path(args.out)  # matplotlib, Pillow or ffmpeg missing: say so before any work
    _check_paths({"data": args.data}, {"--out": args.out})
    import matplotlib

    matplotlib.use("Agg")
    X = read_data(args.data)
    model = KMeans(
        args.k,
        init=args.init,
        n_init=1,
        max_iter=args.max_iter,
        tol=args.tol,
        random_state=args.seed,
        device=args.device,
        history=True,
    )
    elapsed = _fit_with_progress(model, X, args.quiet)
    bar = ProgressBar("frames", 1, enabled=not args.quiet)
    try:
        with atomic_outputs(args.out) as (out_file,):
            history = animate_fit(
                X,
                model=model,
                path=out_file,
                fps=args.fps,
                trail=not args.no_trails,
                max_points=args.max_points,
                random_state=args.seed,
                # frame f (1, 2, ...) shows iteration f - 1: the bar names that iteration
                progress=lambda frame, n_frames: bar(0, frame - 1, n_frames - 1),
            )
    finally:
        bar.close()
    _summary(model, elapsed, int(model.labels_.shape[0]))
    print(f"frames      {history.n_iter + 1}")
    print(f"animation   {args.out}")
    return 0


def _compress_image(args: argparse.Namespace) -> int:
    _check_paths({"image": args.input}, {"output": args.output})
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
    with atomic_outputs(args.output) as (output_file,):  # same suffix: the same format
        write_image(output_file, decompress(packed))
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
    _check_paths({}, {"output": args.output})
    picture = sample_image((height, width), random_state=args.seed)
    with atomic_outputs(args.output) as (output_file,):
        write_image(output_file, picture)
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
    fit.add_argument(
        "--labels", default=None, help="labels file, .npy format (default: <model>-labels.npy)"
    )
    _stream_options(fit)
    _common(fit)
    fit.set_defaults(run=_fit)

    predict = commands.add_parser("predict", help="label DATA with a saved model")
    predict.add_argument("model")
    predict.add_argument("data")
    predict.add_argument(
        "--out", default="labels.npy", help="labels file, .npy format (default labels.npy)"
    )
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

    animate = commands.add_parser(
        "animate",
        help="animate a k-means fit of DATA, one frame per iteration (.gif or .mp4)",
        description="Fit k-means on DATA (.npy, .csv or .parquet), recording the centres at every\n"
        "iteration, and write an animation with one frame per iteration: the points\n"
        "coloured by their nearest centre, the centres and their trails (a PCA projection\n"
        "when DATA has more than 2 columns). Needs matplotlib and Pillow:\n"
        "pip install 'gkmeans[plot]'; an .mp4 also needs the ffmpeg program.",
        epilog="example:\n  gkmeans animate X.npy -k 5 --out fit.gif --fps 2",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    animate.add_argument("data", help="data file: .npy, .csv or .parquet")
    animate.add_argument(
        "-k", "--n-clusters", dest="k", type=_positive_int, required=True, help="clusters"
    )
    animate.add_argument(
        "--out",
        default="fit.gif",
        help="animation file: .gif, or .mp4 where ffmpeg is installed (default fit.gif)",
    )
    animate.add_argument(
        "--init",
        default="k-means++",
        choices=["k-means++", "k-means||", "random", "random-box", "farthest-first"],
        help="how the centres start (default k-means++)",
    )
    animate.add_argument(
        "--max-iter", type=_positive_int, default=300, help="most iterations (default 300)"
    )
    animate.add_argument(
        "--tol", type=float, default=1e-4, help="relative tolerance to stop (default 0.0001)"
    )
    animate.add_argument("--fps", type=_positive_int, default=4, help="frames a second (default 4)")
    animate.add_argument(
        "--max-points",
        type=_positive_int,
        default=5_000,
        help="draw at most this many points, a random subset (default 5000)",
    )
    animate.add_argument(
        "--no-trails", action="store_true", help="draw the centres without their paths"
    )
    _common(animate)
    animate.set_defaults(run=_animate)

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


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that Python's final flush of a closed pipe stays quiet (the
    recipe of Python's signal documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # stdout replaced (tests) or already gone
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gkmeans`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    status : int
        0 on success; 2 for a user mistake or a failed write (one line on stderr, no
        traceback); 130 after Ctrl-C (``gkmeans: interrupted``); 141 when stdout is a pipe
        closed early (``gkmeans ... | head``), silently.
    """
    try:
        args = build_parser().parse_args(argv)
        status = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, not in Python's exit
        return status
    except BrokenPipeError:
        _silence_stdout()
        return 141
    except KeyboardInterrupt:
        print("gkmeans: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        print(f"gkmeans: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
