"""Progress output of the real ``gkmeans`` command (issue 22, items 7 and 8): on stderr when it
is a terminal (a pseudo-terminal here), never when it is not, never under ``--quiet``, and no
failure without tqdm."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import numpy as np
import pytest

from gkmeans.datasets import make_blobs

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("tqdm")


def _env(**extra):
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def _on_terminal(cwd, *args, env=None, sized=True):
    """Run ``python -m gkmeans ARGS`` with stderr on a pseudo-terminal of 100 columns (or one
    that reports no size); return (status, stdout, what the terminal received)."""
    master, slave = pty.openpty()
    if sized:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "gkmeans", *map(str, args)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        cwd=cwd,
        env=env or _env(),
    )
    os.close(slave)
    received: list[bytes] = []

    def drain():
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the last writer closed the terminal
                return
            if not chunk:
                return
            received.append(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    out, _ = process.communicate(timeout=300)
    reader.join(timeout=60)
    os.close(master)
    return process.returncode, out.decode(), b"".join(received).decode(errors="replace")


def _piped(cwd, *args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "gkmeans", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env or _env(),
        timeout=300,
    )


@pytest.fixture
def data(tmp_path):
    X, _, _ = make_blobs(3000, 4, 5, random_state=0)
    np.save(tmp_path / "X.npy", X)
    return tmp_path


def test_a_fit_shows_its_progress_on_a_terminal(data):
    status, out, terminal = _on_terminal(data, "fit", "X.npy", "-k", "5", "--n-init", "3")
    assert status == 0, terminal
    assert "k-means:" in terminal and "%|" in terminal and "| run 1/3" in terminal
    assert "\r" not in out and "k           5" in out  # stdout holds the summary only


def test_a_terminal_that_reports_no_size_still_gets_the_bar(data):
    status, _, terminal = _on_terminal(data, "fit", "X.npy", "-k", "5", sized=False)
    assert status == 0, terminal
    assert "k-means:" in terminal and "| run 1/1" in terminal


def test_a_streamed_fit_shows_its_progress(data):
    status, _, terminal = _on_terminal(
        data, "fit", "X.npy", "-k", "5", "--stream", "--chunk-rows", "500", "--init", "k-means||"
    )
    assert status == 0, terminal
    assert "k-means:" in terminal and "%|" in terminal and "| run 1/1" in terminal


def test_quiet_and_a_pipe_show_no_progress(data):
    status, out, terminal = _on_terminal(data, "fit", "X.npy", "-k", "5", "--quiet")
    assert status == 0 and terminal == "" and "k           5" in out
    done = _piped(data, "fit", "X.npy", "-k", "5")
    assert done.returncode == 0 and done.stderr == ""


def test_compress_image_names_its_steps_on_a_terminal(tmp_path):
    pytest.importorskip("PIL")
    assert _piped(tmp_path, "sample-image", "in.png", "--size", "64x80").returncode == 0
    status, out, terminal = _on_terminal(tmp_path, "compress-image", "in.png", "out.png", "-k", "6")
    assert status == 0, terminal
    assert "compress-image:" in terminal and "fit 6 colours" in terminal
    status, _, terminal = _on_terminal(tmp_path, "compress-image", "in.png", "o2.png", "-q")
    assert status == 0 and terminal == ""
    done = _piped(tmp_path, "compress-image", "in.png", "o3.png", "-k", "6")
    assert done.returncode == 0 and done.stderr == ""


def test_without_tqdm_a_terminal_gets_no_bar_and_no_error(data):
    shim = data / "shim" / "tqdm"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('tqdm blocked for the test')\n")
    env = _env(PYTHONPATH=os.pathsep.join([str(data / "shim"), str(ROOT)]))
    status, out, terminal = _on_terminal(data, "fit", "X.npy", "-k", "5", env=env)
    assert status == 0 and "k           5" in out and terminal == ""


def test_elbow_prints_one_line_per_k_on_a_terminal_only(data):
    status, out, terminal = _on_terminal(data, "elbow", "X.npy", "--k-range", "2:5")
    assert status == 0, terminal
    lines = [line for line in terminal.replace("\r", "\n").splitlines() if line.strip()]
    assert len(lines) >= 4 and all(f"k={k}" in terminal or f"k {k}" in terminal for k in (2, 5))
    assert "knee" in out
    status, _, terminal = _on_terminal(data, "elbow", "X.npy", "--k-range", "2:5", "--quiet")
    assert status == 0 and terminal == ""
    assert _piped(data, "elbow", "X.npy", "--k-range", "2:5").stderr == ""
