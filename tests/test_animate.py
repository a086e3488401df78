"""Convergence pictures: plot_history, animate_fit and `gkmeans animate`, on real files."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
Image = pytest.importorskip("PIL.Image")

from matplotlib import animation  # noqa: E402

import gkmeans  # noqa: E402
from gkmeans.datasets import make_blobs  # noqa: E402
from gkmeans.plot import animate_fit, plot_history  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _env(**extra):
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


def _cli(cwd, *args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "gkmeans", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=kwargs.pop("env", _env()),
        timeout=300,
        **kwargs,
    )


def _frames(path):
    with Image.open(path) as picture:
        assert picture.format == "GIF"
        frames = []
        for index in range(picture.n_frames):
            picture.seek(index)
            frames.append(np.asarray(picture.convert("RGB")))
    return frames


@pytest.fixture(scope="module")
def blobs():
    X, _, _ = make_blobs(800, 2, 4, cluster_std=1.8, random_state=3)
    return X


@pytest.fixture(scope="module")
def fitted(blobs):
    return gkmeans.KMeans(4, init="random", n_init=1, random_state=1, history=True).fit(blobs)


def test_plot_history_draws_one_path_per_centre(tmp_path, blobs, fitted):
    ax = plot_history(blobs, fitted, path=tmp_path / "history.png")
    assert (tmp_path / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ax.get_title() == f"Centres over {fitted.n_iter_} iterations"
    paths = [line for line in ax.get_lines() if len(line.get_xdata()) == fitted.n_iter_ + 1]
    assert len(paths) == 2 * 4  # an outline and a coloured line per centre
    ends = np.array([line.get_xydata()[-1] for line in paths])
    assert {tuple(row) for row in np.round(ends, 9)} == {
        tuple(row) for row in np.round(fitted.cluster_centers_, 9)
    }


def test_plot_history_projects_more_than_two_features(tmp_path):
    X, _, _ = make_blobs(500, 5, 3, random_state=0)
    model = gkmeans.KMeans(3, random_state=0, history=True).fit(X)
    ax = plot_history(X, model.history_)
    assert ax.get_title().endswith("(PCA projection)") and ax.get_xlabel() == "PC 1"


def test_plot_history_refuses_what_it_cannot_draw(blobs):
    with pytest.raises(ValueError, match="history=True"):
        plot_history(blobs, gkmeans.KMeans(4, random_state=0).fit(blobs))
    with pytest.raises(TypeError, match="FitHistory"):
        plot_history(blobs, np.zeros((3, 4, 2)))
    model = gkmeans.KMeans(4, random_state=0, history=True).fit(blobs)
    with pytest.raises(ValueError, match="X has 3 features"):
        plot_history(np.ones((10, 3)), model)


def test_animate_fit_writes_one_frame_per_iteration(tmp_path, blobs):
    history = animate_fit(blobs, 4, path=tmp_path / "fit.gif", init="random", random_state=1)
    frames = _frames(tmp_path / "fit.gif")
    assert len(frames) == history.n_iter + 1 >= 3
    assert not np.array_equal(frames[0], frames[-1])


def test_animate_fit_of_a_fitted_model_reports_frames(tmp_path, blobs, fitted):
    seen = []
    history = animate_fit(
        blobs,
        path=tmp_path / "fit.gif",
        model=fitted,
        trail=False,
        progress=lambda frame, total: seen.append((frame, total)),
    )
    assert history is fitted.history_
    n_frames = fitted.n_iter_ + 1
    assert len(_frames(tmp_path / "fit.gif")) == n_frames
    assert seen == [(frame, n_frames) for frame in range(1, n_frames + 1)]


def test_animate_fit_bad_input(tmp_path, blobs, fitted, monkeypatch):
    with pytest.raises(ValueError, match=r"must end in \.gif or \.mp4"):
        animate_fit(blobs, 4, path=tmp_path / "fit.png")
    with pytest.raises(ValueError, match="fps=0"):
        animate_fit(blobs, path=tmp_path / "fit.gif", model=fitted, fps=0)
    with pytest.raises(ValueError, match="history=True"):
        animate_fit(blobs, path=tmp_path / "fit.gif", model=gkmeans.KMeans(4).fit(blobs))
    monkeypatch.setattr(animation.writers, "is_available", lambda name: False)
    with pytest.raises(FileNotFoundError, match="ffmpeg"):
        animate_fit(blobs, path=tmp_path / "fit.mp4", model=fitted)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def ffmpeg(monkeypatch, tmp_path):
    """The ffmpeg program matplotlib finds, else the one of the imageio-ffmpeg package (also named
    in a matplotlibrc for the command line), else a skip."""
    if animation.writers.is_available("ffmpeg"):
        return matplotlib.rcParams["animation.ffmpeg_path"]
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="no ffmpeg program here")
    program = imageio_ffmpeg.get_ffmpeg_exe()
    monkeypatch.setitem(matplotlib.rcParams, "animation.ffmpeg_path", program)
    (tmp_path / "matplotlibrc").write_text(f"animation.ffmpeg_path: {program}\n")
    monkeypatch.setenv("MATPLOTLIBRC", str(tmp_path / "matplotlibrc"))
    return program


def _mp4_frames(ffmpeg, path):
    probe = subprocess.run(
        [ffmpeg, "-i", str(path), "-map", "0:v:0", "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    counts = [
        line.split("frame=")[1].split()[0] for line in probe.stderr.splitlines() if "frame=" in line
    ]
    assert counts, probe.stderr
    return int(counts[-1])


def test_animate_fit_writes_mp4_where_ffmpeg_is(tmp_path, blobs, fitted, ffmpeg):
    animate_fit(blobs, path=tmp_path / "fit.mp4", model=fitted)
    assert _mp4_frames(ffmpeg, tmp_path / "fit.mp4") == fitted.n_iter_ + 1


def test_cli_animate_writes_mp4_where_ffmpeg_is(tmp_path, blobs, ffmpeg):
    np.save(tmp_path / "X.npy", blobs)
    done = _cli(tmp_path, "animate", "X.npy", "-k", "4", "--out", "fit.mp4", "--quiet")
    assert done.returncode == 0, done.stderr
    fields = dict(line.split(None, 1) for line in done.stdout.splitlines())
    assert _mp4_frames(ffmpeg, tmp_path / "fit.mp4") == int(fields["iterations"]) + 1


def test_cli_animate_writes_a_gif_of_every_iteration(tmp_path, blobs):
    X = np.vstack([blobs, blobs[:, ::-1] + 20])
    X = np.hstack([X, np.random.default_rng(0).normal(size=(X.shape[0], 1))])  # 3-D: projected
    np.save(tmp_path / "X.npy", X)
    done = _cli(
        tmp_path,
        "animate",
        "X.npy",
        "-k",
        "5",
        "--out",
        "fit.gif",
        "--init",
        "random",
        "--seed",
        "2",
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    fields = dict(line.split(None, 1) for line in done.stdout.splitlines())
    n_iter = int(fields["iterations"])
    assert fields["frames"] == str(n_iter + 1) and fields["animation"] == "fit.gif"
    frames = _frames(tmp_path / "fit.gif")
    assert len(frames) == n_iter + 1
    model = gkmeans.KMeans(5, init="random", n_init=1, random_state=2).fit(X)
    assert model.n_iter_ == n_iter
    assert done.stderr == ""


def test_cli_animate_help_shows_defaults_and_an_example(tmp_path):
    done = _cli(tmp_path, "animate", "--help")
    assert done.returncode == 0
    assert "(default fit.gif)" in done.stdout and "(default 4)" in done.stdout
    assert done.stdout.rstrip().splitlines()[-1].strip().startswith("gkmeans animate ")


def test_cli_animate_shows_progress_on_a_terminal_only(tmp_path, blobs):
    np.save(tmp_path / "X.npy", blobs)
    for quiet, expected in ((False, True), (True, False)):
        leader, follower = pty.openpty()
        done = subprocess.run(
            [sys.executable, "-m", "gkmeans", "animate", "X.npy", "-k", "4", "--out", "a.gif"]
            + (["--quiet"] if quiet else []),
            stdout=subprocess.PIPE,
            stderr=follower,
            cwd=tmp_path,
            env=_env(),
            timeout=300,
        )
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        os.close(leader)
        assert done.returncode == 0
        assert (b"frames:" in seen) is expected, seen


def test_cli_animate_user_mistakes(tmp_path, blobs):
    np.save(tmp_path / "X.npy", blobs)
    for args, fragment in (
        (("X.npy", "-k", "4", "--out", "fit.png"), "must end in .gif or .mp4"),
        (("missing.npy", "-k", "4"), "missing.npy"),
        (("X.npy", "-k", "4", "--out", "X.gif", "--max-points", "0"), "must be >= 1"),
        (("X.npy", "-k", "4", "--out", "nofolder/fit.gif"), "there is no folder"),
    ):
        done = _cli(tmp_path, "animate", *args)
        assert done.returncode == 2, done.stderr
        assert (
            "error:" in done.stderr and fragment in done.stderr and "Traceback" not in done.stderr
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.npy"]


def test_cli_animate_names_the_missing_extra_before_any_work(tmp_path):
    fake = tmp_path / "fake"
    (fake / "matplotlib").mkdir(parents=True)
    (fake / "matplotlib" / "__init__.py").write_text("raise ImportError('no matplotlib here')\n")
    env = _env(PYTHONPATH=os.pathsep.join([str(fake), str(REPO), os.environ.get("PYTHONPATH", "")]))
    done = _cli(tmp_path, "animate", "no-such-data.npy", "-k", "3", env=env)
    assert done.returncode == 2
    assert "pip install 'gkmeans[plot]'" in done.stderr and "no-such-data" not in done.stderr
