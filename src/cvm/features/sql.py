"""Per-customer feature definitions, written once in DuckDB SQL and transpiled to Spark by sqlglot.

Point in time
-------------
A feature set *as of* a date is what was knowable at the start of that day (00:00 UTC):

- timestamped rows (transactions, contacts, surveys) count when their UTC date is before ``as_of``;
- dated rows (ratings, subscription starts, invoice due dates) count when the date is before ``as_of``;
- a subscription ``end`` or an invoice ``paid_date`` on or after ``as_of`` is treated as not yet
  happened: the subscription is still active, the invoice still open, and its days past due run
  until ``as_of``;
- every window boundary is a literal date computed in Python, so each block is plain SQL.

Known limit: a contact's ``outcome`` carries no timestamp, so "open" means open in the data as
loaded, not necessarily as of ``as_of``.

On Spark, run :func:`feature_query` with ``dialect="spark"`` and ``spark.sql.session.timeZone`` set
to UTC (DuckDB connections are set to UTC by :func:`cvm.features.build.build_features`).

Each block is one common table expression; :func:`feature_query` joins them to the customers
acquired before ``as_of``. :data:`FEATURES` documents every output column.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from cvm.contracts.features import FEATURE_COLUMNS, HOLDS_PREFIX
from cvm.contracts.tables import complaint_status_sql
from cvm.dialect import to_spark_sql

Dialect = Literal["duckdb", "spark"]

#: Offsets (days before ``as_of``) of the window boundaries that the blocks use.
_WINDOWS = {"d90": 90, "d180": 180, "d182": 182, "d365": 365}

BASE = """
cust AS (
  SELECT customer_id, kind, region, sector, channel, acquired_at
  FROM customers
  WHERE acquired_at < {as_of}
),
tx AS (
  SELECT customer_id, CAST(ts AS DATE) AS d, amount, margin
  FROM transactions
  WHERE CAST(ts AS DATE) < {as_of}
),
subs AS (
  SELECT customer_id, product, start, "end" AS stop, mrr
  FROM subscriptions
  WHERE start < {as_of}
),
pay AS (
  SELECT customer_id, due_date, amount,
    CASE WHEN paid_date < {as_of} THEN paid_date END AS paid,
    GREATEST(DATE_DIFF('day', due_date, CASE WHEN paid_date < {as_of} THEN paid_date ELSE {as_of} END), 0) AS dpd
  FROM payments
  WHERE due_date < {as_of}
),
con AS (
  SELECT customer_id, CAST(ts AS DATE) AS d, topic, outcome, direction
  FROM contacts
  WHERE CAST(ts AS DATE) < {as_of}
),
srv AS (
  SELECT customer_id, CAST(ts AS DATE) AS d, nps,
    ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY ts DESC) AS rn
  FROM surveys
  WHERE CAST(ts AS DATE) < {as_of} AND nps IS NOT NULL
),
rat AS (
  SELECT customer_id, ts AS d, score,
    ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY ts DESC, source) AS rn,
    ROW_NUMBER() OVER (
      PARTITION BY customer_id, CASE WHEN ts < {d182} THEN 1 ELSE 0 END ORDER BY ts DESC, source
    ) AS rn_old
  FROM ratings
  WHERE ts < {as_of} AND score IS NOT NULL
)"""

BLOCKS: dict[str, str] = {
    "tx_f": """
tx_f AS (
  SELECT customer_id,
    COUNT(CASE WHEN amount > 0 THEN 1 END) AS purchases_total,
    COUNT(CASE WHEN amount > 0 AND d >= {d365} THEN 1 END) AS purchases_365d,
    COUNT(CASE WHEN amount > 0 AND d >= {d90} THEN 1 END) AS purchases_90d,
    SUM(amount) AS revenue_total,
    SUM(CASE WHEN d >= {d365} THEN amount ELSE 0 END) AS revenue_365d,
    SUM(CASE WHEN d >= {d90} THEN amount ELSE 0 END) AS revenue_90d,
    SUM(CASE WHEN d >= {d180} AND d < {d90} THEN amount ELSE 0 END) AS revenue_prev_90d,
    SUM(CASE WHEN d >= {d365} THEN margin ELSE 0 END) AS margin_365d,
    COUNT(CASE WHEN amount < 0 AND d >= {d365} THEN 1 END) AS refunds_365d,
    AVG(CASE WHEN amount > 0 THEN amount END) AS avg_purchase,
    MIN(CASE WHEN amount > 0 THEN d END) AS first_purchase,
    MAX(CASE WHEN amount > 0 THEN d END) AS last_purchase
  FROM tx
  GROUP BY customer_id
)""",
    "subs_f": """
