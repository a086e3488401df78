"""What each ``gkmeans`` command does, given its parsed arguments (the parser is in
:mod:`gkmeans.cli`). Every command checks its paths and the optional packages it needs
before any work, writes its files all or nothing, then prints a summary on stdout; progress
goes to stderr, on a terminal only (:mod:`gkmeans._progress`)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from gkmeans._progress import Count, FitProgress, Steps, wanted
from gkmeans._version import __version__
from gkmeans.datasets import make_blobs
from gkmeans.device import devices
from gkmeans.estimator import KMeans, fit_with_progress
from gkmeans.image import (
    MAX_PALETTE_COLORS,
    SAVE_SUFFIXES,
    CompressedImage,
    compress,
    decompress,
    read_image,
    sample_image,
    write_image,
)
from gkmeans.io import labels_format, read_data, write_labels
from gkmeans.persistence import atomic_outputs, load_model
from gkmeans.pipelines.params import resolve_n_init
from gkmeans.plot import plot_elbow
from gkmeans.plot_history import animate_fit, check_animation_path
from gkmeans.selection import elbow
from gkmeans.streaming import chunked


def require(module: str, extra: str, what: str) -> None:
    """Raise ImportError with the ``pip install 'gkmeans[extra]'`` line when ``module`` cannot
    be imported: called before a command's work, not when its output is written."""
    try:
        __import__(module)
    except ImportError as exc:
        package = {"PIL": "Pillow"}.get(module, module)
        msg = f"{what} needs {package}: pip install 'gkmeans[{extra}]'"
        raise ImportError(msg) from exc


def _same_file(first: str, second: str) -> bool:
    if os.path.realpath(first) == os.path.realpath(second):
        return True
    try:
        return os.path.samefile(first, second)  # hard links
    except OSError:
        return False


def check_paths(inputs: dict[str, str], outputs: dict[str, str]) -> None:
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


def _n_init(text: str) -> int | str:
    return text if text == "auto" else int(text)


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
    progress = FitProgress(
        "k-means", resolve_n_init(model.n_init, model.init, "KMeans"), quiet=quiet
    )
    start = time.perf_counter()
    try:
        fit_with_progress(model, X, progress)
    finally:
        progress.close()
    return time.perf_counter() - start


def demo(args: argparse.Namespace) -> int:
    X, _, _ = make_blobs(
        args.n_samples,
        args.n_features,
        args.k,
        cluster_std=args.cluster_std,
        dtype=np.dtype(args.dtype),
        random_state=args.seed,
    )
    model = KMeans(args.k, n_init=_n_init(args.n_init), random_state=args.seed, device=args.device)
    elapsed = _fit_with_progress(model, X, args.quiet)
    print(
        f"gkmeans {__version__} demo: {args.n_samples} x {args.n_features} {args.dtype} Gaussian "
        f"blobs, {args.k} true clusters (seed {args.seed})"
    )
    _summary(model, elapsed, args.n_samples)
    return 0


def list_devices(args: argparse.Namespace) -> int:
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


def fit(args: argparse.Namespace) -> int:
    labels_path = args.labels or str(Path(args.out).with_suffix("")) + "-labels.npy"
    check_paths({"data": args.data}, {"--out": args.out, "--labels": labels_path})
    labels_kind = labels_format(labels_path)
    X = _data(args)
    model = KMeans(
        args.k,
        init=args.init,
        n_init=_n_init(args.n_init),
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
        write_labels(labels_file, model.labels_)
    _summary(model, elapsed, int(model.labels_.shape[0]))
    print(f"model       {args.out}")
    print(f"labels      {labels_path}: {labels_kind}")
    return 0


def predict(args: argparse.Namespace) -> int:
    check_paths({"model": args.model, "data": args.data}, {"--out": args.out})
    labels_kind = labels_format(args.out)
    model = load_model(args.model)
    if args.device is not None:
        model.set_params(device=args.device)
    X = _data(args)
    labels = np.asarray(model.predict(X))
    with atomic_outputs(args.out) as (labels_file,):
        write_labels(labels_file, labels)
    sizes = np.bincount(labels, minlength=model.cluster_centers_.shape[0])
    print(f"samples     {labels.shape[0]}")
    print(f"sizes       {sizes.tolist()}")
    print(f"score       {model.score(X):.6g}")
    print(f"labels      {args.out}: {labels_kind}")
    return 0


def run_elbow(args: argparse.Namespace) -> int:
    # matplotlib appends ".png" to a name without a suffix: name that file
    plot = args.plot and (args.plot if Path(args.plot).suffix else args.plot + ".png")
    check_paths({"data": args.data}, {"--plot": plot} if plot else {})
    if plot:
        require("matplotlib", "plot", "elbow --plot")
    X = read_data(args.data)
    scores = tuple(name for name in args.scores.split(",") if name) if args.scores else ()
    result = elbow(
        X,
        args.k_range,
        n_init=_n_init(args.n_init),
        random_state=args.seed,
        device=args.device,
        scores=scores,
        sample_size=args.silhouette_sample,
        verbose=wanted(args.quiet),
    )
    if plot:  # the file first: a reader that stops early (| head) must not cost the plot
        import matplotlib

        matplotlib.use("Agg")
        with atomic_outputs(plot) as (plot_file,):
            plot_elbow(result, path=plot_file)
    # the sample is named in the command line's words, not the Python API's (sample_size=)
    used = result.silhouette_sample_size
    print(dataclasses.replace(result, silhouette_sample_size=None))
    if "silhouette" in scores and used is not None:
        print(
            f"silhouette  scored on {used} of {X.shape[0]} rows drawn at random, the same rows "
            "for every k (--silhouette-sample all: every row)"
        )
    for name in scores:
        print(f"best k by {name}: {result.best_k(name)}")
    if plot:
        print(f"plot        {plot}")
    return 0


def animate(args: argparse.Namespace) -> int:
    check_animation_path(args.out)  # matplotlib, Pillow or ffmpeg missing: say so before any work
    check_paths({"data": args.data}, {"--out": args.out})
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
    # frame f (1, 2, ...) shows iteration f - 1: the bar names that iteration
    frames = Count("frames", lambda frame: f"iteration {max(frame - 1, 0)}", quiet=args.quiet)
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
                progress=frames,
            )
    finally:
        frames.close()
    _summary(model, elapsed, int(model.labels_.shape[0]))
    print(f"frames      {history.n_iter + 1}")
    print(f"animation   {args.out}")
    return 0


