"""Hyperparameter constraints and their check: scikit-learn's declarative table, without importing scikit-learn.

An estimator's ``_parameter_constraints`` maps each ``__init__`` argument to a list of accepted forms (any one
suffices): an :class:`Interval`, a :class:`StrOptions`, ``None`` (the value may be None), ``"boolean"``, or a
type (``isinstance``). The names and meanings are those of ``sklearn.utils._param_validation``, so the table
reads the same; they live here because importing scikit-learn costs about a second, more than the whole
CLV pipeline on a million customers.

Examples
--------
>>> from numbers import Real
>>> check_params("Model", {"tol": -1.0}, {"tol": [Interval(Real, 0, None, closed="neither")]})
Traceback (most recent call last):
...
cvm.models.params.InvalidParameterError: The 'tol' parameter of Model must be a float in the range (0, inf). \
Got -1.0 instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Literal

__all__ = ["Interval", "InvalidParameterError", "StrOptions", "check_params"]


class InvalidParameterError(ValueError, TypeError):
    """A hyperparameter is outside its constraints (a ``ValueError``, and a ``TypeError`` for a wrong type)."""


@dataclass(frozen=True)
class Interval:
    """Numbers of ``type`` (``Integral`` or ``Real``) between ``left`` and ``right`` (None: unbounded).

    ``closed`` says which bounds belong to the interval: "left", "right", "both" or "neither".
    """

    type: type
    left: float | None
    right: float | None
    closed: Literal["left", "right", "both", "neither"]

    def is_satisfied_by(self, value: object) -> bool:
        """Whether ``value`` is a number of the right type inside the interval (NaN never is)."""
        if not isinstance(value, self.type) or not isinstance(value, Real) or math.isnan(float(value)):
            return False
        v = float(value)
        if self.left is not None:
            lo = float(self.left)
            if v < lo or (v == lo and self.closed not in ("left", "both")):
                return False
        if self.right is not None:
            hi = float(self.right)
            if v > hi or (v == hi and self.closed not in ("right", "both")):
                return False
        return True

    def __str__(self) -> str:
        kind = "an int" if self.type is Integral else "a float"
        lo = "-inf" if self.left is None else f"{self.left:g}"
        hi = "inf" if self.right is None else f"{self.right:g}"
        opening = "[" if self.closed in ("left", "both") and self.left is not None else "("
        closing = "]" if self.closed in ("right", "both") and self.right is not None else ")"
        return f"{kind} in the range {opening}{lo}, {hi}{closing}"


@dataclass(frozen=True)
class StrOptions:
    """One of the strings in ``options``."""

    options: frozenset[str] | set[str]

    def is_satisfied_by(self, value: object) -> bool:
        """Whether ``value`` is one of the options."""
        return isinstance(value, str) and value in self.options

    def __str__(self) -> str:
        return "a str among {" + ", ".join(repr(o) for o in sorted(self.options)) + "}"


def _satisfies(constraint: object, value: object) -> bool:
    if constraint is None:
        return value is None
    if constraint == "boolean":
        kind = type(value)  # Python's bool or NumPy's (named bool_ before NumPy 2), without importing NumPy
        return isinstance(value, bool) or (kind.__module__ == "numpy" and kind.__name__ in ("bool", "bool_"))
    if isinstance(constraint, Interval | StrOptions):
        return constraint.is_satisfied_by(value)
    if isinstance(constraint, type):
        return isinstance(value, constraint)
    raise TypeError(f"unknown parameter constraint {constraint!r}")


def _describe(constraint: object) -> str:
    if constraint is None:
        return "None"
    if constraint == "boolean":
        return "a bool"
    if isinstance(constraint, type):
        return f"an instance of {constraint.__name__!r}"
    return str(constraint)


def check_params(owner: str, params: Mapping[str, Any], constraints: Mapping[str, Sequence[object]]) -> None:
    """Raise :class:`InvalidParameterError` naming the first parameter of ``owner`` that meets none of its
    constraints (parameters without an entry in ``constraints`` are not checked)."""
    for name, value in params.items():
        accepted = constraints.get(name)
        if accepted is None or any(_satisfies(c, value) for c in accepted):
            continue
        forms = [_describe(c) for c in accepted]
        wanted = forms[0] if len(forms) == 1 else ", ".join(forms[:-1]) + " or " + forms[-1]
        raise InvalidParameterError(f"The {name!r} parameter of {owner} must be {wanted}. Got {value!r} instead.")
