"""Data read one chunk at a time: fits larger than the compute device's memory, or the host's.

``gkmeans.chunked(source)`` wraps a ``.npy`` file (read a chunk at a time), an array or
``numpy.memmap``, a sequence of arrays, or a function returning a fresh iterator of
chunks. ``KMeans().fit(gkmeans.chunked(...))`` then runs **exact** Lloyd: every
iteration streams the chunks to the compute device (on a GPU through pinned buffers,
the next copy overlapping the current chunk's kernels) and only the O(k * d) partial
sums stay. From the same initial centres the result is the in-memory fit's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from numpy.lib import format as npy

from gkmeans._compat import array_namespace, is_array_api_obj, to_numpy
from gkmeans._sparse import refuse_sparse
from gkmeans._validation import check_int, float_dtype, unmasked

#: Default chunk size in bytes: large enough to keep a GPU busy and amortise Python
#: overhead, small enough that two chunks in flight are a small share of device memory.
STREAM_CHUNK_BYTES = 64 * 2**20


@dataclass(frozen=True)
class FileStamp:
    """What ``os.stat`` says of a file when its data are opened: a fit maps the file's pages again
    on every pass, and a file truncated under a mapping kills the process (SIGBUS) when a
    vanished page is read, so every pass checks the stamp first (:meth:`check`)."""

    path: str
    size: int
    mtime_ns: int
    inode: int
    device: int

    @classmethod
    def of(cls, path: str) -> FileStamp:
        """The stamp of ``path`` now."""
        found = os.stat(path)
        return cls(path, found.st_size, found.st_mtime_ns, found.st_ino, found.st_dev)

    def check(self) -> None:
        """Raise ValueError naming the file when it is gone, replaced, resized or modified."""
        try:
            now = FileStamp.of(self.path)
        except OSError as error:
            msg = f"{self.path!r} changed during the fit: it can no longer be read ({error})"
            raise ValueError(msg) from error
        if now == self:
            return
        if (now.inode, now.device) != (self.inode, self.device):
            what = "it was replaced by another file"
        elif now.size != self.size:
            what = f"its size went from {self.size} to {now.size} bytes"
        else:
            what = "it was modified (its modification time changed)"
        msg = (
            f"{self.path!r} changed during the fit: {what}; a file must not change while it is "
            "fitted or predicted on (every pass reads it again)"
        )
        raise ValueError(msg)


class NpyRows:
    """Rows of a ``.npy`` file, mapped one chunk at a time.

    Each chunk is its own small memory map (no copy: the pages come straight from the
    page cache) and is unmapped when the chunk is dropped, so the process's address space
    (and an ``RLIMIT_AS`` limit on it) holds only the chunks in use, never the file.
    The file's size and modification time are recorded when it is opened and checked before
    every chunk is mapped (:class:`FileStamp`); every error names the file.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            with open(path, "rb") as handle:
                version = npy.read_magic(handle)
                reader = (
                    npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
                )
                shape, fortran_order, dtype = reader(handle)
                self.data_offset = handle.tell()
        except (ValueError, EOFError) as error:
            raise ValueError(f"{path!r} is not a readable .npy file: {error}") from error
        if len(shape) != 2:
            raise ValueError(f"chunked() needs a 2-D array; {path!r} holds shape {shape}")
        if fortran_order:
            raise ValueError(
                f"{path!r} is stored in Fortran (column) order; rows cannot be streamed from it"
            )
        if dtype.hasobject:
            raise ValueError(f"{path!r} holds Python objects ({dtype}); expected numbers")
        self.shape, self.dtype, self.ndim = shape, dtype, 2
        self.stamp = FileStamp.of(path)
        needed = self.data_offset + shape[0] * shape[1] * dtype.itemsize
        if self.stamp.size < needed:
            msg = (
                f"{path!r} is truncated: its header says shape {shape} of {dtype}, "
                f"{needed} bytes with the header, but the file has {self.stamp.size} bytes"
            )
            raise ValueError(msg)

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, _ = rows.indices(self.shape[0])
        if stop <= start:
            return np.empty((0, self.shape[1]), dtype=self.dtype)
        self.stamp.check()
        row_bytes = self.shape[1] * self.dtype.itemsize
        try:
            return np.memmap(
                self.path,
                dtype=self.dtype,
                mode="r",
                offset=self.data_offset + start * row_bytes,
                shape=(stop - start, self.shape[1]),
            )
        except (OSError, ValueError) as error:
            msg = f"{self.path!r}: rows {start} to {stop} cannot be mapped ({error})"
            raise ValueError(msg) from error


