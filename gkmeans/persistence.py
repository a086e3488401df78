"""Saving and loading fitted models: ``.npz`` arrays plus a small JSON header.

Files hold no pickle (nothing in them can run code) and load as NumPy arrays, so a
model fitted on a GPU loads on a CPU-only machine.

Reliability:

- **Atomic saves.** A model is written to a temporary file beside the target, flushed to
  disk (``os.fsync``) and renamed onto the target (``os.replace``): a save that fails
  (full disk, file-size limit, Ctrl-C) leaves the previous file as it was and no
  temporary file behind. :func:`atomic_outputs` does the same for several files at once.
- **Validated loads.** Every member and header field is checked (types, shapes, dtypes,
  finite centres, labels in range, known estimator and parameters); a malformed file
  raises ``ValueError`` naming the file and the problem.
- **Bounded loads.** Each member's ``.npy`` header is read before any of its data is
  decompressed; a shape beyond what the JSON header implies (``n_clusters`` x
  ``n_features_in`` centres, ``n_samples`` labels) or beyond :data:`MAX_MEMBER_BYTES`
  is refused, so a small crafted file cannot make the loader allocate gigabytes.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import numbers
import os
import secrets
import stat
import zipfile
import zlib
from typing import Any, Callable, Iterator

import numpy as np

from gkmeans._compat import to_numpy
from gkmeans._version import __version__
from gkmeans.exceptions import NotFittedError, sklearn_compatible

FORMAT_NAME = "gkmeans-model"
#: The newest model format :func:`load_model` reads. Version 2 lets ``labels_``, ``inertia_``
#: and ``n_iter_`` be absent (a MiniBatchKMeans fitted with ``compute_labels=False`` or by
#: ``partial_fit``); a model that has all three is written as version 1, which older gkmeans
#: reads too.
FORMAT_VERSION = 2
_HEADER_KEY = "gkmeans_header"

#: The largest array a model file may declare, in bytes, checked on the member's ``.npy``
#: header before any of its data is decompressed. 2 GiB is 268 million float64 centre
#: coordinates or 536 million int32 labels: far beyond a real model's centres, and labels of
#: more samples than that are refused rather than allowed to exhaust memory.
MAX_MEMBER_BYTES = 2 * 2**30
#: The largest JSON header, in bytes of its ``.npy`` storage (4 per character): 64 MiB, 16
#: million characters, room for the feature names of a million columns.
MAX_HEADER_BYTES = 64 * 2**20
#: Bytes decompressed per read when loading a member (bounds the temporary buffer).
_READ_CHUNK = 16 * 2**20
#: The arrays a model file may hold, besides its header.
_MEMBERS = ("cluster_centers", "labels", "init")


class _Malformed(Exception):
    """A problem with a model file; :func:`load_model` turns it into a ValueError naming the
    file."""


def _json_param(value: Any) -> Any:
    """A parameter as JSON, or None where it cannot be stored (callables, generators)."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return None


#: The estimator classes a model file can name, by class name (:func:`register_estimator`).
ESTIMATORS: dict[str, type] = {}


def register_estimator(cls: type) -> type:
    """Let :func:`load_model` rebuild models of class ``cls`` (the estimators register
    themselves)."""
    ESTIMATORS[cls.__name__] = cls
    return cls


# ----------------------------------------------------------------------------- atomic writes
def _target(path: str | os.PathLike) -> str:
    """The real file ``path`` names (a symlink is followed, so the link itself survives)."""
    target = os.path.realpath(os.fspath(path))
    if os.path.isdir(target):
        raise IsADirectoryError(f"cannot write {os.fspath(path)!r}: it is a folder, not a file")
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {os.fspath(path)!r}: there is no folder {folder!r}")
    return target


def _new_temporary(target: str) -> str:
    """An empty new file beside ``target`` with the same suffix (writers that pick a format by
    extension see it), created with ``open``'s permissions (0o666 less the umask)."""
    folder, name = os.path.split(target)
    stem, suffix = os.path.splitext(name)
    while True:
        temporary = os.path.join(folder, f".{stem}.tmp-{secrets.token_hex(6)}{suffix}")
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        except OSError as exc:
            raise OSError(exc.errno, f"cannot write in {folder!r}: {exc.strerror}") from None
        return temporary


