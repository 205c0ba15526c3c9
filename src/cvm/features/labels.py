"""Labels: what happened to each customer in the horizon after ``as_of`` (SQL, DuckDB and Spark).

The population of every label is the customers *active* at ``as_of`` (by data known then): holding
a subscription, or with a purchase in the ``inactivity_days`` before ``as_of``. Windows are
half-open, ``[as_of, as_of + horizon)``, and a label needs data up to the end of its follow-up.

Churn within ``horizon_days``
    - contract customers (a subscription active at ``as_of``): no subscription is active any more at
      ``as_of + horizon_days``;
    - customers without a contract: their activity ends inside the window, i.e. their last purchase
      before a gap of more than ``inactivity_days`` falls in the window. A customer whose last
      purchase was before ``as_of`` and who never comes back had already left and counts 0. The
      churn date is the last purchase (as for BG/NBD dropout), known only ``inactivity_days`` later.

Default within ``horizon_days`` (default 365)
    Behavioural "bad": an invoice reaches 60 days past due inside the window (unpaid, or paid 60 or
    more days after its due date). Customers already 60+ days past due on some invoice on or
    before ``as_of`` are left out (they are bad already).

Adoption of a product within ``horizon_days``
    A subscription to the product starts in the window; null for customers already holding it at
    ``as_of`` (not eligible). ``upsell``: the MRR at the end of the window exceeds the MRR at
    ``as_of`` (customers with a subscription only).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import duckdb
import polars as pl

from cvm.features.build import Source, as_date, connection, products_of
from cvm.features.on_backend import frame_of, observed_until_on, remote
from cvm.features.sql import Dialect, date_literal, product_slug, string_literal, to_dialect

ACTIVE = """
subs_now AS (
  SELECT customer_id, SUM(mrr) AS mrr_now FROM subscriptions
  WHERE start < {as_of} AND ("end" IS NULL OR "end" >= {as_of})
  GROUP BY customer_id
),
buy AS (
  SELECT customer_id, CAST(ts AS DATE) AS d FROM transactions WHERE amount > 0
),
buy_before AS (
  SELECT customer_id, MAX(d) AS last_before FROM buy WHERE d < {as_of} GROUP BY customer_id
),
pop AS (
  SELECT c.customer_id, s.customer_id IS NOT NULL AS contract, COALESCE(s.mrr_now, 0.0) AS mrr_now
  FROM customers AS c
  LEFT JOIN subs_now AS s ON s.customer_id = c.customer_id
  LEFT JOIN buy_before AS b ON b.customer_id = c.customer_id
  WHERE c.acquired_at < {as_of} AND (s.customer_id IS NOT NULL OR b.last_before >= {inactive_since})
)"""

CHURN = """
WITH {active},
subs_then AS (
  SELECT customer_id FROM subscriptions
  WHERE start < {until} AND ("end" IS NULL OR "end" >= {until})
  GROUP BY customer_id
),
buy_in AS (
  SELECT customer_id, MAX(d) AS last_in FROM buy WHERE d >= {as_of} AND d < {until} GROUP BY customer_id
),
buy_after AS (
  SELECT customer_id, MIN(d) AS next_after FROM buy WHERE d >= {until} GROUP BY customer_id
)
SELECT p.customer_id, {as_of} AS as_of, p.contract,
  CASE
    WHEN p.contract THEN CASE WHEN t.customer_id IS NULL THEN 1 ELSE 0 END
    WHEN i.last_in IS NOT NULL
      AND (a.next_after IS NULL OR DATE_DIFF('day', i.last_in, a.next_after) > {inactivity_days}) THEN 1
    ELSE 0
  END AS churn
