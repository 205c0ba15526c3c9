"""The per-customer inputs of the value scores as one query in DuckDB's dialect (Spark runs it transpiled).

One row per customer known at the end of ``as_of`` (``acquired_at <= as_of``, the calendar of
:mod:`cvm.scoring.inputs`) with what :func:`cvm.scoring.value.values_of` needs: the one aggregation of the value
inputs, which DuckDB runs chunk by chunk of customers (:mod:`cvm.scoring.value_chunks`) and Spark on its cluster
(:mod:`cvm.scoring.value_spark`):

- the history: ``revenue, margin, purchases, first_purchase, last_purchase, margin_ratio``;
- the RFM summary of the purchases (the SQL of :func:`cvm.features.rfm.summary_sql`): ``frequency, recency, T,
  monetary_value``, null for a customer who never bought;
- the contract base (:func:`contract_sql`): ``tenure_months, churned, mrr``, null for a customer who never
  subscribed;
- the cost aggregates of the last 365 days, priced per partition by
  :func:`cvm.scoring.cost_to_serve.priced_costs`: ``acquired_at, margin_12m, contact_n, contact_cost,
  complaint_n, reminder_n, late_n, bad_debt_amount``.

Amounts (revenue, margins, MRR, prices, unpaid invoices) are summed as exact decimals, then read as doubles, so
a sum does not depend on the order its rows are added in, which varies with the threads of DuckDB and the
partitions of Spark. Numbers from the settings are written as doubles (a bare ``0.1`` is a decimal in Spark
SQL and would change the arithmetic) and channel names as quoted literals (sqlglot), never pasted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from sqlglot import exp

from cvm.config.settings import ScoringSettings
from cvm.features.rfm import MONEY, RfmSpec, summary_sql
from cvm.scoring.cost_to_serve import contact_prices
from cvm.scoring.inputs import DAYS_PER_MONTH, WINDOW_DAYS, end_of_day


def _day(d: date) -> str:
    return f"DATE '{d.isoformat()}'"


def _ts(t: datetime) -> str:
    return f"TIMESTAMP '{t.replace(tzinfo=None).isoformat(sep=' ')}'"


def _num(x: float) -> str:
    return f"CAST({float(x)!r} AS DOUBLE)"


def _text(value: Any) -> str:
    return str(exp.Literal.string(str(value)).sql(dialect="duckdb"))


def contract_sql(as_of: date) -> str:
    """Per subscriber at ``as_of``: ``customer_id, tenure_months, churned, mrr``.

    Tenure runs from the first start to the last end (churned: every subscription ended) or to ``as_of``
    (active), in months of ``365.25 / 12`` days; ``mrr`` is that of the subscriptions live at ``as_of``.
    """
    live = "CASE WHEN stop IS NULL THEN 0 ELSE 1 END"
    return f"""SELECT customer_id,
       MIN({live}) = 1 AS churned,
       CAST(DATE_DIFF('day', MIN(start), CASE WHEN MIN({live}) = 1 THEN MAX(stop) ELSE {_day(as_of)} END) AS DOUBLE)
         / {_num(DAYS_PER_MONTH)} AS tenure_months,
       COALESCE({_sum(f"CASE WHEN stop IS NULL THEN {_money('mrr')} END")}, {_num(0)}) AS mrr
FROM (
  SELECT customer_id, start, CASE WHEN "end" <= {_day(as_of)} THEN "end" END AS stop, mrr
  FROM subscriptions WHERE start <= {_day(as_of)}
) AS subs
GROUP BY customer_id"""


def contract_counts_sql(as_of: date) -> str:
    """The sufficient statistics of the contract model's fit: distinct ``tenure_months, churned`` with
    ``customers``, over every subscriber at ``as_of`` (as the one-machine fit)."""
    return f"""SELECT tenure_months, churned, COUNT(*) AS customers FROM ({contract_sql(as_of)}) AS c
GROUP BY tenure_months, churned ORDER BY tenure_months, churned"""


def _money(column: str) -> str:
    """An amount as an exact decimal (:data:`~cvm.features.rfm.MONEY`), to be summed exactly."""
    return f"CAST({column} AS {MONEY})"


def _sum(decimal: str) -> str:
    """The exact sum of decimals, as a double (null without a row): the same on every engine and every run,
    whatever order the rows are added in (a sum of doubles is not)."""
    return f"CAST(SUM({decimal}) AS DOUBLE)"


def _history_sql(as_of: date, margin_rate: float) -> str:
    since = end_of_day(as_of - timedelta(days=WINDOW_DAYS))
    rate, zero = _num(margin_rate), _num(0)
    # a margin not recorded is amount × margin_rate: Σ recorded margins + margin_rate × Σ amounts without one
    recent = f"ts >= {_ts(since)}"
    margin_12m = f"""COALESCE({_sum(f"CASE WHEN {recent} THEN mg END")}, {zero})
           + {rate} * COALESCE({_sum(f"CASE WHEN {recent} AND mg IS NULL THEN a END")}, {zero})"""
    ratio = f"{_sum('CASE WHEN recorded THEN mg END')} / NULLIF({_sum('CASE WHEN recorded THEN a END')}, {zero})"
    return f"""SELECT customer_id, revenue, margin, purchases, first_purchase, last_purchase, margin_12m,
       CASE WHEN ratio < 0 THEN {_num(0)} WHEN ratio > 1 THEN {_num(1)} ELSE ratio END AS margin_ratio
