"""Model files under faults and hostile input: atomic saves, every estimator round trip,
validated loads, bounded memory on load (issue 18, items 2 to 5)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import tracemalloc
import zipfile

import numpy as np
import pytest

import gkmeans
from gkmeans import KMeans, MiniBatchKMeans
from gkmeans.datasets import make_blobs

X, _, _ = make_blobs(400, 3, 4, random_state=0, dtype=np.float32)


# ------------------------------------------------------------------ item 2: atomic saves
@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_failed_save_keeps_the_previous_model(tmp_path):
    """A save that hits a real write fault (file-size limit) leaves the old model intact."""
    path = tmp_path / "model.npz"
    good = KMeans(4, random_state=0).fit(X)
    good.save(path)
    before = path.read_bytes()
    script = textwrap.dedent(
        f"""
        import resource, signal, sys
        import numpy as np
        from gkmeans import KMeans
        rng = np.random.default_rng(1)
        big = KMeans(200, n_init=1, max_iter=2, random_state=0).fit(rng.normal(size=(400, 60)))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384))
        try:
            big.save({str(path)!r})
        except OSError as exc:
            print("refused", exc.errno)
            sys.exit(0)
        print("saved")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused"), done.stdout
    assert path.read_bytes() == before
    loaded = gkmeans.load(path)
    np.testing.assert_array_equal(loaded.predict(X), good.predict(X))
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]  # no temporary file left behind


def test_save_replaces_atomically_and_keeps_the_exact_name(tmp_path):
    KMeans(3, random_state=0).fit(X).save(tmp_path / "m.model")
    KMeans(4, random_state=0).fit(X).save(tmp_path / "m.model")
    assert sorted(os.listdir(tmp_path)) == ["m.model"]
    assert gkmeans.load(tmp_path / "m.model").cluster_centers_.shape == (4, 3)


def test_save_through_a_symlink_keeps_the_link(tmp_path):
    KMeans(3, random_state=0).fit(X).save(tmp_path / "real.npz")
    os.symlink(tmp_path / "real.npz", tmp_path / "link.npz")
    KMeans(4, random_state=0).fit(X).save(tmp_path / "link.npz")
    assert os.path.islink(tmp_path / "link.npz")
    assert gkmeans.load(tmp_path / "real.npz").cluster_centers_.shape == (4, 3)


# ------------------------------------------------------------------ item 3: every estimator
@pytest.mark.parametrize(
    "make",
    [
        lambda: KMeans(4, random_state=0).fit(X),
        lambda: MiniBatchKMeans(4, batch_size=64, random_state=0).fit(X),
        lambda: MiniBatchKMeans(4, batch_size=64, random_state=0, compute_labels=False).fit(X),
        lambda: MiniBatchKMeans(4, batch_size=64, random_state=0).partial_fit(X),
        lambda: MiniBatchKMeans(4, random_state=0, compute_labels=False).partial_fit(X),
    ],
    ids=["kmeans", "minibatch", "minibatch-no-labels", "partial-fit", "partial-fit-no-labels"],
)
def test_every_estimator_loads_back(tmp_path, make):
    model = make()
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = gkmeans.load(path)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.cluster_centers_, model.cluster_centers_)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    for name in ("labels_", "inertia_", "n_iter_", "n_steps_"):
        assert hasattr(loaded, name) == hasattr(model, name), name
        if hasattr(model, name):
            np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))


# ------------------------------------------------------------------ item 4: validated loads
def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _header(**changes):
    header = {
        "format": "gkmeans-model",
        "format_version": 1,
        "gkmeans_version": gkmeans.__version__,
        "estimator": "KMeans",
        "params": {"n_clusters": 3, "init": "k-means++", "random_state": 0},
        "unsaved_params": [],
        "dtype": "float64",
        "n_features_in": 2,
        "inertia": 1.5,
        "n_iter": 4,
        "fitted_on": "cpu",
        "precision": "exact",
        "feature_names_in": None,
    }
    header.update(changes)
    return header


CENTRES = np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]])
LABELS = np.array([0, 1, 2, 2], dtype=np.int32)


