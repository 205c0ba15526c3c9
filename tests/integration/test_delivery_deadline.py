"""Delivery bounded in time, against real receivers that trickle, hang and fail (SQLite and PostgreSQL).

"Exactly once" here means, and the tests assert all of it:

- the outbox records every action as delivered exactly once (one ``delivered`` attempt,
  one contact-history row), and none is lost;
- the receiver, which de-duplicates by ``webhook-id`` (= ``Idempotency-Key``), acts on
  every key exactly once;
- a key reaches the receiver again only after the worker recorded a failed or timed-out
  attempt for it (a receiver that got the body but whose answer was cut off by the
  deadline sees a retry), and never while an earlier request with that key is still open:
  leases never expire under a live worker, so no second worker sends it meanwhile.

The workers run for real (their loop, two of them on the same outbox) against a real
HTTP server on loopback.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from cvm.config import ConfigError, load_settings
from cvm.delivery import Worker
from cvm.engine import Engine
from cvm.store.tables import action_requests, deliveries
from tests.integration.test_outbox import count, fast_settings, fill_outbox, make_worker, request_rows
from tests.integration.webhook_receiver import MisbehavingReceiver, Mode

DEADLINE = 1.0
SLACK = 0.6  # scheduling on a shared machine: the worker hangs up within DEADLINE + SLACK


def _every(k: int, mode: Mode, times: int = 1) -> Callable[[str, int], Mode]:
    """``mode`` for the first ``times`` requests of every ``k``-th key (by a hash of the key), then ``ok``."""

    def plan(key: str, n: int) -> Mode:
        return mode if zlib.crc32(key.encode()) % k == 0 and n < times else "ok"

    return plan


def _run_workers(workers: list[Worker], done: Callable[[], bool], seconds: float) -> None:
    """Run ``workers`` in threads until ``done()`` (asserting it happens within ``seconds``)."""
    stop = threading.Event()
    threads = [threading.Thread(target=w.run, kwargs={"stop": stop, "max_seconds": seconds + 5}) for w in workers]
    for t in threads:
        t.start()
    deadline = time.monotonic() + seconds
    try:
        while not done():
            assert time.monotonic() < deadline, "the workers did not finish in time"
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=seconds + 10)
        for w in workers:
            w.close()


def _attempts(engine: Engine) -> dict[str, dict[str, int]]:
    """Attempts on record per idempotency key and status."""
    query = (
        sa.select(action_requests.c.idempotency_key, deliveries.c.status, sa.func.count())
        .join(deliveries, deliveries.c.request_id == action_requests.c.id)
        .group_by(action_requests.c.idempotency_key, deliveries.c.status)
    )
    out: dict[str, dict[str, int]] = {}
    with engine.online.begin() as conn:
        for key, status, n in conn.execute(query):
            out.setdefault(key, {})[status] = int(n)
    return out


def _assert_exactly_once(engine: Engine, rx: MisbehavingReceiver, keys: list[str]) -> None:
    assert rx.acted == dict.fromkeys(keys, 1)  # none lost, each acted on once
    assert rx.overlapping() == []  # never on the wire twice at once
    attempts = _attempts(engine)
    assert all(attempts[k].get("delivered") == 1 for k in keys)
    assert sum(a.get("lost", 0) for a in attempts.values()) == 0  # no lease ran out
    for key in keys:
        seen = sum(1 for a in rx.arrivals if a.key == key)
        unsuccessful = attempts[key].get("timeout", 0) + attempts[key].get("failed", 0)
        assert seen - 1 <= unsuccessful, f"{key} arrived {seen} times after {unsuccessful} unsuccessful attempts"
    assert count(engine, "contact_history") == len(keys)
    assert count(engine, "action_requests", "WHERE status = 'delivered'") == len(keys)


def _assert_held_at_most_the_deadline(rx: MisbehavingReceiver, mode: Mode) -> None:
    held = [a.ended - a.started for a in rx.arrivals if a.mode == mode]
    assert held, f"no request was answered with {mode}"
    assert max(held) < DEADLINE + SLACK, f"a {mode} request was held {max(held):.1f} s past a {DEADLINE} s deadline"


@pytest.mark.parametrize("mode", ["trickle", "hang"])
def test_a_slow_answer_is_cut_at_the_deadline_and_sent_again_exactly_once(any_engine: Engine, mode: Mode) -> None:
    keys = fill_outbox(any_engine, 12)
    with MisbehavingReceiver(_every(3, mode), trickle_interval=0.4, hold_limit=20) as rx:
        settings = fast_settings(rx.url, timeout_seconds=DEADLINE, lease_seconds=2.0, concurrency=4)
        workers = [make_worker(any_engine, settings, worker_id=f"w{i}") for i in range(2)]
        delivered = "WHERE status = 'delivered'"
        _run_workers(workers, lambda: count(any_engine, "action_requests", delivered) == len(keys), 40)
    _assert_held_at_most_the_deadline(rx, mode)
    _assert_exactly_once(any_engine, rx, keys)
    assert sum(w.stats.renewed for w in workers) > 0  # leases of requests in flight were renewed
    assert sum(a.get("timeout", 0) for a in _attempts(any_engine).values()) >= sum(
        1 for a in rx.arrivals if a.mode == mode
    )


def test_an_answer_that_never_completes_in_time_is_never_delivered(any_engine: Engine) -> None:
    [key] = fill_outbox(any_engine, 1)
    with MisbehavingReceiver(lambda key, n: "trickle", trickle_interval=0.3, hold_limit=20) as rx:
        settings = fast_settings(rx.url, timeout_seconds=DEADLINE, lease_seconds=2.0, max_attempts=2)
        worker = make_worker(any_engine, settings)
        _run_workers([worker], lambda: worker.stats.dead == 1, 30)
    _assert_held_at_most_the_deadline(rx, "trickle")
    assert _attempts(any_engine) == {key: {"timeout": 2}}
    assert count(any_engine, "action_requests", "WHERE status = 'dead'") == 1
    assert count(any_engine, "contact_history") == 0


def test_failures_and_slow_answers_mixed_still_deliver_each_key_once(any_engine: Engine) -> None:
    keys = fill_outbox(any_engine, 40)

    def plan(key: str, n: int) -> Mode:
        draw = zlib.crc32(f"{key}:{n}".encode()) % 10
        return "fail" if draw < 3 else "hang" if draw == 3 else "trickle" if draw == 4 else "ok"

    with MisbehavingReceiver(plan, trickle_interval=0.4, hold_limit=20) as rx:
        settings = fast_settings(rx.url, timeout_seconds=DEADLINE, lease_seconds=2.0, concurrency=4)
        workers = [make_worker(any_engine, settings, worker_id=f"w{i}") for i in range(2)]
        delivered = "WHERE status = 'delivered'"
        _run_workers(workers, lambda: count(any_engine, "action_requests", delivered) == len(keys), 60)
    assert {a.mode for a in rx.arrivals} == {"ok", "fail", "hang", "trickle"}
    _assert_exactly_once(any_engine, rx, keys)


def test_a_worker_renews_the_leases_of_its_requests_in_flight(any_engine: Engine) -> None:
    fill_outbox(any_engine, 3)
    now = [datetime.now(UTC)]
    with MisbehavingReceiver(lambda key, n: "hang", hold_limit=20) as rx:
        settings = fast_settings(rx.url, timeout_seconds=1.5, lease_seconds=2.0)
        holder = make_worker(any_engine, settings, worker_id="holder", clock=lambda: now[0])
        rescuer = make_worker(any_engine, settings, worker_id="rescuer", clock=lambda: now[0])
        delivering = threading.Thread(target=holder.deliver, args=(holder.claim(),))
        delivering.start()
        deadline = time.monotonic() + 10
        while len(rx.arrivals) < 3:
            assert time.monotonic() < deadline, "the requests did not arrive"
            time.sleep(0.01)
        now[0] += timedelta(seconds=1.8)  # nine tenths of the lease
        assert holder.renew() == 3
        now[0] += timedelta(seconds=1.0)  # past the first lease, inside the renewed one
        assert rescuer.recover() == 0
        delivering.join(timeout=10)
        holder.close()
        rescuer.close()
    rows = request_rows(any_engine)
    assert [(r["status"], r["lease_owner"], r["attempts"]) for r in rows] == [("pending", "holder", 1)] * 3
    assert _attempts(any_engine) == {r["idempotency_key"]: {"timeout": 1} for r in rows}


def test_the_deadline_must_be_shorter_than_the_lease() -> None:
    env = {"CVM__DELIVERY__REQUEST_DEADLINE_SECONDS": "30", "CVM__DELIVERY__LEASE_SECONDS": "20"}
    with pytest.raises(ConfigError, match=r"delivery\.request_deadline_seconds \(30\) must be shorter than "):
        load_settings(None, environ=env)
    with pytest.raises(ConfigError, match=r"delivery\.lease_seconds \(20\)"):
        load_settings(None, environ=env)
    ok = load_settings(None, environ={**env, "CVM__DELIVERY__LEASE_SECONDS": "31"}).delivery
    assert (ok.deadline_seconds, ok.timeout_seconds) == (30.0, 5.0)  # per-step timeout below a total deadline
    assert load_settings(None, environ={}).delivery.deadline_seconds == 5.0  # the default: timeout_seconds


def _delivered(engine: Engine, prefix: str) -> int:
    t = action_requests.c
    query = sa.select(sa.func.count()).where(t.status == "delivered", t.idempotency_key.startswith(prefix))
    with engine.online.begin() as conn:
        return int(conn.execute(query).scalar_one())


def _throughput(engine: Engine, prefix: str, share: float) -> tuple[float, float, MisbehavingReceiver, list[str]]:
    """Actions delivered per second by one worker with ``share`` of the requests hanging: until 90% of them
    were delivered (the pace of the traffic that does not hang), and until all were."""
    keys = fill_outbox(engine, 400, prefix=prefix)

    def plan(key: str, n: int) -> Mode:
        return "hang" if zlib.crc32(f"{key}:{n}".encode()) % 1000 < share * 1000 else "ok"

    marks: dict[float, float] = {}

    def progress() -> bool:
        done = _delivered(engine, prefix) / len(keys)
        for mark in (0.9, 1.0):
            if done >= mark:
                marks.setdefault(mark, time.perf_counter())
        return done == 1.0

    with MisbehavingReceiver(plan, delay=0.05, hold_limit=20) as rx:
        settings = fast_settings(rx.url, timeout_seconds=DEADLINE, lease_seconds=5.0, concurrency=64)
        start = time.perf_counter()
        _run_workers([make_worker(engine, settings)], progress, 60)
    return 0.9 * len(keys) / (marks[0.9] - start), len(keys) / (marks[1.0] - start), rx, keys


@pytest.mark.slow
def test_five_percent_hanging_keeps_at_least_half_the_throughput(any_engine: Engine) -> None:
    healthy, healthy_all, rx, keys = _throughput(any_engine, "healthy", 0.0)
    assert rx.acted == dict.fromkeys(keys, 1)
    hanging, hanging_all, rx, keys = _throughput(any_engine, "hanging", 0.05)
    assert sum(1 for a in rx.arrivals if a.mode == "hang") >= 10
    _assert_held_at_most_the_deadline(rx, "hang")
    assert rx.acted == dict.fromkeys(keys, 1)
    assert rx.overlapping() == []
    rates = f"{healthy:.0f} ({healthy_all:.0f}) healthy, {hanging:.0f} ({hanging_all:.0f}) with 5% hanging"
    print(f"actions per second to 90% (to all): {rates}")
    assert hanging >= healthy / 2, (healthy, hanging)
    assert count(any_engine, "deliveries", "WHERE status = 'lost'") == 0
    assert count(any_engine, "deliveries", "WHERE status = 'delivered'") == 800
    assert count(any_engine, "contact_history") == 800