FROM (
  SELECT customer_id,
         {_sum("a")} AS revenue,
         COALESCE({_sum("mg")}, {zero}) + {rate} * COALESCE({_sum("CASE WHEN mg IS NULL THEN a END")}, {zero})
           AS margin,
         SUM(CASE WHEN amount > 0 THEN 1 ELSE 0 END) AS purchases,
         MIN(CASE WHEN amount > 0 THEN ts END) AS first_purchase,
         MAX(CASE WHEN amount > 0 THEN ts END) AS last_purchase,
         {ratio} AS ratio,
         {margin_12m} AS margin_12m
  FROM (
    SELECT customer_id, ts, amount, {_money("amount")} AS a, {_money("margin")} AS mg,
           margin IS NOT NULL AND amount > 0 AS recorded
    FROM transactions WHERE ts < {_ts(end_of_day(as_of))}
  ) AS tx
  GROUP BY customer_id
) AS h"""


def _contacts_sql(as_of: date, s: ScoringSettings, channel_cost: Mapping[Any, float]) -> str:
    c = s.cost_to_serve
    prices = contact_prices(c, channel_cost)
    whens = " ".join(f"WHEN channel = {_text(k)} THEN {_money(_num(v))}" for k, v in prices.items())
    other = _money(_num(c.other_contact))
    price = f"CASE {whens} ELSE {other} END" if whens else other
    since = end_of_day(as_of - timedelta(days=WINDOW_DAYS))
    return f"""SELECT customer_id, COUNT(*) AS contact_n, {_sum(price)} AS contact_cost,
       SUM(CASE WHEN topic = 'complaint' THEN 1 ELSE 0 END) AS complaint_n,
       SUM(CASE WHEN topic = 'payment_reminder' THEN 1 ELSE 0 END) AS reminder_n
FROM contacts WHERE ts >= {_ts(since)} AND ts < {_ts(end_of_day(as_of))}
GROUP BY customer_id"""


def _payments_sql(as_of: date, s: ScoringSettings) -> str:
    start = as_of - timedelta(days=WINDOW_DAYS)
    days = timedelta(days=s.cost_to_serve.bad_debt_days)  # written off: due_date + bad_debt_days in (start, as_of]
    unpaid = f"(paid_date IS NULL OR paid_date > {_day(as_of)})"
    late = f"due_date > {_day(start)} AND due_date < {_day(as_of)} AND ({unpaid} OR paid_date > due_date)"
    lost = f"{unpaid} AND due_date > {_day(start - days)} AND due_date <= {_day(as_of - days)}"
    return f"""SELECT customer_id, SUM(CASE WHEN {late} THEN 1 ELSE 0 END) AS late_n,
       {_sum(f"CASE WHEN {lost} THEN {_money('amount')} END")} AS bad_debt_amount
FROM payments WHERE due_date <= {_day(as_of)}
GROUP BY customer_id"""


def value_inputs_sql(as_of: date, s: ScoringSettings, channel_cost: Mapping[Any, float] | None = None) -> str:
    """One row per customer known at ``as_of`` with every input of the value scores (see the module)."""
    buys = f"(SELECT customer_id, ts, amount FROM transactions WHERE ts < {_ts(end_of_day(as_of))} AND amount > 0)"
    rfm = summary_sql(RfmSpec("customer_id", "ts", "amount", s.freq), f"{buys} AS buys", as_of)
    zero = _num(0)
    return f"""WITH known AS (SELECT customer_id, acquired_at FROM customers WHERE acquired_at <= {_day(as_of)}),
hist AS ({_history_sql(as_of, s.margin_rate)}),
rfm AS ({rfm}),
contract AS ({contract_sql(as_of)}),
contact AS ({_contacts_sql(as_of, s, channel_cost or {})}),
pay AS ({_payments_sql(as_of, s)})
SELECT k.customer_id, k.acquired_at,
       COALESCE(h.revenue, {zero}) AS revenue, COALESCE(h.margin, {zero}) AS margin,
       COALESCE(h.purchases, 0) AS purchases, h.first_purchase, h.last_purchase, h.margin_ratio,
       r.frequency, r.recency, r.T AS T, r.monetary_value,
       c.tenure_months, c.churned, c.mrr,
       h.margin_12m, ct.contact_n, ct.contact_cost, ct.complaint_n, ct.reminder_n, p.late_n, p.bad_debt_amount
FROM known AS k
LEFT JOIN hist AS h ON h.customer_id = k.customer_id
LEFT JOIN rfm AS r ON r.cid = k.customer_id
LEFT JOIN contract AS c ON c.customer_id = k.customer_id
LEFT JOIN contact AS ct ON ct.customer_id = k.customer_id
LEFT JOIN pay AS p ON p.customer_id = k.customer_id"""


def base_margin_sql(as_of: date, margin_rate: float) -> str:
    """Margin and revenue to date of the known customers with a recorded margin: the base's margin ratio."""
    return f"""SELECT SUM(h.margin) AS margin, SUM(h.revenue) AS revenue, COUNT(*) AS n
FROM ({_history_sql(as_of, margin_rate)}) AS h
JOIN customers AS k ON k.customer_id = h.customer_id
WHERE k.acquired_at <= {_day(as_of)} AND h.margin_ratio IS NOT NULL"""
