"""Reading a CSV (or whitespace-aligned) text table of numbers into a float64 array.

The file's layout is read once from its first 64 KiB: the delimiter (comma, semicolon or tab,
sniffed; none of them: runs of whitespace) and whether the first non-blank row is a header
(every field text). The rows are then parsed by the fastest reader installed: pyarrow's CSV
reader, else pandas' C parser, else Python's ``csv`` module. The fast readers are strict (every
field a float, every row as wide as the first); when one refuses the file, the ``csv`` module
reads it again and decides, so every error names the file, the row and the column whichever
reader ran, and a file reads to the same array with or without pyarrow and pandas.
"""

from __future__ import annotations

import array
import csv
import io
import itertools
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

#: How much of the file the layout (delimiter, header) is read from.
SAMPLE_CHARS = 64 * 1024
#: The readers ``read_csv(engine=...)`` accepts; "auto" takes the first installed of
#: "pyarrow", "pandas", then "python" (the ``csv`` module, always there).
ENGINES = ("auto", "pyarrow", "pandas", "python")


@dataclass(frozen=True)
class _Layout:
    dialect: Any  # a csv dialect, or None for whitespace-aligned columns
    header: list[str] | None
    skip_lines: int  # raw lines up to and including the header (0 without one)
    width: int  # fields in the first data row


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _rows(handle: Any, dialect: Any) -> Iterator[list[str]]:
    """The non-blank rows of a text table, split by ``dialect`` (None: runs of whitespace)."""
    if dialect is None:
        for line in handle:
            fields = line.split()
            if fields:
                yield fields
        return
    for row in csv.reader(handle, dialect):
        if row and any(field.strip() for field in row):
            yield row


def _dialect(sample: str) -> Any:
    """Without a comma, semicolon or tab in ``sample``: None (whitespace-aligned columns);
    otherwise the dialect sniffed among those three delimiters."""
    if not any(mark in sample for mark in ",;\t"):
        return None
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        return csv.excel


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


def _text(path: Path) -> Any:
    return open(path, newline="", encoding="utf-8-sig")


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> ValueError:
    byte = exc.object[exc.start : exc.start + 1].hex()
    return ValueError(
        f"{path} is not UTF-8 text: it holds byte 0x{byte}, not valid UTF-8 (a Latin-1 or "
        "binary file?); save it as UTF-8 CSV"
    )


def _sample(path: Path) -> str:
    try:
        with _text(path) as handle:
            sample = handle.read(SAMPLE_CHARS)
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None
    if "\x00" in sample:
        raise ValueError(f"{path} is not UTF-8 text: it holds NUL bytes (a binary file?)")
    return sample


def _read_python(path: Path, dialect: Any) -> np.ndarray:
    """The reference reader: the ``csv`` module, row by row, every error named."""
    try:
        with _text(path) as handle:
            return _parse_rows(path, _rows(handle, dialect))
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None
    except csv.Error as exc:
        raise ValueError(f"{path}: cannot read as CSV ({exc})") from None


def _layout(path: Path, sample: str) -> _Layout | None:
    """Delimiter, header and width from the sample; None when the sample does not hold a whole
    first data row (the ``csv`` module then reads the file)."""
    dialect = _dialect(sample)
    complete = sample[: sample.rfind("\n") + 1]  # whole lines only
    rows = list(itertools.islice(_rows(io.StringIO(complete), dialect), 2))
    if not rows:
        return None
    header = _header(path, rows[0])
    if header is not None and len(rows) < 2:
        return None
    data = rows[1] if header is not None else rows[0]
    skip = 0
    if header is not None:
        marks = " \t\r" + ("" if dialect is None else dialect.delimiter)
        skip = next(i for i, line in enumerate(complete.split("\n")) if line.strip(marks)) + 1
    return _Layout(dialect, header, skip, len(data))


def _columns(width: int) -> list[str]:
    return [f"c{j}" for j in range(width)]


