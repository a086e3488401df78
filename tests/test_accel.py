"""gkmeans.accel: scikit-learn's k-means names replaced, results as scikit-learn's, fallbacks
reported, and the original objects back after uninstall."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

import sklearn.cluster  # noqa: E402
import sklearn.cluster._kmeans  # noqa: E402

import gkmeans.accel  # noqa: E402
from gkmeans.accel import _rules  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("KMeans", "MiniBatchKMeans", "k_means", "kmeans_plusplus")
ORIGINALS = {name: getattr(sklearn.cluster, name) for name in NAMES}


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("GKMEANS_ACCEL_REPORT", None)
    env.update(extra)
    return env


@pytest.fixture
def accel():
    """accel installed for one test, the report emptied first; uninstalled after."""
    gkmeans.accel.reset_report()
    gkmeans.accel.install()
    yield gkmeans.accel
    gkmeans.accel.uninstall()


@pytest.fixture
def blobs():
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(600, n_features=4, centers=5, cluster_std=2.0, random_state=3)
    return X


def _counts(call: str) -> tuple[int, dict[str, int]]:
    entry = gkmeans.accel.report()["calls"].get(call, {"accelerated": 0, "fallback": {}})
    return entry["accelerated"], entry["fallback"]


def test_install_replaces_the_names_and_uninstall_restores_them():
    assert not gkmeans.accel.is_installed()
    gkmeans.accel.install()
    gkmeans.accel.install()  # a second install changes nothing
    try:
        for module in (sklearn.cluster, sklearn.cluster._kmeans):
            for name in NAMES:
                assert getattr(module, name) is not ORIGINALS[name], name
        from sklearn.cluster import KMeans
        from sklearn.cluster._kmeans import MiniBatchKMeans

        assert issubclass(KMeans, ORIGINALS["KMeans"])
        assert issubclass(MiniBatchKMeans, ORIGINALS["MiniBatchKMeans"])
    finally:
        gkmeans.accel.uninstall()
    for module in (sklearn.cluster, sklearn.cluster._kmeans):
        for name in NAMES:
            assert getattr(module, name) is ORIGINALS[name], name
    assert not gkmeans.accel.is_installed()


def test_importing_gkmeans_and_accel_does_not_import_sklearn():
    code = "import sys, gkmeans, gkmeans.accel; print('sklearn' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], env=_env(), capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


INIT_CASES = {
    "k-means++": {},
    "random": {"init": "random", "n_init": 4},
    "array": {"init": "array"},
    "callable": {"init": "callable", "n_init": 2},
    "elkan": {"algorithm": "elkan", "n_init": 3},
    "copy_x=False": {"copy_x": False},
    "tol=0": {"tol": 0.0, "max_iter": 50},
}


def _params(case: dict, X: np.ndarray) -> dict:
    params = {"n_clusters": 5, "random_state": 7, **case}
    if params.get("init") == "array":
        params["init"] = X[:5].copy()
    elif params.get("init") == "callable":
        params["init"] = lambda data, k, random_state: data[random_state.permutation(len(data))[:k]]
    return params


@pytest.mark.parametrize("case", list(INIT_CASES), ids=list(INIT_CASES))
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_accelerated_fit_gives_sklearns_results(accel, blobs, case, weighted):
    weights = np.random.default_rng(1).uniform(0.2, 3.0, blobs.shape[0]) if weighted else None
    X_sklearn, X = blobs.copy(), blobs.copy()
    expected = ORIGINALS["KMeans"](**_params(INIT_CASES[case], blobs)).fit(
        X_sklearn, sample_weight=weights
    )
    model = sklearn.cluster.KMeans(**_params(INIT_CASES[case], blobs)).fit(X, sample_weight=weights)
    assert _counts("KMeans.fit") == (1, {})
    # copy_x=False centres the caller's array in place and adds the mean back, as scikit-learn
    np.testing.assert_array_equal(X, X_sklearn)
    np.testing.assert_array_equal(model.labels_, expected.labels_)
    np.testing.assert_allclose(model.inertia_, expected.inertia_, rtol=1e-6)
    np.testing.assert_allclose(model.cluster_centers_, expected.cluster_centers_, atol=1e-8)
    assert model.n_iter_ == expected.n_iter_
    assert type(model.cluster_centers_) is np.ndarray and model.cluster_centers_.dtype == np.float64
    assert model.labels_.dtype == np.int32 and type(model.inertia_) is float
    assert type(model.n_iter_) is int and model.n_features_in_ == 4
    # scikit-learn's own predict, transform and score work on the fitted attributes
    np.testing.assert_array_equal(model.predict(blobs), expected.predict(blobs))
    np.testing.assert_allclose(model.transform(blobs), expected.transform(blobs), atol=1e-8)
    np.testing.assert_allclose(model.score(blobs), expected.score(blobs), rtol=1e-6)


def test_float32_keeps_float32_and_matches(accel, blobs):
    X = blobs.astype(np.float32)
    expected = ORIGINALS["KMeans"](5, random_state=0).fit(X)
    model = sklearn.cluster.KMeans(5, random_state=0).fit(X)
    assert model.cluster_centers_.dtype == np.float32
    np.testing.assert_array_equal(model.labels_, expected.labels_)
    # scikit-learn sums float32 data in float32, gkmeans in float64: agreement to float32 rounding
    np.testing.assert_allclose(model.inertia_, expected.inertia_, rtol=1e-5)


def test_feature_names_from_a_dataframe(accel, blobs):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(blobs, columns=list("abcd"))
    model = sklearn.cluster.KMeans(3, random_state=0).fit(frame)
    assert model.feature_names_in_.tolist() == list("abcd")
    assert _counts("KMeans.fit")[0] == 1
    assert model.get_feature_names_out().tolist() == [f"kmeans{i}" for i in range(3)]


def test_k_means_function_runs_the_accelerated_fit(accel, blobs):
    centers, labels, inertia = sklearn.cluster.k_means(blobs, 4, random_state=0, n_init=2)
    expected = ORIGINALS["KMeans"](4, random_state=0, n_init=2).fit(blobs)
    np.testing.assert_array_equal(labels, expected.labels_)
    np.testing.assert_allclose(inertia, expected.inertia_, rtol=1e-6)
    assert _counts("KMeans.fit") == (1, {})


def test_sklearn_tools_treat_the_class_as_kmeans(accel, blobs):
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    KMeans = sklearn.cluster.KMeans
    import inspect

    assert inspect.signature(KMeans) == inspect.signature(ORIGINALS["KMeans"])
    model = KMeans(3, random_state=0)
    assert (
        isinstance(model, ORIGINALS["KMeans"])
        and repr(model) == "KMeans(n_clusters=3, random_state=0)"
    )
    assert type(clone(model)) is KMeans and clone(model).get_params() == model.get_params()
    pipe = make_pipeline(StandardScaler(), model).fit(blobs)
    assert pipe.predict(blobs).shape == (blobs.shape[0],)
    search = GridSearchCV(KMeans(random_state=0), {"n_clusters": [2, 3, 4]}, cv=3).fit(blobs)
    assert search.best_params_["n_clusters"] in (2, 3, 4)
    assert type(search.best_estimator_) is KMeans
    assert _counts("KMeans.fit")[0] >= 10  # 9 folds, a refit and the pipeline


def test_invalid_parameters_raise_sklearns_error(accel, blobs):
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="n_clusters"):
        sklearn.cluster.KMeans(n_clusters=0).fit(blobs)
    with pytest.raises(ValueError, match="n_samples=3 should be >= n_clusters=5"):
        sklearn.cluster.KMeans(5).fit(blobs[:3])


def _fallback_cases(blobs):
    import scipy.sparse

    return {
        "sparse": (
            dict(n_clusters=3, random_state=0),
            scipy.sparse.csr_matrix(blobs),
            "SciPy sparse",
        ),
        "verbose": (dict(n_clusters=3, random_state=0, verbose=1), blobs, "verbose"),
    }


@pytest.mark.parametrize("case", ["sparse", "verbose"])
def test_unsupported_calls_run_sklearn_and_say_why(accel, blobs, case, caplog, capsys):
    params, X, reason = _fallback_cases(blobs)[case]
    with caplog.at_level(logging.DEBUG, logger="gkmeans.accel"):
        model = sklearn.cluster.KMeans(**params).fit(X)
    expected = ORIGINALS["KMeans"](**params).fit(X)
    np.testing.assert_array_equal(model.labels_, expected.labels_)
    assert model.inertia_ == expected.inertia_
    accelerated, fallback = _counts("KMeans.fit")
    assert accelerated == 0 and sum(fallback.values()) == 1 and reason in next(iter(fallback))
    assert any(reason in record.getMessage() for record in caplog.records)


def test_other_array_libraries_are_left_to_sklearn(accel, blobs, backend):
    if backend.name == "numpy":
        pytest.skip("NumPy is accelerated (the tests above)")
    X = backend.asarray(blobs)
    outcomes = []
    for cls in (sklearn.cluster.KMeans, ORIGINALS["KMeans"]):
        try:
            outcomes.append(cls(3, random_state=0).fit(X).labels_.tolist())
        except Exception as error:  # whatever scikit-learn does, accel does the same
            outcomes.append(type(error))
    assert outcomes[0] == outcomes[1]
    accelerated, fallback = _counts("KMeans.fit")
    assert accelerated == 0 and "not NumPy" in next(iter(fallback))


def test_minibatch_and_kmeans_plusplus_are_accelerated_and_reported(accel, blobs):
    # Their results are scikit-learn's (tests/test_accel_minibatch.py); here, the report.
    model = sklearn.cluster.MiniBatchKMeans(3, random_state=0, n_init=3).fit(blobs)
    expected = ORIGINALS["MiniBatchKMeans"](3, random_state=0, n_init=3).fit(blobs)
    np.testing.assert_allclose(model.cluster_centers_, expected.cluster_centers_, atol=1e-8)
    model.partial_fit(blobs[:100])
    centers, indices = sklearn.cluster.kmeans_plusplus(blobs, 3, random_state=0)
    np.testing.assert_array_equal(
        indices, ORIGINALS["kmeans_plusplus"](blobs, 3, random_state=0)[1]
    )
    assert _counts("MiniBatchKMeans.fit") == (1, {})
    assert _counts("MiniBatchKMeans.partial_fit") == (1, {})
    assert _counts("kmeans_plusplus") == (1, {})
    text = gkmeans.accel.format_report()
    assert "3 call(s) accelerated, 0 run by scikit-learn" in text


def test_an_untested_sklearn_version_falls_back(accel, blobs, monkeypatch):
    from gkmeans.accel import _estimators

    monkeypatch.setattr(_estimators, "SKLEARN_VERSION", "1.5.2")
    sklearn.cluster.KMeans(3, random_state=0).fit(blobs)
    assert "scikit-learn 1.5.2" in next(iter(_counts("KMeans.fit")[1]))
    assert _rules.sklearn_version_reason("1.9.1") is None
    assert _rules.sklearn_version_reason("2.0") is not None


def test_zero_weighted_variance_falls_back(accel, blobs):
    weights = np.zeros(blobs.shape[0])
    weights[:3] = 1.0
    X = blobs.copy()
    X[:3] = X[0]
    with pytest.warns(Warning, match="distinct clusters"):  # scikit-learn's own warning
        model = sklearn.cluster.KMeans(2, random_state=0).fit(X, sample_weight=weights)
    assert "weighted variance" in next(iter(_counts("KMeans.fit")[1]))
    assert model.cluster_centers_.shape == (2, 4)


def test_ipython_extension_installs_and_uninstalls():
    gkmeans.accel.load_ipython_extension(None)
    assert sklearn.cluster.KMeans is not ORIGINALS["KMeans"]
    gkmeans.accel.unload_ipython_extension(None)
    assert sklearn.cluster.KMeans is ORIGINALS["KMeans"]


SCRIPT = """
import json, sys
import numpy as np
from sklearn.cluster import KMeans, k_means
from sklearn.datasets import make_blobs

