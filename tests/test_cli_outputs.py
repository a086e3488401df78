"""What ``compress-image`` and ``elbow`` report (issue 22, items 6 and 7, command-line side):
the real file sizes and kind of the written image, and the silhouette's sample."""

from __future__ import annotations

import os

import numpy as np
import pytest
from cli_runner import run_cli

from gkmeans import selection
from gkmeans.datasets import make_blobs

_cli = run_cli


def _field(out, name):
    return next(line for line in out.splitlines() if line.startswith(name))


@pytest.fixture
def picture(tmp_path):
    pytest.importorskip("PIL")
    assert _cli(tmp_path, "sample-image", "in.png", "--size", "96x128").returncode == 0
    return tmp_path


def test_compress_image_reports_the_real_sizes_and_kind(picture):
    from PIL import Image

    done = _cli(picture, "compress-image", "in.png", "out.png", "-k", "8", "-q")
    assert done.returncode == 0, done.stderr
    size_in, size_out = (os.path.getsize(picture / name) for name in ("in.png", "out.png"))
    assert _field(done.stdout, "input").endswith(f"{size_in:,} bytes")
    output = _field(done.stdout, "output")
    assert output.startswith(f"output      out.png: {size_out:,} bytes, ")
    with Image.open(picture / "out.png") as written:
        mode = written.mode
        colours = len(np.unique(np.asarray(written.convert("RGB")).reshape(-1, 3), axis=0))
    assert colours <= 8
    assert ("palette (indexed) PNG" in output) == (mode == "P")
    assert ("24-bit RGB PNG" in output) == (mode == "RGB")
    assert f"{size_out / size_in:.0%} of the input file" in _field(done.stdout, "size")
    assert "x smaller than 24-bit RGB" not in done.stdout  # no theoretical ratio as a claim


@pytest.mark.parametrize("name, fmt", [("out.png", "PNG"), ("out.gif", "GIF")])
def test_compress_image_writes_a_palette_image_when_k_fits(picture, name, fmt):
    from PIL import Image

    done = _cli(picture, "compress-image", "in.png", name, "-k", "16", "-q")
    assert done.returncode == 0, done.stderr
    with Image.open(picture / name) as written:
        assert written.mode == "P" and written.format == fmt
    assert f"palette (indexed) {fmt}" in done.stdout
    rgb = _cli(picture, "compress-image", "in.png", "rgb.png", "-k", "300", "-q")
    assert rgb.returncode == 0 and "24-bit RGB PNG" in rgb.stdout


def test_elbow_says_when_the_silhouette_is_sampled(tmp_path):
    n = selection.SILHOUETTE_AUTO_SAMPLE + 2000
    X, _, _ = make_blobs(n, 2, 3, random_state=0)
    np.save(tmp_path / "X.npy", X.astype(np.float32))
    done = _cli(tmp_path, "elbow", "X.npy", "--k-range", "2:4", "--scores", "silhouette", "-q")
    assert done.returncode == 0, done.stderr
    expected = f"scored on {selection.SILHOUETTE_AUTO_SAMPLE} of {n} rows drawn at random"
    assert expected in done.stdout
    done = _cli(
        tmp_path,
        "elbow",
        "X.npy",
        "--k-range",
        "2:4",
        "--scores",
        "silhouette",
        "--silhouette-sample",
        "500",
        "-q",
    )
    assert done.returncode == 0 and f"scored on 500 of {n} rows" in done.stdout
    small = _cli(tmp_path, "elbow", "X.npy", "--k-range", "2:4", "-q")
    assert small.returncode == 0 and "drawn at random" not in small.stdout