subs_f AS (
  SELECT customer_id,
    COUNT(CASE WHEN stop IS NULL OR stop >= {as_of} THEN 1 END) AS active_subscriptions,
    SUM(CASE WHEN stop IS NULL OR stop >= {as_of} THEN mrr ELSE 0 END) AS mrr,
    SUM(CASE WHEN start < {d90} AND (stop IS NULL OR stop >= {d90}) THEN mrr ELSE 0 END) AS mrr_90d_ago,
    MIN(start) AS first_subscription,
    COUNT(CASE WHEN start >= {d365} THEN 1 END) AS subscriptions_started_365d,
    COUNT(CASE WHEN stop >= {d365} AND stop < {as_of} THEN 1 END) AS subscriptions_ended_365d{holdings}
  FROM subs
  GROUP BY customer_id
)""",
    "pay_f": """
pay_f AS (
  SELECT customer_id,
    COUNT(CASE WHEN due_date >= {d365} THEN 1 END) AS invoices_365d,
    AVG(CASE WHEN due_date >= {d365} THEN dpd END) AS dpd_mean_365d,
    MAX(CASE WHEN due_date >= {d365} OR paid IS NULL OR paid >= {d365} THEN dpd END) AS dpd_max_365d,
    MAX(CASE WHEN due_date >= {d90} OR paid IS NULL OR paid >= {d90} THEN dpd END) AS dpd_max_90d,
    MAX(dpd) AS dpd_max_ever,
    AVG(CASE WHEN due_date >= {d365} THEN CAST(dpd > 0 AS DOUBLE) END) AS late_share_365d,
    AVG(CASE WHEN due_date >= {d90} THEN CAST(dpd > 0 AS DOUBLE) END) AS late_share_90d,
    SUM(CASE WHEN paid IS NULL THEN amount ELSE 0 END) AS open_overdue_amount,
    COUNT(CASE WHEN paid IS NULL THEN 1 END) AS open_overdue_invoices,
    MAX(CASE WHEN paid IS NULL THEN dpd END) AS current_dpd
  FROM pay
  GROUP BY customer_id
)""",
    "con_f": """
con_f AS (
  SELECT customer_id,
    COUNT(CASE WHEN d >= {d90} THEN 1 END) AS contacts_90d,
    COUNT(CASE WHEN d >= {d365} THEN 1 END) AS contacts_365d,
    COUNT(CASE WHEN direction = 'inbound' AND d >= {d90} THEN 1 END) AS inbound_contacts_90d,
    COUNT(CASE WHEN topic = 'complaint' AND d >= {d90} THEN 1 END) AS complaints_90d,
    COUNT(CASE WHEN topic = 'complaint' AND d >= {d365} THEN 1 END) AS complaints_365d,
    COUNT(CASE WHEN topic = 'cancellation_request' AND d >= {d90} THEN 1 END) AS cancellation_requests_90d,
    COUNT(CASE WHEN topic = 'payment_reminder' AND d >= {d90} THEN 1 END) AS payment_reminders_90d,
    COUNT(CASE WHEN topic = 'sales_visit' AND d >= {d365} THEN 1 END) AS sales_visits_365d,
    COUNT(CASE WHEN """
    + complaint_status_sql("outcome")
    + """ = 'open' AND (direction IS NULL OR direction <> 'outbound') AND d >= {d365} THEN 1 END)
      AS open_tickets,
    MAX(d) AS last_contact
  FROM con
  GROUP BY customer_id
)""",
    "nps_f": """
nps_f AS (
  SELECT customer_id,
    MAX(CASE WHEN rn = 1 THEN nps END) AS nps_last,
    MAX(CASE WHEN rn = 2 THEN nps END) AS nps_previous,
    AVG(CAST(nps AS DOUBLE)) AS nps_mean,
    COUNT(*) AS surveys,
    MAX(d) AS last_survey
  FROM srv
  GROUP BY customer_id
)""",
    "rat_f": """
