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

import pytest
import sqlalchemy as sa

from cvm.delivery import Worker
from cvm.engine import Engine
from cvm.store.tables import action_requests, deliveries
from tests.integration.test_outbox import count, fast_settings, fill_outbox, make_worker
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
