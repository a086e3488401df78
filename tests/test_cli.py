"""The command line: every command's success path and bad-input path."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

import gkmeans
from gkmeans._progress import NullBar, bar
from gkmeans.cli import main
from gkmeans.datasets import make_blobs


@pytest.fixture
def data_files(tmp_path):
    X, _, _ = make_blobs(900, 3, 4, cluster_std=0.5, random_state=0)
    np.save(tmp_path / "X.npy", X)
    np.savetxt(tmp_path / "X.csv", X, delimiter=",", header="a,b,c", comments="")
    np.savetxt(tmp_path / "noheader.csv", X, delimiter=",")
    return tmp_path, X


def _error_line(capsys):
    err = capsys.readouterr().err
    assert err.startswith("gkmeans") and "error:" in err and err.count("\n") == 1 and "Traceback" not in err
    return err


def test_demo_prints_the_summary(capsys):
    assert main(["demo", "--n-samples", "3000", "--n-features", "4", "-k", "5"]) == 0
    out = capsys.readouterr().out
    for field in ("k           5", "inertia", "iterations", "device      cpu", "time", "sizes"):
        assert field in out


def test_devices_lists_cpu(capsys):
    assert main(["devices"]) == 0
    assert capsys.readouterr().out.startswith("cpu")


def test_fit_then_predict(data_files, capsys):
    tmp, X = data_files
    model_path = tmp / "m.npz"
    assert main(["fit", str(tmp / "X.npy"), "-k", "4", "--out", str(model_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "k           4" in out and "sizes" in out and str(model_path) in out
    labels = np.load(tmp / "m-labels.npy")
    model = gkmeans.load(model_path)
    np.testing.assert_array_equal(labels, model.labels_)
    assert main(["predict", str(model_path), str(tmp / "X.csv"), "--out", str(tmp / "p.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp / "p.npy"), labels)
    assert "score" in capsys.readouterr().out


def test_fit_reads_csv_with_and_without_header(data_files):
    tmp, X = data_files
    for name in ("X.csv", "noheader.csv"):
        assert main(["fit", str(tmp / name), "-k", "4", "--out", str(tmp / f"{name}.npz"), "-q"]) == 0
        assert gkmeans.load(tmp / f"{name}.npz").n_features_in_ == 3


def test_fit_reads_parquet(data_files):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    tmp, X = data_files
    pq.write_table(pa.table({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2]}), tmp / "X.parquet")
    assert main(["fit", str(tmp / "X.parquet"), "-k", "4", "--out", str(tmp / "pq.npz"), "-q"]) == 0
    pq.write_table(pa.table({"a": X[:, 0], "name": ["x"] * len(X)}), tmp / "bad.parquet")
    assert main(["fit", str(tmp / "bad.parquet"), "-k", "2", "-q"]) == 2


def test_fit_bad_inputs(data_files, capsys):
    tmp, X = data_files
    assert main(["fit", str(tmp / "missing.npy"), "-k", "3"]) == 2
    assert "no data file" in _error_line(capsys)
    np.save(tmp / "flat.npy", X[:, 0])
    assert main(["fit", str(tmp / "flat.npy"), "-k", "3"]) == 2
    assert "expected a 2-D array" in _error_line(capsys)
    (tmp / "words.csv").write_text("a,b\n1,2\n3,x\n")
    assert main(["fit", str(tmp / "words.csv"), "-k", "1"]) == 2
    assert "column 'b' is not numeric" in _error_line(capsys)
    (tmp / "X.txt").write_text("1 2\n")
    assert main(["fit", str(tmp / "X.txt"), "-k", "1"]) == 2
    assert "unknown data format '.txt'" in _error_line(capsys)
    assert main(["fit", str(tmp / "X.npy"), "-k", "5000"]) == 2
    assert "n_samples=900 should be >= n_clusters=5000" in _error_line(capsys)


@pytest.mark.parametrize(
    "argv",
    [["fit", "X.npy"], ["fit", "X.npy", "-k", "3", "--bogus"], ["nonsense"], ["fit", "X.npy", "-k", "0"],
     ["elbow", "X.npy", "--k-range", "5:6"], ["elbow", "X.npy", "-k", "1:8"],
     ["fit", "X.npy", "-k", "2", "--init", "magic"]],
)
def test_usage_errors_are_one_line_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    _error_line(capsys)


def test_predict_bad_inputs(data_files, capsys):
    tmp, X = data_files
    np.save(tmp / "notmodel.npy", X)
    assert main(["predict", str(tmp / "notmodel.npy"), str(tmp / "X.npy")]) == 2
    assert "not a gkmeans model file" in _error_line(capsys)
    main(["fit", str(tmp / "X.npy"), "-k", "4", "--out", str(tmp / "m.npz"), "-q"])
    capsys.readouterr()
    np.save(tmp / "wide.npy", np.ones((5, 7)))
    assert main(["predict", str(tmp / "m.npz"), str(tmp / "wide.npy")]) == 2
    assert "X has 7 features, but KMeans is expecting 3" in _error_line(capsys)


def test_elbow_command(data_files, capsys):
    pytest.importorskip("matplotlib")
    tmp, _ = data_files
    plot = tmp / "elbow.png"
    args = ["--k-range", "1:8", "--plot", str(plot), "--scores", "silhouette"]
    assert main(["elbow", str(tmp / "X.npy"), *args]) == 0
    out = capsys.readouterr().out
    assert "knee: k=4" in out and "best k by silhouette: 4" in out
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert main(["elbow", str(tmp / "X.npy"), "--k-range", "1:4", "--scores", "nope"]) == 2
    assert "are not known" in _error_line(capsys)


def test_image_commands(tmp_path, capsys):
    pytest.importorskip("PIL")
    source, target = tmp_path / "in.png", tmp_path / "out.png"
    assert main(["sample-image", str(source), "--size", "60x80"]) == 0
    assert main(["compress-image", str(source), str(target), "--colors", "8"]) == 0
    out = capsys.readouterr().out
    assert "3 bits per pixel" in out and f"{target.stat().st_size:,} bytes" in out
    from gkmeans.image import read_image

    assert read_image(target).shape == (60, 80, 3)
    assert len(np.unique(read_image(target).reshape(-1, 3), axis=0)) <= 8
    assert main(["compress-image", str(tmp_path / "none.png"), str(target)]) == 2
    assert "no image file" in _error_line(capsys)
    with pytest.raises(SystemExit) as info:
        main(["sample-image", str(source), "--size", "big"])
    assert info.value.code == 2 and "HEIGHTxWIDTH" in _error_line(capsys)


def test_no_progress_bar_off_a_terminal_or_when_quiet():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert isinstance(bar("k-means", 3, stream=io.StringIO()), NullBar)
    assert isinstance(bar("k-means", 3, stream=Terminal(), quiet=True), NullBar)
    pytest.importorskip("tqdm")
    terminal = Terminal()
    drawn = bar("k-means", 3, stream=terminal)
    drawn.update(1)
    drawn.close()
    assert "k-means" in terminal.getvalue()


def test_console_entry_points_run():
    done = subprocess.run([sys.executable, "-m", "gkmeans", "demo", "--n-samples", "2000"], capture_output=True,
                          text=True, check=True)
    assert "inertia" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "gkmeans", "demo", "--n-samples", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "must be >= 1" in bad.stderr and "Traceback" not in bad.stderr


def test_installed_console_script():
    import shutil

    script = shutil.which("gkmeans")
    if script is None:
        pytest.skip("the gkmeans console script is not on PATH (package not installed in this environment)")
    done = subprocess.run([script, "devices"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("cpu")


def test_fit_and_predict_streamed(data_files, capsys):
    tmp, X = data_files
    model_path = tmp / "streamed.npz"
    args = ["fit", str(tmp / "X.npy"), "-k", "4", "--init", "k-means||", "--out", str(model_path), "--quiet",
            "--stream", "--chunk-rows", "200"]
    assert main(args) == 0
    assert "k           4" in capsys.readouterr().out
    model = gkmeans.load(model_path)
    in_memory = gkmeans.KMeans(4, init=model.cluster_centers_, n_init=1).fit(X)
    np.testing.assert_array_equal(np.load(tmp / "streamed-labels.npy"), in_memory.predict(X))
    assert main(["predict", str(model_path), str(tmp / "X.npy"), "--out", str(tmp / "p.npy"), "--stream"]) == 0
    assert "samples     900" in capsys.readouterr().out
    np.testing.assert_array_equal(np.load(tmp / "p.npy"), model.predict(X))
    assert main(["fit", str(tmp / "X.csv"), "-k", "4", "--stream"]) == 2
    assert "--stream reads .npy files" in _error_line(capsys)
