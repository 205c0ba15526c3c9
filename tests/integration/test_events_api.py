"""``POST /events``, the next-best-action view and the ``cvm actions`` commands, on SQLite and PostgreSQL.

The decision function is the stub from ``test_outbox`` (tests only); the last
test checks that production wires the real ``cvm.plans.decide``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cvm.api import create_app
from cvm.delivery import write_transaction
from cvm.engine import Engine
from cvm.store.tables import customer_online
from tests.conftest import CUSTOMERS_CSV, write
from tests.integration.test_outbox import count, fill_outbox, request_rows, use_stub_policy
from tests.serving import serve


def event(event_id: str, type_: str = "transaction", customer: str = "C1", **props: Any) -> dict[str, Any]:
    properties = props or ({"amount": 150.0, "product": "hardware"} if type_ == "transaction" else {})
    return {
        "event_id": event_id,
        "customer_id": customer,
        "type": type_,
        "ts": "2024-06-01T10:00:00+02:00",
        "properties": properties,
    }


@pytest.fixture
def engine(any_engine: Engine, tmp_path: Path) -> Engine:
    any_engine.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS_CSV))
    return use_stub_policy(any_engine)


@pytest.fixture
def client(engine: Engine) -> Iterator[httpx.Client]:
    with serve(create_app(engine)) as url, httpx.Client(base_url=url, timeout=30) as c:
        yield c


@pytest.fixture
def ingest(engine: Engine) -> dict[str, str]:
    return {"X-API-Key": engine.access.create_key("ingest")[1]}


@pytest.fixture
def analyst(engine: Engine) -> dict[str, str]:
    return {"X-API-Key": engine.access.create_key("analyst")[1]}


def test_one_event_is_stored_with_its_actions_and_a_repeat_changes_nothing(
    client: httpx.Client, engine: Engine, ingest: dict[str, str]
) -> None:
    first = client.post("/events", json=event("e1"), headers=ingest)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["status"], body["event_id"]) == ("accepted", "e1")
    [act] = body["actions"]
    assert (act["plan"], act["channel"], act["status"]) == ("thank_you", "email", "enqueued")
    again = client.post("/events", json=event("e1"), headers=ingest).json()
    assert again["status"] == "duplicate"
    assert again["actions"] == body["actions"]
    other = client.post("/events", json=event("e1", amount=999.0), headers=ingest)  # issue 19: a conflict, not a repeat
    assert other.status_code == 409
    assert other.json()["detail"][0]["loc"] == ["body", "event_id"]
    assert (count(engine, "event_log"), count(engine, "action_requests")) == (1, 1)
    with engine.online.begin() as conn:
        row = conn.execute(sa.select(customer_online)).one()
    assert row.event_count == 1
    assert row.features["online_revenue"] == 150.0
    assert row.plan_state == {"runs": 1}


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"ts": "2024-06-01T10:00:00"}, ["body", "ts"]),
        ({"type": "purchase"}, ["body", "type"]),
        ({"properties": {"product": "x"}}, ["body", "properties", "amount"]),
        ({"properties": {"amount": "lots"}}, ["body", "properties", "amount"]),
        ({"type": "survey", "properties": {"nps": 11}}, ["body", "properties", "nps"]),
        ({"event_id": ""}, ["body", "event_id"]),
        ({"ts": "2999-01-01T00:00:00Z"}, ["body", "ts"]),
    ],
)
def test_a_malformed_event_is_a_422_naming_the_field(
    client: httpx.Client, ingest: dict[str, str], change: dict[str, Any], loc: list[str]
) -> None:
    response = client.post("/events", json={**event("bad"), **change}, headers=ingest)
    assert response.status_code == 422, response.text
    assert loc in [d["loc"] for d in response.json()["detail"]]


def test_a_batch_keeps_good_events_and_reports_bad_ones_one_by_one(
    client: httpx.Client, engine: Engine, ingest: dict[str, str]
) -> None:
    batch = [
        event("b1"),
        {**event("b2"), "ts": "2024-06-01 10:00"},
        event("b3", "complaint", customer="C2", reason="late delivery"),
        event("b1"),
        event("b4", customer="NOBODY"),
        event("b5", "survey", nps=3),
    ]
    response = client.post("/events", json={"events": batch}, headers=ingest)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [d["status"] for d in body["data"]] == [
        "accepted",
        "invalid",
        "accepted",
        "duplicate",
        "unknown_customer",
        "accepted",
    ]
    assert body["data"][1]["errors"][0]["loc"] == ["ts"]
    assert (body["accepted"], body["duplicates"], body["rejected"], body["actions"]) == (3, 1, 2, 2)
    assert body["data"][5]["suppressed"][0]["reason"] == "detractor_hold"
    assert count(engine, "event_log") == 3
    assert count(engine, "suppressions") == 1
    with engine.online.begin() as conn:
        assert conn.exec_driver_sql("SELECT open_complaint FROM customer_online WHERE customer_id = 'C2'").scalar()


def test_batch_envelope_limits(client: httpx.Client, ingest: dict[str, str]) -> None:
    too_many = client.post("/events", json={"events": [event(f"x{i}") for i in range(1001)]}, headers=ingest)
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["loc"] == ["body", "events"]
    assert client.post("/events", json={"events": []}, headers=ingest).status_code == 422
    assert client.post("/events", json=[event("x")], headers=ingest).status_code == 422
    assert client.post("/events", json={"events": [event("x")], "extra": 1}, headers=ingest).status_code == 422
    odd = client.post("/events", json={"events": ["not an event", event("ok")]}, headers=ingest).json()
    assert [d["status"] for d in odd["data"]] == ["invalid", "accepted"]
    assert odd["data"][0]["errors"][0]["msg"] == "An event should be a JSON object"


def test_a_future_event_is_refused_with_the_limit_it_passed(client: httpx.Client, ingest: dict[str, str]) -> None:
    response = client.post("/events", json={**event("late"), "ts": "2999-01-01T00:00:00Z"}, headers=ingest)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "future_timestamp"
    assert re.fullmatch(r"is in the future \(later than \d{4}-\d\d-\d\d \d\d:\d\d UTC, 1 day tolerance\)", error["msg"])


def test_contact_caps_count_planned_contacts_within_a_batch(
    client: httpx.Client, engine: Engine, ingest: dict[str, str]
) -> None:
    batch = [event(f"c{i}", amount=200.0 + i) for i in range(6)]
    body = client.post("/events", json={"events": batch}, headers=ingest).json()
    sent = [len(d["actions"]) for d in body["data"]]
    held = [[s["reason"] for s in d["suppressed"]] for d in body["data"]]
    assert sent == [1, 1, 1, 1, 0, 0]
    assert held[4:] == [["cap"], ["cap"]]
    later = client.post("/events", json=event("c9", amount=500.0), headers=ingest).json()
    assert later["actions"] == []
    assert later["suppressed"][0]["reason"] == "cap"


def test_unknown_customers_are_refused_or_provisional_as_configured(
    client: httpx.Client, engine: Engine, ingest: dict[str, str]
) -> None:
    refused = client.post("/events", json=event("u1", customer="NEW1"), headers=ingest)
    assert refused.status_code == 404
    assert count(engine, "event_log") == 0
    engine.settings.events.unknown_customer = "provisional"
    accepted = client.post("/events", json=event("u1", customer="NEW1"), headers=ingest)
    assert accepted.status_code == 200
    with engine.online.begin() as conn:
        assert conn.exec_driver_sql("SELECT provisional FROM customer_online WHERE customer_id = 'NEW1'").scalar()


def test_consent_changes_and_roles(
    client: httpx.Client, engine: Engine, ingest: dict[str, str], analyst: dict[str, str]
) -> None:
    opt_out = event("k1", "contact", channel="phone", consents={"email": False})
    assert client.post("/events", json=opt_out, headers=analyst).status_code == 403
    assert client.post("/events", json=opt_out).status_code == 401
    assert client.post("/events", json=[opt_out]).status_code == 401  # the key is checked before the body
    assert client.post("/events", json=[opt_out], headers=analyst).status_code == 403
    assert client.post("/events", json=opt_out, headers=ingest).status_code == 200
    assert engine.plans.events.customer_state("C1").consents["email"] is False  # type: ignore[union-attr]
    assert engine.plans.events.customer_state("C3").consents["email"] is True  # type: ignore[union-attr]
    assert client.get("/customers/C1/next-best-action", headers=ingest).status_code == 403
    assert client.get("/actions", headers=ingest).status_code == 403


def test_next_best_action_and_the_outbox_views(
    client: httpx.Client, engine: Engine, ingest: dict[str, str], analyst: dict[str, str]
) -> None:
    client.post("/events", json=event("n1", amount=300.0), headers=ingest)
    ranked = client.get("/customers/C1/next-best-action", headers=analyst).json()
    assert ranked["count"] == 2
    assert ranked["data"][0]["chosen"]
    assert ranked["data"][0]["expected_value"] == 300.0
    assert client.get("/customers/NOPE/next-best-action", headers=analyst).status_code == 404
    listed = client.get("/actions", params={"status": "pending"}, headers=analyst).json()
    assert [a["customer_id"] for a in listed["data"]] == ["C1"]
    assert client.get("/actions", params={"status": "lost"}, headers=analyst).status_code == 422
    rid = request_rows(engine)[0]["id"]
    admin = {"X-API-Key": engine.access.create_key("admin")[1]}
    assert client.post(f"/actions/{rid}/retry", headers=analyst).status_code == 403
    assert client.post(f"/actions/{rid}/retry", headers=admin).json()["status"] == "pending"
    assert client.post("/actions/999999/retry", headers=admin).status_code == 404
    assert "/events" in client.get("/openapi.json").json()["paths"]


def test_production_wires_the_real_decision_function(tmp_path: Path) -> None:
    from cvm.plans.decide import decide, rank

    engine = Engine.init(tmp_path / "ws")
    try:
        wired = engine.plans.events
        assert wired.decide.func is decide  # type: ignore[attr-defined]
        assert wired.rank.func is rank  # type: ignore[attr-defined]
        assert wired.decide.args == (engine.settings.plans,)  # type: ignore[attr-defined]
    finally:
        engine.close()


def test_cli_worker_once_and_actions_commands(any_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from cvm.cli.main import app

    fill_outbox(any_engine, 4)
    ws = str(any_engine.workspace)
    with write_transaction(any_engine.online) as conn:
        conn.execute(
            sa.text("UPDATE action_requests SET status = 'dead', attempts = 8 WHERE idempotency_key = 'k00003'")
        )
    runner = CliRunner()
    status = runner.invoke(app, ["actions", "status", "-w", ws, "--json"])
    assert status.exit_code == 0, status.output
    assert {k: json.loads(status.stdout)[k] for k in ("pending", "dead", "due")} == {"pending": 3, "dead": 1, "due": 3}
    done = runner.invoke(app, ["worker", "--once", "-w", ws, "--json", "--concurrency", "2"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["delivered"] == 3
    dead = json.loads(runner.invoke(app, ["actions", "list", "--status", "dead", "-w", ws, "--json"]).stdout)
    assert [r["idempotency_key"] for r in dead] == ["k00003"]
    retried = runner.invoke(app, ["actions", "retry", str(dead[0]["id"]), "-w", ws, "--json"])
    assert json.loads(retried.stdout)["status"] == "pending"
    refused = runner.invoke(app, ["actions", "retry", str(dead[0]["id"] - 1), "-w", ws])
    assert refused.exit_code == 2
    assert runner.invoke(app, ["actions", "list", "--status", "bogus", "-w", ws]).exit_code == 2
    assert any_engine.access.audit_entries(1)[0]["action"] == "action.retry"


def test_erasure_removes_events_and_stops_pending_actions(
    client: httpx.Client, engine: Engine, ingest: dict[str, str]
) -> None:
    client.post("/events", json=event("x1", amount=400.0, comment="call me on +31 6 1234"), headers=ingest)
    client.post("/events", json=event("x2", customer="C2", amount=400.0), headers=ingest)
    erasure = engine.customers.erase("C1")
    assert (erasure.rows["online.event_log"], erasure.rows["online.action_requests"]) == (1, 1)
    assert count(engine, "event_log", "WHERE customer_id = 'C1'") == 0
    assert count(engine, "customer_online", "WHERE customer_id = 'C1'") == 0
    [erased] = [r for r in request_rows(engine) if r["customer_id"] != "C2"]
    assert erased["customer_id"].startswith("anon-")
    assert (erased["status"], erased["last_error"]) == ("dead", "customer erased")
    assert count(engine, "event_log") == 1


def test_concurrent_writers_on_the_same_customers_lose_no_update(engine: Engine) -> None:
    """Four writers, each an engine of its own as in four API processes (one engine lets its batches take turns)."""
    writers = [use_stub_policy(Engine.open(engine.workspace)) for _ in range(4)]

    def send(t: int) -> None:
        for b in range(8):
            batch = [event(f"t{t}-{b}-{i}", customer=f"C{1 + i % 3}", amount=10.0) for i in range(30)]
            assert writers[t].plans.ingest_events(batch).count("accepted") == 30

    threads = [threading.Thread(target=send, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for w in writers:
        w.close()
    with engine.online.begin() as conn:
        counts = dict(conn.execute(sa.select(customer_online.c.customer_id, customer_online.c.event_count)).all())
        revenue = {r.customer_id: r.features["online_revenue"] for r in conn.execute(sa.select(customer_online))}
    assert counts == {"C1": 320, "C2": 320, "C3": 320}
    assert revenue == {"C1": 3200.0, "C2": 3200.0, "C3": 3200.0}
    assert count(engine, "event_log") == 960


class _Inside:
    """Wraps an ingestor's commit: how many batches are inside at once, and when each single event went through."""

    def __init__(self, engine: Engine, monkeypatch: pytest.MonkeyPatch, gate: threading.Barrier | None = None) -> None:
        self.lock, self.now, self.peak = threading.Lock(), 0, 0
        self.entered, self.single_done = threading.Event(), threading.Event()
        self.order: list[str] = []
        original = engine.plans.events._commit

        def commit(valid: Any, now: Any, *audit: Any) -> Any:
            if len(valid) == 1:
                out = original(valid, now, *audit)
                self.order.append("single")
                self.single_done.set()
                return out
            with self.lock:
                self.now += 1
                self.peak = max(self.peak, self.now)
            self.entered.set()
            if gate is not None:
                gate.wait()
            else:
                self.single_done.wait(timeout=10)  # the first batch stays in until the single event is through
            try:
                return original(valid, now, *audit)
            finally:
                with self.lock:
                    self.now -= 1
                    self.order.append("batch")

        monkeypatch.setattr(engine.plans.events, "_commit", commit)


