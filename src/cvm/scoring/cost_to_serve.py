"""Cost to serve, historic net margin and net CLV per customer (part of ``cvm score``).

Over the last 365 days up to ``as_of`` (the "12 months"), each customer's

- **gross margin** ``margin_12m``: margin of the transactions (a missing margin is ``amount × margin_rate``,
  as in ``margin_hist``);
- **cost to serve** ``cost_to_serve_12m``: every hub contact at its channel's price
  (``scoring.cost_to_serve.contact``, else ``plans.policy.channel_cost``, else ``other_contact``), plus
  ``complaint`` per complaint and ``reminder`` per payment reminder (topics ``complaint`` and
  ``payment_reminder``), plus ``late_payment`` per invoice due in the window and paid late or still unpaid,
  plus ``bad_debt_share`` of every invoice that crossed ``bad_debt_days`` past due unpaid in the window;
- **net margin** ``net_margin_12m`` = gross margin − cost to serve.

The **net CLV** ``net_clv`` = CLV − expected cost to serve over the CLV horizon, where the expected cost is the
customer's own monthly cost rate (cost to serve / months observed in the window, at least one) × P(alive)
(1 when unknown: a customer who never bought still costs) × the discounted number of months of the horizon,
Σ_{m=1..H} (1 + r)^-m with the monthly rate r of ``scoring.discount_rate``. It assumes the customer keeps
costing what they cost over the last year for as long as they stay; future churn within the horizon beyond
P(alive) is not modelled, so the cost of a customer likely to leave soon is overstated.

The per-customer aggregates (counts, contact cost, unpaid amounts, gross margin) are columns of the value inputs
query (:mod:`cvm.scoring.value_inputs`); :func:`priced_costs` prices them per batch of customers.

Each score keeps its components in its reason codes (``contacts 12;contact cost 48.00;...``), turned into
sentences by :mod:`cvm.scoring.reasons`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import pandas as pd
import polars as pl

from cvm.config.plan_defaults import NET_VALUE_SCORES
from cvm.config.settings import CostToServeSettings
from cvm.scoring.inputs import WINDOW_DAYS

NET_SCORES = NET_VALUE_SCORES  # margin_12m, cost_to_serve_12m, net_margin_12m, net_clv
GRADED_NET = ("net_margin_12m", "net_clv")  # graded like the CLV (a value not above the floors is low)
COMPONENTS = ("contact", "complaint", "reminder", "late", "bad_debt")
_COUNTED = {"contact": "contacts", "complaint": "complaints", "reminder": "reminders", "late": "late payments"}
_PRICED = {
    "contact": "contact cost",
    "complaint": "complaint cost",
    "reminder": "reminder cost",
    "late": "late payment cost",
    "bad_debt": "bad debt",
}


def contact_prices(s: CostToServeSettings, channel_cost: Mapping[Any, float]) -> dict[str, float]:
    """The price of one contact per channel: ``cost_to_serve.contact`` over ``plans.policy.channel_cost``."""
    return {**{k: float(v) for k, v in channel_cost.items()}, **{k: float(v) for k, v in s.contact.items()}}


def annuity_months(horizon_months: int, monthly_rate: float) -> float:
    """Σ_{m=1..H} (1 + r)^-m: the discounted number of months in the horizon (H when r = 0)."""
    return float(sum((1.0 + monthly_rate) ** -m for m in range(1, horizon_months + 1)))


def exposure_months(as_of: date) -> pl.Expr:
    """Months of the window the customer was a customer (1 to 12), from ``acquired_at``: the denominator of the
    cost rate."""
    start = as_of - timedelta(days=WINDOW_DAYS)
    first = pl.max_horizontal(pl.col("acquired_at"), pl.lit(start))
    days = (pl.lit(as_of) - first).dt.total_days().cast(pl.Float64)
    return (days * 12 / WINDOW_DAYS).clip(1.0, 12.0)  # the whole window is 12 months


#: The per-customer aggregates :func:`priced_costs` prices (missing: none).
COUNTED = ("contact_n", "complaint_n", "reminder_n", "late_n")
AGGREGATES = ("margin_12m", "contact_cost", "bad_debt_amount")


def priced_costs(frame: pl.DataFrame, s: CostToServeSettings) -> pl.DataFrame:
    """Cost columns from the per-customer aggregates (``cost_months``, :data:`COUNTED` and :data:`AGGREGATES`,
    null when the customer has none): each component's cost, ``cost_to_serve_12m`` and ``net_margin_12m``,
    rounded to the cent. The one pricing of both backends (a Spark partition calls it on its rows)."""
    costs = [f"{c}_cost" for c in COMPONENTS]
    return (
        frame.with_columns(pl.col(*AGGREGATES).fill_null(0.0), pl.col(*COUNTED).fill_null(0).cast(pl.Int64))
        .with_columns(
            (pl.col("complaint_n") * s.complaint).alias("complaint_cost"),
            (pl.col("reminder_n") * s.reminder).alias("reminder_cost"),
            (pl.col("late_n") * s.late_payment).alias("late_cost"),
            (pl.col("bad_debt_amount") * s.bad_debt_share).alias("bad_debt_cost"),
        )
        .drop("bad_debt_amount")
        .with_columns(pl.col(costs).cast(pl.Float64).round(2))
        .with_columns(pl.sum_horizontal(costs).round(2).alias("cost_to_serve_12m"))
        .with_columns((pl.col("margin_12m") - pl.col("cost_to_serve_12m")).round(2).alias("net_margin_12m"))
    )


def add_net_clv(table: pd.DataFrame, horizon_months: int, monthly_rate: float) -> pd.DataFrame:
    """``expected_cost`` and ``net_clv`` on a value table holding ``clv``, ``p_alive`` and the cost columns."""
    rate = table["cost_to_serve_12m"] / table["cost_months"]
    alive = table["p_alive"].fillna(1.0).astype(float)
    expected = rate * alive * annuity_months(horizon_months, monthly_rate)
    return table.assign(expected_cost=expected, net_clv=table["clv"] - expected)


def _money(col: str) -> pl.Expr:
    return pl.col(col).round(2).cast(pl.Utf8)


def cost_reasons() -> pl.Expr:
    """The components of the cost to serve as reason codes (only those that cost something)."""
    parts: list[pl.Expr] = []
    for c in COMPONENTS:
        priced = pl.format(f"{_PRICED[c]} {{}}", _money(f"{c}_cost"))
        if c in _COUNTED:
            priced = pl.format(f"{_COUNTED[c]} {{}};{{}}", pl.col(f"{c}_n"), priced)
        parts.append(pl.when(pl.col(f"{c}_cost") > 0).then(priced))
    joined = pl.concat_str(parts, separator=";", ignore_nulls=True)
    return pl.when(joined == "").then(pl.lit("no cost to serve")).otherwise(joined)


def net_reasons() -> dict[str, pl.Expr]:
    """The reason codes of each score of :data:`NET_SCORES`."""
    return {
        "margin_12m": pl.lit("last 365 days"),
        "cost_to_serve_12m": cost_reasons(),
        "net_margin_12m": pl.format(
            "gross margin 12m {};cost to serve {}", _money("margin_12m"), _money("cost_to_serve_12m")
        ),
        "net_clv": pl.format("gross clv {};expected cost to serve {}", _money("clv"), _money("expected_cost")),
    }
