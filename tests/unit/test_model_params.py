"""The hyperparameter constraints of ``cvm.models.params`` accept and refuse what scikit-learn's table does."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pytest

from cvm.models.params import Interval, InvalidParameterError, StrOptions, check_params

CONSTRAINTS: dict[str, list[object]] = {
    "n": [Interval(Integral, 1, None, closed="left")],
    "rate": [Interval(Real, 0, 1, closed="right")],
    "mode": [StrOptions({"a", "b"}), None],
    "flag": ["boolean"],
    "keep": [list, tuple],
}
GOOD = {"n": 1, "rate": 1.0, "mode": None, "flag": np.bool_(True), "keep": ()}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("n", 0),
        ("n", 2.0),
        ("rate", 0),
        ("rate", 1.5),
        ("rate", float("nan")),
        ("mode", "c"),
        ("flag", 1),
        ("keep", "x"),
    ],
)
def test_a_value_outside_its_constraints_is_named(name: str, value: object) -> None:
    with pytest.raises(InvalidParameterError, match=f"The '{name}' parameter of Model must be .* Got {value!r}"):
        check_params("Model", {**GOOD, name: value}, CONSTRAINTS)


def test_values_inside_their_constraints_pass_and_the_error_is_a_value_and_type_error() -> None:
    check_params("Model", GOOD, CONSTRAINTS)
    check_params("Model", {**GOOD, "n": 10**9, "rate": 1e-300, "mode": "b", "flag": False, "keep": [1]}, CONSTRAINTS)
    assert issubclass(InvalidParameterError, ValueError)
    assert issubclass(InvalidParameterError, TypeError)
    assert str(Interval(Real, 0, 1, closed="right")) == "a float in the range (0, 1]"
    assert str(Interval(Integral, 1, None, closed="left")) == "an int in the range [1, inf)"
