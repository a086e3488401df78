"""Input and parameter checks, with one message style: name the value and what was expected."""

from __future__ import annotations

import numbers
import sys
import warnings
from types import ModuleType
from typing import Any

import numpy as np

from gkmeans._compat import (
    array_device,
    array_namespace,
    dtype_name,
    is_array_api_obj,
    to_numpy,
)
from gkmeans._sparse import is_sparse_input, is_sparse_rows, sparse_rows
from gkmeans.exceptions import InvalidParameterError
from gkmeans.host_memory import host_available_bytes


def _is_sparse(x: Any) -> bool:
    return type(x).__module__.startswith("scipy.sparse") and hasattr(x, "toarray")


#: Largest share of available memory a densified sparse input may take.
SPARSE_DENSIFY_SHARE = 0.25


def _densify(x: Any, name: str) -> np.ndarray:
    """SciPy sparse input becomes a dense NumPy array (gkmeans has no sparse kernels),
    unless the dense copy would not comfortably fit in memory."""
    n_rows, n_cols = x.shape
    itemsize = x.dtype.itemsize if x.dtype.kind == "f" else 8
    dense_bytes = n_rows * n_cols * itemsize
    available = host_available_bytes()
    if available is not None and dense_bytes > SPARSE_DENSIFY_SHARE * available:
        msg = (
            f"Sparse input {name} of shape {x.shape} would take {dense_bytes / 2**30:.1f} GiB as a "
            f"dense array, more than {SPARSE_DENSIFY_SHARE:.0%} of the {available / 2**30:.1f} GiB "
            "available; gkmeans works on dense arrays only"
        )
        raise MemoryError(msg)
    return np.asarray(x.toarray())


def as_array(x: Any, name: str = "X") -> tuple[Any, ModuleType]:
    """Return ``x`` as an Array API array and its namespace.

    Array API objects (NumPy, CuPy, PyTorch, array-api-strict, ...) keep their
    namespace; lists, pandas frames, SciPy sparse matrices and other array-likes
    become NumPy arrays.
    """
    if _is_sparse(x):
        x = _densify(x, name)
    if isinstance(x, np.ma.MaskedArray):
        x = unmasked(x, name)
    if not is_array_api_obj(x):
        x = np.asarray(x)
    if isinstance(x, np.ndarray) and x.dtype == object:
        x = _object_as_float(x)
    return x, array_namespace(x)


def unmasked(x: np.ma.MaskedArray, name: str) -> np.ndarray:
    """The data of a NumPy masked array that masks nothing (as scikit-learn reads it).

    A masked value is refused by name: its hidden data would be clustered as if it were real
    (scikit-learn's ``check_array`` silently does so), and the mask cannot be carried along.

    Parameters
    ----------
    x : numpy.ma.MaskedArray
        The data.
    name : str
        Its name in the message ("X", "sample_weight", "a chunk").

    Returns
    -------
    numpy.ndarray
        ``x``'s data (no copy).

    Raises
    ------
    ValueError
        When a value of ``x`` is masked, naming how many.
    """
    n_masked = int(np.ma.count_masked(x))
    if n_masked:
        msg = (
            f"{name} is a numpy.ma masked array with {n_masked} masked "
            f"value{'s' if n_masked > 1 else ''}; k-means cannot skip single values: fill them "
            f"({name}.filled(value)) or drop their rows ({name}[~{name}.mask.any(axis=1)])"
        )
        raise ValueError(msg)
    return np.asarray(x.data)


def _is_missing(value: Any) -> bool:
    """``None`` or pandas' ``NA`` (recognised by type name: pandas is not imported)."""
    return value is None or type(value).__name__ == "NAType"


def _object_as_float(x: np.ndarray) -> np.ndarray:
    """An object array as float64; missing values (pandas ``NA``, ``None``) become NaN, which the
    finiteness check then reports as for floats. ``float()`` names any other non-number."""
    try:
        return x.astype(np.float64)
    except TypeError:
        missing = np.frompyfunc(_is_missing, 1, 1)(x).astype(bool)
        if not missing.any():
            raise
        return np.where(missing, None, x).astype(np.float64)


def float_dtype(x: Any, xp: ModuleType, name: str) -> Any:
    """The float dtype to compute in: float32/float64 kept, bool/int to float64."""
    dtype = x.dtype
    if dtype in (xp.float32, xp.float64):
        return dtype
    if xp.isdtype(dtype, "complex floating"):
        msg = f"Complex data not supported: {name} has dtype {dtype}; expected real numbers"
        raise ValueError(msg)
    if xp.isdtype(dtype, ("bool", "integral", "real floating")):
        return xp.float64
    msg = f"{name} has dtype {dtype}; expected a real numeric dtype"
    raise TypeError(msg)


