"""Exceptions and warnings raised by gkmeans.

scikit-learn stays optional, yet code written for it catches
``sklearn.exceptions.NotFittedError`` and filters ``ConvergenceWarning``. When
scikit-learn is already imported by the caller, :func:`sklearn_compatible`
returns a subclass of both the gkmeans type and the scikit-learn type of the same
name, so either ``except`` clause catches it. gkmeans never imports scikit-learn
itself for this.
"""

from __future__ import annotations

import functools
import sys


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted model was called before ``fit``."""


class ConvergenceWarning(UserWarning):
    """The fit finished with fewer distinct clusters than asked for."""


class EmptyClusterWarning(UserWarning):
    """Empty clusters were dropped (``empty_cluster="drop"``)."""


class EmptyClusterError(ValueError):
    """A cluster lost all its points and ``empty_cluster="error"`` was chosen."""


class InvalidParameterError(ValueError, TypeError):
    """A constructor parameter has a wrong type or value (as scikit-learn's)."""


class GPUUnavailableError(RuntimeError):
    """A GPU was asked for explicitly, but none is usable; the message says why."""


@functools.lru_cache(maxsize=None)
def _merged(ours: type, theirs: type) -> type:
    return type(ours.__name__, (ours, theirs), {"__module__": ours.__module__})


def sklearn_compatible(ours: type) -> type:
    """Return ``ours``, or a subclass that is also scikit-learn's type of that name.

    Only looks at ``sys.modules``: scikit-learn is never imported here.
    """
    sk_exceptions = sys.modules.get("sklearn.exceptions")
    theirs = getattr(sk_exceptions, ours.__name__, None)
    if isinstance(theirs, type) and not issubclass(ours, theirs):
        return _merged(ours, theirs)
    return ours
