"""Reliability of delivery and ingestion against real processes, on SQLite and PostgreSQL.

- A flaky receiver (30% of requests fail with a 5xx, some hang past the timeout):
  every action is accepted exactly once per idempotency key (the receiver dedupes),
  none is lost, a key reaches the receiver again only after the worker timed out on
  it, and every signature verifies.
- ``cvm worker`` killed with SIGKILL in the middle of deliveries and started again:
  nothing is lost; the dead worker's claims come back when their lease expires.
- ``cvm serve`` killed with SIGKILL in the middle of a stream of batches: every
  batch that was acknowledged (200) is stored with its actions; the batch in flight
  is all there or not at all, and sending it again is safe.

Every loop here is bounded by a deadline; servers listen on loopback only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
import sqlalchemy as sa
import yaml

from cvm.engine import Engine
from cvm.store.tables import action_requests, deliveries, event_log
from tests.integration.test_outbox import SECRET, Receiver, count, fast_settings, fill_outbox, make_worker
from tests.serving import free_port

N_ACTIONS = 240


def _worker_timeouts(engine: Engine) -> dict[str, int]:
    """Attempts the worker gave up waiting for, per idempotency key."""
    query = (
        sa.select(action_requests.c.idempotency_key, sa.func.count())
        .join(deliveries, deliveries.c.request_id == action_requests.c.id)
        .where(deliveries.c.status == "timeout")
        .group_by(action_requests.c.idempotency_key)
    )
    with engine.online.begin() as conn:
        return {key: int(n) for key, n in conn.execute(query)}


def _assert_resent_only_after_timeouts(rx: Receiver, engine: Engine) -> None:
    """A key reaches the receiver again only as often as the worker timed out on it."""
    timeouts = _worker_timeouts(engine)
    for key, n in rx.accepted.items():
        assert n - 1 <= timeouts.get(key, 0), f"{key} accepted {n} times after {timeouts.get(key, 0)} timeouts"
    hung = {r.key for r in rx.receipts if r.outcome == "hung"}
    assert hung <= set(timeouts)  # every deliberate hang was seen as a timeout


@pytest.mark.slow
def test_flaky_receiver_gets_each_action_exactly_once_per_key(any_engine: Engine) -> None:
    keys = fill_outbox(any_engine, N_ACTIONS)
    with Receiver(fail_rate=0.30, hang_rate=0.05, hang_seconds=1.5, seed=11) as rx:
        settings = fast_settings(rx.url, timeout_seconds=0.5, lease_seconds=5.0, concurrency=8)
        worker = make_worker(any_engine, settings)
        stop = threading.Event()
        runner = threading.Thread(target=worker.run, kwargs={"stop": stop, "max_seconds": 120})
        runner.start()
        deadline = time.monotonic() + 120
        while count(any_engine, "action_requests", "WHERE status = 'delivered'") < N_ACTIONS:
            assert time.monotonic() < deadline, "the worker did not deliver everything in time"
            time.sleep(0.1)
        stop.set()
        runner.join(timeout=30)
        worker.close()
        time.sleep(1.6)  # let hung handlers finish
    outcomes = [r.outcome for r in rx.receipts]
    assert outcomes.count("failed") > N_ACTIONS * 0.2
    assert outcomes.count("hung") > 0
    assert set(rx.accepted) == set(keys)  # none lost
    assert all(r.signature_ok for r in rx.receipts)
    assert all(r.body_key == r.key for r in rx.receipts)
    _assert_resent_only_after_timeouts(rx, any_engine)
    assert count(any_engine, "contact_history") == N_ACTIONS
    assert count(any_engine, "deliveries", "WHERE status = 'delivered'") == N_ACTIONS
    assert count(any_engine, "deliveries") >= len(rx.receipts)  # every attempt the receiver saw is on record


def _worker_env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "CVM__DELIVERY__DEFAULT_TRANSPORT": "webhook",
        "CVM__DELIVERY__WEBHOOK_URL": url,
        "CVM__DELIVERY__WEBHOOK_SECRET": SECRET,
        "CVM__DELIVERY__TIMEOUT_SECONDS": "2",
        "CVM__DELIVERY__LEASE_SECONDS": "3",
        "CVM__DELIVERY__CONCURRENCY": "4",
        "CVM__DELIVERY__BACKOFF_BASE_SECONDS": "0.01",
        "CVM__DELIVERY__BACKOFF_MAX_SECONDS": "0.05",
        "CVM__DELIVERY__POLL_SECONDS": "0.05",
    }


def _start_worker(workspace: Path, url: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "cvm.cli.main", "worker", "-w", str(workspace)]
    return subprocess.Popen(cmd, env=_worker_env(url), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.slow
def test_worker_killed_mid_delivery_loses_nothing(any_engine: Engine) -> None:
    keys = fill_outbox(any_engine, 80)
    with Receiver(delay_seconds=0.15) as rx:
        proc = _start_worker(any_engine.workspace, rx.url)
        try:
            _wait(lambda: len(rx.accepted) >= 15 and rx.in_progress > 0, 60, "deliveries in progress")
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=10)
        with any_engine.online.begin() as conn:
            in_flight = set(
                conn.execute(
                    sa.select(action_requests.c.idempotency_key).where(action_requests.c.status == "in_flight")
                ).scalars()
            )
        assert proc.returncode == -signal.SIGKILL
        assert in_flight, "the worker was not killed in the middle of deliveries"
        restarted = _start_worker(any_engine.workspace, rx.url)
        try:
            delivered = "WHERE status = 'delivered'"
            _wait(lambda: count(any_engine, "action_requests", delivered) == len(keys), 90, "redelivery")
            restarted.send_signal(signal.SIGTERM)
            _, err = restarted.communicate(timeout=30)
        finally:
            if restarted.poll() is None:
                restarted.kill()
                restarted.communicate(timeout=10)
        assert restarted.returncode == 0, err.decode()
        time.sleep(0.3)
    assert set(rx.accepted) == set(keys)  # nothing lost
    resent = {k for k, n in rx.accepted.items() if n > 1}
    assert resent <= in_flight  # only what the dead worker held was sent twice; the receiver deduped it
    assert count(any_engine, "contact_history") == len(keys)
    assert count(any_engine, "deliveries", "WHERE status = 'lost'") == len(in_flight)
    assert all(r.signature_ok for r in rx.receipts)


# -- the API killed in the middle of a stream of batches -------------------------------------------
PLANS = {
    "definitions": {
        "service_recovery": {
            "trigger": {"type": "event", "event": "complaint"},
            "reentry_days": 0,
            "steps": [{"name": "call", "objective": "give", "channel": "crm_task", "propensity": "0.5", "value": "50"}],
        },
        "big_purchase": {
            "trigger": {"type": "event", "event": "transaction", "where": "amount > 500"},
            "reentry_days": 0,
            "steps": [{"name": "thanks", "objective": "inform", "channel": "email", "propensity": "0.5", "value": "9"}],
        },
    }
}
N_CUSTOMERS = 300
BATCH = 100


def _prepare(engine: Engine) -> dict[str, str]:
    config = yaml.safe_load((engine.workspace / "cvm.yaml").read_text())
    config["plans"] = PLANS
    (engine.workspace / "cvm.yaml").write_text(yaml.safe_dump(config))
    ids = [f"C{i:04d}" for i in range(N_CUSTOMERS)]
    frame = pl.DataFrame(
        {"customer_id": ids, "acquired_at": ["2023-01-01"] * N_CUSTOMERS, "kind": ["B2C"] * N_CUSTOMERS}
    )
    engine.ingest("customers", frame)
    return {"X-API-Key": engine.access.create_key("ingest")[1]}


def _batch(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(BATCH):
        j = n * BATCH + i
        kind = "complaint" if j % 7 == 0 else "transaction"
        props = {} if kind == "complaint" else {"amount": float(100 + (j * 37) % 900)}
        out.append(
            {
                "event_id": f"b{n:04d}-{i:03d}",
                "customer_id": f"C{j % N_CUSTOMERS:04d}",
                "type": kind,
                "ts": "2024-06-01T10:00:00+00:00",
                "properties": props,
            }
        )
    return out


def _serve(workspace: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "cvm.cli.main",
        "serve",
        "-w",
        str(workspace),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    _wait(up, 60, "cvm serve to start")
    return proc, base


def _stream(base: str, headers: dict[str, str], acked: list[int], sent: list[int], stop: threading.Event) -> None:
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        n = 0
        while not stop.is_set() and n < 500:
            sent.append(n)
            try:
                response = client.post("/events", json={"events": _batch(n)})
            except httpx.TransportError:
                return  # the server died under this request
            assert response.status_code == 200, response.text
            acked.append(n)
            n += 1


def _stored(engine: Engine) -> tuple[dict[str, dict[str, Any]], set[int]]:
    with engine.online.begin() as conn:
        results = {r.event_id: r.result for r in conn.execute(sa.select(event_log.c.event_id, event_log.c.result))}
        ids = set(conn.execute(sa.select(action_requests.c.id)).scalars())
    return results, ids


@pytest.mark.slow
def test_api_killed_mid_batch_keeps_every_acknowledged_event(any_engine: Engine) -> None:
    headers = _prepare(any_engine)
    proc, base = _serve(any_engine.workspace)
    acked: list[int] = []
    sent: list[int] = []
    stop = threading.Event()
    client = threading.Thread(target=_stream, args=(base, headers, acked, sent, stop))
    try:
        client.start()
        _wait(lambda: len(acked) >= 5, 120, "acknowledged batches")
        time.sleep(0.013 * (len(acked) % 7))  # land somewhere inside a request
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        client.join(timeout=60)
    results, action_ids = _stored(any_engine)
    for n in acked:  # durable before the 200
        assert all(e["event_id"] in results for e in _batch(n)), f"acknowledged batch {n} lost events"
    for result in results.values():  # an event is never stored without its actions
        assert {a["id"] for a in result["actions"] if a["id"] is not None} <= action_ids
    assert sum(len(r["actions"]) for r in results.values()) > 0
    unacked = [n for n in sent if n not in acked]
    assert len(unacked) == 1  # killed with a batch in flight
    for n in unacked:  # the batch in flight: all or nothing
        present = [e["event_id"] in results for e in _batch(n)]
        assert all(present) or not any(present)
        proc, base = _serve(any_engine.workspace)  # the client sends it again: safe
        try:
            again = httpx.post(f"{base}/events", json={"events": _batch(n)}, headers=headers, timeout=30).json()
        finally:
            proc.terminate()
            proc.wait(timeout=20)
        assert {d["status"] for d in again["data"]} == ({"duplicate"} if all(present) else {"accepted"})
    assert count(any_engine, "event_log") == len({*acked, *unacked}) * BATCH