rat_f AS (
  SELECT customer_id,
    MAX(CASE WHEN rn = 1 THEN score END) AS rating_score,
    MAX(CASE WHEN rn_old = 1 AND d < {d182} THEN score END) AS rating_score_6m_ago,
    MIN(CASE WHEN d >= {d365} THEN score END) AS rating_min_365d,
    MAX(d) AS last_rating
  FROM rat
  GROUP BY customer_id
)""",
}

_DAYS = "DATE_DIFF('day', {col}, {as_of})"

SELECT = """
SELECT
  c.customer_id,
  {as_of} AS as_of,
  c.kind, c.region, c.sector, c.channel,
  DATE_DIFF('day', c.acquired_at, {as_of}) AS tenure_days,
  COALESCE(t.purchases_total, 0) AS purchases_total,
  COALESCE(t.purchases_365d, 0) AS purchases_365d,
  COALESCE(t.purchases_90d, 0) AS purchases_90d,
  COALESCE(t.revenue_total, 0.0) AS revenue_total,
  COALESCE(t.revenue_365d, 0.0) AS revenue_365d,
  COALESCE(t.revenue_90d, 0.0) AS revenue_90d,
  COALESCE(t.revenue_prev_90d, 0.0) AS revenue_prev_90d,
  COALESCE(t.revenue_90d, 0.0) - COALESCE(t.revenue_prev_90d, 0.0) AS revenue_trend_90d,
  COALESCE(t.margin_365d, 0.0) AS margin_365d,
  COALESCE(t.refunds_365d, 0) AS refunds_365d,
  t.avg_purchase,
  {recency} AS recency_days,
  CAST(DATE_DIFF('day', t.first_purchase, t.last_purchase) AS DOUBLE) / NULLIF(t.purchases_total - 1, 0)
    AS mean_gap_days,
  CAST(COALESCE(t.purchases_total, 0) AS DOUBLE) * 365.25
    / GREATEST(DATE_DIFF('day', c.acquired_at, {as_of}), 30) AS purchases_per_year,
  COALESCE(s.active_subscriptions, 0) AS active_subscriptions,
  COALESCE(s.mrr, 0.0) AS mrr,
  COALESCE(s.mrr, 0.0) - COALESCE(s.mrr_90d_ago, 0.0) AS mrr_change_90d,
  DATE_DIFF('day', s.first_subscription, {as_of}) AS subscription_tenure_days,
  COALESCE(s.subscriptions_started_365d, 0) AS subscriptions_started_365d,
  COALESCE(s.subscriptions_ended_365d, 0) AS subscriptions_ended_365d,{holdings}
  COALESCE(p.invoices_365d, 0) AS invoices_365d,
  p.dpd_mean_365d, p.dpd_max_365d, p.dpd_max_90d, p.dpd_max_ever, p.late_share_365d, p.late_share_90d,
  COALESCE(p.open_overdue_amount, 0.0) AS open_overdue_amount,
  COALESCE(p.open_overdue_invoices, 0) AS open_overdue_invoices,
  COALESCE(p.current_dpd, 0) AS current_dpd,
  COALESCE(k.contacts_90d, 0) AS contacts_90d,
  COALESCE(k.contacts_365d, 0) AS contacts_365d,
  COALESCE(k.inbound_contacts_90d, 0) AS inbound_contacts_90d,
  COALESCE(k.complaints_90d, 0) AS complaints_90d,
  COALESCE(k.complaints_365d, 0) AS complaints_365d,
  COALESCE(k.cancellation_requests_90d, 0) AS cancellation_requests_90d,
  COALESCE(k.payment_reminders_90d, 0) AS payment_reminders_90d,
  COALESCE(k.sales_visits_365d, 0) AS sales_visits_365d,
  COALESCE(k.open_tickets, 0) AS open_tickets,
  {since_contact} AS days_since_last_contact,
  n.nps_last, n.nps_previous, n.nps_last - n.nps_previous AS nps_trend, n.nps_mean,
  COALESCE(n.surveys, 0) AS surveys,
  {since_survey} AS days_since_last_survey,
  r.rating_score, r.rating_score_6m_ago, r.rating_score - r.rating_score_6m_ago AS rating_change_6m,
  r.rating_min_365d,
  {since_rating} AS days_since_last_rating
