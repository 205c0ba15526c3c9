"""The demo's finished pilot: a win-back call, assigned retrospectively, its effect simulated from ground truth.

The demo company's data are history, generated without any CVM action, so no outcome in them
was caused by a plan. This pilot is built honestly on top of them:

1. **Targeting** (observable data only): at t₀ = the end of the data − W days, the customers whose
   last purchase lies 45 to 365 days back — lapsing buyers a win-back plan would call.
2. **Assignment**: the pilot's bucket hash (:mod:`cvm.experiments.assign`), 50/50 between
   ``control`` (a holdout) and ``call``; the rows go to the ``assignments`` table, as a live
   pilot's would (assigned at t₀, plan ``winback``, step ``call``).
3. **Outcomes**, labelled simulated in the report: retention, revenue and margin over the next W
   days (and over the W days before, the CUPED covariate) are drawn from each customer's ground
   truth by :func:`cvm.experiments.simulate.draw`, for both arms, the call cutting the churn
   hazard of at-risk customers (true monthly hazard ≥ 5%) by 20%; customers the truth has already
   churned before t₀ neither buy nor respond. Conversion and NPS are the recorded history of the
   window (:func:`cvm.experiments.outcomes.pilot_outcomes`), which the simulated call leaves alone.
4. **Truth**: the report's notes give the true effect by construction on the targeted customers,
   to hold the estimate against.
5. **Cost**: one phone call (the policy's phone cost) per called customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from cvm.contracts.actions import Assignment
from cvm.experiments.assign import arm_for, bucket
from cvm.experiments.outcomes import pilot_outcomes
from cvm.experiments.report import PilotSpec, build_report
from cvm.experiments.simulate import Effect, Population, TrueEffect, draw, true_effects
from cvm.store import OfflineStore

NAME = "winback_call"
ARMS = {"control": 0.5, "call": 0.5}


@dataclass(frozen=True)
class RetroPilot:
    """The retrospective pilot: its assignments and its report."""

    assignments: list[Assignment]
    report: dict[str, Any]


def _targets(store: OfflineStore, t0: datetime) -> list[str]:
    last = (
        store.scan("transactions")
        .filter((pl.col("amount") > 0) & (pl.col("ts") <= t0))
        .group_by("customer_id")
        .agg(pl.col("ts").max().alias("last"))
        .filter((pl.col("last") > t0 - timedelta(days=365)) & (pl.col("last") <= t0 - timedelta(days=45)))
        .collect()
    )
    return sorted(last["customer_id"].to_list())


def _simulate(outcomes: pl.DataFrame, truth: pl.DataFrame, t0: datetime, window: int, effect: Effect,
              seed: int) -> tuple[pl.DataFrame, TrueEffect]:  # fmt: skip
    """Replace retention, revenue and margin (and their pre-period) by draws from the ground truth."""
    f = outcomes.join(truth, on="customer_id", how="left")
    alive = (f["churned_at"].is_null() | (f["churned_at"] > t0.date())).to_numpy()
    pop = Population.from_truth(f)
    index = np.arange(f.height)
    treated = f["arm"].to_numpy() == "call"
    draws = draw(pop, index, treated, effect, float(window), np.random.default_rng(seed))
    zero = np.zeros(f.height)
    sim = {
        "retention": np.where(alive, draws["retention"], 0.0),
        "revenue": np.where(alive, draws["revenue"], 0.0),
        "margin": np.where(alive, draws["margin"], 0.0),
        "pre_retention": alive.astype(float),
        "pre_revenue": np.where(alive, draws["pre_revenue"], zero),
        "pre_margin": np.where(alive, draws["pre_revenue"] * pop.margin_rate, zero),
    }
    living = Population.from_truth(f.filter(pl.Series(alive)))
    true = true_effects(living, effect, float(window))
    share = float(alive.mean()) if f.height else 0.0
    scaled = TrueEffect(
        {k: v * share for k, v in true.control.items()}, {k: v * share for k, v in true.treated.items()}
    )
    return outcomes.with_columns(pl.Series(k, v) for k, v in sim.items()), scaled


def demo_pilot(
    store: OfflineStore,
    truth: Path,
    data_end: datetime,
    call_cost: float,
    window: int = 90,
    effect: Effect | None = None,
    margin_rate: float = 0.3,
    seed: int = 2013,
) -> RetroPilot:
    """Build the demo's win-back pilot (see the module docstring); nothing is written here."""
    effect = effect or Effect(hazard_cut=0.2, at_risk=0.05)
    t0 = datetime.combine((data_end - timedelta(days=window)).date(), time(0, 0), UTC)
    shares = list(ARMS.items())
    asg = [Assignment(NAME, cid, arm_for(b := bucket(NAME, cid), shares), b, t0, "winback", "call")
           for cid in _targets(store, t0)]  # fmt: skip
    frame = pl.DataFrame(
        {"customer_id": [a.customer_id for a in asg], "arm": [a.arm for a in asg], "assigned_at": [t0] * len(asg)},
        schema={"customer_id": pl.Utf8, "arm": pl.Utf8, "assigned_at": pl.Datetime("us", "UTC")},
    )
    observed = pilot_outcomes(store, frame, window, data_end, None, margin_rate)
    outcomes, true = _simulate(observed, pl.read_parquet(truth), t0, window, effect, seed)
    spec = PilotSpec(
        name=NAME,
        arms=ARMS,
        control="control",
        holdout=["control"],
        primary="retention",
        window_days=window,
        segment_by=["kind", "region"],
        description="Win-back call to lapsing buyers (last purchase 45–365 days ago), against a 50% holdout.",
        plan="winback",
        step="call",
        simulated=True,
        notes=[
            "SIMULATED: the demo's history contains no CVM action. The targeting and the assignment (bucket hash) "
            f"are real, on the demo data as of {t0.date()}; retention, revenue and margin over the next {window} days "
            "are drawn from the ground truth (simulate.py) for both arms, the call cutting the churn hazard of "
            f"at-risk customers (true monthly hazard ≥ {effect.at_risk:.0%}) by {effect.hazard_cut:.0%}; "
            "conversion and NPS are the recorded history (the simulated call does not change them).",
            f"True effect by construction on these customers: retention {100 * true.diff('retention'):+.2f} points "
            f"({100 * true.lift('retention'):+.2f}%), revenue {true.diff('revenue'):+.2f} per customer "
            f"({100 * true.lift('revenue'):+.2f}%).",
        ],
    )
    costs = {"call": call_cost * sum(a.arm == "call" for a in asg)}
    report = build_report(spec, outcomes, costs, status="finished", as_of=data_end.isoformat())
    return RetroPilot(asg, report)
