"""Command line: ``gkmeans`` (also ``python -m gkmeans``); ``gkmeans`` alone prints the help.

Commands: ``demo``, ``devices``, ``fit``, ``predict``, ``elbow``, ``animate``,
``compress-image``, ``sample-image`` (what each does: :mod:`gkmeans.cli_commands`).
Conventions: ``-k`` is one number of clusters (colours) in every command, ``--k-range
LOW:HIGH`` a sweep with both ends included; every option's help names its default, which is
the Python API's; each command's help ends with an example; ``--quiet`` turns the progress
output off (it is shown on a terminal only, on stderr).

A user mistake (missing file, bad shape, non-numeric column, unknown option, a missing
optional package) or a failed write prints one line ``gkmeans: error: ...`` and exits with
status 2; Ctrl-C prints ``gkmeans: interrupted`` and exits with 130; a closed output pipe
(``gkmeans ... | head``) ends the command silently with 141.

Output files are never the command's input files (checked through symlinks and hard links,
before any work) and are written all or nothing: to temporary files beside them, renamed
into place only when every output is complete (:func:`gkmeans.persistence.atomic_outputs`).
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from typing import Any, NoReturn, Sequence

from gkmeans import cli_commands as commands
from gkmeans._version import __version__
from gkmeans.estimator import KMeans
from gkmeans.exceptions import EmptyClusterError, GPUUnavailableError, NotFittedError
from gkmeans.image import compress, sample_image
from gkmeans.io import LABEL_FORMATS, SUFFIXES
from gkmeans.plot_history import animate_fit
from gkmeans.selection import SCORES, elbow

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


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Examples kept as written; every option's help ends with its default (unless the help
    already names it)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            not action.option_strings
            or action.required
            or "default" in text
            or action.default is argparse.SUPPRESS
        ):
            return text
        if action.nargs == 0:  # a flag
            return f"{text} (default: off)"
        if action.default is None:
            return f"{text} (default: none)"
        return f"{text} (default: %(default)s)"


def _api(function: Any, name: str) -> Any:
    """The Python API's default for ``name``: the command line's default is the same."""
    return inspect.signature(function).parameters[name].default


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


def _k_range(text: str) -> range:
    try:
        low, high = (int(part) for part in text.split(":")) if ":" in text else (1, int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a range like 2:12") from None
    if low < 1 or high - low < 2:
        raise argparse.ArgumentTypeError(
            f"{text!r} must be LOW:HIGH with 1 <= LOW and at least 3 values (both ends included)"
        )
    return range(low, high + 1)


def _no_range_in_k(text: str) -> NoReturn:
    raise argparse.ArgumentTypeError(
        f"elbow sweeps a range of k: write --k-range {text} (LOW:HIGH, both included); -k is "
        "one number of clusters in every command"
    )


def _sample_size(text: str) -> int | str | None:
    if text in ("auto", "all"):
        return None if text == "all" else text
    return _positive_int(text)


def _image_size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} must look like HEIGHTxWIDTH, e.g. 384x512"
        ) from None
    return height, width


def _command(
    subparsers: Any, name: str, help: str, example: str, run: Any, quiet: bool = True
) -> argparse.ArgumentParser:
    """A subcommand whose help ends with ``example``; every command takes ``--quiet``."""
    parser = subparsers.add_parser(
        name,
        help=help,
        description=help[0].upper() + help[1:] + ".",
        epilog=f"example:\n  {example}",
        formatter_class=_Formatter,
    )
    parser.set_defaults(run=run)
    if quiet:
        parser.add_argument(
            "--quiet", "-q", action="store_true", help="no progress output on stderr"
        )
    return parser


def _device_and_seed(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        default=None,
        help="auto, cpu, gpu or cuda:N (default: $GKMEANS_DEVICE, else auto)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed; the default 0 makes every run repeat (the Python API's "
        "random_state=None draws a fresh one)",
    )


def _stream_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stream",
        action="store_true",
        help="read the .npy file one chunk at a time (data larger than memory)",
    )
    parser.add_argument(
        "--chunk-rows",
        type=_positive_int,
        metavar="N",
        default=None,
        help="rows per chunk with --stream (default: about 64 MiB)",
    )


_LABELS_HELP = f"labels file; its suffix picks the format: {', '.join(LABEL_FORMATS)} (else .npy)"


def build_parser() -> argparse.ArgumentParser:
    """The ``gkmeans`` argument parser, every command with its options."""
    parser = _Parser(
        prog="gkmeans",
        description="Array-API k-means on CPU and GPU.",
        epilog="Run 'gkmeans COMMAND --help' for a command's options and an example.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"gkmeans {__version__}")
    sub = parser.add_subparsers(
        dest="command",
        title="commands",
        metavar="COMMAND",
        parser_class=_Parser,
        required=True,
    )
    data_help = f"data file: {', '.join(SUFFIXES)}"

    demo = _command(
        sub,
        "demo",
        "cluster generated Gaussian blobs and print the result",
        "gkmeans demo -k 5 --n-samples 50000",
        commands.demo,
    )
    demo.add_argument("--n-samples", type=_positive_int, metavar="N", default=200_000, help="rows")
    demo.add_argument("--n-features", type=_positive_int, metavar="N", default=16, help="columns")
    demo.add_argument(
        "-k",
        "--n-clusters",
        dest="k",
        type=_positive_int,
        default=_api(KMeans, "n_clusters"),
        help="clusters, made and fitted",
    )
    demo.add_argument(
        "--n-init", type=_n_init, metavar="N|auto", default=_api(KMeans, "n_init"), help="restarts"
    )
    demo.add_argument("--cluster-std", type=float, default=1.5, help="spread of each blob")
    demo.add_argument(
        "--dtype", choices=["float32", "float64"], default="float32", help="data type"
    )
    _device_and_seed(demo)

    _command(
        sub,
        "devices",
        "list the devices gkmeans can use, and why others are not usable",
        "gkmeans devices",
        commands.list_devices,
    )

    fit = _command(
        sub,
        "fit",
        "cluster a data file; save the model and the labels",
        "gkmeans fit data.csv -k 8 --out model.npz --labels labels.csv",
        commands.fit,
    )
    fit.add_argument("data", help=data_help)
    fit.add_argument(
        "-k",
        "--n-clusters",
        dest="k",
        type=_positive_int,
        required=True,
        help="number of clusters (required)",
    )
    fit.add_argument(
        "--init",
        default=_api(KMeans, "init"),
        help="initialisation",
        choices=["k-means++", "k-means||", "random", "random-box", "farthest-first"],
    )
    fit.add_argument(
        "--n-init",
        type=_n_init,
        metavar="N|auto",
        default=_api(KMeans, "n_init"),
        help="restarts, or auto",
    )
    fit.add_argument(
        "--max-iter",
        type=_positive_int,
        metavar="N",
        default=_api(KMeans, "max_iter"),
        help="Lloyd iterations per run at most",
    )
    fit.add_argument(
        "--tol",
        type=float,
        default=_api(KMeans, "tol"),
        help="stop when the centres move less than this, relative to the data's variance",
    )
    fit.add_argument(
        "--empty-cluster",
        default=_api(KMeans, "empty_cluster"),
        help="what an empty cluster gets",
        choices=["relocate", "random", "drop", "error"],
    )
    fit.add_argument("--out", default="model.npz", metavar="PATH", help="model file")
    fit.add_argument(
        "--labels", default=None, metavar="PATH", help=f"{_LABELS_HELP} (default: <out>-labels.npy)"
    )
    _stream_options(fit)
    _device_and_seed(fit)

    predict = _command(
        sub,
        "predict",
        "label a data file with a saved model",
        "gkmeans predict model.npz data.csv --out labels.csv",
        commands.predict,
    )
    predict.add_argument("model", help="model file written by 'gkmeans fit' (.npz)")
    predict.add_argument("data", help=data_help)
    predict.add_argument("--out", default="labels.npy", metavar="PATH", help=_LABELS_HELP)
    predict.add_argument(
        "--device", default=None, help="auto, cpu, gpu or cuda:N (default: the model's device)"
    )
    _stream_options(predict)

    sweep = _command(
        sub,
        "elbow",
        "fit every k of a range: inertia, optional scores, the knee",
        "gkmeans elbow data.csv --k-range 2:12 --scores silhouette --plot elbow.png",
        commands.run_elbow,
    )
    sweep.add_argument("data", help=data_help)
    ks = _api(elbow, "k_range")
    sweep.add_argument(
        "--k-range",
        type=_k_range,
        default=f"{ks.start}:{ks.stop - 1}",
        help="LOW:HIGH, both included, at least 3 values; HIGH alone means 1:HIGH",
    )
    sweep.add_argument("-k", type=_no_range_in_k, help=argparse.SUPPRESS)
    sweep.add_argument(
        "--n-init",
        type=_n_init,
        metavar="N|auto",
        default=_api(elbow, "n_init"),
        help="restarts per k, or auto",
    )
    sweep.add_argument(
        "--scores", default="", help=f"comma-separated, any of {','.join(SCORES)} (default: none)"
    )
    sweep.add_argument(
        "--silhouette-sample",
        type=_sample_size,
        default="auto",
        metavar="auto|all|N",
        help="rows the silhouette is scored on: auto samples 10000 when there are more "
        "(gkmeans.selection.SILHOUETTE_AUTO_SAMPLE), all scores every row (O(n^2)), N samples N",
    )
    sweep.add_argument(
        "--plot",
        default=None,
        metavar="PNG",
        help="write the elbow plot to this file (needs matplotlib)",
    )
    _device_and_seed(sweep)

    movie = _command(
        sub,
        "animate",
        "animate a k-means fit of a data file, one frame per iteration (.gif or .mp4)",
        "gkmeans animate data.csv -k 5 --out fit.gif --fps 2",
        commands.animate,
    )
    movie.description = (
        "Fit k-means on a data file, recording the centres at every iteration, and write an\n"
        "animation with one frame per iteration: the points coloured by their nearest centre,\n"
        "the centres and their trails (a PCA projection when the data have more than 2\n"
        "columns). Needs matplotlib and Pillow: pip install 'gkmeans[plot]'; an .mp4 also\n"
        "needs the ffmpeg program."
    )
    movie.add_argument("data", help=data_help)
    movie.add_argument(
        "-k", "--n-clusters", dest="k", type=_positive_int, required=True, help="clusters"
    )
    movie.add_argument(
        "--out",
        default=_api(animate_fit, "path"),
        metavar="PATH",
        help="animation file: .gif, or .mp4 where ffmpeg is installed (default fit.gif)",
    )
    movie.add_argument(
        "--init",
        default=_api(KMeans, "init"),
        choices=["k-means++", "k-means||", "random", "random-box", "farthest-first"],
        help="how the centres start",
    )
    movie.add_argument(
        "--max-iter",
        type=_positive_int,
        default=_api(KMeans, "max_iter"),
        metavar="N",
        help="most iterations",
    )
    movie.add_argument(
        "--tol", type=float, default=_api(KMeans, "tol"), help="relative tolerance to stop"
    )
    movie.add_argument(
        "--fps",
        type=_positive_int,
        default=_api(animate_fit, "fps"),
        help="frames a second (default 4)",
    )
    movie.add_argument(
        "--max-points",
        type=_positive_int,
        default=_api(animate_fit, "max_points"),
        metavar="N",
        help="draw at most this many points, a random subset",
    )
    movie.add_argument(
        "--no-trails", action="store_true", help="draw the centres without their paths"
    )
    _device_and_seed(movie)

    image = _command(
        sub,
        "compress-image",
        "quantise an image to k colours with k-means (a palette PNG/GIF when k <= 256)",
        "gkmeans compress-image photo.png photo-16.png -k 16",
        commands.compress_image,
    )
    image.add_argument("input", help="image file Pillow reads (.png, .jpg, ...)")
    image.add_argument("output", help="image file; its suffix picks the format")
    image.add_argument(
        "-k",
        "--colors",
        "--colours",
        dest="colors",
        metavar="K",
        type=_positive_int,
        default=_api(compress, "n_colors"),
        help="number of colours",
    )
    image.add_argument(
        "--max-fit-pixels",
        type=int,
        metavar="N",
        default=_api(compress, "max_fit_pixels"),
        help="fit the palette on at most this many pixels drawn at random (0: all)",
    )
    _device_and_seed(image)

    sample = _command(
        sub,
        "sample-image",
        "write the built-in photo-like test picture",
        "gkmeans sample-image photo.png --size 384x512",
        commands.write_sample_image,
    )
    sample.add_argument("output", help="image file; its suffix picks the format")
    size = _api(sample_image, "size")
    sample.add_argument(
        "--size",
        type=_image_size,
        metavar="HxW",
        default=f"{size[0]}x{size[1]}",
        help="HEIGHTxWIDTH",
    )
    sample.add_argument(
        "--seed", type=int, default=_api(sample_image, "random_state"), help="seed of the grain"
    )
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
        The arguments (default ``sys.argv[1:]``); none prints the help.

    Returns
    -------
    status : int
        0 on success (and for the help); 2 for a user mistake or a failed write (one line on
        stderr, no traceback); 130 after Ctrl-C (``gkmeans: interrupted``); 141 when stdout is
        a pipe closed early (``gkmeans ... | head``), silently.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = build_parser()
        if not argv:
            parser.print_help()
            return 0
        args = parser.parse_args(argv)
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
