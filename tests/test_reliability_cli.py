"""The command line under user mistakes and faults, run as a user runs it: ``python -m gkmeans``
in a subprocess on real files (issue 18, items 1 and 6)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import gkmeans
from gkmeans.datasets import make_blobs


def _cli(tmp_path, *args, timeout=300, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "gkmeans", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=timeout,
        **kwargs,
    )


def _one_line_error(done, *fragments):
    assert done.returncode == 2, (done.returncode, done.stderr)
    err = done.stderr
    assert err.startswith("gkmeans: error:") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.fixture
def data(tmp_path):
    X, _, _ = make_blobs(600, 3, 4, cluster_std=0.5, random_state=0)
    np.save(tmp_path / "X.npy", X)
    return tmp_path, X


# ------------------------------------------------------------------ item 1: outputs vs inputs
@pytest.mark.parametrize(
    "args",
    [
        ["fit", "X.npy", "-k", "3", "--out", "X.npy", "-q"],
        ["fit", "X.npy", "-k", "3", "--labels", "X.npy", "-q"],
        ["fit", "X.npy", "-k", "3", "--out", "./sub/../X.npy", "-q"],
        ["fit", "X.npy", "-k", "3", "--out", "link.npy", "-q"],  # a symlink to the data
        ["fit", "X.npy", "-k", "3", "--out", "hard.npy", "-q"],  # a hard link to the data
        ["predict", "m.npz", "X.npy", "--out", "X.npy"],
        ["predict", "m.npz", "X.npy", "--out", "m.npz"],
        ["elbow", "X.npy", "--k-range", "1:4", "--plot", "X.npy"],
    ],
    ids=["out", "labels", "dotted", "symlink", "hardlink", "predict-data", "predict-model", "plot"],
)
def test_an_output_that_is_an_input_is_refused(data, args):
    tmp, _ = data
    (tmp / "sub").mkdir()
    os.symlink(tmp / "X.npy", tmp / "link.npy")
    os.link(tmp / "X.npy", tmp / "hard.npy")
    gkmeans.KMeans(3, random_state=0).fit(np.load(tmp / "X.npy")).save(tmp / "m.npz")
    before = {name: (tmp / name).read_bytes() for name in ("X.npy", "m.npz")}
    _one_line_error(_cli(tmp, *args), "input")
    assert {name: (tmp / name).read_bytes() for name in before} == before


def test_two_outputs_that_are_one_file_are_refused(data):
    tmp, _ = data
    _one_line_error(_cli(tmp, "fit", "X.npy", "-k", "3", "--out", "m.npz", "--labels", "m.npz"))
    assert not (tmp / "m.npz").exists()


def test_compress_image_refuses_to_overwrite_its_input(tmp_path):
    pytest.importorskip("PIL")
    assert _cli(tmp_path, "sample-image", "in.png", "--size", "40x50").returncode == 0
    before = (tmp_path / "in.png").read_bytes()
    _one_line_error(_cli(tmp_path, "compress-image", "in.png", "in.png", "--colors", "4"), "input")
    assert (tmp_path / "in.png").read_bytes() == before


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_failed_fit_leaves_the_previous_model_and_labels(tmp_path):
    """The labels (80 kB) cannot be written under a 16 kB file-size limit: the new model (2 kB)
    must not replace the old one either, and no temporary file stays behind."""
    X, _, _ = make_blobs(20_000, 2, 3, random_state=0)
    np.save(tmp_path / "X.npy", X)
    assert _cli(tmp_path, "fit", "X.npy", "-k", "5", "--out", "m.npz", "-q").returncode == 0
    before = {name: (tmp_path / name).read_bytes() for name in ("m.npz", "m-labels.npy")}

    def limit():
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384))

    done = _cli(tmp_path, "fit", "X.npy", "-k", "3", "--out", "m.npz", "-q", preexec_fn=limit)
    _one_line_error(done, "File too large")
    assert {name: (tmp_path / name).read_bytes() for name in before} == before
    assert sorted(os.listdir(tmp_path)) == ["X.npy", "m-labels.npy", "m.npz"]


def test_outputs_are_written_under_their_exact_names(data):
    tmp, _ = data
    done = _cli(tmp, "fit", "X.npy", "-k", "3", "--out", "m.model", "--labels", "l.bin", "-q")
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(tmp)) == ["X.npy", "l.bin", "m.model"]
    np.testing.assert_array_equal(np.load(tmp / "l.bin"), gkmeans.load(tmp / "m.model").labels_)


# ------------------------------------------------------------------ item 6: papercuts
def test_a_huge_sample_image_is_refused_up_front(tmp_path):
    done = _cli(tmp_path, "sample-image", "out.png", "--size", "100000x100000", timeout=60)
    _one_line_error(done, "100000x100000", "at most")
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize(
    "content",
    ["a,b\n1,2\n3,4\ncaf\u00e9,5\n".encode("latin-1"), b"1,2\n\x00\x01\x02\xff\xfe,3\n"],
    ids=["latin-1", "binary"],
)
def test_a_csv_that_is_not_utf8_text_is_named(tmp_path, content):
    (tmp_path / "data.csv").write_bytes(content)
    _one_line_error(_cli(tmp_path, "fit", "data.csv", "-k", "2", "-q"), "data.csv", "UTF-8")


def test_a_typo_in_the_first_row_is_not_a_header(tmp_path):
    rows = ["1.0,2.O,3"] + [f"{i},{i + 1},{i + 2}" for i in range(20)]
    (tmp_path / "typo.csv").write_text("\n".join(rows) + "\n")
    _one_line_error(
        _cli(tmp_path, "fit", "typo.csv", "-k", "2", "-q"), "typo.csv", "row 1", "'2.O'"
    )


def test_a_utf8_byte_order_mark_is_not_a_header(tmp_path):
    (tmp_path / "bom.csv").write_text("\ufeff1,2\n3,4\n5,6\n7,8\n", encoding="utf-8")
    done = _cli(tmp_path, "fit", "bom.csv", "-k", "2", "-q")
    assert done.returncode == 0, done.stderr
    assert gkmeans.load(tmp_path / "model.npz").labels_.shape == (4,)


def test_whitespace_aligned_text_is_read(tmp_path):
    X, _, _ = make_blobs(50, 3, 2, random_state=0)
    lines = ["  ".join(f"{value:>10.4f}" for value in row) for row in X]
    (tmp_path / "aligned.csv").write_text(
        "      x           y           z\n" + "\n".join(lines) + "\n"
    )
    done = _cli(tmp_path, "fit", "aligned.csv", "-k", "2", "-q")
    assert done.returncode == 0, done.stderr
    model = gkmeans.load(tmp_path / "model.npz")
    assert model.n_features_in_ == 3 and model.labels_.shape == (50,)


def test_a_closed_pipe_exits_quietly(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "gkmeans", "demo", "--n-samples", "2000", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    process.stdout.close()  # the reader (e.g. `head`) is gone before gkmeans writes
    err = process.stderr.read().decode()
    assert process.wait(timeout=300) in (0, 141), err
    assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception" not in err, err


def test_a_closed_pipe_does_not_cost_the_outputs(data):
    tmp, _ = data
    process = subprocess.Popen(
        [sys.executable, "-m", "gkmeans", "fit", "X.npy", "-k", "3", "--out", "m.npz", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},  # every print reaches the closed pipe
    )
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=300) in (0, 141) and "Traceback" not in err, err
    model = gkmeans.load(tmp / "m.npz")
    np.testing.assert_array_equal(np.load(tmp / "m-labels.npy"), model.labels_)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to see the file open")
def test_ctrl_c_exits_130_without_a_traceback(tmp_path):
    rng = np.random.default_rng(0)
    np.savetxt(tmp_path / "big.csv", rng.normal(size=(200_000, 8)), delimiter=",", fmt="%.6f")
    process = subprocess.Popen(
        [sys.executable, "-m", "gkmeans", "fit", "big.csv", "-k", "50", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    target = str(tmp_path / "big.csv")
    deadline = time.monotonic() + 120
    opened = False
    while not opened and time.monotonic() < deadline and process.poll() is None:
        try:
            fds = os.listdir(f"/proc/{process.pid}/fd")
            opened = any(os.readlink(f"/proc/{process.pid}/fd/{fd}") == target for fd in fds)
        except OSError:
            pass
        time.sleep(0.005)
    assert opened, "the fit never opened its data file"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err.decode() and err.decode().count("\n") <= 1, err
    assert not (tmp_path / "model.npz").exists()
