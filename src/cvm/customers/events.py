"""One timeline of every touchpoint of a customer, in time order.

Each event keeps its codes (``type``, ``source``), an English ``summary`` (what ``--json`` and the API
show), and the sentence it was made from: ``message`` (a gettext message id with named fields) and
``args`` (the field values as text). The dashboard says the same sentence in the page's language with
:func:`event_text`, from the one timeline built here, so nothing is built twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import polars as pl

from cvm.i18n import N_, gettext
from cvm.i18n.formats import finite, money
from cvm.i18n.labels import label

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Datetime("us", "UTC"),
    "type": pl.Utf8(),
    "source": pl.Utf8(),
    "message": pl.Utf8(),
}

M_ACQUIRED = N_("acquired via %(channel)s (%(kind)s)")
M_TRANSACTION = N_("%(product)s %(amount)s (margin %(margin)s)")
M_INVOICE_DUE = N_("invoice %(invoice)s due %(amount)s")
M_PAYMENT = N_("invoice %(invoice)s paid (%(days)s days after due)")
M_CONTACT = N_("%(direction)s %(topic)s via %(channel)s: %(outcome)s")
M_SURVEY = N_("NPS %(nps)s, would recommend %(would)s, did recommend %(did)s")
M_SURVEY_SAID = N_("NPS %(nps)s, would recommend %(would)s, did recommend %(did)s: “%(comment)s”")
M_SUBSCRIBED = N_("%(product)s at MRR %(mrr)s")
M_ENDED = N_("%(product)s ended (%(reason)s)")
M_ENDED_NO_REASON = N_("%(product)s ended (no reason given)")
M_RATING = N_("%(site)s rating %(rating)s (score %(score)s)")
M_DELIVERED = N_("%(action)s (%(objective)s) via %(channel)s: plan %(plan)s, step %(step)s")
M_PILOT = N_("pilot %(experiment)s: arm %(arm)s (bucket %(bucket)s)")
M_PILOT_PLAN = N_("pilot %(experiment)s: arm %(arm)s (bucket %(bucket)s) when plan %(plan)s (%(step)s) would act")

#: How a field is said in the reader's language (the others are shown as they are).
_LOCAL: dict[str, Callable[[str], str]] = {
    "amount": lambda v: v if finite(v) is None else money(v, 2),
    "margin": lambda v: v if finite(v) is None else money(v, 2),
    "mrr": lambda v: v if finite(v) is None else money(v, 2),
    "channel": lambda v: label(v, "channel"),
    "objective": lambda v: label(v, "objective"),
    "reason": lambda v: label(v, "churn_reason"),
}


def _at(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.Datetime("us", "UTC"))


def _money(col: str) -> pl.Expr:
    """A money column as text; an empty optional amount (a margin not given) reads "-"."""
    return pl.col(col).round(2).cast(pl.Utf8).fill_null("-")


def _text(expr: pl.Expr, missing: str = "-") -> pl.Expr:
    return expr.cast(pl.Utf8).fill_null(missing)


def _events(
    frame: pl.DataFrame, ts: pl.Expr, kind: str | pl.Expr, message: str | pl.Expr, table: str, args: dict[str, pl.Expr]
) -> pl.DataFrame:
    kind_expr = pl.lit(kind) if isinstance(kind, str) else kind
    message_expr = pl.lit(message) if isinstance(message, str) else message
    return frame.select(
        ts.alias("ts"),
        kind_expr.alias("type"),
        pl.lit(table).alias("source"),
        message_expr.alias("message"),
        *(expr.alias(f"arg_{name}") for name, expr in args.items()),
    )


def _customers(f: pl.DataFrame) -> list[pl.DataFrame]:
    args = {"channel": _text(pl.col("channel"), "?"), "kind": _text(pl.col("kind"))}
    return [_events(f, _at("acquired_at"), "acquired", M_ACQUIRED, "customers", args)]


def _transactions(f: pl.DataFrame) -> list[pl.DataFrame]:
    kind = pl.when(pl.col("amount") < 0).then(pl.lit("refund")).otherwise(pl.lit("transaction"))
    args = {"product": _text(pl.col("product")), "amount": _money("amount"), "margin": _money("margin")}
    return [_events(f, _at("ts"), kind, M_TRANSACTION, "transactions", args)]


def _payments(f: pl.DataFrame) -> list[pl.DataFrame]:
    invoice = _text(pl.col("invoice_id"))
    due = _events(f, _at("due_date"), "invoice_due", M_INVOICE_DUE, "payments",
                  {"invoice": invoice, "amount": _money("amount")})  # fmt: skip
    paid = f.filter(pl.col("paid_date").is_not_null())
    late = _text((pl.col("paid_date") - pl.col("due_date")).dt.total_days())
    return [due, _events(paid, _at("paid_date"), "payment", M_PAYMENT, "payments", {"invoice": invoice, "days": late})]


def _contacts(f: pl.DataFrame) -> list[pl.DataFrame]:
    kind = pl.when(pl.col("topic") == "complaint").then(pl.lit("complaint")).otherwise(pl.lit("contact"))
    args = {
        "direction": _text(pl.col("direction"), ""),
        "topic": _text(pl.col("topic"), "contact"),
        "channel": _text(pl.col("channel")),
        "outcome": _text(pl.col("outcome")),
    }
    return [_events(f, _at("ts"), kind, M_CONTACT, "contacts", args)]


def _surveys(f: pl.DataFrame) -> list[pl.DataFrame]:
    args = {"nps": _text(pl.col("nps")), "would": _text(pl.col("would_recommend")),
            "did": _text(pl.col("did_recommend"))}  # fmt: skip
    message: str | pl.Expr = M_SURVEY
    if "comment" in f.columns:  # the customer's own words, quoted after the scores
        said = pl.col("comment").str.strip_chars()
        message = pl.when(said.fill_null("") != "").then(pl.lit(M_SURVEY_SAID)).otherwise(pl.lit(M_SURVEY))
        args["comment"] = said
    return [_events(f, _at("ts"), "survey", message, "surveys", args)]


def _subscriptions(f: pl.DataFrame) -> list[pl.DataFrame]:
    start = _events(f, _at("start"), "subscription_started", M_SUBSCRIBED, "subscriptions",
                    {"product": _text(pl.col("product")), "mrr": _money("mrr")})  # fmt: skip
    ended = f.filter(pl.col("end").is_not_null())
    said = pl.when(pl.col("end_reason").is_null()).then(pl.lit(M_ENDED_NO_REASON)).otherwise(pl.lit(M_ENDED))
    args = {"product": _text(pl.col("product")), "reason": pl.col("end_reason").cast(pl.Utf8)}
    return [start, _events(ended, _at("end"), "subscription_ended", said, "subscriptions", args)]


def _ratings(f: pl.DataFrame) -> list[pl.DataFrame]:
    args = {"site": _text(pl.col("source")), "rating": _text(pl.col("rating")), "score": _text(pl.col("score"))}
    return [_events(f, _at("ts"), "rating", M_RATING, "ratings", args)]


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
    args = {
        "action": _text(pl.col("action")),
        "objective": _text(pl.col("objective")),
        "channel": _text(pl.col("channel")),
        "plan": _text(pl.col("plan")),
        "step": _text(pl.col("step")),
    }
    return [_events(f, _at("at"), "action_delivered", M_DELIVERED, "contact_history", args)]


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
    message = pl.when(pl.col("plan").is_not_null()).then(pl.lit(M_PILOT_PLAN)).otherwise(pl.lit(M_PILOT))
    args = {"experiment": _text(pl.col("experiment")), "arm": _text(pl.col("arm")),
            "bucket": _text(pl.col("bucket")), "plan": _text(pl.col("plan")),
            "step": _text(pl.col("step"), "any step")}  # fmt: skip
    return [_events(f, _at("assigned_at"), "pilot", message, "assignments", args)]


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


def _say(message: str, args: Mapping[str, str]) -> str:
    """``message`` with its fields; a field the row lacks reads "-"."""
    return message % _Missing(args)


class _Missing(dict[str, str]):
    """Fields by name; an absent one is "-"."""

    def __missing__(self, key: str) -> str:
        return "-"


def build_timeline(rows: dict[str, pl.DataFrame]) -> list[dict[str, Any]]:
    """Turn each table's rows of one customer into events sorted by time (``summary`` in English)."""
    frames = [pl.DataFrame(schema=EVENT_SCHEMA)]
    for table, frame in rows.items():
        if frame.height and table in BUILDERS:
            frames.extend(BUILDERS[table](frame))
    events = pl.concat(frames, how="diagonal_relaxed").sort("ts", "type", maintain_order=True)
    out = []
    for e in events.to_dicts():
        args = {k[4:]: v for k, v in e.items() if k.startswith("arg_") and v is not None}
        ts: datetime = e["ts"]
        fixed = {"ts": ts.isoformat(), "type": e["type"], "source": e["source"]}
        out.append({**fixed, "summary": _say(e["message"], args), "message": e["message"], "args": args})
    return out


def event_text(event: Mapping[str, Any]) -> str:
    """An event's sentence in the current language (amounts, channels and reasons said there too).

    An event without its ``message`` (stored before the timeline kept it) shows its English summary.
    """
    message, args = event.get("message"), event.get("args")
    if not isinstance(message, str) or not isinstance(args, Mapping):
        return str(event.get("summary", ""))
    local = {k: _LOCAL[k](str(v)) if k in _LOCAL else str(v) for k, v in args.items()}
    return _say(gettext(message), local)
