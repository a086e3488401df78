"""Saving and loading models: round trip, portability, refusal of other files."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import gkmeans
from gkmeans import KMeans
from gkmeans.datasets import make_blobs

X, _, _ = make_blobs(300, 3, 4, random_state=0, dtype=np.float32)


def test_round_trip(tmp_path, backend):
    model = KMeans(4, init="farthest-first", n_init=2, random_state=3, empty_cluster="drop").fit(backend.asarray(X))
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = gkmeans.load(path)
    assert isinstance(loaded.cluster_centers_, np.ndarray) and loaded.cluster_centers_.dtype == np.float32
    np.testing.assert_array_equal(loaded.cluster_centers_, backend.to_numpy(model.cluster_centers_))
    np.testing.assert_array_equal(loaded.labels_, backend.to_numpy(model.labels_))
    assert loaded.inertia_ == model.inertia_ and loaded.n_iter_ == model.n_iter_
    assert loaded.get_params() == {**model.get_params()}
    np.testing.assert_array_equal(loaded.predict(X), backend.to_numpy(model.predict(backend.asarray(X))))


def test_explicit_init_and_unsaved_params(tmp_path):
    init = X[:4].astype(np.float64)
    model = KMeans(4, init=init, random_state=np.random.default_rng(0)).fit(X)
    model.save(tmp_path / "m.npz")
    loaded = gkmeans.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.init, init)
    assert loaded.random_state is None  # a Generator cannot be stored


def test_loads_with_allow_pickle_false(tmp_path):
    KMeans(3, random_state=0).fit(X).save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as data:
        header = json.loads(str(data["gkmeans_header"]))
    assert header["format"] == "gkmeans-model" and header["dtype"] == "float32"
    assert header["gkmeans_version"] == gkmeans.__version__ and header["params"]["n_clusters"] == 3


def test_model_fitted_on_gpu_loads_on_cpu(tmp_path, monkeypatch):
    model = KMeans(3, random_state=0).fit(X)
    model.device_ = "cuda:0"  # as written by a GPU fit: arrays are stored as NumPy either way
    model.save(tmp_path / "gpu.npz")
    loaded = gkmeans.load(tmp_path / "gpu.npz")
    assert loaded.fitted_on_ == "cuda:0" and loaded.device_ == "cpu"
    assert loaded.predict(X).shape == (300,)


def test_refuses_other_files(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.arange(3))
    with pytest.raises(ValueError, match="is not a gkmeans model file: it has no gkmeans header"):
        gkmeans.load(tmp_path / "plain.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="is not a gkmeans model file"):
        gkmeans.load(tmp_path / "text.npz")
    np.savez(tmp_path / "other.npz", gkmeans_header=np.asarray(json.dumps({"format": "something-else"})))
    with pytest.raises(ValueError, match="format is 'something-else'"):
        gkmeans.load(tmp_path / "other.npz")
    np.savez(tmp_path / "future.npz", gkmeans_header=np.asarray(json.dumps({"format": "gkmeans-model",
                                                                            "format_version": 99})))
    with pytest.raises(ValueError, match="format version 99"):
        gkmeans.load(tmp_path / "future.npz")
    np.save(tmp_path / "single.npy", np.arange(3))
    with pytest.raises(ValueError, match="single array"):
        gkmeans.load(tmp_path / "single.npy")
    with pytest.raises(FileNotFoundError, match="no model file"):
        gkmeans.load(tmp_path / "missing.npz")
    assert zipfile.is_zipfile(tmp_path / "plain.npz")


def test_save_before_fit():
    with pytest.raises(gkmeans.NotFittedError):
        KMeans(3).save("never.npz")