def _batches(engine: Engine, n: int) -> list[threading.Thread]:
    def send(t: int) -> None:
        batch = [event(f"b{t}-{i}", customer=f"C{1 + i % 3}") for i in range(5)]
        assert engine.plans.ingest_events(batch).count("accepted") == 5

    threads = [threading.Thread(target=send, args=(t,)) for t in range(n)]
    for t in threads:
        t.start()
    return threads


def test_batches_take_turns_in_one_engine_and_single_events_do_not_wait(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    inside = _Inside(engine, monkeypatch)
    threads = _batches(engine, 3)
    assert inside.entered.wait(timeout=30)
    assert engine.plans.ingest_events([event("single-1", customer="C2")]).count("accepted") == 1
    for t in threads:
        t.join(timeout=60)
    assert inside.peak == 1  # events.concurrent_batches: 1 (the default)
    assert inside.order[0] == "single"  # it went through while a batch was inside
    assert count(engine, "event_log") == 16


def test_concurrent_batches_lets_that_many_in(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    engine.settings.events.concurrent_batches = 2
    two = use_stub_policy(Engine(engine.workspace, engine.settings))
    inside = _Inside(two, monkeypatch, gate=threading.Barrier(2, timeout=30))  # both must be inside at once
    for t in _batches(two, 2):
        t.join(timeout=60)
    assert inside.peak == 2
    assert count(two, "event_log") == 10
    two.close()


@pytest.mark.parametrize(("moment", "size"), [("before the lock", 2), ("after the lock", 2), ("after the lock", 1)])
def test_a_customer_created_by_another_writer_mid_batch_is_decided_again_not_retried(
    engine: Engine, moment: str, size: int, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process creates the customer's profile after this batch decided for it without a profile.

    Before the write transaction locks, revalidation sees the new row; after it (PostgreSQL
    only: SQLite's writer lock holds the rival back), the profile insert fails on the key and
    the batch settles again from a savepoint. Either way the batch is not retried. A single
    event takes no savepoint: its transaction is retried, and the outcome is the same.
    """
    if moment == "after the lock" and engine.online.backend == "sqlite":
        pytest.skip("SQLite's writer lock makes the rival wait for this transaction")
    rival = use_stub_policy(Engine.open(engine.workspace))
    ingestor = engine.plans.events
    hooked = "_prepare" if moment == "before the lock" else "_write"
    original = getattr(ingestor, hooked)
    raced: list[bool] = []

    def rival_writes() -> None:
        if not raced:
            raced.append(rival.plans.ingest_events([event("rival-1", customer="C3")]).count("accepted") == 1)

    def race_then(*args: Any, **kwargs: Any) -> Any:
        if moment == "before the lock":  # after this batch read and decided, before its transaction
            work = original(*args, **kwargs)
            rival_writes()
            return work
        rival_writes()  # inside this batch's transaction, after revalidation locked what exists
        return original(*args, **kwargs)

    monkeypatch.setattr(ingestor, hooked, race_then)
    with caplog.at_level("INFO", logger="cvm.events"):
        report = engine.plans.ingest_events([event("mine-1", customer="C3"), event("mine-2", customer="C1")][:size])
    rival.close()
    assert raced == [True]
    assert report.count("accepted") == size
    retried = [r for r in caplog.records if "event transaction conflicted" in r.getMessage()]
    assert len(retried) == (1 if size == 1 and moment == "after the lock" else 0)  # a batch is not retried
    with engine.online.begin() as conn:
        c = customer_online.c
        profiles = {cid: (n, v) for cid, n, v in conn.execute(sa.select(c.customer_id, c.event_count, c.version))}
    assert profiles == {"C1": (1, 1), "C3": (2, 2)} if size == 2 else {"C3": (2, 2)}  # the rival's and ours
    assert count(engine, "event_log") == size + 1
