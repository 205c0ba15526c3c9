"""Events as hub rows: one row per natural key, stored keys never twice, and a second pass changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl

from cvm.contracts import table_schema
from cvm.events.hubrows import LoggedEvent, changes, hub_rows, merged
from cvm.store.schema import polars_schema


def _e(event_id: str, type_: str, customer: str, day: int, **props: Any) -> LoggedEvent:
    return LoggedEvent(event_id, "shop", customer, type_, datetime(2024, 6, day, 10, tzinfo=UTC), props)


def _contacts(*rows: tuple[str, str, int, str]) -> pl.DataFrame:
    data = [
        {"contact_id": k, "customer_id": c, "ts": datetime(2024, 6, d, tzinfo=UTC), "channel": "phone",
         "topic": "complaint", "outcome": o}
        for k, c, d, o in rows
    ]  # fmt: skip
    return pl.DataFrame(data, schema=polars_schema(table_schema("contacts")), orient="row")


def _apply(table: str, events: Any, stored: pl.DataFrame) -> pl.DataFrame:
    return merged(table, events, stored).sort(list(table_schema(table).key))


def test_a_resolution_without_id_resolves_open_complaints_of_the_events_and_of_the_hub_once() -> None:
    stored = _contacts(("K0", "C1", 1, "Opened"), ("K9", "C2", 1, "open"))
    events = hub_rows([
        _e("a", "complaint", "C1", 2, status="open", complaint_id="K1"),
        _e("b", "complaint", "C1", 3, status="closed"),
        _e("c", "complaint", "C3", 3, status="resolved"),  # C3 had no complaint: a row of its own
    ])  # fmt: skip
    after = _apply("contacts", events, stored)
    assert after.select("contact_id", "outcome").rows() == [
        ("K0", "resolved"), ("K1", "resolved"), ("K9", "open"), ("shop:c", "resolved"),
    ]  # fmt: skip
    again = changes("contacts", events, after)
    assert (again.new.height, again.updated.height) == (0, 0)


def test_a_stored_transaction_is_never_a_second_row_and_a_payment_takes_what_the_event_adds() -> None:
    events = hub_rows([
        _e("t", "transaction", "C1", 2, amount=80.0, transaction_id="T1"),
        _e("p", "payment_received", "C1", 4, invoice_id="I1"),
    ])  # fmt: skip
    tx = pl.DataFrame(
        [{"transaction_id": "T1", "customer_id": "C1", "ts": datetime(2024, 6, 2, tzinfo=UTC), "amount": 75.0}],
        schema=polars_schema(table_schema("transactions")),
        orient="row",
    )
    assert _apply("transactions", events, tx)["amount"].to_list() == [75.0]  # as stored
    pay = pl.DataFrame(
        [{"invoice_id": "I1", "customer_id": "C1", "due_date": datetime(2024, 5, 1).date(), "amount": 30.0}],
        schema=polars_schema(table_schema("payments")),
        orient="row",
    )
    paid = _apply("payments", events, pay)
    assert paid.select("invoice_id", "amount").rows() == [("I1", 30.0)]
    assert str(paid["paid_date"][0]) == "2024-06-04"
    assert changes("payments", events, paid).updated.height == 0