X, _ = make_blobs(2000, n_features=6, centers=8, cluster_std=3.0, random_state=int(sys.argv[2]))
model = KMeans(8, n_init=3, random_state=0).fit(X)
_, labels, inertia = k_means(X, 8, init="random", n_init=5, random_state=1)
with open(sys.argv[1], "w") as out:
    json.dump({"labels": model.labels_.tolist(), "inertia": model.inertia_,
               "k_labels": labels.tolist(), "k_inertia": inertia,
               "type": type(model).__module__}, out)
"""


def _run_script(tmp_path, *prefix, **env):
    import json

    script = tmp_path / "user_script.py"
    script.write_text(SCRIPT)
    out = tmp_path / f"out{len(prefix)}.json"
    proc = subprocess.run(
        [sys.executable, *prefix, str(script), str(out), "4"],
        env=_env(**env),
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text()), proc.stderr


def test_a_script_run_under_accel_gives_the_same_results(tmp_path):
    plain, _ = _run_script(tmp_path)
    accelerated, stderr = _run_script(tmp_path, "-m", "gkmeans.accel", GKMEANS_ACCEL_REPORT="1")
    assert (
        plain["type"].startswith("sklearn.") and accelerated["type"] == "gkmeans.accel._estimators"
    )
    assert accelerated["labels"] == plain["labels"] and accelerated["k_labels"] == plain["k_labels"]
    np.testing.assert_allclose(accelerated["inertia"], plain["inertia"], rtol=1e-6)
    np.testing.assert_allclose(accelerated["k_inertia"], plain["k_inertia"], rtol=1e-6)
    assert "2 call(s) accelerated, 0 run by scikit-learn" in stderr
    assert "KMeans.fit: 2 accelerated" in stderr


def test_python_dash_m_module_form(tmp_path):
    (tmp_path / "user_module.py").write_text(
        "import sys\nfrom sklearn.cluster import KMeans\nprint(KMeans.__module__, sys.argv[1:])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "gkmeans.accel", "-m", "user_module", "a", "b"],
        env=_env(PYTHONPATH=f"{ROOT}{os.pathsep}{tmp_path}"),
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip() == "gkmeans.accel._estimators ['a', 'b']"


def test_usage_errors_of_the_runner():
    for args, message in (
        ([], "usage"),
        (["-m"], "needs a module"),
        (["nope.py"], "no such script"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "gkmeans.accel", *args],
            env=_env(),
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 2 and message in proc.stderr


def test_a_model_fitted_under_accel_unpickles_without_accel(accel, blobs, tmp_path):
    import pickle

    model = sklearn.cluster.KMeans(4, random_state=0).fit(blobs)
    mini = sklearn.cluster.MiniBatchKMeans(4, random_state=0, n_init=3).fit(blobs)
    path = tmp_path / "models.pkl"
    path.write_bytes(pickle.dumps((model, mini)))
    np.save(tmp_path / "X.npy", blobs)
    code = textwrap.dedent(
        f"""
        import pickle, sys, warnings
        import numpy as np
        warnings.simplefilter("error")
        model, mini = pickle.loads(open({str(path)!r}, "rb").read())
        assert "gkmeans" not in sys.modules, "loading needed gkmeans"
        X = np.load({str(tmp_path / "X.npy")!r})
        print(type(model).__module__, type(model).__name__, type(mini).__name__)
        np.save({str(tmp_path / "labels.npy")!r}, model.predict(X))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=_env(PYTHONPATH=""), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["sklearn.cluster._kmeans", "KMeans", "MiniBatchKMeans"]
    np.testing.assert_array_equal(np.load(tmp_path / "labels.npy"), model.labels_)
    # in a process with accel installed, it loads as the accelerated class
    back = pickle.loads(path.read_bytes())[0]
    assert type(back) is sklearn.cluster.KMeans