FROM pop AS p
LEFT JOIN subs_then AS t ON t.customer_id = p.customer_id
LEFT JOIN buy_in AS i ON i.customer_id = p.customer_id
LEFT JOIN buy_after AS a ON a.customer_id = p.customer_id"""

DEFAULT = """
WITH {active},
bad_before AS (
  SELECT customer_id FROM payments
  WHERE due_date <= {bad_by} AND (paid_date IS NULL OR DATE_DIFF('day', due_date, paid_date) >= {dpd})
  GROUP BY customer_id
),
bad_in AS (
  SELECT customer_id FROM payments
  WHERE due_date > {bad_by} AND due_date < {due_until}
    AND (paid_date IS NULL OR DATE_DIFF('day', due_date, paid_date) >= {dpd})
  GROUP BY customer_id
)
SELECT p.customer_id, {as_of} AS as_of, CASE WHEN i.customer_id IS NULL THEN 0 ELSE 1 END AS defaulted
FROM pop AS p
LEFT JOIN bad_in AS i ON i.customer_id = p.customer_id
LEFT JOIN bad_before AS b ON b.customer_id = p.customer_id
WHERE b.customer_id IS NULL"""

ADOPTION = """
WITH {active},
held AS (
  SELECT customer_id{held} FROM subscriptions
  WHERE start < {as_of} AND ("end" IS NULL OR "end" >= {as_of})
  GROUP BY customer_id
),
started AS (
  SELECT customer_id{started} FROM subscriptions
  WHERE start >= {as_of} AND start < {until}
  GROUP BY customer_id
),
mrr_then AS (
  SELECT customer_id, SUM(mrr) AS mrr_then FROM subscriptions
  WHERE start < {until} AND ("end" IS NULL OR "end" >= {until})
  GROUP BY customer_id
)
SELECT p.customer_id, {as_of} AS as_of{adopt},
  CASE WHEN p.contract THEN CASE WHEN COALESCE(m.mrr_then, 0.0) > p.mrr_now THEN 1 ELSE 0 END END AS upsell