FROM cust AS c
LEFT JOIN tx_f AS t ON t.customer_id = c.customer_id
LEFT JOIN subs_f AS s ON s.customer_id = c.customer_id
LEFT JOIN pay_f AS p ON p.customer_id = c.customer_id
LEFT JOIN con_f AS k ON k.customer_id = c.customer_id
LEFT JOIN nps_f AS n ON n.customer_id = c.customer_id
LEFT JOIN rat_f AS r ON r.customer_id = c.customer_id"""

CATEGORICAL = ("kind", "region", "sector", "channel")

#: Every output column (besides ``customer_id``, ``as_of`` and ``holds_<product>``) and its meaning: the one list
#: in :data:`cvm.contracts.features.FEATURE_COLUMNS`, which also types the persisted ``features`` table.
FEATURES: dict[str, str] = {name: meaning for name, _, meaning in FEATURE_COLUMNS}


@dataclass(frozen=True)
class Snapshot:
    """The literal dates a feature query needs, all derived from ``as_of``."""

    as_of: date

    def literals(self) -> dict[str, str]:
        """``as_of`` and each window boundary as a SQL date literal."""
        out = {"as_of": date_literal(self.as_of)}
        out.update({k: date_literal(self.as_of - timedelta(days=v)) for k, v in _WINDOWS.items()})
        return out


def date_literal(value: date) -> str:
    """A portable SQL date literal."""
    return f"CAST('{value.isoformat()}' AS DATE)"


def string_literal(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def product_slug(product: str) -> str:
    """A product name usable in column names: lower case, other characters to ``_``."""
    slug = re.sub(r"[^0-9a-z]+", "_", product.lower()).strip("_")
    if not slug:
        raise ValueError(f"product {product!r} has no usable name for a feature column")
    return slug


def product_column(product: str) -> str:
    """The ``holds_<product>`` feature column of a product."""
    return f"{HOLDS_PREFIX}{product_slug(product)}"


def _holdings(products: Sequence[str], as_of: str) -> tuple[str, str]:
    """The per-product flags inside ``subs_f`` and in the final select."""
    inner = "".join(
        f",\n    MAX(CASE WHEN product = {string_literal(p)} AND (stop IS NULL OR stop >= {as_of}) THEN 1 ELSE 0 END)"
        f" AS {product_column(p)}"
        for p in products
    )
    outer = "".join(f"\n  COALESCE(s.{product_column(p)}, 0) AS {product_column(p)}," for p in products)
    return inner, outer


def feature_blocks(as_of: date, products: Sequence[str] = ()) -> dict[str, str]:
    """Each feature block as a stand-alone query (``WITH`` base ``SELECT * FROM`` block), for checks."""
    lit = Snapshot(as_of).literals()
    inner, _ = _holdings(products, lit["as_of"])
    base = BASE.format(**lit)
    return {
        name: f"WITH {base},{block.format(holdings=inner, **lit)}\nSELECT * FROM {name}"
        for name, block in BLOCKS.items()
    }


def feature_query(as_of: date, products: Sequence[str] = (), dialect: Dialect = "duckdb") -> str:
    """The whole feature query as of ``as_of``: one row per customer acquired before that day.

    Parameters
    ----------
    as_of
        Snapshot date; only what was known at its start (00:00 UTC) is used.
    products
        Subscription products that get a ``holds_<product>`` flag.
    dialect
        ``duckdb`` (as written) or ``spark`` (transpiled with sqlglot).

    Examples
    --------
    >>> sql = feature_query(date(2024, 6, 30), ["basic"], dialect="spark")
    >>> "holds_basic" in sql and "DATEDIFF" in sql
    True
    """
    lit = Snapshot(as_of).literals()
    inner, outer = _holdings(products, lit["as_of"])
    days = {
        "recency": _DAYS.format(col="t.last_purchase", as_of=lit["as_of"]),
        "since_contact": _DAYS.format(col="k.last_contact", as_of=lit["as_of"]),
        "since_survey": _DAYS.format(col="n.last_survey", as_of=lit["as_of"]),
        "since_rating": _DAYS.format(col="r.last_rating", as_of=lit["as_of"]),
    }
    blocks = ",".join(block.format(holdings=inner, **lit) for block in BLOCKS.values())
    sql = f"WITH {BASE.format(**lit)},{blocks}{SELECT.format(holdings=outer, **lit, **days)}"
    return to_dialect(sql, dialect)


def to_dialect(sql: str, dialect: Dialect) -> str:
    """Return ``sql`` (DuckDB) unchanged, or transpiled to Spark SQL with sqlglot."""
    if dialect == "duckdb":
        return sql
    if dialect != "spark":
        raise ValueError(f"unknown dialect {dialect!r}; use 'duckdb' or 'spark'")
    return to_spark_sql(sql, strict=True)
