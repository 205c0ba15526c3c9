"""The attribute base: one row per customer as of a date, with every column expressions may name.

Point in time, as in the features stage: a row counts when its date (the UTC
date of a timestamp) is before ``as_of``; a subscription ending or an invoice
paid on or after ``as_of`` is still live or open. Scores count when scored on
or before ``as_of`` (the newest of each score wins): those of ``segments.scores``, and every
``uplift_<action>`` score the uplift models wrote (the incremental arbitration reads them).
The extra columns of ``segments.columns`` are the customer's stored features of ``as_of`` (table ``features``).

Regular buyers: customers with at least ``min_orders`` purchase days whose
gaps between purchase days have a coefficient of variation (sample standard
deviation over mean) below ``max_cv``. Their next order is predicted one mean
gap after the last purchase; ``days_to_next_order`` is negative when overdue.

The SQL is ours (never user text); ``as_of`` and the thresholds are bound
parameters, and score names are validated identifiers rendered by sqlglot.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import duckdb
from sqlglot import exp

from cvm.config.plan_defaults import BASE_ATTRIBUTES
from cvm.config.plans import SegmentsConfig
from cvm.contracts.features import HOLDS_PREFIX, PRODUCTS_HELD
from cvm.contracts.tables import FEATURES_TABLE, complaint_status_sql


def _in_year(x: str, year: str) -> str:
    """The date ``x`` moved to ``year`` (29 February to the 28th in a common year), in SQL both backends run."""
    first = f"make_date(CAST({year} AS INTEGER), CAST(month({x}) AS INTEGER), 1)"
    return (
        f"make_date(CAST({year} AS INTEGER), CAST(month({x}) AS INTEGER), "
        f"CAST(least(day({x}), day(last_day({first}))) AS INTEGER))"
    )


def _days_to_next(x: str) -> str:
    this, after = _in_year(x, "year($as_of)"), _in_year(x, "year($as_of) + 1")
    return f"date_diff('day', $as_of, CASE WHEN {this} >= $as_of THEN {this} ELSE {after} END)"


_BLOCKS = f"""
cust AS (
  SELECT customer_id, kind, region, sector, channel, timezone,
         consent_email, consent_sms, consent_phone, consent_mail, acquired_at, birth_date
  FROM customers WHERE acquired_at < $as_of
),
daily AS MATERIALIZED (
  SELECT customer_id, CAST(ts AS DATE) AS d, count(*) FILTER (WHERE amount > 0) AS buys,
         sum(amount) AS amount, sum(margin) AS margin
  FROM transactions WHERE CAST(ts AS DATE) < $as_of GROUP BY customer_id, d
),
money AS (
  SELECT customer_id, sum(buys) AS orders, sum(amount) AS revenue, sum(margin) AS margin
  FROM daily GROUP BY customer_id
),
gaps AS (
  SELECT customer_id, d, date_diff('day', lag(d) OVER (PARTITION BY customer_id ORDER BY d), d) AS gap
  FROM daily WHERE buys > 0
),
pur AS (
  SELECT customer_id, count(*) AS buy_days, min(d) AS first_d, max(d) AS last_d,
         avg(gap) AS mean_gap, stddev_samp(gap) AS sd_gap, max(d) FILTER (WHERE gap > $gap) AS react_d
  FROM gaps GROUP BY customer_id
),
subs AS (
  SELECT customer_id, start, "end" AS stop, mrr, ("end" IS NULL OR "end" >= $as_of) AS live
  FROM subscriptions WHERE start < $as_of
),
sub AS (
  SELECT customer_id,
         coalesce(sum(mrr) FILTER (WHERE live), 0.0) AS mrr,
         count(*) FILTER (WHERE live) AS active_subscriptions,
         min(CASE WHEN stop IS NOT NULL THEN date_diff('day', $as_of, stop) ELSE {_days_to_next("start")} END)
           FILTER (WHERE live) AS days_to_renewal,
         max(stop) FILTER (WHERE NOT live) AS last_end
  FROM subs GROUP BY customer_id
),
pay AS (
  SELECT customer_id, count(*) AS late_payments, max(date_diff('day', due_date, $as_of)) AS days_past_due
  FROM payments WHERE due_date < $as_of AND (paid_date IS NULL OR paid_date >= $as_of)
  GROUP BY customer_id
),
con AS (
  SELECT customer_id,
         bool_or(topic = 'complaint' AND {complaint_status_sql("outcome")} = 'open') AS open_complaint,
         count(*) FILTER (WHERE topic = 'complaint' AND d >= $as_of - INTERVAL 90 DAY) AS complaints_90d,
         count(*) FILTER (WHERE d >= $as_of - INTERVAL 90 DAY) AS contacts_90d
  FROM (SELECT customer_id, CAST(ts AS DATE) AS d, topic, outcome FROM contacts WHERE CAST(ts AS DATE) < $as_of)
  GROUP BY customer_id
),
srv AS (
  SELECT customer_id, arg_max(nps, ts) AS nps, max(CAST(ts AS DATE)) AS last_survey
  FROM surveys WHERE CAST(ts AS DATE) < $as_of AND nps IS NOT NULL GROUP BY customer_id
)"""

_SELECT = """
SELECT c.customer_id, c.kind, c.region, c.sector, c.channel, c.timezone,
  c.consent_email, c.consent_sms, c.consent_phone, c.consent_mail,
  date_diff('day', c.acquired_at, $as_of) AS tenure_days,
  {anniversary} AS days_to_anniversary,
  {birthday} AS days_to_birthday,
  coalesce(m.orders, 0) AS orders, coalesce(m.revenue, 0.0) AS revenue, coalesce(m.margin, 0.0) AS margin,
  date_diff('day', p.first_d, $as_of) AS days_since_first_purchase,
  date_diff('day', p.last_d, $as_of) AS days_since_last_purchase,
  date_diff('day', p.react_d, $as_of) AS days_since_reactivation,
  p.mean_gap AS mean_gap_days,
  CASE WHEN p.mean_gap > 0 THEN p.sd_gap / p.mean_gap END AS purchase_cv,
  coalesce(p.buy_days >= $min_orders AND p.mean_gap > 0 AND p.sd_gap / p.mean_gap < $max_cv, false)
    AS is_regular_buyer,
  CASE WHEN p.buy_days >= $min_orders AND p.mean_gap > 0 AND p.sd_gap / p.mean_gap < $max_cv
       THEN p.mean_gap - date_diff('day', p.last_d, $as_of) END AS days_to_next_order,
  coalesce(s.mrr, 0.0) AS mrr, coalesce(s.active_subscriptions, 0) AS active_subscriptions,
  s.days_to_renewal, date_diff('day', s.last_end, $as_of) AS days_since_subscription_end,
  CASE WHEN coalesce(s.active_subscriptions, 0) > 0 THEN 0
       ELSE coalesce(date_diff('day', p.last_d, $as_of), date_diff('day', c.acquired_at, $as_of)) END
    AS days_inactive,
  coalesce(y.late_payments, 0) AS late_payments, coalesce(y.days_past_due, 0) AS days_past_due,
  coalesce(k.open_complaint, false) AS open_complaint,
  coalesce(k.complaints_90d, 0) AS complaints_90d, coalesce(k.contacts_90d, 0) AS contacts_90d,
  v.nps, date_diff('day', v.last_survey, $as_of) AS days_since_survey{scores}
