"""scikit-learn's parameter contract, written once: ``get_params`` / ``set_params`` and the repr.

Estimators and detectors store their ``__init__`` arguments unchanged under the same names;
scikit-learn's ``clone``, ``GridSearchCV`` and ``Pipeline`` rely on that, and on these methods.
"""

from __future__ import annotations

import inspect
from typing import Any


class ParamsMixin:
    """``get_params``, ``set_params`` and a scikit-learn-style ``__repr__`` from ``__init__``'s
    signature (scikit-learn itself stays optional)."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return sorted(name for name in signature.parameters if name != "self")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters of this estimator, by name (scikit-learn's contract)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> Any:
        """Set parameters by name; unknown names raise ``ValueError``."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                msg = (
                    f"Invalid parameter {name!r} for estimator {type(self).__name__}(). Valid "
                    f"parameters are: {valid!r}."
                )
                raise ValueError(msg)
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        """``Name(param=value, ...)`` with the parameters that differ from their defaults, as
        scikit-learn prints estimators."""
        defaults = inspect.signature(type(self).__init__).parameters
        changed = []
        for name in self._get_param_names():
            value, default = getattr(self, name), defaults[name].default
            same = type(value) is type(default) and (
                value is default
                or (isinstance(value, (str, int, float, bool)) and value == default)
            )
            if not same or value is None and default is not None:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"