def _to_disk(temporary: str, target: str) -> None:
    """Flush ``temporary`` to disk and give it the permissions of the file it replaces."""
    descriptor = os.open(temporary, os.O_RDWR)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    with contextlib.suppress(FileNotFoundError):
        os.chmod(temporary, stat.S_IMODE(os.stat(target).st_mode))


@contextlib.contextmanager
def atomic_outputs(*paths: str | os.PathLike) -> Iterator[list[str]]:
    """Write files all or nothing: temporary files beside ``paths``, renamed onto them at the end.

    Parameters
    ----------
    *paths : str or os.PathLike
        The files to write. A symlink is followed (the link stays, its target is replaced).

    Yields
    ------
    temporaries : list of str
        One new empty file per path, in the same folder and with the same suffix; write each
        in place of its path (by name, e.g. ``np.save``, Pillow, matplotlib).

    Raises
    ------
    IsADirectoryError, FileNotFoundError
        A path names a folder, or a folder that does not exist.

    Notes
    -----
    When the block ends normally, every temporary file is flushed to disk (``os.fsync``) and
    only then are they all renamed onto their paths (``os.replace``, atomic per file). When
    the block raises (a failed write, a full disk, Ctrl-C), the temporary files are removed
    and every path keeps its previous content.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with atomic_outputs(os.path.join(folder, "a.npy")) as (a,):
    ...     np.save(a, np.arange(3))
    >>> sorted(os.listdir(folder)), np.load(os.path.join(folder, "a.npy")).tolist()
    (['a.npy'], [0, 1, 2])
    """
    targets = [_target(path) for path in paths]
    temporaries: list[str] = []
    renamed = 0
    try:
        for target in targets:
            temporaries.append(_new_temporary(target))
        yield list(temporaries)
        for temporary, target in zip(temporaries, targets):
            _to_disk(temporary, target)
        for temporary, target in zip(temporaries, targets):
            os.replace(temporary, target)
            renamed += 1
        for folder in {os.path.dirname(target) for target in targets}:
            with contextlib.suppress(OSError):  # the renames themselves to disk, where possible
                descriptor = os.open(folder, os.O_RDONLY)
                try:
                    os.fsync(descriptor)
                finally:
                    os.close(descriptor)
    finally:
        for temporary in temporaries[renamed:]:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


# ----------------------------------------------------------------------------- save
def _optional(model: Any, name: str, kind: Callable[[Any], Any]) -> Any:
    value = getattr(model, name, None)
    return None if value is None else kind(value)


def save_model(model: Any, path: str | os.PathLike) -> None:
    """Write a fitted estimator to ``path`` (``.npz``, exactly this name), atomically.

    The model goes to a temporary file beside ``path``, is flushed to disk and renamed onto
    ``path``: if the write fails, a previous file at ``path`` is left as it was. Labels,
    inertia and iteration counts are stored when the model has them.

    Parameters
    ----------
    model : KMeans or MiniBatchKMeans
        Fitted.
    path : str or os.PathLike

    Raises
    ------
    NotFittedError
        The model is not fitted.
    OSError
        The file cannot be written (any previous file is kept).
    """
    if not model.__sklearn_is_fitted__():
        raise sklearn_compatible(NotFittedError)(
            f"This {type(model).__name__} instance is not fitted yet."
        )
    params = model.get_params()
    arrays = {"cluster_centers": np.asarray(to_numpy(model.cluster_centers_))}
    labels = getattr(model, "labels_", None)
    if labels is not None:
        arrays["labels"] = np.asarray(to_numpy(labels))
    init = params["init"]
    if not isinstance(init, str) and not callable(init):
        arrays["init"] = np.asarray(
            to_numpy(init) if hasattr(init, "__array_namespace__") else init, dtype=np.float64
        )
    inertia = _optional(model, "inertia_", float)
    n_iter = _optional(model, "n_iter_", int)
    complete = labels is not None and inertia is not None and n_iter is not None
    header = {
        "format": FORMAT_NAME,
        "format_version": 1 if complete else FORMAT_VERSION,
        "gkmeans_version": __version__,
        "estimator": type(model).__name__,
        "params": {name: _json_param(value) for name, value in params.items()},
        "unsaved_params": sorted(
            n for n, v in params.items() if v is not None and _json_param(v) is None and n != "init"
        ),
        "dtype": str(arrays["cluster_centers"].dtype),
        "n_features_in": int(model.n_features_in_),
        "n_samples": None if labels is None else int(arrays["labels"].shape[0]),
        "inertia": inertia,
        "n_iter": n_iter,
        "n_steps": _optional(model, "n_steps_", int),
        "fitted_on": getattr(model, "device_", "cpu"),
        "precision": getattr(model, "precision_", "exact"),
        "feature_names_in": None
        if getattr(model, "feature_names_in_", None) is None
        else [str(name) for name in model.feature_names_in_],
    }
    arrays[_HEADER_KEY] = np.asarray(json.dumps(header))
    try:
        with atomic_outputs(path) as (temporary,):
            with open(temporary, "wb") as handle:  # this name: np.savez would append ".npz"
                np.savez(handle, **arrays)
    except OSError as exc:
        if exc.errno is None:
            raise
        where = os.fspath(path)
        msg = f"cannot write the model to {where!r} (any previous file is kept): {exc.strerror}"
        raise OSError(exc.errno, msg) from exc


