"""Label files of ``gkmeans fit --labels`` and ``gkmeans predict --out`` (issue 22, item 5): the
format the suffix names, at exactly the path given, and the summary says what was written."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from cli_runner import ROOT, run_cli

import gkmeans
from gkmeans.datasets import make_blobs

_cli = run_cli


def _read_labels(path: Path) -> np.ndarray:
    suffix = path.suffix
    if suffix == ".csv":
        lines = path.read_text().splitlines()
        assert lines[0] == "label"
        return np.array([int(line) for line in lines[1:]])
    if suffix == ".txt":
        return np.array([int(line) for line in path.read_text().splitlines()])
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        assert table.column_names == ["label"]
        return table.column("label").to_numpy()
    return np.load(path, allow_pickle=False)  # .npy, and any other suffix


@pytest.fixture
def data(tmp_path):
    X, _, _ = make_blobs(400, 3, 4, cluster_std=0.5, random_state=0)
    np.save(tmp_path / "X.npy", X)
    return tmp_path


@pytest.mark.parametrize(
    "name, words",
    [
        ("labels.csv", "CSV"),
        ("labels.txt", "text, one label per line"),
        ("labels.npy", "NumPy .npy"),
        ("labels.parquet", "Parquet"),
        ("labels.bin", "NumPy .npy, int32 (.bin is not one of .npy, .csv, .txt, .parquet)"),
        ("labels", "NumPy .npy"),
    ],
)
def test_fit_and_predict_write_the_format_the_suffix_names(data, name, words):
    if name.endswith(".parquet"):
        pytest.importorskip("pyarrow.parquet")
    done = _cli(data, "fit", "X.npy", "-k", "4", "--out", "m.npz", "--labels", name, "-q")
    assert done.returncode == 0, done.stderr
    assert f"labels      {name}: {words}" in done.stdout
    assert sorted(os.listdir(data)) == sorted(["X.npy", "m.npz", name])
    model = gkmeans.load(data / "m.npz")
    fitted = _read_labels(data / name)
    np.testing.assert_array_equal(fitted, model.labels_)
    (data / name).unlink()
    done = _cli(data, "predict", "m.npz", "X.npy", "--out", name)
    assert done.returncode == 0, done.stderr
    assert f"labels      {name}: {words}" in done.stdout
    assert sorted(os.listdir(data)) == sorted(["X.npy", "m.npz", name])
    np.testing.assert_array_equal(_read_labels(data / name), fitted)


def test_csv_labels_read_back_as_data(data):
    """A labels CSV is a one-column table gkmeans (and pandas) read with its header."""
    assert _cli(data, "fit", "X.npy", "-k", "4", "--labels", "l.csv", "-q").returncode == 0
    from gkmeans.io import read_data

    labels = read_data(data / "l.csv")
    assert labels.shape == (400, 1)
    np.testing.assert_array_equal(labels[:, 0], gkmeans.load(data / "model.npz").labels_)


def test_parquet_labels_without_pyarrow_fail_before_the_fit(data):
    shim = data / "shim" / "pyarrow"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('pyarrow blocked for the test')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(data / "shim"), str(ROOT)])}
    done = _cli(data, "fit", "X.npy", "-k", "4", "--labels", "l.parquet", "-q", env=env)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "pip install 'gkmeans[parquet]'" in done.stderr and done.stdout == ""
    assert not (data / "model.npz").exists() and not (data / "l.parquet").exists()
