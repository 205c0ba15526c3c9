"""The one estimator contract of every CVM model (scikit-learn's, see ``sklearn/base.py``).

- ``__init__`` stores keyword hyperparameters only; :class:`Estimator` inherits
  :class:`sklearn.base.BaseEstimator`, so ``get_params(deep)``, ``set_params`` and ``sklearn.base.clone``
  work on every model;
- ``fit`` checks the hyperparameters against the class's declarative ``_parameter_constraints``
  (scikit-learn's ``Interval`` / ``StrOptions`` table) and the error names the parameter, then returns
  ``self``; learned attributes end in ``_``;
- predictions on a model that is neither fitted nor loaded raise :class:`NotFittedError`;
- ``to_dict`` / ``from_dict`` give a JSON-ready document with a format name and version; large text (a
  LightGBM booster) travels in its ``sidecars`` (file name → text), which :mod:`cvm.models.files` writes as
  files next to the document. Nothing is stored as Python objects.

Examples
--------
>>> from sklearn.base import clone
>>> from cvm.models.clv import BetaGeo
>>> clone(BetaGeo(tol=1e-7)).get_params()["tol"]
1e-07
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import metadata
from typing import Any, ClassVar, Self

from sklearn.base import BaseEstimator  # type: ignore[import-untyped]
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError  # type: ignore[import-untyped]
from sklearn.utils._param_validation import Interval, StrOptions  # type: ignore[import-untyped]

__all__ = ["Estimator", "FormatError", "Interval", "NotFittedError", "StrOptions", "cvm_version"]

SIDECARS = "sidecars"


class NotFittedError(_SklearnNotFittedError, RuntimeError):  # type: ignore[misc]
    """A prediction was asked of a model that has not been fitted (or loaded).

    A scikit-learn ``NotFittedError`` (so ``ValueError`` and ``AttributeError``); also a ``RuntimeError``,
    which the tabular models raised before they shared this contract.
    """


class FormatError(ValueError):
    """A saved model this version cannot read: another model, an unknown format or version, a missing field."""


def cvm_version() -> str:
    """Installed version of cvm (recorded in saved models)."""
    try:
        return metadata.version("cvm")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


class Estimator(BaseEstimator):  # type: ignore[misc]
    """Base of the nine CVM estimators; see the module docstring.

    Subclasses declare ``_parameter_constraints`` (every ``__init__`` argument), ``_fitted_attribute`` (a
    learned attribute that only a fitted or loaded model has) and implement ``to_dict`` / ``from_dict``.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}
    _fitted_attribute: ClassVar[str] = ""

    def _check_params(self) -> None:
        """Check every hyperparameter against ``_parameter_constraints`` (a ``ValueError`` naming it)."""
        self._validate_params()

    def __sklearn_is_fitted__(self) -> bool:
        return getattr(self, self._fitted_attribute, None) is not None

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(f"this {type(self).__name__} is not fitted: call fit() or load it first")

    def to_dict(self) -> dict[str, Any]:
        """The fitted model as a JSON-ready document (see the module docstring)."""
        raise NotImplementedError

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Self:
        """A model from :meth:`to_dict`'s document; refuses one it cannot read with :class:`FormatError`."""
        raise NotImplementedError


def check_document(
    doc: Any, *, fmt_key: str, fmt: object, model_key: str, model: str, required: tuple[str, ...]
) -> Mapping[str, Any]:
    """``doc`` if it is a ``model`` document of format ``fmt`` with every ``required`` field.

    Otherwise a :class:`FormatError` naming what is wrong.
    """
    if not isinstance(doc, Mapping):
        raise FormatError("a saved model is a JSON object")
    if doc.get(model_key, model) != model:
        raise FormatError(f"saved model is a {doc[model_key]}, not a {model}")
    if fmt_key in doc and doc[fmt_key] != fmt:
        raise FormatError(f"saved {model} has format {doc[fmt_key]!r}; this version of cvm reads format {fmt!r}")
    missing = [key for key in required if key not in doc]
    if missing:
        raise FormatError(f"saved model lacks field(s) {missing}; refusing to load it")
    return doc
