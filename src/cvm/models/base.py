"""The one estimator contract of every CVM model (scikit-learn's, see ``sklearn/base.py``).

- ``__init__`` stores keyword hyperparameters only; :class:`Estimator` has scikit-learn's ``get_params(deep)``
  and ``set_params``, so ``sklearn.base.clone`` works on every model;
- ``fit`` checks the hyperparameters against the class's declarative ``_parameter_constraints``
  (scikit-learn's ``Interval`` / ``StrOptions`` table, see :mod:`cvm.models.params`) and the error names the
  parameter, then returns ``self``; learned attributes end in ``_``;
- predictions on a model that is neither fitted nor loaded raise :class:`NotFittedError`;
- ``to_dict`` / ``from_dict`` give a JSON-ready document with a format name and version; large text (a
  LightGBM booster) travels in its ``sidecars`` (file name → text), which :mod:`cvm.models.files` writes as
  files next to the document. Nothing is stored as Python objects.

Importing this module does not import scikit-learn (about a second, more than the whole CLV pipeline on a
million customers): the contract is implemented here, and :class:`NotFittedError`, a subclass of
scikit-learn's, is made on first use.

Examples
--------
>>> from sklearn.base import clone
>>> from cvm.models.clv import BetaGeo
>>> clone(BetaGeo(tol=1e-7)).get_params()["tol"]
1e-07
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from importlib import metadata
from typing import TYPE_CHECKING, Any, ClassVar, Self

from cvm.models.params import Interval, StrOptions, check_params

__all__ = ["Estimator", "FormatError", "Interval", "NotFittedError", "StrOptions", "cvm_version", "not_fitted"]

SIDECARS = "sidecars"
_NOT_FITTED_DOC = """A prediction was asked of a model that has not been fitted (or loaded).

    A scikit-learn ``NotFittedError`` (so ``ValueError`` and ``AttributeError``); also a ``RuntimeError``,
    which the tabular models raised before they shared this contract.
    """

if TYPE_CHECKING:
    from sklearn.exceptions import NotFittedError as _SklearnNotFittedError  # type: ignore[import-untyped]

    class NotFittedError(_SklearnNotFittedError, RuntimeError):  # type: ignore[misc]
        """A prediction was asked of a model that has not been fitted (or loaded)."""


def not_fitted_error() -> type[NotFittedError]:
    """The class :class:`NotFittedError`, made (importing scikit-learn) on first use and the same ever after."""
    made = globals().get("NotFittedError")
    if made is None:
        from sklearn.exceptions import NotFittedError as Base

        made = type("NotFittedError", (Base, RuntimeError), {"__doc__": _NOT_FITTED_DOC, "__module__": __name__})
        globals()["NotFittedError"] = made
    return made


def not_fitted(message: str) -> NotFittedError:
    """A :class:`NotFittedError` with ``message``, to raise."""
    return not_fitted_error()(message)


def __getattr__(name: str) -> Any:
    """``NotFittedError`` on first use (PEP 562), so that importing this module does not import scikit-learn."""
    if name == "NotFittedError":
        return not_fitted_error()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class FormatError(ValueError):
    """A saved model this version cannot read: another model, an unknown format or version, a missing field."""


def cvm_version() -> str:
    """Installed version of cvm (recorded in saved models)."""
    try:
        return metadata.version("cvm")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


class Estimator:
    """Base of the CVM estimators; see the module docstring.

    Subclasses declare ``_parameter_constraints`` (every ``__init__`` argument), ``_fitted_attribute`` (a
    learned attribute that only a fitted or loaded model has) and implement ``to_dict`` / ``from_dict``.
    ``get_params`` and ``set_params`` behave as scikit-learn's ``BaseEstimator``'s.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}
    _fitted_attribute: ClassVar[str] = ""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """The ``__init__`` arguments, sorted (keyword hyperparameters; no ``*args``)."""
        if cls.__init__ is object.__init__:
            return []
        params = inspect.signature(cls.__init__).parameters.values()
        names = [p.name for p in params if p.name != "self" and p.kind != p.VAR_KEYWORD]
        if any(p.kind == p.VAR_POSITIONAL for p in params):
            raise RuntimeError(f"{cls.__name__}.__init__ must name its hyperparameters (no *args)")
        return sorted(names)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The hyperparameters by name (with ``deep``, also those of nested estimators, as ``name__param``)."""
        out: dict[str, Any] = {}
        for key in self._get_param_names():
            value = getattr(self, key)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{key}__{k}", v) for k, v in value.get_params().items())
            out[key] = value
        return out

    def set_params(self, **params: Any) -> Self:
        """Set hyperparameters (``name__param`` reaches a nested estimator); an unknown name is a ``ValueError``."""
        if not params:
            return self
        valid = self.get_params(deep=True)
        nested: dict[str, dict[str, Any]] = {}
        for full_key, value in params.items():
            key, delim, sub_key = full_key.partition("__")
            if key not in valid:
                raise ValueError(
                    f"Invalid parameter {key!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {self._get_param_names()!r}."
                )
            if delim:
                nested.setdefault(key, {})[sub_key] = value
            else:
                setattr(self, key, value)
                valid[key] = value
        for key, sub_params in nested.items():
            valid[key].set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_params(deep=False).items())})"

    def _check_params(self) -> None:
        """Check every hyperparameter against ``_parameter_constraints`` (a ``ValueError`` naming it)."""
        check_params(type(self).__name__, self.get_params(deep=False), self._parameter_constraints)

    def __sklearn_is_fitted__(self) -> bool:
        return getattr(self, self._fitted_attribute, None) is not None

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise not_fitted(f"this {type(self).__name__} is not fitted: call fit() or load it first")

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