# ----------------------------------------------------------------------------- load: members
def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, check: Callable[..., None]
) -> np.ndarray:
    """One ``.npy`` member: its header read and passed to ``check(member, shape, dtype)`` first,
    then its data decompressed a chunk at a time into an array of the declared size."""
    member = info.filename
    try:
        with archive.open(info) as stream:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
            else:
                raise _Malformed(
                    f"member {member!r} uses .npy format version {version}; expected 1.0 or 2.0"
                )
            if dtype.hasobject or dtype.itemsize == 0:
                raise _Malformed(f"member {member!r} has dtype {dtype}; expected plain numbers")
            nbytes = math.prod(shape) * dtype.itemsize
            check(member, shape, dtype, nbytes)
            flat = np.empty(math.prod(shape), dtype=dtype)
            raw = flat.view(np.uint8)
            done = 0
            while done < nbytes:
                got = stream.readinto(memoryview(raw[done : done + _READ_CHUNK]))
                if not got:
                    raise _Malformed(
                        f"member {member!r} is truncated: it declares {nbytes} bytes of data and "
                        f"holds {done}"
                    )
                done += got
    # NotImplementedError: a compression zipfile does not support; RuntimeError: an encrypted
    # member; zlib.error: a corrupt deflate stream.
    except (
        zipfile.BadZipFile,
        OSError,
        EOFError,
        ValueError,
        NotImplementedError,
        RuntimeError,
        zlib.error,
    ) as exc:
        raise _Malformed(f"member {member!r} cannot be read ({exc})") from None
    array = flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)
    return array if dtype.isnative else array.astype(dtype.newbyteorder("="))


def _check_header_member(member: str, shape: tuple, dtype: np.dtype, nbytes: int) -> None:
    if shape != () or dtype.kind != "U":
        raise _Malformed(
            f"member {member!r} must hold one JSON text; it declares {dtype} of shape {shape}"
        )
    if nbytes > MAX_HEADER_BYTES:
        raise _Malformed(
            f"member {member!r} declares {nbytes} bytes of header text; at most "
            f"{MAX_HEADER_BYTES} (MAX_HEADER_BYTES) are read"
        )


