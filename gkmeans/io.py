"""Reading data files for the command line: ``.npy``, ``.csv`` (header auto-detected),
``.parquet``."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

SUFFIXES = (".npy", ".csv", ".parquet")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_csv(path: Path) -> np.ndarray:
    with open(path, newline="", encoding="utf-8") as handle:
        sample = handle.read(64 * 1024)
        handle.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t ")
        except csv.Error:
            dialect = csv.excel
        rows = [
            row
            for row in csv.reader(handle, dialect)
            if row and any(field.strip() for field in row)
        ]
    if not rows:
        raise ValueError(f"{path} has no rows")
    # A first row with any non-numeric field is a header.
    header = (
        None
        if all(_is_number(field) for field in rows[0])
        else [field.strip() for field in rows[0]]
    )
    body = rows[1:] if header is not None else rows
    if not body:
        raise ValueError(f"{path} has a header but no data rows")
    width = len(body[0])
    names = (
        header
        if header is not None and len(header) == width
        else [f"column {j + 1}" for j in range(width)]
    )
    data = np.empty((len(body), width))
    for i, row in enumerate(body):
        if len(row) != width:
            raise ValueError(
                f"{path}: row {i + 1 + (header is not None)} has {len(row)} fields; expected "
                f"{width}"
            )
        for j, field in enumerate(row):
            try:
                data[i, j] = float(field)
            except ValueError:
                msg = (
                    f"{path}: column {names[j]!r} is not numeric (row "
                    f"{i + 1 + (header is not None)}: {field!r})"
                )
                raise ValueError(msg) from None
    return data


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


def read_data(path: str | os.PathLike) -> np.ndarray:
    """A 2-D numeric array from a ``.npy``, ``.csv`` or ``.parquet`` file.

    Raises FileNotFoundError, or ValueError naming the problem (an unknown
    suffix, a non-numeric column, a ragged row, an array that is not 2-D).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no data file at {str(path)!r}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            data = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise ValueError(f"{path}: cannot read as a numeric .npy array ({exc})") from None
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