FROM cust c
LEFT JOIN money m USING (customer_id)
LEFT JOIN pur p USING (customer_id)
LEFT JOIN sub s USING (customer_id)
LEFT JOIN pay y USING (customer_id)
LEFT JOIN con k USING (customer_id)
LEFT JOIN srv v USING (customer_id)
LEFT JOIN sc USING (customer_id)"""


def _q(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("duckdb")


def _score_pivot(scores: list[str]) -> tuple[str, str]:
    """The ``sc`` block (one column per score value and grade) and its select list.

    An ``uplift_*`` score takes its newest row even when empty (a cleared action), others their newest value.
    The null rows are filtered explicitly (DuckDB's ``arg_max`` skips them, Spark's ``max_by`` does not), and
    a newest row kept with its null is read through a struct, which neither backend skips.
    """
    cols, out = [], []
    for s in scores:
        lit = exp.Literal.string(s).sql("duckdb")
        if s.startswith("uplift_"):
            cols.append(f"arg_max({{'v': value}}, as_of) FILTER (WHERE score = {lit}).v AS {_q(s)}")
        else:
            cols.append(f"arg_max(value, as_of) FILTER (WHERE score = {lit} AND value IS NOT NULL) AS {_q(s)}")
        cols.append(f"arg_max(grade, as_of) FILTER (WHERE score = {lit} AND grade IS NOT NULL) AS {_q(s + '_grade')}")
        out += [f"sc.{_q(s)}", f"sc.{_q(s + '_grade')}"]
    names = ", ".join(exp.Literal.string(s).sql("duckdb") for s in scores) or "NULL"
    block = (
        f",\nsc AS (SELECT customer_id{''.join(', ' + c for c in cols)} FROM scores "
        f"WHERE as_of <= $as_of AND score IN ({names}) GROUP BY customer_id)"
    )
    return block, "".join(",\n  " + c for c in out)


def _value_risk(scores: list[str], value_score: str = "clv") -> str:
    value = f"sc.{_q(value_score)}" if value_score in scores else "NULL"
    value_grade = f"sc.{_q(value_score + '_grade')}" if value_score in scores else "NULL"
    churn = 'sc."churn_grade"' if "churn" in scores else "NULL"
    p_alive = 'sc."p_alive"' if "p_alive" in scores else "NULL"
    risk = (
        f"coalesce({churn}, CASE WHEN {p_alive} < 0.3 THEN 'high' WHEN {p_alive} < 0.7 THEN 'medium' "
        f"WHEN {p_alive} IS NOT NULL THEN 'low' END)"
    )
    return f",\n  {value} AS value, {value_grade} AS value_grade, {risk} AS risk_grade"


def _feature_block(cfg: SegmentsConfig) -> tuple[str, str, dict[str, str]]:
    """The ``feat`` block (the stored features of ``$as_of``), its join and the SQL of each configured column.

    A configured column is a feature (validated by the settings) or ``holds_<slug>``, read from ``products_held``.
    """
    if not cfg.columns:
        return "", "", {}
    sql: dict[str, str] = {}
    for name in cfg.columns:
        if name.startswith(HOLDS_PREFIX):
            slug = exp.Literal.string(";" + name.removeprefix(HOLDS_PREFIX) + ";").sql("duckdb")
            sql[name] = f"contains(';' || f.{_q(PRODUCTS_HELD)} || ';', {slug})"
        else:
            sql[name] = f"f.{_q(name)}"
    wanted = [PRODUCTS_HELD if c.startswith(HOLDS_PREFIX) else c for c in cfg.columns]
    cols = ", ".join(_q(c) for c in dict.fromkeys(wanted))
    block = f",\nfeat AS (SELECT customer_id, {cols} FROM {FEATURES_TABLE.name} WHERE as_of = $as_of)"
    return block, "\nLEFT JOIN feat f USING (customer_id)", sql


def base_query(cfg: SegmentsConfig, extra_scores: Sequence[str] = ()) -> str:
    """The SQL of the attribute base (parameters ``$as_of``, ``$gap``, ``$min_orders``, ``$max_cv``).

    Each configured extra column (``segments.columns``) comes from the stored ``features`` partition of
    ``$as_of`` (:mod:`cvm.features.persist` writes it; the engine writes it first when it is missing).
    ``extra_scores`` are scores read besides ``segments.scores`` (the uplift scores, :func:`uplift_scores`).
    """
    block, score_cols = _score_pivot([*cfg.scores, *(s for s in extra_scores if s not in cfg.scores)])
    feat, join, sql = _feature_block(cfg)
    extras = ""
    for name, kind in cfg.columns.items():
        cast = {"number": "DOUBLE", "string": "VARCHAR", "bool": "BOOLEAN"}[kind]
        extras += f",\n  CAST({sql[name]} AS {cast}) AS {_q(name)}"
    select = _SELECT.format(
        anniversary=_days_to_next("c.acquired_at"),
        birthday=f"CASE WHEN c.birth_date IS NOT NULL THEN {_days_to_next('c.birth_date')} END",
        scores=score_cols + _value_risk(list(cfg.scores), cfg.value_score) + extras,
    )
    return f"WITH {_BLOCKS}{block}{feat}{select}{join}"


def base_params(cfg: SegmentsConfig, as_of: date) -> dict[str, Any]:
    """The bound parameters of :func:`base_query`."""
    return {
        "as_of": as_of,
        "gap": cfg.reactivation_gap_days,
        "min_orders": cfg.regular_buyer.min_orders,
        "max_cv": cfg.regular_buyer.max_cv,
    }


def uplift_scores(con: duckdb.DuckDBPyConnection, as_of: date) -> list[str]:
    """The ``uplift_<action>`` scores stored by ``as_of`` (:mod:`cvm.scoring.uplift`): every one is an attribute."""
    sql = "SELECT DISTINCT score FROM scores WHERE as_of <= $as_of AND starts_with(score, 'uplift_') ORDER BY 1"
    return [str(r[0]) for r in con.execute(sql, {"as_of": as_of}).fetchall()]


def build_base(con: duckdb.DuckDBPyConnection, cfg: SegmentsConfig, as_of: date, table: str = "attrs") -> int:
    """Create (or replace) the temporary table ``table`` holding the attribute base; return its rows."""
    sql = base_query(cfg, uplift_scores(con, as_of))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_q(table)} AS {sql}", base_params(cfg, as_of))
    return int(con.execute(f"SELECT count(*) FROM {_q(table)}").fetchall()[0][0])


def base_columns(cfg: SegmentsConfig) -> list[str]:
    """The columns :func:`build_base` produces, in order."""
    cols = list(BASE_ATTRIBUTES)
    for s in cfg.scores:
        cols += [s, f"{s}_grade"]
    cols = [c for c in cols if c not in ("value", "value_grade", "risk_grade")]
    return [*cols, "value", "value_grade", "risk_grade", *cfg.columns]