def _member_check(name: str, header: dict[str, Any]) -> Callable[..., None]:
    """The shapes and dtypes member ``name`` may declare, given the (checked) header."""
    n_clusters, n_features = header["params"]["n_clusters"], header["n_features_in"]
    n_samples = header.get("n_samples")

    def check(member: str, shape: tuple, dtype: np.dtype, nbytes: int) -> None:
        kinds, ndim = ("iu", 1) if name == "labels" else ("f", 2)
        if dtype.kind not in kinds:
            expected = "integers" if name == "labels" else "floating point"
            raise _Malformed(f"member {member!r} has dtype {dtype}; expected {expected}")
        if len(shape) != ndim:
            raise _Malformed(f"member {member!r} has shape {shape}; expected {ndim}-D")
        if nbytes > MAX_MEMBER_BYTES:
            raise _Malformed(
                f"member {member!r} declares shape {shape} of {dtype}, {nbytes} bytes; at most "
                f"{MAX_MEMBER_BYTES} bytes (MAX_MEMBER_BYTES) are read"
            )
        if name == "cluster_centers" and not (
            1 <= shape[0] <= n_clusters and shape[1] == n_features
        ):
            raise _Malformed(
                f"member {member!r} declares shape {shape}; the header implies 1 to "
                f"n_clusters={n_clusters} rows of n_features_in={n_features} columns"
            )
        if name == "init" and shape != (n_clusters, n_features):
            raise _Malformed(
                f"member {member!r} declares shape {shape}; expected (n_clusters, "
                f"n_features_in) = {(n_clusters, n_features)}"
            )
        if name == "labels" and n_samples is not None and shape[0] != n_samples:
            raise _Malformed(
                f"member {member!r} declares {shape[0]} labels; the header's n_samples is "
                f"{n_samples}"
            )

    return check


# ----------------------------------------------------------------------------- load: header
def _json_kind(value: Any) -> str:
    kinds = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return kinds.get(type(value), "number")


