"""Bad or changing data is refused by name on every route (issue 18): NaN and infinity in chunked
and Dask data, chunk functions whose data change between passes, overflowing rows at predict time,
files truncated or rewritten during a fit, masked arrays, pandas missing values, huge weights."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gkmeans
from gkmeans import KMeans, chunked
from gkmeans.estimator import fit_with_progress

N = 3000


def _data(n=N, d=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [8.0, 8.0, 0.0], [0.0, 8.0, 8.0]])[:, :d]
    X = centres[rng.integers(0, 3, n)] + rng.normal(size=(n, d))
    return X.astype(dtype)


@pytest.fixture(scope="module")
def fitted():
    return KMeans(3, random_state=0, n_init=1).fit(_data())


def _with(value, row=2500, column=1):
    X = _data()
    X[row, column] = value
    return X


# ------------------------------------------------------------ 1. NaN and infinity
@pytest.mark.parametrize(("bad", "word"), [(np.nan, "NaN"), (np.inf, "infinity")])
@pytest.mark.parametrize("method", ["predict", "score"])
def test_chunked_predict_and_score_refuse_nan_naming_the_chunk(fitted, bad, word, method):
    data = chunked(_with(bad), chunk_rows=1000)
    match = rf"Input X contains {word} in the chunk starting at row 2000"
    with pytest.raises(ValueError, match=match):
        getattr(fitted, method)(data)


@pytest.mark.parametrize(("bad", "word"), [(np.nan, "NaN"), (-np.inf, "infinity")])
def test_dask_predict_transform_and_score_refuse_nan_naming_the_block(fitted, bad, word):
    da = pytest.importorskip("dask.array")
    import dask

    X = da.from_array(_with(bad), chunks=1000)
    match = rf"Input X contains {word} in the chunk starting at row 2000"
    with dask.config.set(scheduler="synchronous"):
        with pytest.raises(ValueError, match=match):
            fitted.predict(X).compute()
        with pytest.raises(ValueError, match=match):
            fitted.transform(X).compute()
        with pytest.raises(ValueError, match=match):
            fitted.score(X)
        # Clean blocks still predict as the in-memory data do.
        clean = da.from_array(_data(), chunks=1000)
        np.testing.assert_array_equal(fitted.predict(clean).compute(), fitted.predict(_data()))


class _Changing:
    """A chunk function whose data change from its ``from_call``-th call on (1: the first)."""

    def __init__(self, change, from_call, sizes=(1000, 1000, 1000)):
        self.X, self.change, self.from_call, self.calls = _data(), change, from_call, 0
        self.edges = np.cumsum([0, *sizes])

    def __call__(self):
        self.calls += 1
        X = self.X if self.calls < self.from_call else self.change(self.X.copy())
        return iter([X[a:b] for a, b in zip(self.edges[:-1], self.edges[1:])])


def _put_nan(X):
    X[2500, 0] = np.nan
    return X


@pytest.mark.parametrize("from_call", [3, 4, 7])
@pytest.mark.parametrize("init", ["k-means||", "k-means++"])
def test_nan_appearing_in_a_later_pass_is_named_as_nan(from_call, init):
    """Calls: 1 the first chunk, 2 the statistics, 3 the spread, then initialisation and Lloyd."""
    data = chunked(_Changing(_put_nan, from_call))
    with pytest.raises(ValueError, match=r"NaN .*in the chunk starting at row 2000") as info:
        KMeans(3, init=init, n_init=1, random_state=0, tol=0).fit(data)
    assert "same data every time" in str(info.value)
    assert "overflow" not in str(info.value)


# ------------------------------------------------------------ 2. data that change
@pytest.mark.parametrize("n_weights", [1000, 800])
def test_sample_weight_length_is_checked_against_the_rows_of_a_chunk_function(n_weights):
    X = _data(900)
    data = chunked(lambda: iter([X[:450], X[450:]]), sample_weight=np.ones(n_weights))
    with pytest.raises(ValueError, match=rf"sample_weight has {n_weights} .*900"):
        KMeans(3, n_init=1, random_state=0).fit(data)


@pytest.mark.parametrize("from_call", [3, 5])
def test_data_scaled_in_a_later_pass_are_refused(from_call):
    data = chunked(_Changing(lambda X: X * 1000.0, from_call))
    with pytest.raises(ValueError, match="same data every time") as info:
        KMeans(3, n_init=1, random_state=0, tol=0).fit(data)
    assert "chunk starting at row 0" in str(info.value)


@pytest.mark.parametrize("from_call", [4, 6])
@pytest.mark.parametrize("init", ["k-means||", "k-means++"])
def test_chunks_that_change_size_are_refused(from_call, init):
    """The same rows in other chunks: refused before a chunk meets values kept from the first
    pass (k-means|| keeps each row's distance with its chunk)."""
    X = _data()
    sizes = iter([(1000, 1000, 1000)] * (from_call - 1) + [(1500, 1500)] * 100)

    def factory():
        edges = np.cumsum([0, *next(sizes)])
        return iter([X[a:b] for a, b in zip(edges[:-1], edges[1:])])

    with pytest.raises(ValueError, match="held 1500 rows .*same data every time"):
        KMeans(3, init=init, n_init=1, random_state=0).fit(chunked(factory))


def test_weights_that_change_in_a_later_pass_are_refused():
    X = _data()
    calls = []

    def pairs():
        calls.append(1)
        scale = 1.0 if len(calls) < 4 else 3.0
        return iter([(X[:1500], np.ones(1500)), (X[1500:], np.full(1500, scale))])

    with pytest.raises(ValueError, match="sample_weight .*chunk starting at row 1500"):
        KMeans(3, n_init=1, random_state=0).fit(chunked(pairs))


def test_data_that_do_not_change_fit_as_in_memory():
    X = _data()
    init = X[[0, 1, 2]]
    streamed = KMeans(3, init=init, n_init=1).fit(chunked(lambda: iter([X[:1700], X[1700:]])))
    in_memory = KMeans(3, init=init, n_init=1).fit(X)
    np.testing.assert_array_equal(streamed.labels_, in_memory.labels_)
    np.testing.assert_allclose(streamed.cluster_centers_, in_memory.cluster_centers_, rtol=1e-10)


# --------------------------------------------------------- 3. overflow at predict time
_HUGE = np.array([[3e38, 3e38, 3e38], [-3e38, -3e38, -3e38], [1.0, 1.0, 1.0]], dtype=np.float32)


@pytest.fixture(scope="module")
def fitted32():
    return KMeans(3, random_state=0, n_init=1).fit(_data(dtype=np.float32))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("method", ["predict", "transform", "score"])
def test_predict_transform_score_refuse_rows_whose_squares_overflow(fitted32, backend, method):
    with pytest.raises(FloatingPointError, match="squared distances overflow float32"):
        getattr(fitted32, method)(backend.asarray(_HUGE))
    # Large rows whose squares fit are placed as before.
    getattr(fitted32, method)(backend.asarray(_HUGE / 1e20))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_chunked_and_dask_predict_refuse_rows_whose_squares_overflow(fitted32):
    match = "squared distances overflow float32"
    with pytest.raises(FloatingPointError, match=match):
        fitted32.predict(chunked(_HUGE))
    with pytest.raises(FloatingPointError, match=match):
        fitted32.score(chunked(_HUGE))
    da = pytest.importorskip("dask.array")
    import dask

    with dask.config.set(scheduler="synchronous"), pytest.raises(FloatingPointError, match=match):
        fitted32.predict(da.from_array(_HUGE, chunks=2)).compute()


# ------------------------------------------------------ 4. files changed during a fit
def _run(script: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", GKMEANS_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize("source", ["path", "memmap", "chunk function"])
@pytest.mark.parametrize("new_size", ["truncated", "emptied"])
def test_a_file_truncated_during_a_fit_is_an_error_naming_it_not_sigbus(tmp_path, source, new_size):
    path = tmp_path / "data.npy"
    np.save(path, _data(60_000))
    keep = 4096 if new_size == "truncated" else 0
    done = _run(f"""
        import os, numpy as np, gkmeans
        from gkmeans.estimator import fit_with_progress
        path = {str(path)!r}
        source = {source!r}
        if source == "path":
            data = gkmeans.chunked(path, chunk_rows=7000)
        elif source == "memmap":
            data = gkmeans.chunked(np.load(path, mmap_mode="r"), chunk_rows=7000)
        else:
            mapped = np.load(path, mmap_mode="r")
            data = gkmeans.chunked(
                lambda: (mapped[i : i + 7000] for i in range(0, mapped.shape[0], 7000)))
        truncated = []

        def progress(run, iteration, max_iter):
            if not truncated:
                os.truncate(path, {keep})
                truncated.append(1)

        try:
            fit_with_progress(gkmeans.KMeans(3, n_init=1, random_state=0, max_iter=5), data,
                              progress)
        except ValueError as error:
            print("ValueError:", error)
    """)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "ValueError:" in done.stdout, done.stdout
    assert str(path) in done.stdout and "changed" in done.stdout, done.stdout


def test_a_npy_file_rewritten_in_place_during_a_fit_is_refused(tmp_path):
    path = tmp_path / "data.npy"
    X = _data(20_000)
    np.save(path, X)
    data = chunked(str(path), chunk_rows=3000)
    rewritten = []

    def progress(run, iteration, max_iter):
        if not rewritten:
            mapped = np.load(path, mmap_mode="r+")
            mapped[:] *= 2.0
            mapped.flush()
            del mapped
            os.utime(path, ns=(0, 1))  # a new modification time, whatever the clock's grain
            rewritten.append(1)

    with pytest.raises(ValueError, match="changed") as info:
        fit_with_progress(KMeans(3, n_init=1, random_state=0, max_iter=5, tol=0), data, progress)
    assert str(path) in str(info.value)


def test_npy_errors_name_the_file(tmp_path):
    path = tmp_path / "short.npy"
    np.save(path, _data(1000))
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) - 100)
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}.*bytes"):
        chunked(str(path))
    junk = tmp_path / "junk.npy"
    junk.write_bytes(b"not a numpy file at all")
    with pytest.raises(ValueError, match=re.escape(str(junk))):
        chunked(str(junk))


