"""The uplift loop on a real workspace: decision log → outcomes → train → gate → uplift_<action> attributes.

The hub holds customers whose response to ``mail`` is known by construction: long-tenure customers are
persuadables (+100 revenue), short-tenure ones sleeping dogs (−30). Half of them were mailed at random
120 days ago (the explore rung, probability 0.5), and the log is read from the offline folder
``decision_log`` as h-log's export writes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml

from cvm.contracts.decisionlog import CandidateTerms, DecisionRecord
from cvm.engine import Engine
from cvm.scoring.registry import ModelRegistry
from cvm.scoring.uplift import fallback_message
from cvm.segments.refresh import segment_base
from cvm.store import decision_log
from cvm.store.decision_log import records as read_decision_log

NOW = datetime.now(UTC).replace(microsecond=0)
DECIDED = NOW - timedelta(days=120)
MAIL = CandidateTerms("mail", "winback", "mail", "email", "sell", 0.2, 100.0, 0.3, 1.0, 5.0)


def _settings(ws: Path, **uplift: Any) -> None:
    path = ws / "cvm.yaml"
    data = yaml.safe_load(path.read_text())
    data["plans"]["uplift"].update(uplift)
    path.write_text(yaml.safe_dump(data))


def _segmented(engine: Engine, columns: str) -> pl.DataFrame:
    """``columns`` of the segmented base as of NOW: the attributes the plans decide on, uplift scores included."""
    con = engine.offline.connect()
    try:
        segment_base(con, engine.settings.segments, NOW.date())
        base: pl.DataFrame = con.sql(f"SELECT {columns} FROM segmented").pl()
    finally:
        con.close()
    return base


def _hub(engine: Engine, n: int, seed: int = 0, convert: bool = False) -> list[DecisionRecord]:
    """Customers, their transactions after a randomised decision, and the decision log (written as Parquet).

    With ``convert`` the effect is on buying at all: 30% buy, mailed long-tenure customers 80%, mailed short-tenure
    ones 10% (the others buy nothing, so they count as churned).
    """
    rng = np.random.default_rng(seed)
    ids = [f"C{i:05d}" for i in range(n)]
    acquired = [DECIDED.date() - timedelta(days=int(d)) for d in rng.integers(30, 1000, n)]
    mailed = rng.random(n) < 0.5
    records, amounts = [], []
    buys = np.ones(n, dtype=bool)
    for i, cid in enumerate(ids):
        tenure = (DECIDED.date() - acquired[i]).days
        effect = 100.0 if tenure > 500 else -30.0
        amounts.append(float(rng.uniform(50, 150) + (effect if mailed[i] and not convert else 0.0)))
        if convert:
            buys[i] = rng.random() < (0.3 if not mailed[i] else 0.8 if tenure > 500 else 0.1)
        records.append(
            DecisionRecord(
                decision_id=f"D{i:05d}",
                customer_id=cid,
                decided_at=DECIDED,
                path="batch",
                arbitration="propensity",
                policy_version="p1",
                rung="explore",
                chosen="mail" if mailed[i] else "none",
                probability=0.5,
                candidates=(MAIL,),
                context={"tenure_days": float(tenure)},
                exploration=0.1,
            )
        )
    customers = pl.DataFrame({"customer_id": ids, "acquired_at": acquired, "kind": ["B2C"] * n})
    tx = pl.DataFrame(
        {
            "transaction_id": [f"T{i:05d}" for i in range(n)],
            "customer_id": ids,
            "ts": [DECIDED + timedelta(days=10)] * n,
            "amount": amounts,
        }
    ).filter(pl.Series(buys))
    with engine.offline.transaction() as t:
        t.append("customers", customers)
        t.append("transactions", tx)
    _log(engine, records, "part-0")
    return records


def _log(engine: Engine, records: list[DecisionRecord], name: str) -> None:
    """Append records to the offline decision log as its export writes them."""
    logged = datetime.now(UTC)
    with engine.offline.transaction() as t:
        t.append("decision_log", decision_log.offline_frame([decision_log.row_of(r, logged) for r in records]))


@pytest.fixture
def small(workspace: Path) -> Iterator[Engine]:
    # the hub's effect is on the amount every customer spends, not on any event: the margin outcome learns it
    _settings(workspace, n_estimators=40, min_randomised=300, outcome="margin")
    eng = Engine.open(workspace)
    yield eng
    eng.close()


def test_the_loop_learns_gates_and_writes_uplift_attributes(small: Engine) -> None:
    records = _hub(small, 1200)
    simulated = {"decision_id": "D00000", "customer_id": "C00000", "chosen": "none", "horizon_days": 90,
                 "margin": 999.0, "source": "simulated"}  # fmt: skip
    retired = {"customer_id": "C00000", "as_of": NOW.date() - timedelta(days=1), "score": "uplift_retired",
               "value": 5.0, "model_version": "uplift-v0"}  # fmt: skip
    due = (DECIDED + timedelta(days=20)).date()
    payments = pl.DataFrame(
        {
            "invoice_id": ["I1", "I2", "I3"],
            "customer_id": ["C00002", "C00003", "C00004"],
            "due_date": [due, due, DECIDED.date() - timedelta(days=5)],  # C00004's falls due before the decision
            "paid_date": [None, due + timedelta(days=10), None],
            "amount": [50.0, 50.0, 50.0],
        }
    )
    complaint = {"contact_id": "K1", "customer_id": "C00005", "ts": DECIDED + timedelta(days=3), "channel": "phone",
                 "direction": "inbound", "topic": "complaint", "outcome": "open"}  # fmt: skip
    with small.offline.transaction() as t:
        t.append("decision_outcomes", pl.DataFrame([simulated]))
        t.append("scores", pl.DataFrame([retired]))
        t.append("payments", payments)
        t.append("contacts", pl.DataFrame([complaint]))

    report = small.scoring.uplift(now=NOW)

    outcomes = small.offline.read("decision_outcomes")
    assert outcomes.height == 1200
    assert report["outcomes"]["added"] == 1199
    kept = outcomes.filter(pl.col("decision_id") == "D00000").row(0, named=True)
    assert (kept["margin"], kept["source"]) == (999.0, "simulated")
    tx = small.offline.read("transactions").filter(pl.col("customer_id") == "C00001")["amount"][0]
    row = outcomes.filter(pl.col("decision_id") == "D00001").row(0, named=True)
    cost = 1.0 if records[1].chosen == "mail" else 0.0
    assert row["margin"] == pytest.approx(tx * 0.3 - cost)
    assert row["source"] == "hub"
    assert row["converted"]

    flags = outcomes.sort("decision_id").select("defaulted", "complained", "churned").head(6).rows()
    # C00002 never paid an invoice due in the window (default); C00003 paid 10 days late; C00004's invoice fell due
    # before the decision; C00005 complained in the window; everyone bought in the window (not churned)
    assert flags[1:] == [(False, False, False), (True, False, False), (False, False, False), (False, False, False),
                         (False, True, False)]  # fmt: skip

    trained = report["trained"]
    assert trained["status"] == "champion"
    assert trained["gate"]["passed"]
    assert trained["gate"]["actions"]["mail"]["qini"] > 0
    assert report["message"] == "uplift: uplift-v1 scored uplift_mail"

    scores = small.offline.read("scores").filter(pl.col("score") == "uplift_mail")
    assert scores.height == 1200
    assert set(scores["model_version"]) == {"uplift-v1"}
    base = _segmented(small, "customer_id, tenure_days, uplift_mail, uplift_retired")
    old = base.filter(pl.col("tenure_days") > 750)["uplift_mail"].mean()  # tenure today = at decision + 120
    young = base.filter(pl.col("tenure_days") < 550)["uplift_mail"].mean()
    assert old > 15 > 0 > young  # persuadables (+30 margin) above sleeping dogs (−9 margin)
    # an action no champion passes any more is cleared, so decide falls back to its propensity value
    assert report["scores"]["cleared"] == ["uplift_retired"]
    assert base["uplift_retired"].null_count() == base.height

    earlier = [replace(r, decision_id="E" + r.decision_id, decided_at=DECIDED - timedelta(days=1)) for r in records]
    _log(small, earlier[:400], "part-1")  # more randomised decisions: a new version, compared on the held-out Qini
    more = small.scoring.uplift(now=NOW)["trained"]
    comparison = more["comparison"]
    assert more["version"] == "uplift-v2"
    assert comparison["metric"] == "qini"
    won = comparison["challenger_qini"] >= comparison["champion_qini"]
    assert more["status"] == ("champion" if won else "challenger")

    again = small.scoring.uplift(now=NOW)
    assert again["trained"] is None
    assert "uplift: no new randomised decisions since uplift-v2" in again["notes"]
    # the same decisions with another learner setting: a new version, not "nothing new"
    small.settings.plans.uplift.effect_min_leaf += 10
    assert small.scoring.uplift(now=NOW)["trained"]["version"] == "uplift-v3"


def test_the_components_outcome_learns_the_change_of_conversion_and_churn(workspace: Path) -> None:
    values = {"converted": "100", "churned": "-50"}
    _settings(workspace, n_estimators=40, min_randomised=300, effect_min_leaf=100, values=values)
    engine = Engine.open(workspace)
    try:
        _hub(engine, 1200, convert=True)
        report = engine.scoring.uplift(now=NOW)
        outcomes = engine.offline.read("decision_outcomes")
        assert outcomes["converted"].sum() == outcomes.height - outcomes["churned"].sum()  # no purchase: churned
        trained = report["trained"]
        assert trained["status"] == "champion"
        assert trained["gate"]["actions"]["mail"]["qini"] > 0
        entry = ModelRegistry(workspace).champion("uplift")
        assert entry is not None
        assert entry.meta["kind"] == "ComponentUplift"
        assert entry.meta["outcome"] == "components"
        assert entry.meta["values"]["converted"] == "100"
        base = _segmented(engine, "customer_id, tenure_days, uplift_mail")
        # persuadables: +50 points of conversion × 100 + 50 points less churn × 50 = +75; dogs −20 × 100 − 20 × 50 = −30
        # (the effect models shrink both towards the average: few shallow trees)
        old = base.filter(pl.col("tenure_days") > 750)["uplift_mail"].mean()
        young = base.filter(pl.col("tenure_days") < 550)["uplift_mail"].mean()
        assert old > 30 > 0 > young
        reason = engine.offline.read("scores").filter(pl.col("score") == "uplift_mail")["reasons"][0]
        assert reason.startswith("mail against no action: conversion ")
        assert "; churn " in reason
        _the_policy_evaluation_prices_the_held_out_decisions_with_the_champion(engine, workspace, entry)
    finally:
        engine.close()


def _the_policy_evaluation_prices_the_held_out_decisions_with_the_champion(
    engine: Engine, workspace: Path, entry: Any
) -> None:
    """`cvm policy` evaluates the champion's incremental policy on the decisions it did not learn from."""
    from cvm.experiments.ope_log import read_log
    from cvm.scoring.uplift_replay import champion_replay

    records, _outcomes = read_log(engine.offline)
    first = entry.meta["training_window"]["held_out_first"]
    at = next((r.decided_at, r.decision_id) for r in records if r.decision_id == first)
    replayed, note = champion_replay(workspace, records)
    assert note is not None
    assert entry.tag in note
    assert {r.decision_id for r in replayed} == {r.decision_id for r in records if (r.decided_at, r.decision_id) >= at}
    assert 0 < len(replayed) < len(records)
    mail = [c for r in replayed for c in r.candidates if c.action == "mail"]
    assert mail
    assert all(c.uplift is not None for c in mail)
    assert all(c.ev_incremental == c.uplift - c.cost - c.fatigue_cost - c.expected_credit_loss for c in mail)
    result = engine.policy.compare()
    assert any(entry.tag in n for n in result["notes"])