def _is_int(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _field(header: dict[str, Any], key: str, test: Callable[[Any], bool], expected: str) -> Any:
    """``header[key]`` (None when absent) if it passes ``test``; else a _Malformed naming it."""
    value = header.get(key)
    if not test(value):
        shown = "missing" if key not in header else f"{value!r}"[:60]
        raise _Malformed(f"its header's {key} is {shown}; expected {expected}")
    return value


def _optional_text(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _finite_inertia(value: Any) -> bool:
    if value is None:
        return True
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number and math.isfinite(value) and value >= 0


def _check_params(header: dict[str, Any], cls: type) -> None:
    params = _field(header, "params", lambda v: isinstance(v, dict), "a JSON object")
    known = set(inspect.signature(cls).parameters)
    unknown = sorted(set(params) - known)
    if unknown:
        raise _Malformed(
            f"its header's params name {', '.join(map(repr, unknown))}, unknown to {cls.__name__}"
        )
    for name, value in params.items():
        if isinstance(value, (dict, list)):
            raise _Malformed(
                f"its header's params[{name!r}] is a JSON {_json_kind(value)}; expected a "
                "number, a string, true/false or null"
            )
    if not _is_int(params.get("n_clusters"), 1):
        shown = repr(params["n_clusters"]) if "n_clusters" in params else "missing"
        raise _Malformed(f"its header's params n_clusters is {shown}; expected an integer >= 1")


def _parse_header(text: str, name: str) -> dict[str, Any]:
    """The JSON header, every field the loader uses checked."""
    try:
        header = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Malformed(f"its header is not valid JSON ({exc})") from None
    except RecursionError:
        raise _Malformed("its header nests JSON arrays or objects too deeply") from None
    if not isinstance(header, dict):
        raise _Malformed(f"its header is a JSON {_json_kind(header)}, not a JSON object")
    if header.get("format") != FORMAT_NAME:
        raise _Malformed(f"format is {header.get('format')!r}")
    version = _field(header, "format_version", lambda v: _is_int(v, 1), "an integer >= 1")
    if version > FORMAT_VERSION:
        msg = (
            f"{name!r} uses model format version {version}; this gkmeans reads up to version "
            f"{FORMAT_VERSION}: upgrade gkmeans"
        )
        raise ValueError(msg)
    known = ", ".join(sorted(ESTIMATORS))
    estimator = _field(
        header, "estimator", lambda v: isinstance(v, str) and v in ESTIMATORS, f"one of {known}"
    )
    _check_params(header, ESTIMATORS[estimator])
    n_features = _field(header, "n_features_in", lambda v: _is_int(v, 1), "an integer >= 1")
    _field(header, "dtype", lambda v: isinstance(v, str), "a dtype name")
    for key in ("n_samples", "n_iter", "n_steps"):
        _field(header, key, lambda v: v is None or _is_int(v, 0), "an integer >= 0 or null")
    _field(header, "inertia", _finite_inertia, "a finite number >= 0 or null")
    for key in ("fitted_on", "precision", "gkmeans_version"):
        _field(header, key, _optional_text, "a string")
    _field(
        header,
        "feature_names_in",
        lambda v: (
            v is None
            or (isinstance(v, list) and len(v) == n_features and all(isinstance(s, str) for s in v))
        ),
        f"null or a list of n_features_in={n_features} strings",
    )
    return header


# ----------------------------------------------------------------------------- load
def _read_model_file(name: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The checked header and arrays of the model file ``name``."""
    if os.path.isdir(name):
        raise _Malformed("it is a folder")
    with open(name, "rb") as handle:
        start = handle.read(6)
    if start == b"\x93NUMPY":
        raise _Malformed("it holds a single array (.npy), not an archive of arrays (.npz)")
    try:
        archive = zipfile.ZipFile(name)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise _Malformed(f"it is not a zip archive (.npz): {exc}") from None
    with archive:
        members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
        if _HEADER_KEY not in members:
            raise _Malformed("it has no gkmeans header")
        header = _parse_header(
            str(_read_member(archive, members[_HEADER_KEY], _check_header_member)), name
        )
        arrays = {
            key: _read_member(archive, members[key], _member_check(key, header))
            for key in _MEMBERS
            if key in members
        }
    if "cluster_centers" not in arrays:
        raise _Malformed("it has no cluster_centers member")
    centres = arrays["cluster_centers"]
    if str(centres.dtype) != header["dtype"]:
        raise _Malformed(
            f"its header's dtype {header['dtype']!r} differs from cluster_centers' dtype "
            f"{centres.dtype}"
        )
    if not np.isfinite(centres).all():
        raise _Malformed("cluster_centers hold NaN or infinite values; expected finite numbers")
    if "init" in arrays and not np.isfinite(arrays["init"]).all():
        raise _Malformed("init holds NaN or infinite values; expected finite numbers")
    labels = arrays.get("labels")
    if labels is not None and labels.size and (labels.min() < 0 or labels.max() >= len(centres)):
        raise _Malformed(
            f"labels hold values from {labels.min()} to {labels.max()}; expected 0 to "
            f"{len(centres) - 1} (one per cluster centre)"
        )
    return header, arrays


def load_model(path: str | os.PathLike) -> Any:
    """Read a model written by :meth:`KMeans.save` (or :meth:`MiniBatchKMeans.save`).

    The file is checked before it is used: each array's declared shape and dtype (before its
    data is decompressed, at most :data:`MAX_MEMBER_BYTES` each), every header field, finite
    centres and labels in range. Attributes the saved model did not have (``labels_`` of a
    MiniBatchKMeans fitted with ``compute_labels=False``) are absent after loading too.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    model : KMeans or MiniBatchKMeans
        The class that was saved, fitted, its arrays as NumPy arrays on the CPU.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        The file is not a valid gkmeans model (the message names the file and the problem), or
        it is from a newer, unknown format version.

    Examples
    --------
    >>> import numpy as np, tempfile, os, gkmeans
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [9.0, 9.0], [9.0, 8.0]])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> gkmeans.KMeans(2, random_state=0).fit(X).save(path)
    >>> gkmeans.load(path).predict(np.array([[0.0, 0.5]])).shape
    (1,)
    """
    name = os.fspath(path)
    if not os.path.exists(name):
        raise FileNotFoundError(f"no model file at {name!r}")
    try:
        header, arrays = _read_model_file(name)
    except _Malformed as exc:
        raise ValueError(f"{name!r} is not a gkmeans model file: {exc}") from None
    params = {key: value for key, value in header["params"].items() if value is not None}
    if "init" in arrays:
        params["init"] = arrays["init"]
    model = ESTIMATORS[header["estimator"]](**params)
    model.cluster_centers_ = arrays["cluster_centers"]
    if "labels" in arrays:
        model.labels_ = arrays["labels"]
    for attribute, kind in (("inertia", float), ("n_iter", int), ("n_steps", int)):
        if header.get(attribute) is not None:
            setattr(model, f"{attribute}_", kind(header[attribute]))
    model.n_features_in_ = int(header["n_features_in"])
    model.device_ = "cpu"
    model.fitted_on_ = header.get("fitted_on") or "cpu"
    model.precision_ = header.get("precision") or "exact"
    if header.get("feature_names_in") is not None:
        model.feature_names_in_ = np.asarray(header["feature_names_in"], dtype=object)
    return model
