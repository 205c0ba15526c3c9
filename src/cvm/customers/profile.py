"""Reading the 360° view of one customer, and searching the customer base.

Imports from sibling stages: :mod:`cvm.events.hubrows`, so that the events accepted since the last
run count in the 360 in the hub's own row shape before ``cvm run`` exports them; and
:mod:`cvm.scoring.reasons`, so that score reasons read as sentences with the customer's own values.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from cvm.contracts import DATA_TABLES
from cvm.customers.events import build_timeline
from cvm.errors import NotFoundError
from cvm.events.hubrows import HubRows, merged
from cvm.i18n.fold import fold, fold_expr
from cvm.store import OfflineStore


class UnknownCustomerError(NotFoundError, KeyError):
    """No customer with that id in the hub."""

    def __str__(self) -> str:
        return f"unknown customer {self.args[0]!r}"


def customer_rows(store: OfflineStore, customer_id: str, events: HubRows | None = None) -> dict[str, pl.DataFrame]:
    """Every hub row of one customer, table by table; ``events``: with the hub rows of events not exported yet.

    An event counts once: a natural key the hub already holds is that row, completed by what the
    event adds (see :mod:`cvm.events.hubrows`).
    """
    rows = {name: store.scan(name).filter(pl.col("customer_id") == customer_id).collect() for name in DATA_TABLES}
    for table in events.tables() if events else ():
        assert events is not None
        rows[table] = merged(table, events, rows[table])
    return rows


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in row.items()}


def _holdings(rows: dict[str, pl.DataFrame], today: date) -> dict[str, Any]:
    subs = rows["subscriptions"]
    active = subs.filter(pl.col("end").is_null() | (pl.col("end") > today))
    tx = rows["transactions"]
    products = (
        tx.group_by("product")
        .agg(
            pl.len().alias("purchases"),
            pl.col("amount").sum().round(2).alias("revenue"),
            pl.col("margin").sum().round(2).alias("margin"),
            pl.col("ts").max().alias("last_purchase"),
        )
        .sort("revenue", descending=True)
    )
    return {
        "subscriptions": [_jsonable(r) for r in active.sort("start").to_dicts()],
        "mrr": round(float(active["mrr"].sum()), 2),
        "products": [_jsonable(r) for r in products.to_dicts()],
    }


def _kpis(rows: dict[str, pl.DataFrame], today: date) -> dict[str, Any]:
    tx, pay, surveys = rows["transactions"], rows["payments"], rows["surveys"]
    overdue = pay.filter(pl.col("paid_date").is_null() & (pl.col("due_date") < today))
    last_nps = surveys.filter(pl.col("nps").is_not_null()).sort("ts").tail(1)
    rating = rows["ratings"].sort("ts").tail(1)
    return {
        "revenue": round(float(tx["amount"].sum()), 2),
        "margin": round(float(tx["margin"].sum()), 2),
        "transactions": tx.height,
        "first_purchase": _iso(tx["ts"].min()),
        "last_purchase": _iso(tx["ts"].max()),
        "open_overdue_amount": round(float(overdue["amount"].sum()), 2),
        "open_overdue_invoices": overdue.height,
        "complaints": rows["contacts"].filter(pl.col("topic") == "complaint").height,
        "last_nps": int(last_nps["nps"][0]) if last_nps.height else None,
        "rating": _jsonable(rating.to_dicts()[0]) if rating.height else None,
    }


def latest_scores(store: OfflineStore, customer_id: str) -> list[dict[str, Any]]:
    """The newest row of each score of one customer (``score, value, grade, as_of, model_version, reasons``)."""
    rows = (
        store.scan("scores")
        .filter(pl.col("customer_id") == customer_id)
        .filter(pl.col("as_of") == pl.col("as_of").max().over("score"))
        .sort("score")
        .select("score", "value", "grade", "as_of", "model_version", "reasons")
        .collect()
    )
    return [_jsonable(r) for r in rows.to_dicts()]


def _scored_on(scores: list[dict[str, Any]], today: date) -> date:
    """The date the newest score was computed as of (what its reasons describe), else today."""
    days = [str(s["as_of"])[:10] for s in scores if s.get("as_of")]
    return date.fromisoformat(max(days)) if days else today


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, date | datetime) else None


def _explained(scored: list[dict[str, Any]], rows: Mapping[str, pl.DataFrame], today: date) -> list[dict[str, Any]]:
    """The score rows with their reasons as sentences (:mod:`cvm.scoring.reasons`; DuckDB only when scored)."""
    if not scored:
        return []
    from cvm.scoring.reasons import explain_scores, feature_values, needs_values

    return explain_scores(scored, feature_values(rows, _scored_on(scored, today)) if needs_values(scored) else None)


def customer_profile(
    store: OfflineStore,
    customer_id: str,
    scores: list[dict[str, Any]] | None = None,
    online: Mapping[str, pl.DataFrame] | None = None,
    events: HubRows | None = None,
) -> dict[str, Any]:
    """The 360° view: profile, holdings, key figures, scores and the timeline.

    ``online`` adds rows kept in the online store to the timeline, e.g.
    ``{"contact_history": contact_history_frame(rows)}`` for the contacts CVM delivered;
    ``events`` the hub rows of the accepted events not exported yet (:func:`cvm.events.hubrows.hub_rows`).
    """
    rows = {**customer_rows(store, customer_id, events), **(online or {})}
    if rows["customers"].height == 0:
        raise UnknownCustomerError(customer_id)
    today = datetime.now(UTC).date()
    scored = latest_scores(store, customer_id) if scores is None else scores
    return {
        "customer_id": customer_id,
        "profile": _jsonable(rows["customers"].to_dicts()[0]),
        "holdings": _holdings(rows, today),
        "kpis": _kpis(rows, today),
        "scores": _explained(scored, rows, today),
        "timeline": build_timeline(rows),
    }


def timeline(
    store: OfflineStore,
    customer_id: str,
    online: Mapping[str, pl.DataFrame] | None = None,
    events: HubRows | None = None,
) -> list[dict[str, Any]]:
    """Every touchpoint of one customer in time order (``online``, ``events``: as in :func:`customer_profile`)."""
    rows = {**customer_rows(store, customer_id, events), **(online or {})}
    if rows["customers"].height == 0:
        raise UnknownCustomerError(customer_id)
    return build_timeline(rows)


def list_customers(
    store: OfflineStore, *, limit: int = 50, offset: int = 0, q: str | None = None
) -> tuple[list[dict[str, Any]], int]:
    """A page of customers matching ``q`` (id, name or e-mail contains it, accents and case ignored), and the count."""
    scan = store.scan("customers")
    if q:
        needle = fold(q)
        match = pl.lit(False)
        for col in ("customer_id", "name", "email"):
            match = match | fold_expr(pl.col(col)).str.contains(needle, literal=True).fill_null(False)
        scan = scan.filter(match)
    count = int(scan.select(pl.len()).collect().item())
    cols = ["customer_id", "name", "email", "kind", "region", "sector", "channel", "acquired_at"]
    page = scan.sort("customer_id").slice(offset, limit).select(cols).collect()
    return [_jsonable(r) for r in page.to_dicts()], count