def _write_model(path, header=None, members=None, raw_header=None):
    members = {"cluster_centers": CENTRES, "labels": LABELS} if members is None else members
    with zipfile.ZipFile(path, "w") as archive:
        if raw_header is not None:
            archive.writestr("gkmeans_header.npy", raw_header)
        elif header is not None:
            text = header if isinstance(header, str) else json.dumps(header)
            archive.writestr("gkmeans_header.npy", _npy(np.asarray(text)))
        for name, array in members.items():
            archive.writestr(f"{name}.npy", _npy(array))


def test_the_hand_written_model_is_valid(tmp_path):
    _write_model(tmp_path / "ok.npz", _header())
    model = gkmeans.load(tmp_path / "ok.npz")
    np.testing.assert_array_equal(model.predict(CENTRES), [0, 1, 2])


MALFORMED = {
    "nan-centres": (
        _header(),
        {"cluster_centers": np.array([[0, 0], [1, np.nan], [5, 5.0]])},
        "finite",
    ),
    "inf-centres": (
        _header(),
        {"cluster_centers": np.array([[0, 0], [1, np.inf], [5, 5.0]])},
        "finite",
    ),
    "1-d-centres": (_header(), {"cluster_centers": np.zeros(6)}, "cluster_centers"),
    "0-row-centres": (_header(), {"cluster_centers": np.zeros((0, 2))}, "cluster_centers"),
    "3-d-centres": (_header(), {"cluster_centers": np.zeros((3, 2, 1))}, "cluster_centers"),
    "too-many-centres": (_header(), {"cluster_centers": np.zeros((4, 2))}, "cluster_centers"),
    "wrong-width": (_header(), {"cluster_centers": np.zeros((3, 5))}, "n_features_in"),
    "integer-centres": (_header(), {"cluster_centers": np.zeros((3, 2), dtype=np.int64)}, "dtype"),
    "dtype-mismatch": (_header(dtype="float32"), {}, "dtype"),
    "2-d-labels": (_header(), {"labels": np.zeros((2, 2), dtype=np.int32)}, "labels"),
    "float-labels": (_header(), {"labels": np.zeros(4)}, "labels"),
    "labels-out-of-range": (_header(), {"labels": np.array([0, 1, 3], dtype=np.int32)}, "labels"),
    "negative-labels": (_header(), {"labels": np.array([0, -1], dtype=np.int32)}, "labels"),
    "labels-wrong-count": (_header(n_samples=9), {}, "labels"),
    "no-centres": (_header(), {"cluster_centers": None}, "cluster_centers"),
    "header-a-list": ([1, 2, 3], {}, "JSON object"),
    "header-a-number": ("42", {}, "JSON object"),
    "header-not-json": ("{nope", {}, "JSON"),
    "deeply-nested-header": ("[" * 100_000 + "]" * 100_000, {}, "header"),
    "params-a-list": (_header(params=[3]), {}, "params"),
    "params-missing": ({k: v for k, v in _header().items() if k != "params"}, {}, "params"),
    "param-unknown": (_header(params={"n_clusters": 3, "bogus": 1}), {}, "bogus"),
    "param-not-scalar": (_header(params={"n_clusters": 3, "tol": {"a": 1}}), {}, "tol"),
    "n-clusters-a-string": (_header(params={"n_clusters": "3"}), {}, "n_clusters"),
    "n-clusters-missing": (_header(params={}), {}, "n_clusters"),
    "inertia-a-string": (_header(inertia="big"), {}, "inertia"),
    "inertia-nan": (_header(inertia=float("nan")), {}, "inertia"),
    "n-iter-a-float": (_header(n_iter=2.5), {}, "n_iter"),
    "n-features-missing": (
        {k: v for k, v in _header().items() if k != "n_features_in"},
        {},
        "n_features_in",
    ),
    "n-features-bool": (_header(n_features_in=True), {}, "n_features_in"),
    "format-version-text": (_header(format_version="one"), {}, "format_version"),
    "estimator-unknown": (_header(estimator="Spectral"), {}, "Spectral"),
    "estimator-not-text": (_header(estimator=["KMeans"]), {}, "estimator"),
    "feature-names-wrong-count": (_header(feature_names_in=["a"]), {}, "feature_names_in"),
    "feature-names-not-text": (_header(feature_names_in=[1, 2]), {}, "feature_names_in"),
    "precision-not-text": (_header(precision=3), {}, "precision"),
    "init-wrong-shape": (_header(), {"init": np.zeros((2, 2))}, "init"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_files_are_refused_naming_file_and_problem(tmp_path, case):
    header, changes, problem = MALFORMED[case]
    members = {"cluster_centers": CENTRES, "labels": LABELS, **changes}
    members = {name: array for name, array in members.items() if array is not None}
    path = tmp_path / f"{case}.npz"
    _write_model(path, header, members)
    with pytest.raises(ValueError) as info:
        gkmeans.load(path)
    message = str(info.value)
    assert f"{case}.npz" in message and problem in message, message


@pytest.mark.parametrize(
    "raw, problem",
    [
        (b"", "gkmeans_header"),
        (_npy(np.arange(3.0)), "gkmeans_header"),
        (_npy(np.asarray(["a", "b"])), "gkmeans_header"),
        (b"\x93NUMPY\x01\x00garbage", "gkmeans_header"),
    ],
    ids=["empty", "numbers", "1-d-text", "bad-npy-header"],
)
def test_malformed_header_member(tmp_path, raw, problem):
    path = tmp_path / "bad.npz"
    _write_model(path, raw_header=raw)
    with pytest.raises(ValueError, match=r"bad\.npz.*" + problem):
        gkmeans.load(path)


def test_missing_header_and_truncated_archives(tmp_path):
    _write_model(tmp_path / "noheader.npz")
    with pytest.raises(ValueError, match=r"noheader\.npz.*no gkmeans header"):
        gkmeans.load(tmp_path / "noheader.npz")
    KMeans(3, random_state=0).fit(X).save(tmp_path / "whole.npz")
    data = (tmp_path / "whole.npz").read_bytes()
    for cut in (10, len(data) // 2, len(data) - 30):
        (tmp_path / "cut.npz").write_bytes(data[:cut])
        with pytest.raises(ValueError, match=r"cut\.npz"):
            gkmeans.load(tmp_path / "cut.npz")
    os.mkdir(tmp_path / "folder.npz")
    with pytest.raises(ValueError, match=r"folder\.npz"):
        gkmeans.load(tmp_path / "folder.npz")


# ------------------------------------------------------------------ item 5: bounded loads
def _giant_member(path, name, shape, dtype, header=None):
    """A deflated member that declares ``shape`` but holds only a little data."""
    stream = io.BytesIO()
    np.lib.format.write_array_header_2_0(
        stream,
        {
            "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
            "fortran_order": False,
            "shape": shape,
        },
    )
    stream.write(b"\x00" * 4096)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("gkmeans_header.npy", _npy(np.asarray(json.dumps(header or _header()))))
        archive.writestr(f"{name}.npy", stream.getvalue())
        if name != "cluster_centers":
            archive.writestr("cluster_centers.npy", _npy(CENTRES))


@pytest.mark.parametrize(
    "name, shape, dtype, n_samples, problem",
    [
        ("cluster_centers", (67_108_864, 2), "<f8", None, "cluster_centers"),  # 1 GiB > n_clusters
        ("labels", (2**31,), "<i8", None, "bytes"),  # 16 GiB of labels, beyond the cap
        ("labels", (1_000_000,), "<i4", 4, "labels"),  # more labels than the header's n_samples
        ("init", (2**26, 2), "<f8", None, "init"),
    ],
)
def test_giant_declared_members_are_refused_before_decompressing(
    tmp_path, name, shape, dtype, n_samples, problem
):
    path = tmp_path / "bomb.npz"
    _giant_member(path, name, shape, dtype, _header(n_samples=n_samples))
    assert path.stat().st_size < 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            gkmeans.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "bomb.npz" in str(info.value) and problem in str(info.value), str(info.value)
    assert peak < 32 * 2**20, f"load allocated {peak} bytes for a member it refuses"


def test_giant_header_member_is_refused(tmp_path):
    stream = io.BytesIO()
    np.lib.format.write_array_header_2_0(
        stream, {"descr": "<U500000000", "fortran_order": False, "shape": ()}
    )
    stream.write(b"\x00" * 4096)
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("gkmeans_header.npy", stream.getvalue())
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"bomb\.npz.*gkmeans_header"):
            gkmeans.load(tmp_path / "bomb.npz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20