FROM pop AS p
LEFT JOIN held AS h ON h.customer_id = p.customer_id
LEFT JOIN started AS s ON s.customer_id = p.customer_id
LEFT JOIN mrr_then AS m ON m.customer_id = p.customer_id"""


def _common(as_of: date, horizon_days: int, inactivity_days: int) -> dict[str, str]:
    if horizon_days < 1 or inactivity_days < 1:
        raise ValueError(f"horizon_days and inactivity_days must be positive, got {horizon_days}, {inactivity_days}")
    lit = {
        "as_of": date_literal(as_of),
        "until": date_literal(as_of + timedelta(days=horizon_days)),
        "inactive_since": date_literal(as_of - timedelta(days=inactivity_days)),
        "inactivity_days": str(int(inactivity_days)),
    }
    return {**lit, "active": ACTIVE.format(**lit)}


def churn_sql(as_of: date, horizon_days: int = 90, inactivity_days: int = 365, dialect: Dialect = "duckdb") -> str:
    """Churn labels (see the module docstring): ``customer_id, as_of, contract, churn``."""
    return to_dialect(CHURN.format(**_common(as_of, horizon_days, inactivity_days)), dialect)


def default_sql(
    as_of: date, horizon_days: int = 365, inactivity_days: int = 365, dpd: int = 60, dialect: Dialect = "duckdb"
) -> str:
    """Default labels: ``customer_id, as_of, defaulted`` (ever ``dpd``+ days past due in the window)."""
    lit = _common(as_of, horizon_days, inactivity_days)
    lit["bad_by"] = date_literal(as_of - timedelta(days=dpd))
    lit["due_until"] = date_literal(as_of + timedelta(days=horizon_days - dpd))
    lit["dpd"] = str(int(dpd))
    return to_dialect(DEFAULT.format(**lit), dialect)


def adoption_sql(
    as_of: date,
    products: Sequence[str],
    horizon_days: int = 90,
    inactivity_days: int = 365,
    dialect: Dialect = "duckdb",
) -> str:
    """Adoption labels: ``customer_id, as_of, adopt_<product>..., upsell``."""
    lit = _common(as_of, horizon_days, inactivity_days)
    flag = "MAX(CASE WHEN product = {p} THEN 1 ELSE 0 END) AS {c}"
    held = "".join(",\n    " + flag.format(p=string_literal(p), c=f"h_{product_slug(p)}") for p in products)
    started = "".join(",\n    " + flag.format(p=string_literal(p), c=f"s_{product_slug(p)}") for p in products)
    adopt = "".join(
        f",\n  CASE WHEN COALESCE(h.h_{s}, 0) = 1 THEN NULL ELSE COALESCE(s.s_{s}, 0) END AS adopt_{s}"
        for s in (product_slug(p) for p in products)
    )
    return to_dialect(ADOPTION.format(**lit, held=held, started=started, adopt=adopt), dialect)


#: The last day with data (:func:`observed_until`), one query for every backend.
OBSERVED_SQL = (
    "SELECT GREATEST((SELECT MAX(CAST(ts AS DATE)) FROM transactions),"
    " (SELECT MAX(due_date) FROM payments WHERE due_date <= CURRENT_DATE), (SELECT MAX(start) FROM subscriptions))"
    " AS last"
)


def observed_until(con: duckdb.DuckDBPyConnection) -> date | None:
    """The last day with data: the latest transaction, subscription start or invoice due date already passed.

    Open invoices may fall due later (``payments.due_date`` accepts future dates); they are not observed data.
    """
    row = con.execute(OBSERVED_SQL).fetchall()
    value = row[0][0] if row else None
    return value.date() if isinstance(value, datetime) else value


def _check_observed(last: date | None, needed: date, what: str) -> None:
    if last is not None and last + timedelta(days=1) < needed:
        raise ValueError(
            f"{what} needs data until {needed - timedelta(days=1)}, but the data end on {last}; "
            "choose an earlier as_of or a shorter horizon (or pass check=False)"
        )


def _run(source: Source, sql: str, needed: date, what: str, check: bool) -> pl.DataFrame:
    backend = remote(source)
    if backend is not None:  # a remote backend (Spark) runs the same query
        if check:
            _check_observed(observed_until_on(backend), needed, what)
        return frame_of(backend, sql + "\nORDER BY 1")
    with connection(source) as con:
        if check:
            _check_observed(observed_until(con), needed, what)
        frame: pl.DataFrame = con.sql(sql + "\nORDER BY 1").pl()
        return frame


def churn_labels(
    source: Source,
    as_of: date | datetime | str,
    horizon_days: int = 90,
    *,
    inactivity_days: int = 365,
    check: bool = True,
) -> pl.DataFrame:
    """Churn within ``horizon_days`` of the customers active at ``as_of`` (see the module docstring).

    Needs data until ``as_of + horizon_days + inactivity_days`` (customers without a contract);
    ``check`` refuses an ``as_of`` too recent for that.
    """
    day = as_date(as_of)
    needed = day + timedelta(days=horizon_days + inactivity_days)
    return _run(source, churn_sql(day, horizon_days, inactivity_days), needed, "churn within the horizon", check)


def default_labels(
    source: Source,
    as_of: date | datetime | str,
    horizon_days: int = 365,
    *,
    inactivity_days: int = 365,
    dpd: int = 60,
    check: bool = True,
) -> pl.DataFrame:
    """Ever ``dpd``+ days past due within ``horizon_days`` after ``as_of`` (behavioural bad)."""
    day = as_date(as_of)
    needed = day + timedelta(days=horizon_days)
    sql = default_sql(day, horizon_days, inactivity_days, dpd)
    return _run(source, sql, needed, "the default label", check)


def adoption_labels(
    source: Source,
    as_of: date | datetime | str,
    horizon_days: int = 90,
    *,
    products: Sequence[str] | None = None,
    inactivity_days: int = 365,
    check: bool = True,
) -> pl.DataFrame:
    """Adoption of each product (``adopt_<product>``, null where held) and ``upsell`` within the horizon."""
    day = as_date(as_of)
    chosen = list(products) if products is not None else products_of(source, day + timedelta(days=horizon_days))
    sql = adoption_sql(day, chosen, horizon_days, inactivity_days)
    return _run(source, sql, day + timedelta(days=horizon_days), "adoption within the horizon", check)