@pytest.mark.slow
def test_sklearns_own_kmeans_tests_pass_under_accel():
    """A part of scikit-learn's test_k_means.py that runs the accelerated calls (the whole file:
    benchmarks/results/accel-sklearn-tests-2026-12-03.md)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--pyargs",
            "sklearn.cluster.tests.test_k_means",
            "-p",
            "gkmeans.accel.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "-q",
            "-k",
            "kmeans_results or elkan_results or predict or relocate or copyx or fit_transform "
            "or minibatch or kmeans_plusplus",
        ],
        env=_env(GKMEANS_ACCEL_REPORT="1"),
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
    accelerated = int(proc.stderr.split("gkmeans.accel: ")[1].split(" call")[0])
    assert accelerated > 20
    for call in ("KMeans.fit", "MiniBatchKMeans.fit", "MiniBatchKMeans.partial_fit"):
        assert f"  {call}: 0 accelerated" not in proc.stderr and f"  {call}: " in proc.stderr
    assert "  kmeans_plusplus: 0 accelerated" not in proc.stderr


def test_report_variable_is_checked(monkeypatch):
    from gkmeans import config

    monkeypatch.setenv("GKMEANS_ACCEL_REPORT", "1")
    assert config.accel_report() is True
    monkeypatch.setenv("GKMEANS_ACCEL_REPORT", "yes")
    with pytest.raises(ValueError, match="GKMEANS_ACCEL_REPORT='yes' is not a flag"):
        config.accel_report()