#: Elements per block of the finiteness check. A whole-array ``isfinite`` makes temporaries the
#: size of X on some libraries (PyTorch's builds ``|x|`` and two masks: peak memory of a float32
#: fit was X + 1.7 X, measured at 10^6 x 32); blocks of 2^22 elements keep them to tens of MiB.
FINITE_CHECK_ELEMENTS = 2**22


def _row_blocks(x: Any) -> Any:
    """Blocks of rows of ``x`` of about :data:`FINITE_CHECK_ELEMENTS` values each."""
    row_size = 1
    for extent in x.shape[1:]:
        row_size *= int(extent)
    rows = max(1, FINITE_CHECK_ELEMENTS // max(1, row_size))
    n = x.shape[0]
    for start in range(0, n, rows):
        yield x[start : min(start + rows, n), ...]


def all_finite(x: Any, xp: ModuleType) -> bool:
    """Whether every value of ``x`` is finite, checked block by block along the first axis
    (one host synchronisation in all)."""
    finite = None
    for block in _row_blocks(x):
        block_finite = xp.all(xp.isfinite(block))
        finite = block_finite if finite is None else xp.logical_and(finite, block_finite)
    return True if finite is None else bool(finite)


def largest_abs(x: Any, xp: ModuleType) -> float:
    """The largest absolute value of ``x`` (NaN when it holds a NaN, 0 when empty), block by
    block as :func:`all_finite` (one host synchronisation in all); from each block's minimum
    and maximum, which need no temporary (``abs`` would make one: 2.6x slower in float64)."""
    largest = None
    for block in _row_blocks(x):
        extreme = xp.maximum(xp.max(block), -xp.min(block))
        largest = extreme if largest is None else xp.maximum(largest, extreme)
    return 0.0 if largest is None else float(largest)


def check_array(
    x: Any,
    *,
    name: str = "X",
    ensure_2d: bool = True,
    ensure_finite: bool = True,
    dtype: Any = None,
    sparse: bool = False,
) -> tuple[Any, ModuleType]:
    """Validate data: 2-D, non-empty, finite, real float dtype.

    Returns the array (in its own namespace, a float copy only when the dtype
    changes) and the namespace. The caller's array is never modified. With ``sparse``, a
    sparse matrix is kept sparse (:func:`gkmeans._sparse.sparse_rows`) instead of made dense.
    """
    if sparse and is_sparse_rows(x):  # checked already
        return x, x.xp
    if sparse and is_sparse_input(x):
        rows = sparse_rows(x, name)
        if dtype is not None and rows.dtype != dtype:
            rows = sparse_rows(rows.matrix.astype(dtype), name)
        if 0 in rows.shape:
            msg = (
                f"Found array with shape {rows.shape} while a minimum of 1 is required for {name}."
            )
            raise ValueError(msg)
        return rows, rows.xp
    x, xp = as_array(x, name)
    if ensure_2d and x.ndim != 2:
        kind = "scalar" if x.ndim == 0 else f"{x.ndim}D array"
        msg = (
            f"Expected 2D array for {name}, got {kind} instead with shape {tuple(x.shape)}. "
            "Reshape your data either using array.reshape(-1, 1) if your data has a single "
            "feature or array.reshape(1, -1) if it contains a single sample."
        )
        raise ValueError(msg)
    target = float_dtype(x, xp, name) if dtype is None else dtype
    if x.dtype != target:
        x = xp.astype(x, target)
    if ensure_2d:
        n_samples, n_features = x.shape
        if n_samples == 0:
            msg = (
                f"Found array with 0 sample(s) (shape={tuple(x.shape)}) while a minimum of 1 is "
                f"required for {name}."
            )
            raise ValueError(msg)
        if n_features == 0:
            msg = (
                f"Found array with 0 feature(s) (shape={tuple(x.shape)}) while a minimum of 1 is "
                f"required for {name}."
            )
            raise ValueError(msg)
    if ensure_finite and not all_finite(x, xp):
        raise non_finite_error(x, xp, name)
    return x, xp


def non_finite_error(x: Any, xp: ModuleType, name: str = "X", row: int | None = None) -> ValueError:
    """The error for data with a NaN or an infinity, naming which of the two it holds.

    Parameters
    ----------
    x : array
        The data, or the chunk of it that starts at row ``row``.
    xp : module
        ``x``'s namespace.
    name : str, default "X"
        The data's name in the message.
    row : int, optional
        The first row of the chunk ``x`` (named in the message), for data seen chunk by chunk.

    Returns
    -------
    ValueError
        "Input X contains NaN in the chunk starting at row 2000; ...", to raise.
    """
    kind = "NaN" if bool(xp.any(xp.isnan(x))) else "infinity"
    where = "" if row is None else f" in the chunk starting at row {row}"
    return ValueError(
        f"Input {name} contains {kind}{where}; k-means needs finite values (no NaN or inf)."
    )


def check_sample_weight(
    sample_weight: Any, n_samples: int, xp: ModuleType, dtype: Any, device: Any
) -> tuple[Any, np.ndarray]:
    """Validate ``sample_weight``: shape (n_samples,), finite, >= 0, positive sum, within X's
    dtype and with a float64 sum (:func:`check_weight_range`).

    ``None`` gives unit weights and a scalar the same weight for all. Returns the
    weights in ``xp`` on ``device`` (dtype ``dtype``) and as host float64 NumPy,
    which host-side random draws use. The caller's array is never modified.
    """
    if sample_weight is None:
        host = np.ones(n_samples)
    else:
        if isinstance(sample_weight, numbers.Number):
            sample_weight = np.full(n_samples, float(sample_weight))
        host = np.array(to_numpy(as_array(sample_weight, "sample_weight")[0]), dtype=np.float64)
    if host.ndim != 1 or host.shape[0] != n_samples:
        msg = (
            f"sample_weight has shape {host.shape}; expected ({n_samples},), one weight per sample"
        )
        raise ValueError(msg)
    if not np.all(np.isfinite(host)):
        raise ValueError(
            "sample_weight contains NaN or infinity; expected finite non-negative weights"
        )
    if np.any(host < 0):
        msg = f"sample_weight has negative values (min {host.min()}); expected weights >= 0"
        raise ValueError(msg)
    total = host.sum()
    if not total > 0:
        raise ValueError("sample_weight is all zero; at least one sample needs a positive weight")
    if sample_weight is not None:
        check_weight_range(float(host.max()), float(total), dtype)
    return xp.asarray(host, dtype=dtype, device=device), host


_SCALE_WEIGHTS = (
    "divide sample_weight by its mean (k-means does not change when every weight is scaled by "
    "the same factor)"
)


def check_weight_range(largest: float, total: float, dtype: Any) -> None:
    """Weights must fit X's dtype, in which they are used, and their sum float64.

    Parameters
    ----------
    largest : float
        The largest weight.
    total : float
        The weights' sum, in float64.
    dtype : dtype
        X's dtype (any library's).

    Raises
    ------
    ValueError
        Naming sample_weight, the value that overflows and the dtype's range.
    """
    limit = float(np.finfo(dtype_name(dtype)).max)
    if largest > limit:
        msg = (
            f"sample_weight has a weight of {largest:.3g}, beyond {dtype_name(dtype)}'s largest "
            f"value {limit:.3g} (the dtype of X, in which the weights are used); {_SCALE_WEIGHTS}"
        )
        raise ValueError(msg)
    if not np.isfinite(total):
        msg = (
            f"sample_weight sums to {total}: beyond float64's range (largest weight "
            f"{largest:.3g}); {_SCALE_WEIGHTS}"
        )
        raise ValueError(msg)


def weights_overflow(what: str, dtype: Any, largest: float) -> FloatingPointError:
    """The error for a weighted sum (``what``: "the inertia", ...) that overflows ``dtype`` while
    the unweighted one would not, or only through weights above 1 (the largest: ``largest``)."""
    return FloatingPointError(
        f"{what} overflows {dtype_name(dtype)}: sample_weight (largest weight {largest:.3g}) "
        f"multiplies the squared distances beyond {float(np.finfo(dtype_name(dtype)).max):.3g}; "
        f"{_SCALE_WEIGHTS}"
    )


def check_int(value: Any, name: str, minimum: int) -> int:
    """An integer parameter >= ``minimum`` (bools are rejected)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        msg = f"{name}={value!r} must be an int >= {minimum}; got {type(value).__name__}"
        raise InvalidParameterError(msg)
    if value < minimum:
        msg = f"{name}={value} must be an int >= {minimum}"
        raise InvalidParameterError(msg)
    return int(value)


def check_float(value: Any, name: str, minimum: float) -> float:
    """A real parameter >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        msg = f"{name}={value!r} must be a finite real number >= {minimum}"
        raise InvalidParameterError(msg)
    if value < minimum:
        msg = f"{name}={value} must be >= {minimum}"
        raise InvalidParameterError(msg)
    return float(value)


def check_bool(value: Any, name: str) -> bool:
    """A boolean parameter (True / False, NumPy's bools included)."""
    if not isinstance(value, (bool, np.bool_)):
        msg = f"{name}={value!r} must be True or False; got {type(value).__name__}"
        raise InvalidParameterError(msg)
    return bool(value)


def check_choice(value: Any, name: str, choices: tuple[str, ...] | list[str]) -> str:
    """A string parameter that must be one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        msg = f"{name}={value!r} is not recognised; expected one of {', '.join(map(repr, choices))}"
        raise InvalidParameterError(msg)
    return value


def check_n_clusters_vs_samples(n_clusters: int, n_samples: int) -> None:
    """k-means needs at least as many samples as clusters."""
    if n_samples < n_clusters:
        msg = f"n_samples={n_samples} should be >= n_clusters={n_clusters}."
        raise ValueError(msg)


def check_n_features(x: Any, expected: int, estimator: str) -> None:
    """A fitted model only accepts data with the number of features it saw in fit."""
    if x.shape[1] != expected:
        msg = (
            f"X has {x.shape[1]} features, but {estimator} is expecting {expected} features as "
            "input."
        )
        raise ValueError(msg)


_RESCALE = "rescale X (divide it by its largest absolute value, or standardise it)"


def squares_overflow(dtype: Any, centre: str = "the mean") -> FloatingPointError:
    """The error for finite data whose centred rows have squared norms (or, for a streamed fit, a
    sum of them) beyond ``dtype``'s range: raised before a fit starts, by every fit path, and by
    predict, transform and score (``centre``: "the centres' mean" there)."""
    limit = float(np.finfo(dtype_name(dtype)).max)
    return FloatingPointError(
        f"squared distances overflow {dtype_name(dtype)}: the rows of X, centred on {centre}, have "
        f"squared norms (or a sum of them) beyond {limit:.3g}, the dtype's largest value; "
        f"{_RESCALE}" + (", or use float64" if limit < 1e300 else "")
    )


#: How the message of :func:`inertia_overflow` starts (the in-memory route then looks at the
#: weights, which the algorithms that raise it do not know).
INERTIA_OVERFLOW = "inertia became"


def inertia_overflow(inertia: Any, dtype: Any) -> FloatingPointError:
    """The error for an inertia that overflowed although every row's square did not."""
    return FloatingPointError(
        f"{INERTIA_OVERFLOW} {inertia}; the data overflow {dtype_name(dtype)}: {_RESCALE}"
    )


def feature_names(X: Any) -> np.ndarray | None:
    """Column names of a DataFrame-like X when they are all strings, else None."""
    columns = getattr(X, "columns", None)
    if columns is None or isinstance(X, np.ndarray):
        return None
    names = np.asarray(list(columns), dtype=object)
    if names.size and all(isinstance(name, str) for name in names):
        return names
    return None


def check_feature_names(fitted: np.ndarray | None, X: Any, estimator_name: str) -> None:
    """scikit-learn's rule for the column names of new data against those seen in ``fit``:
    a warning when only one of the two had names, an error when they differ."""
    given = feature_names(X)
    if fitted is None and given is not None:
        warnings.warn(
            f"X has feature names, but {estimator_name} was fitted without feature names",
            UserWarning,
            stacklevel=4,
        )
    elif fitted is not None and given is None:
        warnings.warn(
            f"X does not have valid feature names, but {estimator_name} was fitted with feature "
            "names",
            UserWarning,
            stacklevel=4,
        )
    elif fitted is not None and (len(fitted) != len(given) or np.any(fitted != given)):
        msg = (
            "The feature names should match those that were passed during fit. "
            f"Fitted with {fitted.tolist()}, got {given.tolist()}."
        )
        raise ValueError(msg)


def check_same_namespace(
    fitted: Any, X: Any, xp: ModuleType, estimator_name: str, method: str
) -> None:
    """Under scikit-learn's ``array_api_dispatch=True`` X must share the namespace and device of the
    fitted centres ``fitted``.

    Otherwise gkmeans moves the fitted centres to wherever X is (a model fitted
    on a GPU predicts on NumPy data), which scikit-learn's strict mode forbids.
    """
    sklearn = sys.modules.get("sklearn")
    if sklearn is None or not sklearn.get_config().get("array_api_dispatch", False):
        return
    fitted_xp = array_namespace(fitted)
    if fitted_xp is xp and array_device(fitted) == array_device(X):
        return
    msg = (
        f"Inputs passed to {estimator_name}.{method}() must use the same namespace and the same "
        f"device as those passed to fit(): fit used {fitted_xp.__name__} on "
        f"{array_device(fitted)}, {method} got {xp.__name__} on {array_device(X)}."
    )
    raise ValueError(msg)
