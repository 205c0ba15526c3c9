"""The outbox and its worker against a real store and a real HTTP receiver (SQLite and PostgreSQL).

This module also holds the helpers the other delivery tests import: a stub
decision function (tests only; production wires ``cvm.plans.decide``), a signed
webhook receiver on a loopback port, and worker settings for fast tests.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from cvm.config import ConfigError, load_settings
from cvm.config.settings import DeliverySettings
from cvm.contracts.actions import ActionRequest, Decision, Suppressed
from cvm.contracts.decisions import CustomerState, Event, RankedAction
from cvm.delivery import (
    RetryPolicy,
    Worker,
    build_router,
    enqueue,
    retry_request,
    sign,
    verify,
    write_transaction,
)
from cvm.engine import Engine
from tests.conftest import CUSTOMERS_CSV, write
from tests.serving import Listening

SECRET = "test-secret-not-for-production"
T0 = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)


# -- helpers shared with the other delivery tests -------------------------------------------------
def stub_decide(state: CustomerState, now: datetime, events: Sequence[Event] = ()) -> Decision:
    """A stand-in policy: a transaction over 100 earns a thank-you e-mail, a complaint a call.

    Four or more contacts sent or planned hold further ones back (``cap``); a detractor
    survey is recorded as suppressed. Keys are per event, so every action is distinct.
    """
    actions: list[ActionRequest] = []
    held: list[Suppressed] = []
    sent = len(state.contacts_sent)
    for e in events:
        plan, step, channel = {
            "transaction": ("thank_you", "mail_1", "email"),
            "complaint": ("service_recovery", "call", "phone"),
        }.get(e.type, ("", "", ""))
        if e.type == "survey_answer" and e.properties.get("nps", 10) <= 6:
            held.append(Suppressed(state.customer_id, "nps_follow_up", "ask", "email", "detractor_hold", None))
        if not plan or (e.type == "transaction" and e.properties["amount"] <= 100):
            continue
        if sent + len(actions) >= 4:
            held.append(Suppressed(state.customer_id, plan, step, channel, "cap", now + timedelta(days=1)))
            continue
        actions.append(action(state.customer_id, f"{e.event_id}:{plan}", plan=plan, step=step, channel=channel))
    runs = int(state.plan_state.get("runs", 0)) + 1
    return Decision(tuple(actions), tuple(held), {**state.plan_state, "runs": runs})


def stub_rank(state: CustomerState, now: datetime) -> list[RankedAction]:
    value = float(state.attributes.get("online_revenue", 0.0))
    return [
        RankedAction("thank_you", "mail_1", "thank", "email", "give", None, value, 1, True, ("stub",)),
        RankedAction("upsell", "call", "offer", "phone", "sell", "gold", value / 2, 0, False, ("below_best",)),
    ]


def use_stub_policy(engine: Engine) -> Engine:
    """Swap the real decision function for the stub (tests only)."""
    engine.plans.events.decide = stub_decide
    engine.plans.events.rank = stub_rank
    return engine


def action(customer_id: str, key: str, **kw: Any) -> ActionRequest:
    fields: dict[str, Any] = {
        "plan": "winback",
        "step": "mail_1",
        "action": "send",
        "channel": "email",
        "objective": "sell",
        "offer": None,
        "expected_value": 12.5,
        "priority": 0,
        "reasons": ("test",),
        "not_before": T0,
    }
    fields.update(kw)
    return ActionRequest(customer_id=customer_id, idempotency_key=key, **fields)


def fill_outbox(engine: Engine, n: int, *, prefix: str = "k", channel: str = "email") -> list[str]:
    keys = [f"{prefix}{i:05d}" for i in range(n)]
    with write_transaction(engine.online) as conn:
        enqueue(conn, [action(f"C{i % 3 + 1}", k, channel=channel) for i, k in enumerate(keys)], now=T0)
    return keys


def fast_settings(url: str | None = None, **kw: Any) -> DeliverySettings:
    base: dict[str, Any] = {
        "default_transport": "webhook" if url else "log",
        "webhook_url": url,
        "webhook_secret": SECRET if url else None,
        "timeout_seconds": 0.5,
        "max_attempts": 30,
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 0.05,
        "lease_seconds": 5.0,
        "concurrency": 8,
        "poll_seconds": 0.02,
    }
    base.update(kw)
    return DeliverySettings.model_validate(base)


def make_worker(engine: Engine, settings: DeliverySettings, **kw: Any) -> Worker:
    return Worker(engine.online, build_router(settings, engine.workspace, "test"), settings, **kw)


@dataclass
class Receipt:
    key: str
    outcome: str  # accepted | duplicate | failed | hung
    signature_ok: bool
    body_key: str
    at: float


@dataclass
class Receiver:
    """A webhook endpoint on a free loopback port that dedupes by ``Idempotency-Key``.

    ``fail_rate`` of requests get a 5xx; ``hang_rate`` are accepted but answered only
    after ``hang_seconds`` (past the worker's timeout), as a slow CRM does.
    """

    fail_rate: float = 0.0
    hang_rate: float = 0.0
    hang_seconds: float = 0.0
    delay_seconds: float = 0.0
    status_on_failure: int = 500
    seed: int = 0
    receipts: list[Receipt] = field(default_factory=list)
    accepted: dict[str, int] = field(default_factory=dict)
    in_progress: int = 0

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.rng = random.Random(self.seed)

    def _arrive(self, receipt: Receipt) -> None:
        """Decide the fate of a request as it arrives, and record it in arrival order."""
        with self.lock:
            self.in_progress += 1
            if receipt.key in self.accepted:
                receipt.outcome = "duplicate"
            else:
                draw = self.rng.random()
                receipt.outcome = (
                    "failed"
                    if draw < self.fail_rate
                    else "hung"
                    if draw < self.fail_rate + self.hang_rate
                    else "accepted"
                )
            if receipt.outcome != "failed":
                self.accepted[receipt.key] = self.accepted.get(receipt.key, 0) + 1
            self.receipts.append(receipt)

    def handle(self, headers: Any, body: bytes) -> int:
        key = headers.get("Idempotency-Key", "")
        signature_ok = verify(SECRET, headers.get("X-CVM-Signature", ""), body)
        receipt = Receipt(key, "", signature_ok, json.loads(body).get("idempotency_key", ""), time.monotonic())
        self._arrive(receipt)
        if receipt.outcome != "failed":
            time.sleep(self.hang_seconds if receipt.outcome == "hung" else self.delay_seconds)
        with self.lock:
            self.in_progress -= 1
        return self.status_on_failure if receipt.outcome == "failed" else 200

    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                code = receiver.handle(self.headers, body)
                try:
                    self.send_response(code)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the worker gave up waiting (a hang past its timeout)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.listening = Listening(Handler)
        self.url = self.listening.url
        return self

    def __exit__(self, *exc: object) -> None:
        self.listening.stop()


def request_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.online.begin() as conn:
        return [dict(r._mapping) for r in conn.exec_driver_sql("SELECT * FROM action_requests ORDER BY id")]


def count(engine: Engine, table: str, where: str = "") -> int:
    with engine.online.begin() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table} {where}").scalar_one())


# -- the outbox ---------------------------------------------------------------------------------------
def test_enqueue_commits_or_rolls_back_with_the_callers_transaction(any_engine: Engine) -> None:
    def fail_after_enqueue() -> None:
        with write_transaction(any_engine.online) as conn:
            enqueue(conn, [action("C1", "a")], now=T0)
            raise RuntimeError("the event failed")

    with pytest.raises(RuntimeError):
        fail_after_enqueue()
    assert count(any_engine, "action_requests") == 0
    with write_transaction(any_engine.online) as conn:
        first = enqueue(conn, [action("C1", "a"), action("C1", "a"), action("C2", "b")], now=T0)
    assert [(e.idempotency_key, e.duplicate) for e in first] == [("a", False), ("a", True), ("b", False)]
    with write_transaction(any_engine.online) as conn:
        again = enqueue(conn, [action("C1", "a", plan="other")], now=T0)
    assert again[0].duplicate
    assert again[0].id is None
    rows = request_rows(any_engine)
    assert [(r["idempotency_key"], r["plan"], r["status"], r["attempts"]) for r in rows] == [
        ("a", "winback", "pending", 0),
        ("b", "winback", "pending", 0),
    ]


def test_concurrent_claims_never_overlap(any_engine: Engine) -> None:
    keys = fill_outbox(any_engine, 300)
    settings = fast_settings()
    workers = [make_worker(any_engine, settings, worker_id=f"w{i}") for i in range(4)]
    claimed: list[list[int]] = [[] for _ in workers]

    def drain(i: int) -> None:
        while batch := workers[i].claim(limit=7):
            claimed[i] += [c.id for c in batch]

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    ids = [i for part in claimed for i in part]
    assert len(ids) == len(set(ids)) == len(keys)
    owners = {r["id"]: r["lease_owner"] for r in request_rows(any_engine)}
    assert all(owners[i] == f"w{w}" for w, part in enumerate(claimed) for i in part)


def test_a_failed_delivery_is_kept_and_retried_later(any_engine: Engine) -> None:
    fill_outbox(any_engine, 2)
    with Receiver(fail_rate=1.0, status_on_failure=503) as rx:
        worker = make_worker(any_engine, fast_settings(rx.url, backoff_base_seconds=60, backoff_max_seconds=60))
        assert worker.run_cycle() == 2
        worker.close()
    rows = request_rows(any_engine)
    assert [(r["status"], r["attempts"]) for r in rows] == [("pending", 1), ("pending", 1)]
    assert all("HTTP 503" in r["last_error"] for r in rows)
    assert count(any_engine, "deliveries", "WHERE status = 'failed' AND http_status = 503") == 2
    assert count(any_engine, "contact_history") == 0
    assert worker.claim() == []  # not due before its backoff


def test_dead_letter_after_max_attempts_and_manual_retry(any_engine: Engine) -> None:
    fill_outbox(any_engine, 1)
    with Receiver(fail_rate=1.0) as rx:
        worker = make_worker(any_engine, fast_settings(rx.url, max_attempts=3, backoff_max_seconds=0.01))
        worker.run(max_seconds=30, once=False, stop=_stop_when(lambda: worker.stats.dead == 1))
        worker.close()
    [row] = request_rows(any_engine)
    assert (row["status"], row["attempts"]) == ("dead", 3)
    assert count(any_engine, "deliveries") == 3
    with write_transaction(any_engine.online) as conn:
        fresh = retry_request(conn, row["id"], datetime.now(UTC))
    assert (fresh["status"], fresh["attempts"]) == ("pending", 0)
    with Receiver() as rx:
        worker = make_worker(any_engine, fast_settings(rx.url))
        worker.run(once=True)
        worker.close()
    assert request_rows(any_engine)[0]["status"] == "delivered"
    with pytest.raises(ValueError, match="delivered"), write_transaction(any_engine.online) as conn:
        retry_request(conn, row["id"], datetime.now(UTC))


def test_a_4xx_refusal_is_dead_at_once_but_429_is_retried(any_engine: Engine) -> None:
    fill_outbox(any_engine, 1, prefix="refused")
    with Receiver(fail_rate=1.0, status_on_failure=422) as rx:
        worker = make_worker(any_engine, fast_settings(rx.url))
        worker.run_cycle()
        worker.close()
    assert [(r["status"], r["attempts"]) for r in request_rows(any_engine)] == [("dead", 1)]
    fill_outbox(any_engine, 1, prefix="throttled")
    with Receiver(fail_rate=1.0, status_on_failure=429) as rx:
        worker = make_worker(any_engine, fast_settings(rx.url))
        worker.run_cycle()
        worker.close()
    assert request_rows(any_engine)[1]["status"] == "pending"


def test_an_expired_lease_is_recovered_and_the_late_worker_cannot_double_count(any_engine: Engine) -> None:
    fill_outbox(any_engine, 3)
    settings = fast_settings(lease_seconds=30)
    now = [datetime.now(UTC)]
    crashed = make_worker(any_engine, settings, worker_id="crashed", clock=lambda: now[0])
    claims = crashed.claim()
    assert len(claims) == 3
    rescuer = make_worker(any_engine, settings, worker_id="rescuer", clock=lambda: now[0])
    assert rescuer.recover() == 0  # the lease still runs
    now[0] += timedelta(seconds=31)
    assert rescuer.recover() == 3
    rescuer.run(once=True)
    assert rescuer.stats.delivered == 3
    from cvm.delivery import Outcome

    crashed.settle([(c, Outcome(True, "delivered", http_status=200)) for c in claims])  # it wakes up too late
    assert crashed.stats.delivered == 0
    assert crashed.stats.settled_late == 3
    assert count(any_engine, "contact_history") == 3
    assert count(any_engine, "deliveries", "WHERE status = 'lost'") == 3
    assert {r["lease_owner"] for r in request_rows(any_engine)} == {"rescuer"}


def test_full_jitter_backoff_stays_in_its_bounds_and_spreads() -> None:
    policy = RetryPolicy(max_attempts=8, base=1.0, cap=30.0)
    rng = random.Random(5)
    for attempt, bound in [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (20, 30.0)]:
        waits = [policy.delay(attempt, rng) for _ in range(2000)]
        assert min(waits) >= 0.0
        assert max(waits) <= bound
        assert max(waits) > 0.9 * bound
        assert min(waits) < 0.1 * bound


def test_signatures_verify_and_refuse_tampering_and_replays() -> None:
    body = b'{"idempotency_key":"k1"}'
    header = sign(SECRET, body)
    assert verify(SECRET, header, body)
    assert not verify(SECRET, header, body.replace(b"k1", b"k2"))
    assert not verify("other", header, body)
    assert not verify(SECRET, "garbage", body)
    old = sign(SECRET, body, timestamp=int(time.time()) - 3600)
    assert not verify(SECRET, old, body)
    t = int(header.split(",")[0][2:])
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    assert header == f"t={t},v1={expected}"


def test_file_exports_append_per_run(any_engine: Engine) -> None:
    fill_outbox(any_engine, 5, channel="mail")
    fill_outbox(any_engine, 3, prefix="sms", channel="sms")
    settings = fast_settings(routes={"mail": "csv", "sms": "parquet"})
    worker = make_worker(any_engine, settings)
    worker.run(once=True)
    worker.close()
    folder = any_engine.workspace / "exports"
    lines = (folder / "actions-test.csv").read_text().splitlines()
    assert lines[0].startswith("idempotency_key,request_id,customer_id")
    assert sorted(line.split(",")[0] for line in lines[1:]) == [f"k{i:05d}" for i in range(5)]
    parts = sorted(folder.glob("actions-test-*.parquet"))
    table = pq.read_table(parts)
    assert sorted(table.column("idempotency_key").to_pylist()) == ["sms00000", "sms00001", "sms00002"]
    assert {r["status"] for r in request_rows(any_engine)} == {"delivered"}


def test_delivered_contacts_show_in_the_customer_360(any_engine: Engine, tmp_path: Path) -> None:
    any_engine.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS_CSV))
    with write_transaction(any_engine.online) as conn:
        enqueue(conn, [action("C1", "c1-winback", plan="winback", step="mail_1", objective="sell")], now=T0)
    worker = make_worker(any_engine, fast_settings())
    worker.run(once=True)
    worker.close()
    timeline = any_engine.customers.timeline("C1")
    delivered = [e for e in timeline if e["type"] == "action_delivered"]
    assert len(delivered) == 1
    assert delivered[0]["source"] == "contact_history"
    assert "plan winback, step mail_1" in delivered[0]["summary"]
    assert any_engine.customers.customer("C1")["timeline"] == timeline
    assert not [e for e in any_engine.customers.timeline("C2") if e["type"] == "action_delivered"]


def test_the_webhook_secret_comes_only_from_the_environment(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    Engine.init(ws).close()
    config = yaml.safe_load((ws / "cvm.yaml").read_text())
    config["delivery"].update(default_transport="webhook", webhook_url="http://127.0.0.1:9/hook")
    (ws / "cvm.yaml").write_text(yaml.safe_dump(config))
    settings = load_settings(ws, environ={})
    with pytest.raises(ValueError, match="CVM__DELIVERY__WEBHOOK_SECRET"):
        build_router(settings.delivery, ws, "run")
    from_env = load_settings(ws, environ={"CVM__DELIVERY__WEBHOOK_SECRET": "s3cret"})
    assert from_env.delivery.webhook_secret is not None
    assert from_env.delivery.webhook_secret.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(from_env)
    config["delivery"]["webhook_secret"] = "committed"
    (ws / "cvm.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match="is a secret"):
        load_settings(ws, environ={})


def _stop_when(condition: Any) -> threading.Event:
    """An event that sets itself once ``condition()`` holds (polled in a daemon thread)."""
    stop = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 60
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    return stop
