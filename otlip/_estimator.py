"""The estimator contract every otlip estimator follows (scikit-learn's conventions).

* Hyper-parameters are the keyword arguments of ``__init__``, stored verbatim under
  their own names and validated in ``fit`` (so ``get_params``, ``set_params`` and
  ``sklearn.base.clone`` work, and ``GridSearchCV`` can search over them).
* ``fit`` returns ``self``; fitted attributes end in ``_``.
* Methods that need a fitted model raise ``sklearn.exceptions.NotFittedError`` before
  ``fit``.
* ``save(path)`` writes the fitted model, :func:`otlip.load` reads it back
  (:mod:`otlip._persist`: a JSON header and the state's leaves, no pickle).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

__all__ = ["Estimator", "NotFittedError"]


class Estimator(BaseEstimator):
    """Base class of otlip's estimators (abstract).

    Subclasses set ``_fitted_marker``, the fitted attribute whose presence means
    "fitted", and implement the three state methods used by :func:`otlip._persist.save`
    and :func:`otlip.load`.
    """

    _fitted_marker: str = "n_features_in_"

    def _store_params(self, arguments: dict[str, Any]) -> None:
        """Store the constructor's arguments as given (``locals()`` of ``__init__``):
        scikit-learn's convention, checked and converted in ``fit`` only."""
        for name in self._get_param_names():
            setattr(self, name, arguments[name])

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, self._fitted_marker)

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call `fit` before using it"
            )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted model to ``path`` (atomically); read it with :func:`otlip.load`.

        Returns:
            ``Path(path)``.
        """
        from otlip._persist import save

        self._check_fitted()
        return save(self, path)

    def _loading(self) -> contextlib.AbstractContextManager:
        """Context of :func:`otlip.load` while it rebuilds the fitted state."""
        return contextlib.nullcontext()

    # The three methods below are the model's persistence, per class.
    def _saved_state(self) -> tuple[dict[str, Any], Any]:
        """``(meta, tree)``: JSON-able fitted metadata and a pytree of arrays."""
        raise NotImplementedError

    def _state_like(self, meta: dict[str, Any]) -> Any:
        """A skeleton of ``tree`` (same structure, shapes and dtypes), built from ``meta``."""
        raise NotImplementedError

    def _restore_state(self, meta: dict[str, Any], tree: Any) -> None:
        """Set the fitted attributes from ``meta`` and ``tree``."""
        raise NotImplementedError
