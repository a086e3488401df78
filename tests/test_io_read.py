"""Reading data files: every CSV engine (pyarrow, pandas, the csv module) reads a file to the
same array or refuses it with the same message, naming the file, row and column (issue 22,
item 12); .npy files of Python objects are refused without mentioning pickles."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gkmeans import csv_io
from gkmeans.csv_io import read_csv
from gkmeans.datasets import make_blobs
from gkmeans.io import read_data

ROOT = Path(__file__).resolve().parent.parent

_rng = np.random.default_rng(0)
_FULL = _rng.normal(size=(300, 4)) * 10.0 ** _rng.integers(-300, 300, size=(300, 4))
_LONG = "\n".join(",".join(repr(float(v)) for v in row) for row in _FULL)

#: name -> file bytes: files every engine must read the same way.
GOOD = {
    "header": b"a,b,c\n1,2,3\n4,5,6\n",
    "no-header": b"1,2,3\n4,5,6\n",
    "semicolon": b"x;y\n1.5;2\n3;4e-3\n",
    "tab": b"x\ty\n1\t2\n3\t4\n",
    "bom": "\ufeffa,b\n1,2\n3,4\n".encode(),
    "blank-lines": b"\n\na,b\n\n1,2\n\n3,4\n\n",
    "crlf": b"a,b\r\n1,2\r\n3,4\r\n",
    "quoted": b'"a","b"\n"1.5","2"\n"3","4"\n',
    "aligned": b"   x      y\n  1.0    2.0\n  3.5   -4.0\n",
    "aligned-no-header": b"1 2 3\n4 5 6\n",
    "padded": b"a, b\n 1.5, 2\n3 , 4\n",
    "nan-inf": b"a,b\nnan,inf\n-inf,NaN\n",
    "one-column": b"x\n1\n2\n3\n",
    "duplicate-names": b"a,a\n1,2\n3,4\n",
    "underscores": b"a,b\n1_000,2\n3,4\n",
    "notation": b"a,b\n1e5,+1\n1.,.5\n",
    "header-wider-than-rows": b"a,b,c\n1,2\n3,4\n",
    "full-precision": (_LONG + "\n").encode(),
    "large-with-header": ("a,b,c,d\n" + _LONG + "\n" + _LONG + "\n").encode(),
    "no-final-newline": b"a,b\n1,2\n3,4",
}
#: name -> (file bytes, fragments of the error message).
BAD = {
    "short-row": (b"a,b,c\n1,2,3\n4,5\n", ["row 3 has 2 fields; expected 3"]),
    "long-row": (b"1,2\n3,4,5\n", ["row 2 has 3 fields; expected 2"]),
    "text-cell": (b"a,b\n1,2\n3,x\n", ["column 'b' is not numeric", "row 3", "'x'"]),
    "text-cell-no-header": (b"1,2\n3,4\n5,y\n", ["column 'column 2' is not numeric", "row 3"]),
    "trailing-comma": (b"1,2,\n3,4,\n", ["row 1 mixes numbers and text", "field 3"]),
    "trailing-comma-header": (b"a,b\n1,2,\n", ["column 'column 3' is not numeric", "row 2"]),
    "empty-field": (b"a,b\n1,\n3,4\n", ["column 'b' is not numeric", "row 2"]),
    "typo-first-row": (b"1.0,2.O,3\n1,2,3\n", ["row 1 mixes numbers and text", "'2.O'"]),
    "hex": (b"a,b\n0x10,2\n", ["column 'a' is not numeric", "'0x10'"]),
    "header-only": (b"a,b\n", ["has a header but no data rows"]),
    "empty": (b"", ["has no rows"]),
    "latin-1": ("a,b\n1,2\ncaf\u00e9,5\n".encode("latin-1"), ["not UTF-8", "0xe9"]),
    "nul": (b"1,2\n\x00\x01,3\n", ["not UTF-8", "NUL"]),
    "bool": (b"a,b\ntrue,2\n", ["column 'a' is not numeric", "'true'"]),
    "bool-late": (b"a,b\n" + b"1,2\n" * 3000 + b"3,FALSE\n", ["column 'b'", "row 3002", "'FALSE'"]),
    "nan-payload": (b"a,b\n1,2\nnan(1),3\n", ["column 'a' is not numeric", "'nan(1)'"]),
}


def _engines():
    engines = ["python"]
    for name, module in (("pyarrow", "pyarrow.csv"), ("pandas", "pandas")):
        try:
            __import__(module)
        except ImportError:
            continue
        engines.append(name)
    return engines


@pytest.fixture(params=_engines())
def engine(request):
    return request.param


@pytest.mark.parametrize("name", sorted(GOOD))
def test_every_engine_reads_the_same_array(tmp_path, engine, name):
    path = tmp_path / f"{name}.csv"
    path.write_bytes(GOOD[name])
    expected = read_csv(path, engine="python")
    got = read_csv(path, engine=engine)
    assert got.dtype == np.float64 and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(read_data(path), expected)


def test_the_reference_reader_reads_what_it_should(tmp_path):
    (tmp_path / "a.csv").write_bytes(GOOD["blank-lines"])
    np.testing.assert_array_equal(read_csv(tmp_path / "a.csv", engine="python"), [[1, 2], [3, 4]])
    (tmp_path / "b.csv").write_bytes(GOOD["full-precision"])
    np.testing.assert_array_equal(read_csv(tmp_path / "b.csv", engine="python"), _FULL)
    (tmp_path / "c.csv").write_bytes(GOOD["aligned"])
    np.testing.assert_array_equal(read_csv(tmp_path / "c.csv"), [[1.0, 2.0], [3.5, -4.0]])


@pytest.mark.parametrize("name", sorted(BAD))
def test_every_engine_names_the_same_problem(tmp_path, engine, name):
    content, fragments = BAD[name]
    path = tmp_path / f"{name}.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        read_csv(path, engine=engine)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    with pytest.raises(ValueError) as reference:
        read_csv(path, engine="python")
    assert str(reference.value) == message


@pytest.mark.parametrize("fast", ["pyarrow", "pandas"])
def test_a_clean_file_is_parsed_by_the_fast_engine(tmp_path, monkeypatch, fast):
    """The csv module is not used at all for a well-formed file when a fast engine is asked."""
    pytest.importorskip("pyarrow.csv" if fast == "pyarrow" else "pandas")
    X, _, _ = make_blobs(2000, 5, 3, random_state=0)
    path = tmp_path / "X.csv"
    np.savetxt(path, X, delimiter=",", header="a,b,c,d,e", comments="")

    def refuse(*args, **kwargs):
        raise AssertionError("the csv module read the file")

    monkeypatch.setattr(csv_io, "_read_python", refuse)
    np.testing.assert_array_equal(
        read_csv(path, engine=fast), np.loadtxt(path, delimiter=",", skiprows=1)
    )


def test_an_unknown_engine_is_named(tmp_path):
    (tmp_path / "a.csv").write_bytes(GOOD["header"])
    with pytest.raises(ValueError, match="engine='fast' is not known"):
        read_csv(tmp_path / "a.csv", engine="fast")


def test_a_npy_of_python_objects_is_refused_without_mentioning_pickle(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError) as info:
        read_data(tmp_path / "obj.npy")
    assert "Python objects" in str(info.value) and "pickle" not in str(info.value)


def _blocking(tmp_path, *modules):
    """A folder that, first on PYTHONPATH, makes ``modules`` fail to import (a minimal install)."""
    shim = tmp_path / "shim"
    for module in modules:
        (shim / module).mkdir(parents=True, exist_ok=True)
        (shim / module / "__init__.py").write_text(f"raise ImportError('{module} blocked')\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(shim), str(ROOT)])}


def test_a_minimal_install_reads_csv_with_the_csv_module(tmp_path):
    """Without pyarrow and pandas the command line reads the same CSV to the same model."""
    X, _, _ = make_blobs(500, 3, 4, random_state=0)
    np.savetxt(tmp_path / "X.csv", X, delimiter=";", header="a;b;c", comments="")
    runs = {}
    for name, env in (
        ("minimal", _blocking(tmp_path, "pyarrow", "pandas")),
        ("full", {**os.environ, "PYTHONPATH": str(ROOT)}),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "gkmeans", "fit", "X.csv", "-k", "4", "--labels", f"{name}.txt"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        runs[name] = (tmp_path / f"{name}.txt").read_text()
    assert runs["minimal"] == runs["full"] and len(runs["full"].split()) == 500
    probe = "import gkmeans.csv_io as c; print(c._fast_engine('auto', None))"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=_blocking(tmp_path, "pyarrow", "pandas"),
        check=True,
    )
    assert done.stdout.strip() == "None"


def test_a_file_read_in_many_blocks_is_whole_and_in_order(tmp_path):
    """pyarrow reads a file of several MB in blocks (chunks of each column): every row is kept,
    in order."""
    pytest.importorskip("pyarrow.csv")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40_000, 4)) * 10.0 ** rng.integers(-20, 20, size=(40_000, 4))
    path = tmp_path / "big.csv"
    path.write_text("a,b,c,d\n" + "\n".join(",".join(map(repr, row.tolist())) for row in X) + "\n")
    assert path.stat().st_size > 2**21
    np.testing.assert_array_equal(read_csv(path, engine="pyarrow"), X)


def test_the_pyarrow_reader_does_not_import_pandas(tmp_path):
    """pyarrow's own to_numpy imports pandas (0.4 s of a command's start); the reader does not."""
    pytest.importorskip("pyarrow.csv")
    (tmp_path / "a.csv").write_bytes(GOOD["header"])
    probe = (
        "import sys; from gkmeans.csv_io import read_csv; "
        f"read_csv({str(tmp_path / 'a.csv')!r}, engine='pyarrow'); print('pandas' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    assert done.stdout.strip() == "False"
