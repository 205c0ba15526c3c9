"""The multi-treatment DR uplift learner: known effects, a confounding logging policy, a hand-computed example.

No reference implementation is used: causalml (the one library with a DR-learner) pulls xgboost with a
350 MB CUDA library, numba and black, and scikit-uplift has no DR- or X-learner; the DR pseudo-outcome is
checked against a hand-computed example instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMRegressor
from sklearn.base import clone  # type: ignore[import-untyped]

from cvm.experiments.uplift import TwoModelUplift, qini_coefficient
from cvm.models.base import NotFittedError
from cvm.models.uplift_multi import MultiUplift, dr_pseudo_outcome

FAST = {"n_estimators": 60, "learning_rate": 0.1, "min_child_samples": 30, "n_jobs": 1}


def logged(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """A log where the policy confounds: it mails the customers who buy anyway (high ``spend``).

    True effects (currency): ``mail`` = 20·(1 − spend) − 5 (persuadables at low spend, sleeping dogs at high),
    ``call`` = 15·loyal − 3. The baseline margin grows with spend (sure things) and bends with the other
    features. The logging policy mails with probability 0.05 + 0.6·spend², calls with 0.15 and does nothing
    otherwise, and logs those probabilities.
    """
    rng = np.random.default_rng(seed)
    spend = rng.uniform(0, 1, n)
    loyal = rng.uniform(0, 1, n)
    noise = rng.uniform(0, 1, n)
    x = pd.DataFrame({"spend": spend, "loyal": loyal, "noise": noise})
    p_mail, p_call = 0.05 + 0.6 * spend**2, np.full(n, 0.15)
    u = rng.random(n)
    chosen = np.where(u < p_mail, "mail", np.where(u < p_mail + p_call, "call", "none"))
    prob = np.where(chosen == "mail", p_mail, np.where(chosen == "call", p_call, 1 - p_mail - p_call))
    truth = {"mail": 20 * (1 - spend) - 5, "call": 15 * loyal - 3}
    base = 60 * spend + 30 * np.sin(6 * noise) + 20 * loyal * spend
    effect = np.select([chosen == "mail", chosen == "call"], [truth["mail"], truth["call"]], 0.0)
    y = base + effect + rng.normal(0, 4, n)
    return x, y, chosen, prob, truth


def test_dr_pseudo_outcome_matches_a_hand_computed_example() -> None:
    phi = dr_pseudo_outcome(
        y=[5.0, 1.0, 7.0],
        treated=[1, 0, 0],
        control=[0, 1, 0],
        propensity=[0.5, 0.25, 0.4],
        mu_treated=[4.0, 4.0, 6.0],
        mu_control=[1.0, 2.0, 5.0],
    )
    # treated: 4 − 1 + (5 − 4)/0.5 = 5; control: 4 − 2 − (1 − 2)/0.25 = 6; another action: plug-in 6 − 5 = 1
    assert phi.tolist() == [5.0, 6.0, 1.0]


def test_recovers_the_ranking_of_known_heterogeneous_effects() -> None:
    x, y, chosen, prob, _ = logged(6000)
    model = MultiUplift(**FAST).fit(x, y, chosen, prob)
    test_x, *_, test_truth = logged(2000, seed=1)
    pred = model.predict(test_x)
    assert list(pred.columns) == ["call", "mail"]
    for action in ("mail", "call"):
        corr = np.corrcoef(pred[action], test_truth[action])[0, 1]
        assert corr > 0.8, (action, corr)
    # sleeping dogs (mail hurts above spend 0.75) get a negative predicted uplift on average
    dogs = test_x["spend"] > 0.85
    assert pred.loc[dogs, "mail"].mean() < 0 < pred.loc[test_x["spend"] < 0.15, "mail"].mean()


def test_beats_the_two_model_learner_under_a_confounding_logging_policy() -> None:
    """Mean squared error of the ``mail`` uplift over three logs: DR below the two-model learner (T-learner)."""
    errors: dict[str, list[float]] = {"dr": [], "two": []}
    for seed in (0, 10, 20):
        x, y, chosen, prob, _ = logged(6000, seed=seed)
        test_x, _, _, _, test_truth = logged(2000, seed=seed + 1)
        dr = MultiUplift(**FAST).fit(x, y, chosen, prob).predict(test_x)["mail"].to_numpy()
        rows = np.isin(chosen, ("mail", "none"))
        lgbm = LGBMRegressor(n_estimators=60, learning_rate=0.1, min_child_samples=30, n_jobs=1, verbose=-1)
        two = TwoModelUplift(lgbm, outcome="continuous").fit(x[rows], y[rows], chosen[rows] == "mail").predict(test_x)
        errors["dr"].append(float(np.mean((dr - test_truth["mail"]) ** 2)))
        errors["two"].append(float(np.mean((two - test_truth["mail"]) ** 2)))
    mean = {k: float(np.mean(v)) for k, v in errors.items()}
    print(f"MSE of the mail uplift over 3 logs: DR {mean['dr']:.1f}, two-model {mean['two']:.1f}")
    assert mean["dr"] < 0.8 * mean["two"], errors


def test_held_out_qini_is_positive_on_a_randomised_log() -> None:
    x, y, chosen, prob, _ = logged(6000)
    test_x, _, _, _, test_truth = logged(2000, seed=1)
    score = MultiUplift(**FAST).fit(x, y, chosen, prob).predict(test_x)["mail"].to_numpy()
    rng = np.random.default_rng(5)
    treat = rng.random(2000) < 0.5
    outcome = 60 * test_x["spend"] + treat * test_truth["mail"] + rng.normal(0, 4, 2000)
    assert qini_coefficient(outcome, treat, score) > 0.5 * qini_coefficient(outcome, treat, test_truth["mail"]) > 0


def test_follows_the_estimator_contract_and_round_trips_without_pickle() -> None:
    x, y, chosen, prob, _ = logged(1500)
    model = MultiUplift(**FAST)
    with pytest.raises(NotFittedError):
        model.predict(x)
    assert clone(model).get_params() == model.get_params()
    assert model.fit(x, y, chosen, prob) is model
    again = MultiUplift.from_dict(model.to_dict())
    pd.testing.assert_frame_equal(again.predict(x.head(50)), model.predict(x.head(50)))
    assert again.counts_ == model.counts_


def test_eligibility_and_thin_actions() -> None:
    x, y, chosen, prob, _ = logged(1500)
    chosen = chosen.copy()
    chosen[:3] = "rare"
    model = MultiUplift(**FAST, min_rows=10).fit(x, y, chosen, prob, eligible={"call": np.arange(1500) < 900})
    assert model.actions_ == ["call", "mail"]
    assert "fewer than min_rows=10" in model.skipped_["rare"]
    assert model.counts_["call"]["rows"] < 1500


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"propensity": 0.0}, "propensity must lie in"),
        ({"y": np.nan}, "missing outcomes"),
        ({"chosen": "mail"}, "the baseline needs"),
    ],
)
def test_bad_input_is_refused_with_its_field(change: dict[str, float | str], message: str) -> None:
    x, y, chosen, prob, _ = logged(300)
    args = {"y": y.copy(), "chosen": chosen.copy(), "propensity": prob.copy()}
    for key, value in change.items():
        args[key][:] = value
    with pytest.raises(ValueError, match=message):
        MultiUplift(**FAST).fit(x, args["y"], args["chosen"], args["propensity"])
    with pytest.raises(ValueError, match="min_propensity"):
        MultiUplift(min_propensity=0.0).fit(x, y, chosen, prob)


def test_the_one_estimator_contract_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks of tests/unit/test_estimator_contract.py, run on MultiUplift (its CASES gain it at merge)."""
    from tests.unit import test_estimator_contract as contract

    x, y, chosen, prob, _ = logged(600)
    case = contract.Case(
        lambda: MultiUplift(n_estimators=10, folds=2, n_jobs=1),
        lambda m: m.fit(x, y, chosen, prob),
        lambda m: m.predict(x).to_numpy(),
        {"folds": 1},
        (("predict", (x,)),),
    )
    monkeypatch.setitem(contract.CASES, "MultiUplift", case)
    fitted = {"MultiUplift": contract._fit(case)}
    contract.test_clone_gives_an_unfitted_copy_with_equal_parameters("MultiUplift", fitted)
    contract.test_unfitted_predictions_raise_not_fitted_error("MultiUplift")
    contract.test_to_dict_through_json_text_predicts_the_same("MultiUplift", fitted)
    contract.test_a_bad_hyperparameter_is_named_by_fit("MultiUplift")
    contract.test_from_dict_refuses_another_model_and_a_missing_field("MultiUplift", fitted)
    model = case.make()
    assert set(vars(model)) == set(model.get_params(deep=False))