def _write_compressed(path: str, packed: CompressedImage) -> None:
    """A palette (indexed) PNG or GIF when the colours fit one, the palette and indices as
    ``.npz``, else (``.jpg``, more than 256 colours, ...) the decompressed RGB picture."""
    suffix = Path(path).suffix.lower()
    if suffix == ".npz" or (
        suffix in SAVE_SUFFIXES and packed.palette.shape[0] <= MAX_PALETTE_COLORS
    ):
        packed.save(path)
    else:
        write_image(path, decompress(packed))


def _image_kind(path: str) -> str:
    """What the file at ``path`` holds, read back from it (Pillow): e.g. "palette (indexed)
    PNG, 16 colours" or "24-bit RGB PNG"; a file Pillow cannot open is named by its suffix."""
    from PIL import Image

    try:
        with Image.open(path) as opened:
            fmt, mode = opened.format, opened.mode
            colours = len(opened.getcolors(1 << 16) or ()) if mode == "P" else 0
    except (OSError, ValueError):
        return f"{Path(path).suffix.lstrip('.') or 'binary'} file (palette and indices)"
    if mode == "P":
        return f"palette (indexed) {fmt}, {colours} colours"
    return {"RGB": f"24-bit RGB {fmt}", "L": f"8-bit grey {fmt}"}.get(mode, f"{mode} {fmt}")


def compress_image(args: argparse.Namespace) -> int:
    check_paths({"image": args.input}, {"output": args.output})
    require("PIL", "image", "compress-image")
    steps = ["read the image", f"fit {args.colors} colours", "write the output"]
    with Steps("compress-image", steps, quiet=args.quiet) as progress:
        progress.next()
        picture = read_image(args.input)
        progress.next()
        start = time.perf_counter()
        packed = compress(
            picture,
            args.colors,
            device=args.device,
            random_state=args.seed,
            max_fit_pixels=None if args.max_fit_pixels == 0 else args.max_fit_pixels,
        )
        elapsed = time.perf_counter() - start
        progress.next()
        with atomic_outputs(args.output) as (output_file,):
            _write_compressed(output_file, packed)
        progress.next()
    height, width, _ = packed.shape
    size_in, size_out = os.path.getsize(args.input), os.path.getsize(args.output)
    print(f"input       {args.input} ({width} x {height}): {size_in:,} bytes")
    print(f"colours     {args.colors} ({packed.bits_per_pixel} bits per pixel + palette)")
    print(f"fitted on   {packed.fit_pixels} pixels")
    print(f"time        {elapsed:.3f} s")
    print(f"output      {args.output}: {size_out:,} bytes, {_image_kind(args.output)}")
    raw = 3 * width * height
    print(
        f"size        output = {size_out / size_in:.0%} of the input file, "
        f"{size_out / raw:.0%} of raw 24-bit RGB ({raw:,} bytes)"
    )
    return 0


def write_sample_image(args: argparse.Namespace) -> int:
    height, width = args.size
    check_paths({}, {"output": args.output})
    require("PIL", "image", "sample-image")
    picture = sample_image((height, width), random_state=args.seed)
    with atomic_outputs(args.output) as (output_file,):
        write_image(output_file, picture)
    print(f"written     {args.output} ({width} x {height})")
    return 0
