"""The demo's SIMULATED treatment effects (issue 18, item 9): heterogeneous by construction, hand-checked values."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from cvm.contracts.decisionlog import NO_ACTION, CandidateTerms, DecisionRecord
from cvm.demo.effects import (
    LOST_CAUSE,
    PERSUADABLE,
    SLEEPING_DOG,
    SURE_THING,
    EffectParams,
    Truth,
    action_kind,
    build_truth,
    draw_outcomes,
    probabilities,
    true_uplift,
)
from cvm.demo.oracle import DemoTruth, oracle_choice, policy_value
from cvm.demo.replay import CONTEXT_KEY
from cvm.experiments.policies import greedy

N = 4000


def truth_frame(n: int = N, seed: int = 0) -> pl.DataFrame:
    """Truth columns shaped like ``ground_truth/customers_truth.parquet`` (only those the effects read)."""
    rng = np.random.default_rng(seed)
    pd12 = 1.0 / (1.0 + np.exp(-(-3.3 + 1.1 * rng.standard_normal(n))))
    return pl.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "purchase_rate": rng.gamma(0.8, 2.0 / 365.25 / 0.8, n),
            "spend_scale": rng.gamma(4.0, 20.0, n),
            "margin_rate": rng.uniform(0.2, 0.45, n),
            "churn_hazard": rng.uniform(0.005, 0.08, n),
            "default_hazard": -np.log1p(-pd12) / 365.25,
            "default_probability": pd12,
            "satisfaction": rng.standard_normal(n),
            "alive": rng.random(n) < 0.9,
        }
    )


@pytest.fixture(scope="module")
def truth() -> Truth:
    return build_truth(truth_frame(), seed=5)


def test_each_type_is_present_in_the_stated_shares(truth: Truth) -> None:
    shares = np.bincount(truth.type, minlength=4) / truth.n
    assert shares == pytest.approx(EffectParams().shares, abs=1.0 / N)
    again = build_truth(truth_frame(), seed=5)
    assert np.array_equal(again.type, truth.type)  # a pure function of the truth and the seed


def test_sleeping_dogs_lose_margin_to_a_sales_call_and_persuadables_gain(truth: Truth) -> None:
    alive = np.flatnonzero(truth.alive)
    call = true_uplift(truth, alive, "call")
    typ = truth.type[alive]
    assert (call[typ == SLEEPING_DOG] < 0).all()
    assert (true_uplift(truth, alive, "sell")[typ == SLEEPING_DOG] < 0).all()
    assert call[typ == PERSUADABLE].mean() > 0
    # sure things buy anyway, lost causes never: the action only costs them its fatigue
    for kind in ("inform", "sell", "call"):
        u = true_uplift(truth, alive, kind)
        assert (u[(typ == SURE_THING) | (typ == LOST_CAUSE)] <= 0).all()
    assert np.all(true_uplift(truth, alive, "none") == 0)


def test_propensity_and_uplift_disagree(truth: Truth) -> None:
    """The most engaged customers (high propensity) are sure things and sleeping dogs, not persuadables."""
    alive = np.flatnonzero(truth.alive)
    rate = truth.base_margin[alive] / np.maximum(truth.order_margin[alive], 1e-9)  # expected purchases: propensity
    top = rate >= np.quantile(rate, 0.8)
    typ = truth.type[alive]
    assert (typ[top] == SLEEPING_DOG).mean() >= 2 * (typ == SLEEPING_DOG).mean()
    assert (typ[top] == SURE_THING).mean() >= 2 * (typ == SURE_THING).mean()
    assert (typ[top] == PERSUADABLE).mean() < 0.1 * (typ == PERSUADABLE).mean()
    sell = true_uplift(truth, alive, "sell")
    assert sell[top].mean() < 0 < sell[typ == PERSUADABLE].mean()


def test_fatigue_grows_with_the_contact_count(truth: Truth) -> None:
    alive = np.flatnonzero(truth.alive)
    pers = alive[truth.type[alive] == PERSUADABLE]
    by_count = [probabilities(truth, alive, "sell", n) for n in range(4)]
    for before, after in itertools.pairwise(by_count):
        assert (after.unsubscribe > before.unsubscribe).all()
        assert (after.complain > before.complain).all()
    uplift = [true_uplift(truth, pers, "sell", n) for n in range(4)]
    for before, after in itertools.pairwise(uplift):
        assert (after < before).all()
    assert (probabilities(truth, alive, "none", 3).unsubscribe == 0).all()  # no contact, no fatigue


def test_credit_offers_raise_defaults_only_for_risky_customers(truth: Truth) -> None:
    alive = np.flatnonzero(truth.alive)
    credit = probabilities(truth, alive, "credit", 0).default
    none = probabilities(truth, alive, "none", 0).default
    risky = truth.risky[alive]
    assert risky.any()
    assert (~risky).any()
    assert (credit[risky] > none[risky]).all()
    assert np.array_equal(credit[~risky], none[~risky])


def test_action_kinds() -> None:
    assert action_kind("contact.cross_sell", "sell", "email") == "sell"
    assert action_kind("contact.account_review", "ask", "crm_task") == "call"
    assert action_kind("contact.news", "inform", "email") == "inform"
    assert action_kind("retention_offer", "give", "email") == "retention"
    assert action_kind("deferred_payment", "propose", "email") == "credit"
    assert action_kind(NO_ACTION, "", "") == "none"


def test_drawn_outcomes_average_to_the_true_margin(truth: Truth) -> None:
    idx = np.repeat(np.flatnonzero(truth.alive)[:50], 2000)
    drawn = draw_outcomes(truth, idx, "call", 1, 5.0, np.random.default_rng(1))
    from cvm.demo.effects import expected_margin

    expected = expected_margin(truth, idx, "call", 1) - 5.0
    assert drawn["margin"].mean() == pytest.approx(expected.mean(), rel=0.03)


# -- the true value of a policy on a hand-checked population -------------------------------------
def _tiny() -> Truth:
    one = np.ones(2)
    return Truth(
        customer_id=("A", "B"),
        type=np.array([PERSUADABLE, SLEEPING_DOG]),
        alive=np.array([True, True]),
        order_amount=100.0 * one,
        order_margin=30.0 * one,
        base_margin=50.0 * one,
        churn_loss=60.0 * one,
        base_churn=0.1 * one,
        base_default=0.01 * one,
        risky=np.array([False, False]),
        fatigue_scale=one,
        params=EffectParams(),
    )


def _record(cid: str, action: str, objective: str, channel: str, cost: float, ev: float, n: int) -> DecisionRecord:
    plan, step = action.split(".")
    cand = CandidateTerms(action, plan, step, channel, objective, 0.5, 2 * ev, 1.0, cost, ev)
    return DecisionRecord(cid, cid, datetime(2026, 1, 1, tzinfo=UTC), "batch", "propensity", "t", "exploit",
                          action, 0.9, (cand,), context={CONTEXT_KEY: float(n)})  # fmt: skip


def test_true_policy_value_on_a_hand_checked_population() -> None:
    """A: persuadable, e-mail offer. B: sleeping dog, a call (CRM task, cost 5). Values worked out by hand."""
    truth = DemoTruth(_tiny())
    a = _record("A", "p.offer", "sell", "email", 0.01, 2.0, 0)
    b = _record("B", "p.call", "ask", "crm_task", 5.0, 10.0, 0)
    # A: conversion 0.05 -> 0.35 on a 30 margin = +9; unsubscribe 0.01 x 8 and complaint 0.004 x 20 = -0.16
    assert truth.incremental(a, "p.offer") == pytest.approx(9.0 - 0.16 - 0.01)
    # B: churn 0.10 -> 0.25 on a 60 loss = -9; the same fatigue cost; the call's cost 5
    assert truth.incremental(b, "p.call") == pytest.approx(-9.0 - 0.16 - 5.0)
    assert truth.true_value(a, NO_ACTION) == pytest.approx(50.0 + 0.05 * 30 - 0.1 * 60 - 0.01 * 300 * 0.6)
    records = [a, b]
    prop = policy_value(truth, records, "propensity", lambda r: greedy(r, "propensity"))
    assert prop.value_per_1000 == pytest.approx(1000 * (8.83 - 14.16) / 2)
    assert prop.contacts_per_1000 == 1000
    best = policy_value(truth, records, "incremental", oracle_choice(truth))
    assert best.value_per_1000 == pytest.approx(1000 * 8.83 / 2)
    assert best.contacts_per_1000 == 500
    assert policy_value(truth, records, "none", lambda r: NO_ACTION).value_per_1000 == 0
    # two contacts in the window: response x 0.75^2, unsubscribe and complaint x 3^1.5
    tired = _record("A", "p.offer", "sell", "email", 0.01, 2.0, 2)
    fatigue = 3**1.5 * (0.01 * 8 + 0.004 * 20)
    assert DemoTruth(_tiny()).incremental(tired, "p.offer") == pytest.approx(0.3 * 0.5625 * 30 - fatigue - 0.01)