# ------------------------------------------------------------- 5. clearer messages
def test_masked_arrays_with_masked_values_are_refused_by_name(fitted):
    X = _data(60)
    mask = np.zeros(X.shape, dtype=bool)
    mask[4, 1] = True
    masked = np.ma.masked_array(X, mask=mask)
    with pytest.raises(ValueError, match=r"masked array with 1 masked value"):
        KMeans(3, random_state=0).fit(masked)
    with pytest.raises(ValueError, match=r"masked array with 1 masked value"):
        fitted.predict(masked)
    with pytest.raises(ValueError, match=r"masked array with 1 masked value"):
        KMeans(3, random_state=0).fit(chunked([masked[:30], masked[30:]]))
    # Nothing masked: the data, as scikit-learn reads them.
    unmasked = np.ma.masked_array(X, mask=np.zeros(X.shape, dtype=bool))
    np.testing.assert_array_equal(
        KMeans(3, random_state=0).fit(unmasked).labels_, KMeans(3, random_state=0).fit(X).labels_
    )


def test_pandas_missing_values_are_reported_as_nan(fitted):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {"a": pd.array([1, 2, None, 4] * 10, dtype="Int64"), "b": np.arange(40.0), "c": 1.0}
    )
    with pytest.raises(ValueError, match="Input X contains NaN"):
        KMeans(2).fit(frame)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        fitted.predict(frame.to_numpy())
    complete = frame.fillna(0)
    assert KMeans(2, random_state=0).fit(complete).labels_.shape == (40,)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("container", ["array", "chunked"])
