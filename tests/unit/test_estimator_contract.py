"""One contract for the ten estimators (scikit-learn's, as ``sklearn.utils.estimator_checks`` states it).

Each estimator is fitted on tiny data (a few hundred rows) and held to: ``clone`` gives an unfitted copy with
equal parameters; an unfitted model raises ``NotFittedError`` from every prediction; ``fit`` returns ``self``;
``__init__`` stores its arguments unchanged and nothing else; ``to_dict`` → JSON text → ``from_dict`` predicts
the same; a bad hyperparameter is named in the error raised by ``fit``.
"""

from __future__ import annotations

import inspect
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sklearn.exceptions
from sklearn.base import clone

from cvm.models import ChurnModel, PropensityModel, Scorecard
from cvm.models.base import Estimator, NotFittedError
from cvm.models.clv import (
    BetaGeo,
    BetaGeoBetaBinom,
    ConvergenceWarning,
    GammaGamma,
    ModifiedBetaGeo,
    ParetoNBD,
    ShiftedBetaGeometric,
)
from cvm.models.fatigue import FatigueModel

RNG = np.random.default_rng(14)
N = 400


def _rft() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frequency, recency, T) simulated from BG/NBD (r 0.5, alpha 5, a 1, b 3)."""
    out = np.zeros((N, 3))
    for i in range(N):
        age, lam, p = RNG.uniform(20.0, 40.0), RNG.gamma(0.5, 1 / 5.0), RNG.beta(1.0, 3.0)
        t, x, tx = 0.0, 0, 0.0
        while True:
            t += RNG.exponential(1.0 / lam)
            if t > age:
                break
            x, tx = x + 1, t
            if RNG.random() < p:
                break
        out[i] = (x, tx, age)
    return out[:, 0], out[:, 1], out[:, 2]


X_RFT = _rft()
N_PERIODS = np.full(N, 6.0)
X_BB = RNG.binomial(6, 0.3, N).astype(float)
TX_BB = np.where(X_BB > 0, np.minimum(6.0, X_BB + RNG.integers(0, 3, N)), 0.0)
SPEND = RNG.gamma(4.0, 10.0, N) * RNG.gamma(6.0, 1.0 / 6.0, N)
TENURE = RNG.integers(1, 9, N).astype(float)
CHURNED = RNG.random(N) < 0.6


def _tabular(n: int = N) -> tuple[pd.DataFrame, np.ndarray]:
    recency = RNG.exponential(100.0, n)
    plan = RNG.choice(["a", "b", "c"], n)
    y = (RNG.random(n) < 1.0 / (1.0 + np.exp(2.0 - recency / 60.0 - (plan == "c")))).astype(int)
    return pd.DataFrame({"customer_id": np.arange(n).astype(str), "recency": recency, "plan": plan}), y


X_TAB, Y_TAB = _tabular()
FAST = {"n_estimators": 30, "min_child_samples": 10, "early_stopping_rounds": 5}


@dataclass(frozen=True)
class Case:
    """How to fit one estimator, what its predictions are, and a hyperparameter it must refuse."""

    make: Callable[[], Estimator]
    fit: Callable[[Any], Any]
    predict: Callable[[Any], Any]
    bad: dict[str, Any]
    predict_methods: tuple[tuple[str, tuple[Any, ...]], ...] = field(default=())


def _purchase(cls: type) -> Case:
    x, tx, age = X_RFT
    return Case(
        cls,
        lambda m: m.fit(x, tx, age),
        lambda m: np.column_stack([m.expected_purchases(10.0, x, tx, age), m.probability_alive(x, tx, age)]),
        {"tol": -1.0},
        (("expected_purchases", (10.0, x, tx, age)), ("probability_alive", (x, tx, age))),
    )


CASES: dict[str, Case] = {
    "BetaGeo": _purchase(BetaGeo),
    "ParetoNBD": _purchase(ParetoNBD),
    "ModifiedBetaGeo": _purchase(ModifiedBetaGeo),
    "BetaGeoBetaBinom": Case(
        BetaGeoBetaBinom,
        lambda m: m.fit(X_BB, TX_BB, N_PERIODS),
        lambda m: m.probability_alive(X_BB, TX_BB, N_PERIODS),
        {"max_iter": 0},
        (("probability_alive", (X_BB, TX_BB, N_PERIODS)), ("expected_purchases", (3, X_BB, TX_BB, N_PERIODS))),
    ),
    "GammaGamma": Case(
        GammaGamma,
        lambda m: m.fit(X_RFT[0], SPEND),
        lambda m: m.expected_spend(X_RFT[0], SPEND),
        {"max_restarts": -2},
        (("expected_spend", (X_RFT[0], SPEND)),),
    ),
    "ShiftedBetaGeometric": Case(
        ShiftedBetaGeometric,
        lambda m: m.fit(TENURE, CHURNED),
        lambda m: m.survival(np.arange(1, 10)),
        {"tol": 0.0},
        (("survival", (np.arange(1, 10),)), ("retention_rate", (np.arange(1, 10),))),
    ),
    "ChurnModel": Case(
        lambda: ChurnModel(**FAST),
        lambda m: m.fit(X_TAB, Y_TAB),
        lambda m: m.predict_proba(X_TAB),
        {"learning_rate": 2.0},
        (("predict_proba", (X_TAB,)), ("reasons", (X_TAB,)), ("decision_function", (X_TAB,))),
    ),
    "PropensityModel": Case(
        lambda: PropensityModel(n_estimators=30, min_child_samples=10),
        lambda m: m.fit(X_TAB, pd.DataFrame({"adopt_x": Y_TAB.astype(float)})),
        lambda m: m.predict_proba(X_TAB).to_numpy(),
        {"min_events": 0},
        (("predict_proba", (X_TAB,)), ("reasons", (X_TAB,))),
    ),
    "Scorecard": Case(
        lambda: Scorecard(max_n_bins=4),
        lambda m: m.fit(X_TAB, Y_TAB),
        lambda m: np.column_stack([m.predict_proba(X_TAB), m.scores(X_TAB)]),
        {"max_n_bins": 1},
        (("predict_proba", (X_TAB,)), ("scores", (X_TAB,)), ("reasons", (X_TAB,)), ("table", ())),
    ),
}
_N_CONTACT = RNG.integers(1, 9, N)
PERIODS = pd.DataFrame(  # issue 18: the fatigue model's person-periods (n-th contact, adverse reaction)
    {
        "channel": RNG.choice(["email", "sms"], N),
        "n": _N_CONTACT,
        "adverse": RNG.random(N) < 0.05 * _N_CONTACT,
        "tenure": TENURE,
    }
)
CASES["FatigueModel"] = Case(
    FatigueModel,
    lambda m: m.fit(PERIODS),
    lambda m: np.array([m.hazard(ch, n, {"tenure": 3.0}) for ch in ("email", "sms") for n in range(1, 10)]),
    {"max_contacts": 0},
    (("hazard", ("email", 3)), ("curves", ({"email": 1.0},))),
)
NAMES = list(CASES)


def _fit(case: Case) -> Any:
    model = case.make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tiny data: the contract, not the fit, is tested
        warnings.simplefilter("ignore", UserWarning)  # GammaGamma reports the customers it excludes
        returned = case.fit(model)
    assert returned is model, "fit must return self"
    return model


@pytest.fixture(scope="module")
def fitted() -> dict[str, Any]:
    return {name: _fit(case) for name, case in CASES.items()}


def test_there_are_ten_estimators_on_one_base() -> None:
    assert len(CASES) == 10  # issue 18 adds the fatigue model
    assert all(isinstance(case.make(), Estimator) for case in CASES.values())


@pytest.mark.parametrize("name", NAMES)
def test_init_stores_its_arguments_and_nothing_else(name: str) -> None:
    model = CASES[name].make()
    signature = inspect.signature(type(model).__init__).parameters
    params = model.get_params(deep=False)
    assert set(vars(model)) == set(params) == set(signature) - {"self"}
    for key, value in params.items():
        default = signature[key].default
        assert value is default or key in FAST or key == "max_n_bins", key
    rebuilt = type(model)(**params)
    assert all(getattr(rebuilt, key) is value for key, value in params.items())


@pytest.mark.parametrize("name", NAMES)
def test_clone_gives_an_unfitted_copy_with_equal_parameters(name: str, fitted: dict[str, Any]) -> None:
    model = fitted[name]
    copy = clone(model)
    assert type(copy) is type(model)
    assert copy.get_params() == model.get_params()
    assert copy.set_params(**model.get_params(deep=False)) is copy
    with pytest.raises(NotFittedError):
        CASES[name].predict(copy)
    with pytest.raises(ValueError, match="no_such_parameter"):
        copy.set_params(no_such_parameter=1)


@pytest.mark.parametrize("name", NAMES)
def test_unfitted_predictions_raise_not_fitted_error(name: str) -> None:
    model = CASES[name].make()
    for method, args in CASES[name].predict_methods:
        with pytest.raises(NotFittedError, match="not fitted"):
            getattr(model, method)(*args)
    with pytest.raises(sklearn.exceptions.NotFittedError):
        model.to_dict()
    assert issubclass(NotFittedError, RuntimeError)  # what the tabular models raised before


@pytest.mark.parametrize("name", NAMES)
def test_to_dict_through_json_text_predicts_the_same(name: str, fitted: dict[str, Any]) -> None:
    model = fitted[name]
    text = json.dumps(model.to_dict())
    loaded = type(model).from_dict(json.loads(text))
    np.testing.assert_array_equal(CASES[name].predict(loaded), CASES[name].predict(model))
    assert loaded.get_params() == model.get_params()


@pytest.mark.parametrize("name", NAMES)
def test_a_bad_hyperparameter_is_named_by_fit(name: str) -> None:
    case = CASES[name]
    ((key, value),) = case.bad.items()
    model = case.make().set_params(**{key: value})  # __init__ and set_params only store
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # GammaGamma reports the customers it excludes
        with pytest.raises(ValueError, match=f"'{key}' parameter of {type(model).__name__}"):
            case.fit(model)


@pytest.mark.parametrize("name", NAMES)
def test_from_dict_refuses_another_model_and_a_missing_field(name: str, fitted: dict[str, Any]) -> None:
    doc = fitted[name].to_dict()
    other = CASES["Scorecard" if name != "Scorecard" else "BetaGeo"].make()
    with pytest.raises(ValueError, match="not a"):
        type(other).from_dict(doc)
    format_key = "format_version" if "format_version" in doc else "format"
    with pytest.raises(ValueError, match="format"):
        type(fitted[name]).from_dict({**doc, format_key: 99})
