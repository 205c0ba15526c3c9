"""Churn events, silent-churn flags and the last date of the data as SQL, written once in DuckDB's dialect.

The definitions are those of :mod:`cvm.reporting.churn`. The offline backend runs these queries over the hub
tables (DuckDB in this process, or Spark with the query transpiled by sqlglot), so only the churn counts per
period and reason reach this process; the pure functions of :mod:`cvm.reporting.churn` run the same queries
on an in-process DuckDB over the frames they are given (:func:`cvm.reporting.queries.run_local`).

Money is integer cents per row (``round(amount * 100)``, half away from zero, on both backends), summed as
``BIGINT``: exact. Values are bound as literals (:func:`cvm.rules.bind.bind`); names come from our code only.
"""

from __future__ import annotations

from datetime import date

from sqlglot import exp

from cvm.contracts.tables import INVOLUNTARY_REASONS, VOLUNTARY_REASONS
from cvm.reporting.periods import PeriodCode
from cvm.reporting.queries import period_sql, within
from cvm.rules.bind import bind

#: The columns of :func:`events_sql` (money in integer cents).
EVENT_COLUMNS = ("customer_id", "churned_at", "basis", "reason", "reason_type", "mrr_cents", "revenue_cents")


def _strings(values: tuple[str, ...]) -> str:
    return ", ".join(exp.Literal.string(v).sql("duckdb") for v in values)


def _cents(amount: str) -> str:
    return f"CAST(round({amount} * 100) AS BIGINT)"


def data_end_sql() -> str:
    """One row: ``seen`` (the latest transaction date or contract start) and ``ended`` (the latest contract end
    on or before it); the last date of the data is the later of the two (:func:`cvm.reporting.churn.data_end`)."""
    seen = (
        "SELECT max(d) AS d FROM (SELECT max(CAST(ts AS DATE)) AS d FROM transactions "
        "UNION ALL SELECT max(start) AS d FROM subscriptions) x"
    )
    return (
        f'WITH seen AS ({seen}) SELECT (SELECT d FROM seen) AS seen, (SELECT max(s."end") FROM subscriptions s, '
        'seen WHERE s."end" <= seen.d) AS ended'
    )


def events_sql(as_of: date, inactivity_days: int, ids: str | None = None) -> str:
    """One row per customer churned as of ``as_of``: :data:`EVENT_COLUMNS` (see :mod:`cvm.reporting.churn`).

    ``ids`` is the query of the customers a report filter selects (None: all).
    """
    reason_type = (
        f"CASE WHEN reason IN ({_strings(VOLUNTARY_REASONS)}) THEN 'voluntary' "
        f"WHEN reason IN ({_strings(INVOLUNTARY_REASONS)}) THEN 'involuntary' ELSE 'unknown' END"
    )
    ended = '("end" IS NOT NULL AND "end" <= $as_of)'
    query = f"""
WITH tx AS (
  SELECT customer_id, CAST(ts AS DATE) AS d, amount FROM transactions
  WHERE CAST(ts AS DATE) <= $as_of{within(ids)}),
buys AS (SELECT customer_id, max(d) AS last_tx FROM tx WHERE amount > 0 GROUP BY customer_id),
subs AS (
  SELECT customer_id, "end", mrr, end_reason, {ended} AS ended FROM subscriptions
  WHERE start <= $as_of{within(ids)}),
per AS (
  SELECT customer_id, bool_or(NOT ended) AS live, max(CASE WHEN ended THEN "end" END) AS last_end
  FROM subs GROUP BY customer_id),
at_end AS (
  SELECT s.customer_id, s.mrr, s.end_reason FROM subs s
  JOIN per p ON s.customer_id = p.customer_id AND s."end" = p.last_end),
mrr AS (SELECT customer_id, sum({_cents("mrr")}) AS mrr_cents FROM at_end GROUP BY customer_id),
why AS (
  SELECT customer_id, end_reason,
    row_number() OVER (PARTITION BY customer_id ORDER BY count(*) DESC, end_reason) AS rn
  FROM at_end WHERE end_reason IS NOT NULL GROUP BY customer_id, end_reason),
joined AS (
  SELECT coalesce(b.customer_id, p.customer_id) AS customer_id, b.last_tx, coalesce(p.live, FALSE) AS live,
    p.last_end
  FROM buys b FULL OUTER JOIN per p ON b.customer_id = p.customer_id),
kinds AS (
  SELECT *, (NOT live AND last_end IS NOT NULL AND (last_tx IS NULL OR last_tx <= last_end)) AS contract
  FROM joined),
churns AS (
  SELECT k.customer_id, CASE WHEN contract THEN last_end ELSE last_tx END AS churned_at,
    CASE WHEN contract THEN 'contract' ELSE 'inactivity' END AS basis,
    CASE WHEN contract THEN w.end_reason END AS reason,
    CASE WHEN contract THEN coalesce(m.mrr_cents, 0) ELSE 0 END AS mrr_cents
  FROM kinds k LEFT JOIN mrr m ON k.customer_id = m.customer_id
  LEFT JOIN why w ON k.customer_id = w.customer_id AND w.rn = 1
  WHERE contract OR (NOT live AND date_diff('day', last_tx, $as_of) > $inactivity)),
trailing AS (
  SELECT e.customer_id, sum({_cents("t.amount")}) AS tx_cents FROM churns e
  JOIN tx t ON e.customer_id = t.customer_id
  WHERE t.d <= e.churned_at AND date_diff('day', t.d, e.churned_at) < 365
  GROUP BY e.customer_id)
SELECT e.customer_id, e.churned_at, e.basis, e.reason, {reason_type} AS reason_type,
  CAST(e.mrr_cents AS BIGINT) AS mrr_cents,
  CAST(12 * e.mrr_cents + CASE WHEN t.tx_cents > 0 THEN t.tx_cents ELSE 0 END AS BIGINT) AS revenue_cents
FROM churns e LEFT JOIN trailing t ON e.customer_id = t.customer_id"""
    return bind(query, {"as_of": as_of, "inactivity": int(inactivity_days)})