def _read_pyarrow(path: Path, layout: _Layout) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.csv as pc

    names = _columns(layout.width)
    table = pc.read_csv(
        path,
        read_options=pc.ReadOptions(column_names=names, skip_rows=layout.skip_lines),
        parse_options=pc.ParseOptions(
            delimiter=layout.dialect.delimiter,
            quote_char=layout.dialect.quotechar or False,
            double_quote=layout.dialect.doublequote,
        ),
        # every field a float, none of pyarrow's null spellings ("", "NA", ...) allowed
        convert_options=pc.ConvertOptions(
            column_types={name: pa.float64() for name in names},
            null_values=[],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    return _table_to_array(table, layout.width)


def _table_to_array(table: Any, width: int) -> np.ndarray:
    """The float64 columns of an Arrow table as one (rows, width) array, read from the
    columns' data buffers: pyarrow's own ``to_numpy`` imports pandas when it is installed,
    0.4 s of a command's start."""
    data = np.empty((table.num_rows, width))
    for j, column in enumerate(table.columns):
        start = 0
        for chunk in column.chunks:
            if chunk.null_count:
                raise ValueError("a missing value")  # the csv module names it
            stop = start + len(chunk)
            # a primitive Arrow array: buffer 0 is the validity bitmap, buffer 1 the values
            data[start:stop, j] = np.frombuffer(
                chunk.buffers()[1], dtype=np.float64, count=len(chunk), offset=8 * chunk.offset
            )
            start = stop
    return data


def _read_pandas(path: Path, layout: _Layout) -> np.ndarray:
    import pandas as pd

    raw = path.read_bytes()
    body = raw.split(b"\n", layout.skip_lines)[-1] if layout.skip_lines else raw
    # pandas reads true/false (any case) as 1.0/0.0 in a float column; Python's float() does
    # not: a "u" or "l" (found in neither a number, "nan" nor "infinity") sends the file to
    # the csv module, which names the field
    if any(letter in body for letter in (b"u", b"U", b"l", b"L")):
        raise ValueError("a field may be true/false")
    dialect = layout.dialect
    options: dict[str, Any] = (
        {"sep": r"\s+"}
        if dialect is None
        else {"sep": dialect.delimiter, "quotechar": dialect.quotechar or '"'}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "loss of data" and similar warnings: refuse the file
        frame = pd.read_csv(
            io.BytesIO(raw),
            header=None,
            names=list(range(layout.width)),
            skiprows=layout.skip_lines,
            dtype=np.float64,
            na_filter=False,  # "", "NA" are not numbers here
            encoding="utf-8-sig",
            engine="c",
            index_col=False,
            on_bad_lines="error",
            **options,
        )
    return frame.to_numpy(dtype=np.float64)


_FAST: dict[str, tuple[str, Callable[[Path, _Layout], np.ndarray]]] = {
    "pyarrow": ("pyarrow.csv", _read_pyarrow),
    "pandas": ("pandas", _read_pandas),
}
#: What a fast reader raises for a file it will not read (a conversion error, a ragged row,
#: a warning such as pandas' "loss of data"): the ``csv`` module then reads it.
_REFUSALS = (ValueError, TypeError, NotImplementedError, OSError, Warning)


def _installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def read_csv(path: str | os.PathLike, *, engine: str = "auto") -> np.ndarray:
    """A CSV (or whitespace-aligned) text table of numbers as a float64 array.

    Parameters
    ----------
    path : str or os.PathLike
        UTF-8 text (a byte-order mark is skipped); comma-, semicolon- or tab-separated, or
        aligned in whitespace-separated columns; the first non-blank row is a header when every
        field is text. Blank rows are skipped.
    engine : {"auto", "pyarrow", "pandas", "python"}, default "auto"
        Which reader parses the rows: "auto" takes pyarrow, else pandas, else the ``csv``
        module. Every engine gives the same array; a file a fast engine refuses is read again
        by the ``csv`` module, which names the problem.

    Returns
    -------
    data : numpy.ndarray of shape (n_samples, n_features), float64

    Raises
    ------
    ValueError
        Naming the file and the problem: text that is not UTF-8, a first row mixing numbers
        and text, a ragged row or a field that is not a number (with its row and column), no
        data rows.
    ImportError
        ``engine`` names a reader that is not installed.

    Examples
    --------
    >>> import os, tempfile
    >>> from gkmeans.csv_io import read_csv
    >>> path = os.path.join(tempfile.mkdtemp(), "points.csv")
    >>> _ = open(path, "w").write("x,y\\n1,2\\n3,4.5\\n")
    >>> read_csv(path).tolist()
    [[1.0, 2.0], [3.0, 4.5]]
    """
    if engine not in ENGINES:
        raise ValueError(f"engine={engine!r} is not known; expected one of {ENGINES}")
    path = Path(path)
    sample = _sample(path)
    layout = _layout(path, sample)
    name = _fast_engine(engine, layout)
    if name is not None and layout is not None:
        try:
            data = _FAST[name][1](path, layout)
        except _REFUSALS:
            data = None
        # NaN: spelled "nan" (the csv module agrees) or "nan(...)" (it refuses, naming the field)
        if (
            data is not None
            and data.shape[0]
            and data.shape[1] == layout.width
            and not np.isnan(data).any()
        ):
            return data
    return _read_python(path, _dialect(sample))


def _fast_engine(engine: str, layout: _Layout | None) -> str | None:
    """The fast reader for this layout: the one asked for, or (``"auto"``) the first installed
    that reads it (pyarrow reads delimited text only); None: the ``csv`` module."""
    if engine == "python":
        return None
    if engine != "auto":
        if not _installed(_FAST[engine][0]):
            raise ImportError(f"read_csv(engine={engine!r}) needs {engine}: pip install {engine}")
        return engine if layout is None or engine != "pyarrow" or layout.dialect else None
    for name, (module, _) in _FAST.items():
        if layout is not None and name == "pyarrow" and layout.dialect is None:
            continue
        if _installed(module):
            return name
    return None
