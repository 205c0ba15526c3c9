"""Figures that describe the state of the hub, for the run summary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from cvm.contracts import DATA_TABLES, QUARANTINE
from cvm.store import OfflineStore


@dataclass(frozen=True)
class TableFigures:
    table: str
    rows: int
    batches: int
    quarantined: int


@dataclass(frozen=True)
class HubSummary:
    """Row counts per table and the headline figures of the customer base."""

    tables: list[TableFigures]
    customers: int
    active_customers: int
    revenue_12m: float
    margin_12m: float
    mrr: float
    as_of: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "customers": self.customers,
            "active_customers": self.active_customers,
            "revenue_12m": self.revenue_12m,
            "margin_12m": self.margin_12m,
            "mrr": self.mrr,
            "tables": [t.__dict__ for t in self.tables],
        }


def _table_figures(store: OfflineStore) -> list[TableFigures]:
    manifest = store.manifest()
    batches = pl.DataFrame([{"table": b["table"]} for b in manifest["batches"].values()], schema={"table": pl.Utf8})
    per_batch = dict(batches.group_by("table").len().iter_rows())
    waiting = store.scan(QUARANTINE.name).filter(pl.col("status").fill_null("rejected") != "resolved")
    quarantined = dict(  # rows still waiting for a fix (rejected or refused), not the ones loaded since
        waiting.group_by("table").agg(pl.struct("batch_id", "source", "line").n_unique()).collect().iter_rows()
    )
    return [
        TableFigures(name, store.count(name), int(per_batch.get(name, 0)), int(quarantined.get(name, 0)))
        for name in DATA_TABLES
    ]


def hub_summary(store: OfflineStore, now: datetime | None = None) -> HubSummary:
    """Summarise the hub as of ``now``: a customer is active with a purchase in 12 months or a live contract."""
    now = now or datetime.now(UTC)
    since = now - timedelta(days=365)
    recent = store.scan("transactions").filter(pl.col("ts") >= since)
    money = recent.select(pl.col("amount").sum(), pl.col("margin").sum()).collect()
    live = store.scan("subscriptions").filter(
        (pl.col("start") <= now.date()) & (pl.col("end").is_null() | (pl.col("end") > now.date()))
    )
    buyers = recent.select("customer_id")
    subscribers = live.select("customer_id")
    active = pl.concat([buyers, subscribers]).unique().select(pl.len()).collect().item()
    mrr = live.select(pl.col("mrr").sum()).collect().item()
    return HubSummary(
        tables=_table_figures(store),
        customers=store.count("customers"),
        active_customers=int(active),
        revenue_12m=round(float(money["amount"][0] or 0.0), 2),
        margin_12m=round(float(money["margin"][0] or 0.0), 2),
        mrr=round(float(mrr or 0.0), 2),
        as_of=now.isoformat(timespec="seconds"),
    )
