"""Sleeping dogs out of a rarely randomised action's top decile: its channel's pooled churn model learns whom a call
pushes to churn, and the uplift written is a lower bound that trusts an uncertain change least where it costs most."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cvm.config.settings import Settings
from cvm.models.files import read_folder, write_folder
from cvm.models.uplift_components import ComponentUplift
from cvm.scoring.uplift_values import reasons, value_frame

FAST = {"n_estimators": 40, "learning_rate": 0.1, "min_child_samples": 40, "n_jobs": 1}
EFFECT = {"effect_n_estimators": 30, "effect_num_leaves": 3, "effect_min_child_samples": 400}
CHANNELS = {"call.big": "phone", "call.small": "phone", "mail": "email"}


def calls_log(n: int, seed: int = 0) -> tuple[pd.DataFrame, dict[str, np.ndarray], np.ndarray, np.ndarray, dict]:
    """A randomised log of three actions with known effects (the demo's types in miniature).

    ``engage`` in [0, 1]. A call (``call.big``, chosen often, or ``call.small``, eligible for 4.5% of the
    customers only and so chosen about 90 times in 8,000) raises the conversion of persuadables (engage < 0.4) by
    40 points and the churn of sleeping dogs (engage > 0.7) by 30 points; ``mail`` changes nothing. Every choice is
    uniform among the eligible ones and no action.
    """
    rng = np.random.default_rng(seed)
    engage = rng.uniform(0, 1, n)
    x = pd.DataFrame({"engage": engage, "noise": rng.uniform(0, 1, n)})
    small = rng.random(n) < 0.045
    u = rng.random(n)
    chosen = np.where(small, np.select([u < 0.25, u < 0.5, u < 0.75], ["call.small", "call.big", "mail"], "none"),
                      np.select([u < 1 / 3, u < 2 / 3], ["call.big", "mail"], "none"))  # fmt: skip
    prob = np.where(small, 0.25, 1 / 3)
    called = np.isin(chosen, ("call.big", "call.small"))
    p_convert = 0.1 + 0.3 * engage + 0.4 * (engage < 0.4) * called
    p_churn = 0.05 + 0.3 * (engage > 0.7) * called
    events = {"converted": rng.random(n) < p_convert, "churned": rng.random(n) < p_churn}
    eligible = {"call.big": np.ones(n, bool), "mail": np.ones(n, bool), "call.small": small}
    return x, events, chosen, prob, eligible


def worth(x: pd.DataFrame) -> pd.DataFrame:
    """A conversion is worth one order (50); a churn costs the margin the customer would bring, more when engaged."""
    return pd.DataFrame({"converted": 50.0, "churned": -(100.0 + 900.0 * x["engage"])}, index=x.index)


def fit(pools: dict[str, str] | None, pessimism: float = 0.0, seed: int = 0, shrink: bool = False) -> ComponentUplift:
    x, events, chosen, prob, eligible = calls_log(8000, seed)
    model = ComponentUplift(values={"converted": "50", "churned": "-1"}, pooled_events=["churned"],
                            pessimism=pessimism, shrink=shrink, **FAST, **EFFECT)  # fmt: skip
    return model.fit(x, events, chosen, prob, eligible=eligible, pools=pools)


def test_a_rare_call_learns_from_its_channel_whom_it_pushes_to_churn() -> None:
    grid = pd.DataFrame({"engage": np.linspace(0.0, 1.0, 101), "noise": 0.5})
    dogs = grid["engage"].to_numpy() > 0.7

    alone = fit(None)
    assert alone.models_["churned"].counts_["call.small"]["treated"] < 250
    churn = alone.predict_events(grid)["churned"]["call.small"].to_numpy()
    assert np.ptp(churn) == 0.0  # too few decisions for a leaf: one average change for everybody

    pooled = fit(CHANNELS)
    assert pooled.models_["churned"].pooled_ == {"call.big": ["call.big", "call.small"],
                                                 "call.small": ["call.big", "call.small"]}  # fmt: skip
    assert "mail" not in pooled.models_["churned"].pooled_  # alone on its channel
    assert "call.small" not in pooled.models_["converted"].pooled_  # only the pooled events share a model
    churn = pooled.predict_events(grid)["churned"]["call.small"].to_numpy()
    assert churn[dogs].mean() == pytest.approx(0.3, abs=0.1)
    assert churn[~dogs].mean() == pytest.approx(0.0, abs=0.07)

    held, *_ = calls_log(3000, seed=1)
    uplift = pooled.predict(held, worth(held))["call.small"].to_numpy()
    top = uplift >= np.quantile(uplift, 0.9)
    assert (held["engage"].to_numpy()[top] > 0.7).mean() == 0.0  # no sleeping dog in the top decile
    bottom = uplift <= np.quantile(uplift, 0.2)
    assert (held["engage"].to_numpy()[bottom] > 0.7).all()  # the call's sleeping dogs are ranked last


def test_the_uplift_written_is_a_lower_bound_by_hand() -> None:
    plain, careful = fit(CHANNELS), fit(CHANNELS, pessimism=1.5)
    held, *_ = calls_log(500, seed=2)
    w = worth(held)
    se = {e: m.se_ for e, m in careful.models_.items()}
    assert se["churned"]["call.small"] > 2 * se["churned"]["call.big"]  # fewer decisions, a less certain average
    by_hand = {
        a: 1.5 * np.sqrt((se["converted"][a] * 50.0) ** 2 + (se["churned"][a] * w["churned"].to_numpy()) ** 2)
        for a in careful.actions_
    }
    got = plain.predict(held, w) - careful.predict(held, w)
    for action in careful.actions_:
        np.testing.assert_allclose(got[action].to_numpy(), by_hand[action], rtol=1e-9)
    doubt = careful.penalty(held.index, w)["call.small"].to_numpy()
    engage = held["engage"].to_numpy()
    assert doubt[engage > 0.9].min() > doubt[engage < 0.1].max()  # trusted least where a churn costs most
    assert (careful.penalty(held.index, w)["call.big"] < doubt).all()

    two = held.head(2)
    said = reasons(careful, two, [{}, {}], ["call.small"])["call.small"]
    own = careful.penalty(two.index, value_frame(careful.values, [{}, {}]))["call.small"].to_numpy()
    assert said[0].startswith("call.small against no action: conversion ")
    assert [r.rsplit("; ", 1)[1] for r in said] == [f"uncertainty -{v:.2f}" for v in own]  # the reason shows it
    assert "uncertainty" not in reasons(plain, two, [{}, {}], ["call.small"])["call.small"][0]


def test_an_effect_model_keeps_only_the_differences_that_hold_out() -> None:
    raw, shrunk = fit(CHANNELS), fit(CHANNELS, shrink=True)
    churn = shrunk.models_["churned"]
    assert churn.trust_["call.small"] == churn.trust_["call.big"] > 0.6  # the call's dogs show on every fold
    assert churn.trust_["mail"] < 0.35  # mail changes nobody's churn: its differences are noise
    assert set(raw.models_["churned"].trust_.values()) == {1.0}  # without shrink: the effect model as fitted
    grid = pd.DataFrame({"engage": np.linspace(0.0, 1.0, 101), "noise": 0.5})
    before = raw.predict_events(grid)["churned"]["mail"].to_numpy()
    after = churn.predict(grid)["mail"].to_numpy()
    assert np.ptp(after) <= churn.trust_["mail"] * np.ptp(before) + 1e-12  # pulled toward the average
    train, *_ = calls_log(8000, 0)
    assert churn.predict(train)["mail"].mean() == pytest.approx(raw.models_["churned"].predict(train)["mail"].mean())


def test_pooled_and_careful_models_round_trip(tmp_path: Path) -> None:
    model = fit(CHANNELS, pessimism=1.0, shrink=True)
    back = ComponentUplift.from_dict(read_folder(write_folder(tmp_path / "m", model.to_dict())))
    held, *_ = calls_log(300, seed=3)
    pd.testing.assert_frame_equal(back.predict(held, worth(held)), model.predict(held, worth(held)))
    assert back.models_["churned"].pooled_ == model.models_["churned"].pooled_
    assert back.pessimism == 1.0
    assert back.models_["churned"].trust_ == model.models_["churned"].trust_


def test_the_settings_pool_churn_by_channel_and_write_one_standard_error_below_by_default() -> None:
    uplift = Settings().plans.uplift
    assert (uplift.pool_by, uplift.pooled_events, uplift.shrink_effects, uplift.pessimism) == (
        "channel",
        ["churned"],
        True,
        1.0,
    )
    with pytest.raises(ValueError, match="pooled_events"):
        Settings.model_validate({"plans": {"uplift": {"pooled_events": ["bought"]}}})
