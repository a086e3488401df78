"""Reading data files for the command line: ``.npy``, ``.csv`` (header auto-detected),
``.parquet``.

CSV files are UTF-8 text (a byte-order mark is skipped; other encodings are refused naming
the file), comma-, semicolon- or tab-separated, or aligned in whitespace-separated columns.
The first row is a header when every field is text; a first row mixing numbers and text is
refused (it is a typo in a data row, not a header).
"""

from __future__ import annotations

import array
import csv
import itertools
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

SUFFIXES = (".npy", ".npz", ".csv", ".parquet")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _rows(handle: Any, sample: str) -> Iterator[list[str]]:
    """The non-blank rows of a text table. Without a comma, semicolon or tab in ``sample`` the
    fields are separated by runs of whitespace (aligned columns); otherwise the delimiter is
    sniffed among those three."""
    if not any(mark in sample for mark in ",;\t"):
        for line in handle:
            fields = line.split()
            if fields:
                yield fields
        return
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    for row in csv.reader(handle, dialect):
        if row and any(field.strip() for field in row):
            yield row


def _header(path: Path, first: list[str]) -> list[str] | None:
    """The column names when the first row is a header: every field text, none a number. A
    row of numbers is data; a row mixing both is refused (a typo such as ``2.O`` must not turn
    a data row into a header)."""
    numeric = [_is_number(field) for field in first]
    if all(numeric):
        return None
    if not any(numeric):
        return [field.strip() for field in first]
    j = numeric.index(False)
    msg = (
        f"{path}: row 1 mixes numbers and text: field {j + 1} is {first[j]!r}, not a number "
        "(a header row must be all names, a data row all numbers)"
    )
    raise ValueError(msg)


def _parse_rows(path: Path, rows: Iterator[list[str]]) -> np.ndarray:
    first = next(rows, None)
    if first is None:
        raise ValueError(f"{path} has no rows")
    header = _header(path, first)
    body = rows if header is not None else itertools.chain([first], rows)
    values = array.array("d")
    width = 0
    row_number = 1 if header is not None else 0
    for row_number, row in enumerate(body, start=row_number + 1):
        width = width or len(row)
        if len(row) != width:
            raise ValueError(f"{path}: row {row_number} has {len(row)} fields; expected {width}")
        try:
            values.extend(map(float, row))
        except ValueError:
            j = next(j for j, field in enumerate(row) if not _is_number(field))
            name = header[j] if header is not None and len(header) == width else f"column {j + 1}"
            msg = f"{path}: column {name!r} is not numeric (row {row_number}: {row[j]!r})"
            raise ValueError(msg) from None
    if not width:
        raise ValueError(f"{path} has a header but no data rows")
    return np.frombuffer(values, dtype=np.float64).reshape(-1, width)


def _read_csv(path: Path) -> np.ndarray:
    """A CSV (or whitespace-aligned) text table of numbers, UTF-8 (a byte-order mark is
    skipped), with an optional header row."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            sample = handle.read(64 * 1024)
            if "\x00" in sample:
                raise ValueError(f"{path} is not UTF-8 text: it holds NUL bytes (a binary file?)")
            handle.seek(0)
            return _parse_rows(path, _rows(handle, sample))
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start : exc.start + 1].hex()
        msg = (
            f"{path} is not UTF-8 text: it holds byte 0x{byte}, not valid UTF-8 (a Latin-1 or "
            "binary file?); save it as UTF-8 CSV"
        )
        raise ValueError(msg) from None
    except csv.Error as exc:
        raise ValueError(f"{path}: cannot read as CSV ({exc})") from None


def _read_parquet(path: Path) -> np.ndarray:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError("reading .parquet needs pyarrow: pip install 'gkmeans[parquet]'") from exc
    table = pq.read_table(path)
    columns = []
    for name, column in zip(table.column_names, table.columns):
        values = column.to_numpy(zero_copy_only=False)
        if values.dtype.kind not in "biuf":
            raise ValueError(f"{path}: column {name!r} is not numeric (type {column.type})")
        columns.append(values.astype(np.float64))
    if not columns:
        raise ValueError(f"{path} has no columns")
    return np.column_stack(columns)


def read_sparse_npz(path: Path) -> Any:
    """A SciPy sparse matrix saved by ``scipy.sparse.save_npz`` (kept sparse; no pickle)."""
    import scipy.sparse

    try:
        data = scipy.sparse.load_npz(path)
    except (ValueError, OSError, KeyError) as exc:
        msg = f"{path}: cannot read as a sparse matrix saved by scipy.sparse.save_npz ({exc})"
        raise ValueError(msg) from None
    if data.dtype.kind not in "biuf":
        raise ValueError(f"{path}: expected numbers; got dtype {data.dtype}")
    return data


def read_data(path: str | os.PathLike) -> np.ndarray:
    """A 2-D numeric array from a ``.npy``, ``.csv`` or ``.parquet`` file.

    Parameters
    ----------
    path : str or os.PathLike
        ``.npy`` (no pickle), ``.csv`` (UTF-8; comma, semicolon, tab or aligned columns; an
        optional header row of names) or ``.parquet`` (needs pyarrow).

    Returns
    -------
    data : numpy.ndarray of shape (n_samples, n_features)

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Naming the file and the problem: an unknown suffix, text that is not UTF-8, a first
        row mixing numbers and text, a non-numeric column, a ragged row, an array that is
        not 2-D.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no data file at {str(path)!r}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            data = np.load(path, allow_pickle=False)
        except (ValueError, EOFError, OSError) as exc:
            raise ValueError(f"{path}: cannot read as a numeric .npy array ({exc})") from None
        if not isinstance(data, np.ndarray):
            data.close()
            raise ValueError(f"{path}: is a .npz archive of arrays, not one .npy array")
    elif suffix == ".npz":
        return read_sparse_npz(path)
    elif suffix == ".csv":
        data = _read_csv(path)
    elif suffix == ".parquet":
        data = _read_parquet(path)
    else:
        raise ValueError(
            f"{path}: unknown data format {suffix!r}; expected one of {', '.join(SUFFIXES)}"
        )
    if data.ndim != 2:
        raise ValueError(
            f"{path}: expected a 2-D array (samples x features); got shape {data.shape}"
        )
    if data.dtype.kind not in "biuf":
        raise ValueError(f"{path}: expected numbers; got dtype {data.dtype}")
    return data
