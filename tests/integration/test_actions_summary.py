"""The Plans & actions summary on both online-store backends: statuses, held-back reasons, pressure, value, dead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cvm.contracts.actions import Suppressed
from cvm.delivery import enqueue, record_suppressions, write_transaction
from cvm.engine import Engine
from cvm.reporting.actions import held_by_kind, held_kind
from cvm.store.tables import action_requests, contact_history
from tests.conftest import CUSTOMERS_CSV, TRANSACTIONS_CSV, write
from tests.integration.test_outbox import action

NOW = datetime.now(UTC).replace(microsecond=0)


def _held(customer: str, reason: str, until: datetime | None = None) -> Suppressed:
    return Suppressed(customer, "welcome", "inform", "email", reason, until)


def test_summary_counts_every_status_reason_and_cap(any_engine: Engine, tmp_path: Path) -> None:
    engine = any_engine
    assert engine.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS_CSV)).ok
    assert engine.ingest("transactions", write(tmp_path / "t.csv", TRANSACTIONS_CSV)).ok
    old = datetime(2024, 1, 20, 9, tzinfo=UTC)  # C1 buys 100.00 on 2024-02-01: within 30 days
    with write_transaction(engine.online) as conn:
        enqueue(conn, [action("C1", "old", expected_value=4.0)], now=old)
        enqueue(conn, [action("C1", "a", channel="email"), action("C2", "b", channel="sms")], now=NOW)
        enqueue(conn, [action("C3", "late", not_before=NOW + timedelta(hours=9))], now=NOW)  # after quiet hours
        enqueue(conn, [action("C2", "dead", channel="sms")], now=NOW)
        record_suppressions(
            conn,
            [_held("C2", "no consent: email needs an opt-in"), _held("C1", "cap: email week cap 2 reached", NOW),
             _held("C3", "holdout:winback"), _held("C3", "suppressed by open_complaint: no selling")],
            now=NOW,
        )  # fmt: skip
        t = action_requests.c
        ids = {k: i for k, i in conn.execute(action_requests.select().with_only_columns(t.idempotency_key, t.id))}
        conn.execute(action_requests.update().where(t.id == ids["old"]).values(status="delivered", delivered_at=old))
        conn.execute(action_requests.update().where(t.id == ids["a"]).values(status="delivered", delivered_at=NOW))
        conn.execute(action_requests.update().where(t.id == ids["b"]).values(status="in_flight"))
        conn.execute(action_requests.update().where(t.id == ids["dead"]).values(status="dead", attempts=8))
        contact = {"customer_id": "C1", "channel": "email", "objective": "inform", "plan": "p"}
        conn.execute(
            contact_history.insert(),
            [{**contact, "at": old, "request_id": ids["old"]}, {**contact, "at": NOW, "request_id": ids["a"]}],
        )
    summary = engine.delivery.summary(now=NOW + timedelta(minutes=1))
    assert summary.totals == {
        "pending": 0,
        "deferred": 1,
        "sent": 1,
        "delivered": 2,
        "dead": 1,
        "awaiting_confirmation": 0,
        "rejected": 0,
        "total": 5,
    }
    assert summary.deferred_why == {"quiet_hours": 1, "retry": 0}
    kinds = summary.held_by_kind
    assert (kinds["consent"], kinds["cap"], kinds["holdout"], kinds["suppression"]) == (1, 1, 1, 1)
    assert sum(r["deferred"] for r in summary.held) == 1
    email_week = next(p for p in summary.pressure if (p["channel"], p["window"]) == ("email", "week"))
    assert (email_week["contacts"], email_week["customers"]) == (2, 2)  # C1 now, C3 planned; not the 2024 one
    everyone = next(p for p in summary.pressure if (p["channel"], p["window"]) == ("all", "week"))
    assert everyone["contacts"] == 3  # C1 delivered, C2 in flight, C3 planned; the dead one does not count
    (value,) = summary.value
    assert (value["plan"], value["delivered"], value["measured"]) == ("p", 2, 1)
    assert value["realised_revenue"] == 100.0  # C1's purchase 12 days after the 2024 request; the refund is C3's
    assert value["expected_measured"] == 4.0
    (dead,) = summary.dead
    assert dead["retry"] == f"cvm actions retry {ids['dead']}"
    assert summary.to_dict()["dead"][0]["created_at"].startswith(str(NOW.date()))


def test_reason_kinds_follow_the_plans_wording() -> None:
    assert held_kind("no consent: the customer opted out of sms") == "consent"
    assert held_kind("cap: sms day cap 1 reached") == "cap"
    assert held_kind("holdout:winback") == "holdout"
    assert held_kind("arbitration: contact.call is worth more (3.00)") == "arbitration"
    assert held_kind("expected value 0.10 below the minimum 1.00") == "min_value"
    assert held_kind("fatigue: contact 3 on email in 30 days costs 4.10, more than its value 1.20") == "fatigue"
    assert held_kind("explore: contact.news drawn at random") == "explore"
    assert held_kind("credit: 412 points, below the acceptance cut-off 450") == "credit"
    assert held_kind("early warning: no sell step for a customer on the list") == "early_warning"
    assert held_kind("something new") == "other"
    # `cvm run`'s summary keys each reason by the text before its colon; summed by kind, none is "other"
    batch = {"fatigue": 224, "no consent": 219, "explore": 78, "holdout": 24, "expected value below the minimum": 9,
             "suppressed by vip": 2, "suppressed by complaint": 1, "cap": 1}  # fmt: skip
    assert held_by_kind(batch) == [("fatigue", 224), ("consent", 219), ("explore", 78), ("holdout", 24),
                                   ("min_value", 9), ("suppression", 3), ("cap", 1)]  # fmt: skip
