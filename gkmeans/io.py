"""Data files in and label files out, for the command line.

Readers, by suffix (:data:`READERS`): ``.npy`` (numbers only, never pickled objects), ``.npz``
(a SciPy sparse matrix from ``scipy.sparse.save_npz``, kept sparse), ``.csv``
(``gkmeans.csv_io.read_csv``: UTF-8, delimiter sniffed, header detected; pyarrow or pandas
parse it when installed) and ``.parquet`` (pyarrow, the ``parquet`` extra).

Label writers, by suffix (:data:`LABEL_FORMATS`): ``.npy``, ``.csv`` (a ``label`` header, one
label per row), ``.txt`` (one label per line) and ``.parquet`` (one ``label`` column); any
other suffix gets ``.npy`` content. Each writes exactly the path it is given.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from gkmeans.csv_io import read_csv


def _read_npy(path: Path) -> np.ndarray:
    """A numeric ``.npy`` array. The header is read first: an array of Python objects is
    refused by name, never loaded (loading one would run pickled code)."""
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            _, _, dtype = read_header(handle)
    except (ValueError, EOFError, OSError) as exc:
        raise ValueError(f"{path}: cannot read as a numeric .npy array ({exc})") from None
    if dtype.hasobject:
        raise ValueError(
            f"{path}: holds Python objects (dtype {dtype}), not numbers; gkmeans reads numeric "
            "arrays only (save the data with numpy.save from a float array)"
        )
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        raise ValueError(f"{path}: cannot read as a numeric .npy array ({exc})") from None
    if not isinstance(data, np.ndarray):  # a .npz archive behind a .npy name
        data.close()
        raise ValueError(f"{path}: is a .npz archive of arrays, not one .npy array")
    return data


def _pyarrow_parquet(why: str) -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError(f"{why} needs pyarrow: pip install 'gkmeans[parquet]'") from exc
    return pq


def _read_parquet(path: Path) -> np.ndarray:
    table = _pyarrow_parquet("reading .parquet").read_table(path)
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
        # NumPy's refusal of an object array names its allow_pickle switch, which must never
        # be suggested for a data file: say what the file holds instead
        why = "it holds Python objects, not numbers" if "allow_pickle" in str(exc) else exc
        msg = f"{path}: cannot read as a sparse matrix saved by scipy.sparse.save_npz ({why})"
        raise ValueError(msg) from None
    if data.dtype.kind not in "biuf":
        raise ValueError(f"{path}: expected numbers; got dtype {data.dtype}")
    return data


#: The data readers by file suffix (lower case): each takes a path and returns a 2-D array
#: (``.npz``: a SciPy sparse matrix, kept sparse).
READERS: dict[str, Callable[[Path], Any]] = {
    ".npy": _read_npy,
    ".npz": read_sparse_npz,
    ".csv": read_csv,
    ".parquet": _read_parquet,
}
#: The suffixes :func:`read_data` reads.
SUFFIXES = tuple(READERS)


def read_data(path: str | os.PathLike) -> Any:
    """A 2-D numeric array from a ``.npy``, ``.npz`` (sparse), ``.csv`` or ``.parquet`` file.

    Parameters
    ----------
    path : str or os.PathLike
        ``.npy`` (numbers; no pickled objects), ``.npz`` (a SciPy sparse matrix saved by
        ``scipy.sparse.save_npz``), ``.csv`` (UTF-8; comma, semicolon, tab or aligned columns;
        an optional header row of names) or ``.parquet`` (needs pyarrow).

    Returns
    -------
    data : numpy.ndarray or scipy.sparse matrix of shape (n_samples, n_features)

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Naming the file and the problem: an unknown suffix, text that is not UTF-8, a first
        row mixing numbers and text, a non-numeric column, a ragged row, an array that is
        not 2-D or not numeric.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from gkmeans.io import read_data
    >>> path = os.path.join(tempfile.mkdtemp(), "X.npy")
    >>> np.save(path, np.ones((4, 2)))
    >>> read_data(path).shape
    (4, 2)
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no data file at {str(path)!r}")
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise ValueError(
            f"{path}: unknown data format {suffix!r}; expected one of {', '.join(SUFFIXES)}"
        )
    data = READERS[suffix](path)
    if data.ndim != 2:
        raise ValueError(
            f"{path}: expected a 2-D array (samples x features); got shape {data.shape}"
        )
    if data.dtype.kind not in "biuf":
        raise ValueError(f"{path}: expected numbers; got dtype {data.dtype}")
    return data


# ----------------------------------------------------------------------------- labels
def _labels_npy(path: str, labels: np.ndarray) -> None:
    with open(path, "wb") as handle:  # np.save(name) would append ".npy" to other suffixes
        np.save(handle, labels, allow_pickle=False)


def _labels_csv(path: str, labels: np.ndarray) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("label\n")
        np.savetxt(handle, labels, fmt="%d")


def _labels_txt(path: str, labels: np.ndarray) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        np.savetxt(handle, labels, fmt="%d")


def _labels_parquet(path: str, labels: np.ndarray) -> None:
    import pyarrow as pa

    _pyarrow_parquet("writing .parquet").write_table(pa.table({"label": labels}), path)


#: The label file formats by suffix: (writer, description printed after writing).
LABEL_FORMATS: dict[str, tuple[Callable[[str, np.ndarray], None], str]] = {
    ".npy": (_labels_npy, "NumPy .npy, int32"),
    ".csv": (_labels_csv, "CSV, a 'label' header and one label per row"),
    ".txt": (_labels_txt, "text, one label per line"),
    ".parquet": (_labels_parquet, "Parquet, one int32 column 'label'"),
}


def labels_format(path: str | os.PathLike) -> str:
    """The format :func:`write_labels` writes at ``path``, in words; checks first that what
    it needs is installed (pyarrow for ``.parquet``), so a command fails before its work.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    description : str
        E.g. ``"CSV, a 'label' header and one label per row"``; a suffix outside
        :data:`LABEL_FORMATS` gets NumPy ``.npy`` content.

    Raises
    ------
    ImportError
        A ``.parquet`` path without pyarrow (with the ``pip install`` line).

    Examples
    --------
    >>> from gkmeans.io import labels_format
    >>> labels_format("labels.txt")
    'text, one label per line'
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        _pyarrow_parquet("writing .parquet labels")
    if suffix in LABEL_FORMATS:
        return LABEL_FORMATS[suffix][1]
    if not suffix:
        return "NumPy .npy, int32 (no suffix)"
    return f"NumPy .npy, int32 ({suffix} is not one of {', '.join(LABEL_FORMATS)})"


def write_labels(path: str | os.PathLike, labels: Any) -> None:
    """Write integer labels at exactly ``path``, in the format its suffix names.

    Parameters
    ----------
    path : str or os.PathLike
        ``.npy``, ``.csv``, ``.txt`` or ``.parquet`` (see :data:`LABEL_FORMATS`); any other
        suffix gets ``.npy`` content under that name.
    labels : array of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from gkmeans.io import write_labels
    >>> path = os.path.join(tempfile.mkdtemp(), "labels.csv")
    >>> write_labels(path, np.array([0, 2, 1]))
    >>> open(path).read().split()
    ['label', '0', '2', '1']
    """
    values = np.asarray(labels).astype(np.int32, copy=False)
    writer = LABEL_FORMATS.get(Path(path).suffix.lower(), LABEL_FORMATS[".npy"])[0]
    writer(os.fspath(path), values)