def between_sql(events: str, since: date | None, until: date | None) -> str:
    """The rows of ``events`` churned from ``since`` to ``until`` (each inclusive; None: no bound)."""
    where = ["TRUE"]
    if since is not None:
        where.append("churned_at >= $since")
    if until is not None:
        where.append("churned_at <= $until")
    return bind(f"SELECT * FROM ({events}) e WHERE {' AND '.join(where)}", {"since": since, "until": until})


def flags_sql(
    events: str,
    lookback_days: int,
    loud_topics: tuple[str, ...],
    loud_lookback_days: int | None,
    table: str = "contacts",
) -> str:
    """``events`` plus ``contacted``, ``loud`` and ``silent`` (see :mod:`cvm.reporting.churn`)."""
    gap = "date_diff('day', c.d, e.churned_at)"
    near = f"c.d <= e.churned_at AND {gap} <= $lookback"
    loud = f"c.topic IN ({_strings(loud_topics)}) AND c.d <= e.churned_at"
    if loud_lookback_days is not None:
        loud += f" AND {gap} <= $loud_lookback"
    query = f"""
WITH churned AS ({events}),
seen AS (
  SELECT e.customer_id, bool_or({near}) AS contacted, bool_or({loud}) AS loud
  FROM (SELECT customer_id, CAST(ts AS DATE) AS d, topic FROM {table}) c
  JOIN churned e ON c.customer_id = e.customer_id GROUP BY e.customer_id)
SELECT e.*, coalesce(s.contacted, FALSE) AS contacted, coalesce(s.loud, FALSE) AS loud,
  NOT coalesce(s.contacted, FALSE) AND NOT coalesce(s.loud, FALSE) AS silent
FROM churned e LEFT JOIN seen s ON e.customer_id = s.customer_id"""
    params = {"lookback": int(lookback_days), "loud_lookback": loud_lookback_days}
    return bind(query, {k: v for k, v in params.items() if v is not None})


def cells_sql(rows: str, code: PeriodCode, keys: tuple[str, ...]) -> str:
    """Churned customers and their cents per (period ``p`` of the churn date, ``keys``) of ``rows``."""
    cols = "".join(f", {k}" for k in keys)
    return (
        f"SELECT {period_sql('churned_at', code)} AS p{cols}, count(*) AS customers, "
        "CAST(sum(mrr_cents) AS BIGINT) AS mrr_cents, CAST(sum(revenue_cents) AS BIGINT) AS revenue_cents "
        f"FROM ({rows}) r GROUP BY p{cols}"
    )
