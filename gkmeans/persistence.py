"""Saving and loading fitted models: ``.npz`` arrays plus a small JSON header.

Files load with ``allow_pickle=False`` (nothing in them can run code), and come
back as NumPy arrays, so a model fitted on a GPU loads on a CPU-only machine.
"""

from __future__ import annotations

import json
import numbers
import os
import zipfile
from typing import Any

import numpy as np

from gkmeans._compat import to_numpy
from gkmeans._version import __version__
from gkmeans.exceptions import NotFittedError, sklearn_compatible

FORMAT_NAME = "gkmeans-model"
FORMAT_VERSION = 1
_HEADER_KEY = "gkmeans_header"


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


def save_model(model: Any, path: str | os.PathLike) -> None:
    """Write a fitted KMeans to ``path`` (``.npz``)."""
    if not model.__sklearn_is_fitted__():
        raise sklearn_compatible(NotFittedError)(
            f"This {type(model).__name__} instance is not fitted yet."
        )
    params = model.get_params()
    arrays = {
        "cluster_centers": np.asarray(to_numpy(model.cluster_centers_)),
        "labels": np.asarray(to_numpy(model.labels_)),
    }
    init = params["init"]
    if not isinstance(init, str) and not callable(init):
        arrays["init"] = np.asarray(
            to_numpy(init) if hasattr(init, "__array_namespace__") else init, dtype=np.float64
        )
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "gkmeans_version": __version__,
        "estimator": type(model).__name__,
        "params": {name: _json_param(value) for name, value in params.items()},
        "unsaved_params": sorted(
            n for n, v in params.items() if v is not None and _json_param(v) is None and n != "init"
        ),
        "dtype": str(arrays["cluster_centers"].dtype),
        "n_features_in": int(model.n_features_in_),
        "inertia": float(model.inertia_),
        "n_iter": int(model.n_iter_),
        "fitted_on": getattr(model, "device_", "cpu"),
        "precision": getattr(model, "precision_", "exact"),
        "feature_names_in": None
        if getattr(model, "feature_names_in_", None) is None
        else [str(name) for name in model.feature_names_in_],
    }
    arrays[_HEADER_KEY] = np.asarray(json.dumps(header))
    with open(path, "wb") as handle:  # exactly this name: np.savez would append ".npz"
        np.savez(handle, **arrays)


def load_model(path: str | os.PathLike) -> Any:
    """Read a model written by :meth:`KMeans.save`.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        The file is not a gkmeans model (or from a newer, unknown format version).

    Examples
    --------
    >>> import numpy as np, tempfile, os, gkmeans
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [9.0, 9.0], [9.0, 8.0]])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> gkmeans.KMeans(2, random_state=0).fit(X).save(path)
    >>> gkmeans.load(path).predict(np.array([[0.0, 0.5]])).shape
    (1,)
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model file at {os.fspath(path)!r}")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not hasattr(loaded, "files"):  # a single .npy array, not an archive
            raise ValueError("it holds a single array")
        with loaded:
            arrays = {name: loaded[name] for name in loaded.files}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        # ValueError also covers a plain file np.load takes for a pickle (refused here)
        msg = f"{os.fspath(path)!r} is not a gkmeans model file (.npz): {exc}"
        raise ValueError(msg) from exc
    if _HEADER_KEY not in arrays:
        msg = f"{os.fspath(path)!r} is not a gkmeans model file: it has no gkmeans header"
        raise ValueError(msg)
    try:
        header = json.loads(str(arrays.pop(_HEADER_KEY)))
    except json.JSONDecodeError as exc:
        msg = f"{os.fspath(path)!r} is not a gkmeans model file: its header is not valid JSON"
        raise ValueError(msg) from exc
    if not isinstance(header, dict):
        msg = f"{os.fspath(path)!r} is not a gkmeans model file: its header is not a JSON object"
        raise ValueError(msg)
    if header.get("format") != FORMAT_NAME:
        msg = f"{os.fspath(path)!r} is not a gkmeans model file: format is {header.get('format')!r}"
        raise ValueError(msg)
    if int(header.get("format_version", 0)) > FORMAT_VERSION:
        msg = (
            f"{os.fspath(path)!r} uses model format version {header['format_version']}; "
            f"this gkmeans reads up to version {FORMAT_VERSION}: upgrade gkmeans"
        )
        raise ValueError(msg)
    params = {name: value for name, value in header["params"].items() if value is not None}
    if "init" in arrays:
        params["init"] = arrays["init"]
    model = ESTIMATORS.get(str(header.get("estimator")), ESTIMATORS["KMeans"])(**params)
    model.cluster_centers_ = arrays["cluster_centers"]
    model.labels_ = arrays["labels"]
    model.inertia_ = float(header["inertia"])
    model.n_iter_ = int(header["n_iter"])
    model.n_features_in_ = int(header["n_features_in"])
    model.device_ = "cpu"
    model.fitted_on_ = header.get("fitted_on", "cpu")
    model.precision_ = header.get("precision", "exact")
    if header.get("feature_names_in") is not None:
        model.feature_names_in_ = np.asarray(header["feature_names_in"], dtype=object)
    return model