def test_outcomes_whose_events_never_vary_train_nothing_and_say_so(workspace: Path) -> None:
    _settings(workspace, n_estimators=20, min_randomised=300)  # components: every customer buys, nobody churns
    engine = Engine.open(workspace)
    try:
        _hub(engine, 400)
        report = engine.scoring.uplift(now=NOW)
        assert report["trained"] is None
        assert report["message"].startswith("uplift: no model trained (no outcome event varies in the training")
        assert report["message"].endswith(": the propensity policy decides")
        assert ModelRegistry(workspace).versions("uplift") == []
    finally:
        engine.close()


def test_too_few_randomised_decisions_fall_back_to_the_propensity_policy(engine: Engine) -> None:
    _hub(engine, 40)
    report = engine.run().to_dict()["uplift"]
    assert report["message"] == fallback_message(40, 500)
    assert report["message"] == "uplift: not enough randomised decisions (40 < 500): the propensity policy decides"
    assert report["trained"] is None
    assert report["scores"]["rows"] == 0
    scores = engine.offline.read("scores")
    assert scores.filter(pl.col("score").str.starts_with("uplift_")).height == 0


def test_the_reader_reads_the_exported_log_and_names_bad_rows(engine: Engine) -> None:
    record = DecisionRecord(
        decision_id="D1", customer_id="C1", decided_at=DECIDED, path="realtime", arbitration="incremental",
        policy_version="p", rung="exploit", chosen="none", probability=0.9, candidates=(MAIL,),
        model_versions={"uplift": "uplift-v1"}, context={"clv": 12.5},
    )  # fmt: skip
    # as the export writes it: JSON text columns and its own logged_at column
    texts = {k: json.dumps(record.to_dict()[k]) for k in ("candidates", "model_versions", "context")}
    good = {**record.to_dict(), **texts, "decided_at": DECIDED, "logged_at": NOW}
    bad = {**good, "decision_id": "D2", "candidates": json.dumps([{"action": "mail"}])}
    with engine.offline.transaction() as t:
        t.append("decision_log", pl.DataFrame([good, bad]))
    problems: list[str] = []
    read = read_decision_log(engine.offline, problems)
    assert read == [record]
    assert len(problems) == 1
    assert problems[0].startswith("decision_log row 2 ('D2'):")