def test_weights_whose_sum_overflows_are_named(container):
    X = _data()
    weights = np.full(N, 1e308)
    data = X if container == "array" else chunked(X, sample_weight=weights, chunk_rows=1000)
    with pytest.raises(ValueError, match="sample_weight") as info:
        if container == "array":
            KMeans(3, n_init=1, random_state=0).fit(data, sample_weight=weights)
        else:
            KMeans(3, n_init=1, random_state=0).fit(data)
    assert "rescale X" not in str(info.value)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("container", ["array", "chunked"])
def test_weights_whose_products_overflow_are_named(container):
    X = _data()
    weights = np.full(N, 5e304)  # sum 1.5e308: finite; times squared distances of ~3: not
    data = X if container == "array" else chunked(X, sample_weight=weights, chunk_rows=1000)
    with pytest.raises(FloatingPointError, match="sample_weight"):
        if container == "array":
            KMeans(3, n_init=1, random_state=0).fit(data, sample_weight=weights)
        else:
            KMeans(3, n_init=1, random_state=0).fit(data)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_score_with_overflowing_weights_is_an_error_not_minus_infinity(fitted):
    with pytest.raises((ValueError, FloatingPointError), match="sample_weight"):
        fitted.score(_data(), sample_weight=np.full(N, 1e308))
    with pytest.raises(FloatingPointError, match="sample_weight"):
        fitted.score(_data(), sample_weight=np.full(N, 5e304))


def test_float32_fit_refuses_weights_beyond_float32():
    X = _data(dtype=np.float32)
    weights = np.ones(N)
    weights[7] = 1e39
    with pytest.raises(ValueError, match=r"sample_weight .*float32"):
        KMeans(3, n_init=1, random_state=0).fit(X, sample_weight=weights)
