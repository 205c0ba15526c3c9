"""One timeline of every touchpoint of a customer, in time order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Datetime("us", "UTC"),
    "type": pl.Utf8(),
    "source": pl.Utf8(),
    "summary": pl.Utf8(),
}


def _at(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.Datetime("us", "UTC"))


def _money(col: str) -> pl.Expr:
    """A money column as text; an empty optional amount (a margin not given) reads "-"."""
    return pl.col(col).round(2).cast(pl.Utf8).fill_null("-")


def _events(frame: pl.DataFrame, ts: pl.Expr, kind: str | pl.Expr, summary: pl.Expr, table: str) -> pl.DataFrame:
    kind_expr = pl.lit(kind) if isinstance(kind, str) else kind
    return frame.select(
        ts.alias("ts"), kind_expr.alias("type"), pl.lit(table).alias("source"), summary.alias("summary")
    )


def _customers(f: pl.DataFrame) -> list[pl.DataFrame]:
    text = pl.format("acquired via {} ({})", pl.col("channel").fill_null("?"), pl.col("kind"))
    return [_events(f, _at("acquired_at"), "acquired", text, "customers")]


def _transactions(f: pl.DataFrame) -> list[pl.DataFrame]:
    kind = pl.when(pl.col("amount") < 0).then(pl.lit("refund")).otherwise(pl.lit("transaction"))
    text = pl.format("{} {} (margin {})", pl.col("product").fill_null("-"), _money("amount"), _money("margin"))
    return [_events(f, _at("ts"), kind, text, "transactions")]


def _payments(f: pl.DataFrame) -> list[pl.DataFrame]:
    due = _events(
        f,
        _at("due_date"),
        "invoice_due",
        pl.format("invoice {} due {}", pl.col("invoice_id"), _money("amount")),
        "payments",
    )
    paid = f.filter(pl.col("paid_date").is_not_null())
    late = (pl.col("paid_date") - pl.col("due_date")).dt.total_days()
    text = pl.format("invoice {} paid ({} days after due)", pl.col("invoice_id"), late)
    return [due, _events(paid, _at("paid_date"), "payment", text, "payments")]


def _contacts(f: pl.DataFrame) -> list[pl.DataFrame]:
    kind = pl.when(pl.col("topic") == "complaint").then(pl.lit("complaint")).otherwise(pl.lit("contact"))
    text = pl.format(
        "{} {} via {}: {}",
        pl.col("direction").fill_null(""),
        pl.col("topic").fill_null("contact"),
        pl.col("channel"),
        pl.col("outcome").fill_null("-"),
    )
    return [_events(f, _at("ts"), kind, text, "contacts")]


def _surveys(f: pl.DataFrame) -> list[pl.DataFrame]:
    text = pl.format(
        "NPS {}, would recommend {}, did recommend {}",
        pl.col("nps").cast(pl.Utf8).fill_null("-"),
        pl.col("would_recommend").cast(pl.Utf8).fill_null("-"),
        pl.col("did_recommend").cast(pl.Utf8).fill_null("-"),
    )
    if "comment" in f.columns:  # the customer's own words, quoted after the scores
        said = pl.col("comment").str.strip_chars()
        text = pl.when(said.fill_null("") != "").then(pl.format("{}: “{}”", text, said)).otherwise(text)
    return [_events(f, _at("ts"), "survey", text, "surveys")]


def _subscriptions(f: pl.DataFrame) -> list[pl.DataFrame]:
    start = _events(
        f,
        _at("start"),
        "subscription_started",
        pl.format("{} at MRR {}", pl.col("product"), _money("mrr")),
        "subscriptions",
    )
    ended = f.filter(pl.col("end").is_not_null())
    text = pl.format("{} ended ({})", pl.col("product"), pl.col("end_reason").fill_null("no reason given"))
    return [start, _events(ended, _at("end"), "subscription_ended", text, "subscriptions")]


def _ratings(f: pl.DataFrame) -> list[pl.DataFrame]:
    text = pl.format(
        "{} rating {} (score {})", pl.col("source"), pl.col("rating"), pl.col("score").cast(pl.Utf8).fill_null("-")
    )
    return [_events(f, _at("ts"), "rating", text, "ratings")]


CONTACT_HISTORY_SCHEMA: dict[str, pl.DataType] = {
    "at": pl.Datetime("us", "UTC"),
    "channel": pl.Utf8(),
    "objective": pl.Utf8(),
    "plan": pl.Utf8(),
    "step": pl.Utf8(),
    "action": pl.Utf8(),
    "offer": pl.Utf8(),
    "request_id": pl.Int64(),
}


def contact_history_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Delivered contacts from the online store (``cvm.delivery.contact_history_rows``) as a timeline table."""
    return pl.DataFrame(
        [{k: r.get(k) for k in CONTACT_HISTORY_SCHEMA} for r in rows], schema=CONTACT_HISTORY_SCHEMA, orient="row"
    )


def _contact_history(f: pl.DataFrame) -> list[pl.DataFrame]:
    text = pl.format(
        "{} ({}) via {}: plan {}, step {}",
        pl.col("action").fill_null("-"),
        pl.col("objective").fill_null("-"),
        pl.col("channel"),
        pl.col("plan"),
        pl.col("step").fill_null("-"),
    )
    return [_events(f, _at("at"), "action_delivered", text, "contact_history")]


ASSIGNMENT_SCHEMA: dict[str, pl.DataType] = {
    "experiment": pl.Utf8(),
    "arm": pl.Utf8(),
    "bucket": pl.Int64(),
    "assigned_at": pl.Datetime("us", "UTC"),
    "plan": pl.Utf8(),
    "step": pl.Utf8(),
}


def assignments_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Pilot assignments from the online store (``cvm.experiments.records.for_customer``) as a timeline table."""
    return pl.DataFrame(
        [{k: r.get(k) for k in ASSIGNMENT_SCHEMA} for r in rows], schema=ASSIGNMENT_SCHEMA, orient="row"
    )


def _assignments(f: pl.DataFrame) -> list[pl.DataFrame]:
    where = pl.when(pl.col("plan").is_not_null()).then(
        pl.format(" when plan {} ({}) would act", pl.col("plan"), pl.col("step").fill_null("any step"))
    )
    text = pl.format("pilot {}: arm {} (bucket {}){}", pl.col("experiment"), pl.col("arm"), pl.col("bucket"),
                     where.otherwise(pl.lit("")))  # fmt: skip
    return [_events(f, _at("assigned_at"), "pilot", text, "assignments")]


BUILDERS: dict[str, Callable[[pl.DataFrame], list[pl.DataFrame]]] = {
    "customers": _customers,
    "transactions": _transactions,
    "payments": _payments,
    "contacts": _contacts,
    "surveys": _surveys,
    "subscriptions": _subscriptions,
    "ratings": _ratings,
    "contact_history": _contact_history,  # online: actions CVM delivered (see cvm.delivery)
    "assignments": _assignments,  # online: pilot arms (see cvm.experiments)
}


def build_timeline(rows: dict[str, pl.DataFrame]) -> list[dict[str, Any]]:
    """Turn each table's rows of one customer into events sorted by time."""
    frames = [pl.DataFrame(schema=EVENT_SCHEMA)]
    for table, frame in rows.items():
        if frame.height and table in BUILDERS:
            frames.extend(BUILDERS[table](frame))
    events = pl.concat(frames, how="vertical_relaxed").sort("ts", "type", maintain_order=True)
    return [{**e, "ts": e["ts"].isoformat()} for e in events.to_dicts()]