def mapped_file(x: Any) -> str | None:
    """The file behind a ``numpy.memmap`` (or a view of one), else None."""
    if not isinstance(x, np.memmap):
        return None
    filename = getattr(x, "filename", None)
    return None if filename is None else os.fspath(filename)


def _as_float_chunk(x: Any) -> Any:
    """A chunk as an array: float32/float64 kept as they are (a memmap slice is not copied), others
    to float64."""
    if isinstance(x, np.ma.MaskedArray):
        x = unmasked(x, "a chunk")
    refuse_sparse(
        x,
        "a streamed fit (gkmeans.chunked)",
        "give the whole sparse matrix to fit, which never makes it dense",
    )
    if not is_array_api_obj(x):
        x = np.asarray(x)
    xp = array_namespace(x)
    dtype = float_dtype(x, xp, "a chunk")  # the in-memory rule, and its messages
    return x if x.dtype == dtype else xp.astype(x, dtype)


class ChunkedData:
    """Data given chunk by chunk, for fits that stream it instead of holding it on the device.

    Parameters
    ----------
    source : str, os.PathLike, array, sequence of arrays, or callable
        A ``.npy`` file (read one chunk at a time, never whole); a 2-D array or
        ``numpy.memmap`` (sliced into chunks, not copied); a list or tuple of 2-D
        arrays; or a function with no arguments returning a *new* iterator of chunks
        each time it is called (a fit reads the data once per iteration). A chunk is
        a 2-D array or a pair ``(X_chunk, weight_chunk)``.
    sample_weight : array of shape (n_samples,), optional
        Weights of all rows, sliced along with the chunks (or give pairs instead).
    chunk_rows : int, optional
        Rows per chunk for file and array sources (default: about 64 MiB per chunk).

    Notes
    -----
    A fit reads the data once per pass and they must not change meanwhile. A ``.npy`` file
    (and the file behind a ``numpy.memmap``, or behind memmap chunks of a chunk function) is
    stamped with its size, modification time and inode when opened, and checked before every
    chunk is read: a file changed or truncated between passes is a ``ValueError`` naming it,
    not a crash (SIGBUS) reading pages that are gone. Every pass also compares each chunk's
    rows, column sums and weight sum with the first pass's, so a chunk function that gives
    other data (a NaN, rescaled rows, other weights) is refused by name. With
    ``sample_weight``, a chunk function must yield exactly ``len(sample_weight)`` rows.

    Examples
    --------
    >>> import numpy as np, gkmeans
    >>> X = np.concatenate([np.zeros((50, 2)), np.ones((50, 2)) * 10])
    >>> data = gkmeans.chunked(X, chunk_rows=16)
    >>> km = gkmeans.KMeans(n_clusters=2, init=X[[0, 99]]).fit(data)
    >>> km.cluster_centers_.tolist()
    [[0.0, 0.0], [10.0, 10.0]]
    """

    def __init__(
        self, source: Any, *, sample_weight: Any = None, chunk_rows: int | None = None
    ) -> None:
        if chunk_rows is not None:
            chunk_rows = check_int(chunk_rows, "chunk_rows", 1)
        self.chunk_rows = chunk_rows
        self.sample_weight = None if sample_weight is None else to_numpy(sample_weight)
        self._array: Any = None
        self._factory: Callable[[], Iterable[Any]] | None = None
        #: Files behind memory maps (a memmap source, or memmap chunks of a chunk function),
        #: stamped when first seen and checked before every later read of them.
        self._stamps: dict[str, FileStamp | None] = {}
        if isinstance(source, np.ma.MaskedArray):
            source = unmasked(source, "X")
        if isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            if not path.endswith(".npy"):
                raise ValueError(
                    f"chunked() reads .npy files; got {path!r} (load other formats and pass an "
                    "array)"
                )
            self._array = NpyRows(path)
        elif isinstance(source, Iterator):
            msg = (
                "an iterator can be read only once, and a fit reads the data once per iteration: "
                "pass a function that returns a new iterator, "
                "e.g. chunked(lambda: read_chunks(path))"
            )
            raise TypeError(msg)
        elif callable(source):
            self._factory = source
        elif (
            isinstance(source, Sequence)
            and not isinstance(source, (str, bytes))
            and len(source) > 0
            and all(is_array_api_obj(c) or isinstance(c, (tuple, np.ndarray)) for c in source)
            and not _is_matrix(source)
        ):
            chunks = list(source)
            self._factory = lambda: iter(chunks)
        else:
            array = source if is_array_api_obj(source) else np.asarray(source)
            self._array = array
            self._check_file(array)
        if self._array is not None and getattr(self._array, "ndim", 0) != 2:
            raise ValueError(f"chunked() needs 2-D data; got shape {tuple(self._array.shape)}")
        if (
            self._array is not None
            and self.sample_weight is not None
            and self.sample_weight.shape != (self._array.shape[0],)
        ):
            msg = (
                f"sample_weight.shape={self.sample_weight.shape} must be "
                f"({self._array.shape[0]},), one per row"
            )
            raise ValueError(msg)

    @property
    def n_samples(self) -> int | None:
        """Rows, when known without reading the data (file and array sources)."""
        return None if self._array is None else int(self._array.shape[0])

    @property
    def n_features(self) -> int | None:
        return None if self._array is None else int(self._array.shape[1])

    def batches(self) -> Iterator[tuple[int, Any, Any]]:
        """``(offset, X_chunk, weight_chunk or None)`` for every chunk, in order (host arrays)."""
        if self._array is not None:
            n, d = self._array.shape
            itemsize = getattr(self._array.dtype, "itemsize", 8)
            rows = self.chunk_rows or max(1, STREAM_CHUNK_BYTES // max(1, d * itemsize))
            for start in range(0, n, rows):
                stop = min(n, start + rows)
                w = None if self.sample_weight is None else self.sample_weight[start:stop]
                self._check_file(self._array)
                yield start, _as_float_chunk(self._array[start:stop]), w
            return
        offset = 0
        n_weights = None if self.sample_weight is None else int(self.sample_weight.shape[0])
        produced = self._factory()
        if isinstance(produced, (str, bytes)) or not isinstance(produced, Iterable):
            raise TypeError(
                "the chunk function must return an iterable of chunks; it returned "
                f"{type(produced)!r}"
            )
        for item in produced:
            if isinstance(item, tuple):
                if len(item) != 2:
                    raise ValueError(
                        "a chunk given as a tuple must be (X_chunk, weight_chunk); got "
                        f"{len(item)} items"
                    )
                X, w = item
                if self.sample_weight is not None:
                    raise ValueError(
                        "give weights either as sample_weight or in the chunks, not both"
                    )
            else:
                X = item
                w = None
                if n_weights is not None:
                    if offset + len(item) > n_weights:
                        msg = (
                            f"sample_weight has {n_weights} entries, but the chunks hold more "
                            f"rows: at least {offset + len(item)}; expected one weight per row"
                        )
                        raise ValueError(msg)
                    w = self.sample_weight[offset : offset + len(item)]
            self._check_file(X)  # before anything reads a mapped chunk
            X = _as_float_chunk(X)
            if getattr(X, "ndim", 0) != 2:
                raise ValueError(
                    f"every chunk must be 2-D; the chunk at row {offset} has shape {tuple(X.shape)}"
                )
            yield offset, X, None if w is None else to_numpy(w)
            offset += int(X.shape[0])
        if n_weights is not None and offset != n_weights:
            msg = (
                f"sample_weight has {n_weights} entries, but the chunks held {offset} rows; "
                "expected one weight per row"
            )
            raise ValueError(msg)

    def _check_file(self, x: Any) -> None:
        """Stamp the file behind a memory-mapped ``x`` when first seen; check it on later sights.

        A mapped file that cannot be looked up (deleted while mapped: its pages stay valid)
        is not followed.
        """
        path = mapped_file(x)
        if path is None:
            return
        if path not in self._stamps:
            try:
                self._stamps[path] = FileStamp.of(path)
            except OSError:
                self._stamps[path] = None
            return
        stamp = self._stamps[path]
        if stamp is not None:
            stamp.check()

    def first_chunk(self) -> Any:
        for _, X, _ in self.batches():
            return X
        raise ValueError("the chunked data is empty: no chunk was produced")

    def __repr__(self) -> str:
        if self._array is not None:
            return f"ChunkedData(shape={tuple(self._array.shape)}, chunk_rows={self.chunk_rows})"
        return f"ChunkedData(source={self._factory!r})"


def _is_matrix(source: Sequence[Any]) -> bool:
    """A list of 1-D rows (a plain nested list) is one array, not a list of chunks."""
    first = source[0]
    return (
        not isinstance(first, tuple)
        and getattr(np.asarray(first) if not is_array_api_obj(first) else first, "ndim", 0) < 2
    )


def chunked(
    source: Any, *, sample_weight: Any = None, chunk_rows: int | None = None
) -> ChunkedData:
    """Wrap data that a fit should stream chunk by chunk (see :class:`ChunkedData`).

    Examples
    --------
    >>> import numpy as np, gkmeans
    >>> parts = [np.random.default_rng(i).normal(size=(100, 3)) for i in range(4)]
    >>> gkmeans.KMeans(n_clusters=3, random_state=0).fit(gkmeans.chunked(parts)).labels_.shape
    (400,)
    """
    return ChunkedData(source, sample_weight=sample_weight, chunk_rows=chunk_rows)
