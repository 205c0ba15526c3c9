"""Uplift learned from the outcome's events (``plans.uplift.outcome: components``): known Δp per event recovered,
sleeping dogs ranked last, Σ Δp × v by hand, the ``margin`` outcome unchanged, value expressions checked at load."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from cvm.config.settings import Settings
from cvm.config.uplift import UpliftConfig
from cvm.contracts.decisionlog import CandidateTerms, DecisionRecord
from cvm.models.files import read_folder, write_folder
from cvm.models.uplift_components import ComponentUplift
from cvm.models.uplift_multi import MultiUplift
from cvm.scoring.registry import ModelRegistry
from cvm.scoring.uplift import outcome_values
from cvm.scoring.uplift_train import fit_and_register, new_model, training_data
from cvm.scoring.uplift_values import event_values, predict_uplift, reasons, value_frame, weighted_outcome

FAST = {"n_estimators": 40, "learning_rate": 0.1, "min_child_samples": 40, "n_jobs": 1}
VALUES = {"converted": "coalesce(order_margin, 0)", "churned": "-coalesce(clv, 0)"}


def events_log(n: int, seed: int = 0) -> tuple[pd.DataFrame, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """A randomised log (mail with the logged probability 0.4) with known effects on the events.

    ``engage`` in [0, 1]: persuadables (engage < 0.5) convert 40 points more when mailed; sleeping dogs
    (engage > 0.8) churn 30 points more when mailed; the others are unmoved. Base rates grow with engagement.
    """
    rng = np.random.default_rng(seed)
    engage, noise = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    x = pd.DataFrame({"engage": engage, "noise": noise})
    mailed = rng.random(n) < 0.4
    chosen = np.where(mailed, "mail", "none")
    prob = np.where(mailed, 0.4, 0.6)
    p_convert = 0.1 + 0.3 * engage + 0.4 * (engage < 0.5) * mailed
    p_churn = 0.05 + 0.3 * (engage > 0.8) * mailed
    events = {"converted": rng.random(n) < p_convert, "churned": rng.random(n) < p_churn}
    return x, events, chosen, prob


def test_component_models_recover_known_event_effects_and_rank_sleeping_dogs_last() -> None:
    x, events, chosen, prob = events_log(6000)
    model = ComponentUplift(values=VALUES, **FAST).fit(x, events, chosen, prob)
    grid = pd.DataFrame({"engage": [0.2, 0.3, 0.65, 0.7, 0.9, 0.95], "noise": 0.5})
    dp = model.predict_events(grid)
    convert, churn = dp["converted"]["mail"].to_numpy(), dp["churned"]["mail"].to_numpy()
    assert convert[:2] == pytest.approx([0.4, 0.4], abs=0.12)  # persuadables
    assert convert[2:] == pytest.approx([0.0] * 4, abs=0.12)
    assert churn[4:] == pytest.approx([0.3, 0.3], abs=0.12)  # sleeping dogs
    assert churn[:4] == pytest.approx([0.0] * 4, abs=0.12)

    held, _, _, _ = events_log(2000, seed=1)
    worth = pd.DataFrame({"converted": np.full(2000, 50.0), "churned": np.full(2000, -200.0)})
    uplift = model.predict(held, worth)["mail"].to_numpy()
    dogs, persuadable = held["engage"].to_numpy() > 0.8, held["engage"].to_numpy() < 0.5
    bottom, top = uplift <= np.quantile(uplift, 0.1), uplift >= np.quantile(uplift, 0.9)
    assert dogs[top].mean() == 0.0  # no sleeping dog in the top decile
    assert dogs[bottom].mean() > 0.9  # the bottom decile is sleeping dogs
    assert persuadable[top].mean() > 0.9


def test_uplift_is_the_sum_of_event_changes_times_their_values_by_hand() -> None:
    rows = [{"order_margin": 34.0, "clv": 410.0}, {"order_margin": None, "clv": 100.0}]
    worth = value_frame(VALUES, rows)
    assert worth.to_dict("list") == {"converted": [34.0, 0.0], "churned": [-410.0, -100.0]}  # NULL is worth 0
    per_order = value_frame({"converted": "margin_hist / orders"}, [{"margin_hist": 68.0, "orders": Decimal(2)}])
    assert per_order["converted"].tolist() == [34.0]  # a SQL sum arrives as a Decimal: a number too
    flags = pd.DataFrame({"converted": [1.0, 1.0], "churned": [1.0, 0.0]})
    assert weighted_outcome(flags, worth).tolist() == [34.0 - 410.0, 0.0]

    x, events, chosen, prob = events_log(1500)
    model = ComponentUplift(values=VALUES, **FAST).fit(x, events, chosen, prob)
    two = x.head(2)
    dp = model.predict_events(two)
    c, h = dp["converted"]["mail"].to_numpy(), dp["churned"]["mail"].to_numpy()
    got = predict_uplift(model, two, rows)["mail"].to_numpy()
    # conversion change × 34 + churn change × (−410); the second customer's conversion is worth nothing
    assert got == pytest.approx([c[0] * 34.0 - h[0] * 410.0, -h[1] * 100.0])
    text = reasons(model, two, rows, ["mail"])["mail"][0]
    assert (
        text == f"mail against no action: conversion {100 * c[0]:+.1f} pp × 34.00; churn {100 * h[0]:+.1f} pp × -410.00"
    )


def test_a_saved_component_model_predicts_what_it_predicted(tmp_path: Path) -> None:
    x, events, chosen, prob = events_log(1500)
    model = ComponentUplift(values=VALUES, **FAST).fit(x, events, chosen, prob, training_window=("a", "b"))
    back = ComponentUplift.from_dict(read_folder(write_folder(tmp_path / "m", model.to_dict())))
    worth = pd.DataFrame({"converted": np.full(len(x), 10.0), "churned": np.full(len(x), -50.0)})
    pd.testing.assert_frame_equal(back.predict(x, worth), model.predict(x, worth))
    assert back.values == VALUES
    with pytest.raises(ValueError, match="no outcome event varies in the training decisions"):
        ComponentUplift(**FAST).fit(x, {"churned": np.zeros(len(x), bool)}, chosen, prob)
    constant = {**events, "defaulted": np.zeros(len(x), bool)}  # an event that never happened is left out
    assert ComponentUplift(**FAST).fit(x, constant, chosen, prob).skipped_events_ == {
        "defaulted": "always 0 in the training decisions"
    }


def test_an_event_valued_at_zero_gets_no_model_and_leaves_the_uplift_unchanged() -> None:
    x, events, chosen, prob = events_log(1500)
    worth = pd.DataFrame({"converted": np.full(len(x), 10.0), "churned": np.full(len(x), -50.0)})
    zero = {**VALUES, "churned": "0"}
    model = ComponentUplift(values=zero, **FAST).fit(x, events, chosen, prob)
    assert model.skipped_events_ == {"churned": "valued at 0 (plans.uplift.values)"}
    assert list(model.models_) == ["converted"]
    alone = ComponentUplift(values=zero, **FAST).fit(x, {"converted": events["converted"]}, chosen, prob)
    pd.testing.assert_frame_equal(model.predict(x, worth[["converted"]]), alone.predict(x, worth[["converted"]]))


# -- the training data of both outcomes -----------------------------------------------------------------
NOW = datetime(2026, 1, 1, tzinfo=UTC)
MAIL = CandidateTerms("mail", "winback", "mail", "email", "sell", 0.2, 100.0, 0.3, 1.0, 5.0)


def _records(n: int, seed: int = 0) -> tuple[list[DecisionRecord], pl.DataFrame]:
    x, events, chosen, prob = events_log(n, seed)
    rng = np.random.default_rng(seed + 10)
    records, rows = [], []
    for i in range(n):
        ctx = {"engage": float(x["engage"][i]), "noise": float(x["noise"][i]), "order_margin": 40.0, "clv": 300.0}
        records.append(
            DecisionRecord(
                decision_id=f"D{i:05d}", customer_id=f"C{i:05d}", decided_at=NOW + timedelta(minutes=i),
                path="batch", arbitration="propensity", policy_version="p1", rung="explore",
                chosen=str(chosen[i]), probability=float(prob[i]), candidates=(MAIL,), context=ctx, exploration=0.4,
            )
        )  # fmt: skip
        cost = 1.0 if chosen[i] == "mail" else 0.0
        rows.append({"decision_id": f"D{i:05d}", "margin": float(rng.normal(100, 300)) - cost,
                     "converted": bool(events["converted"][i]), "churned": bool(events["churned"][i]),
                     "defaulted": False})  # fmt: skip
    return records, pl.DataFrame(rows)


def test_the_margin_outcome_learns_the_margin_as_before() -> None:
    records, outcomes = _records(800)
    data = training_data(records, outcomes, ["engage", "noise"])
    cost = np.array([r.chosen_cost for r in records])
    assert data.outcome == "margin"
    assert data.events is None
    assert data.y == pytest.approx(outcomes["margin"].to_numpy() + cost)  # the contact's cost added back
    cfg = UpliftConfig(n_estimators=30)
    model = new_model(data, cfg)
    assert isinstance(model, MultiUplift)
    direct = MultiUplift(n_estimators=30, min_propensity=cfg.min_propensity, n_jobs=1)
    direct.fit(data.x, data.y, data.chosen, data.propensity, eligible=data.eligible)
    pd.testing.assert_frame_equal(model.predict(data.x), direct.predict(data.x))


def test_the_components_outcome_is_the_value_weighted_events_and_changes_the_fingerprint(tmp_path: Path) -> None:
    records, outcomes = _records(1600)
    margin = training_data(records, outcomes, ["engage", "noise"])
    data = training_data(records, outcomes, ["engage", "noise"], VALUES)
    assert data.outcome == "components"
    expected = 40.0 * outcomes["converted"].to_numpy() - 300.0 * outcomes["churned"].to_numpy()
    assert data.y == pytest.approx(expected)
    assert data.events is not None
    assert list(data.events.columns) == ["converted", "churned"]
    assert data.fingerprint() != margin.fingerprint()
    other = training_data(records, outcomes, ["engage", "noise"], {**VALUES, "churned": "-2 * coalesce(clv, 0)"})
    assert other.fingerprint() != data.fingerprint()

    cfg = UpliftConfig(n_estimators=30, min_randomised=300)
    entry = fit_and_register(ModelRegistry(tmp_path), data, cfg, data.fingerprint(), ("a", "b"))
    assert entry.meta["outcome"] == "components"
    assert entry.meta["values"] == VALUES
    loaded = entry.load()
    assert isinstance(loaded, ComponentUplift)
    assert loaded.values == VALUES
    assert entry.meta["metrics"]["actions"]["mail"]["qini"] is not None


def test_event_values_default_from_the_settings_they_name() -> None:
    nulls = {"defaulted": None, "complained": None, "unsubscribed": None}
    s = Settings.model_validate({"plans": {"uplift": {"values": nulls}}})
    values = event_values(s.plans, s.scoring.cost_to_serve.complaint)
    assert values["converted"] == s.plans.uplift.values.converted
    credit = s.plans.credit
    assert float(values["defaulted"]) == pytest.approx(-credit.exposure * credit.lgd)
    assert float(values["complained"]) == -s.scoring.cost_to_serve.complaint
    assert float(values["unsubscribed"]) == -s.plans.fatigue.loss["email"]
    assert outcome_values(s) == values


def test_by_default_the_uplift_values_conversion_and_churn_only() -> None:
    """The arbitration subtracts the expected credit loss and the fatigue cost itself (the issue's formula):
    valuing defaults, complaints and unsubscribes in the uplift too would charge them twice."""
    s = Settings()
    values = event_values(s.plans, s.scoring.cost_to_serve.complaint)
    assert {e: values[e] for e in ("defaulted", "complained", "unsubscribed")} == dict.fromkeys(
        ("defaulted", "complained", "unsubscribed"), "0"
    )
    assert outcome_values(s) == values
    margin = Settings.model_validate({"plans": {"uplift": {"outcome": "margin"}}})
    assert outcome_values(margin) is None


def test_a_value_expression_naming_an_unknown_attribute_is_refused_at_load() -> None:
    with pytest.raises(ValueError, match=r"plans\.uplift\.values\.converted: unknown column 'avg_order'"):
        Settings.model_validate({"plans": {"uplift": {"values": {"converted": "coalesce(avg_order, 0)"}}}})
    with pytest.raises(ValueError, match=r"values\.churned"):
        Settings.model_validate({"plans": {"uplift": {"values": {"churned": "clv +"}}}})
    with pytest.raises(ValueError, match="outcome"):
        Settings.model_validate({"plans": {"uplift": {"outcome": "revenue"}}})
