"""Benchmark the outbox worker against a webhook receiver that hangs or trickles on some requests.

Target (issue 19): with 5% of requests hanging, at least half the throughput with none (to 90%);
every action delivered exactly once (no key on the wire twice at once, no lease lost).

Each scenario fills a fresh outbox with ``--actions`` actions and runs one worker (its real
loop, in this process) until all are delivered, against a loopback receiver
(``tests/integration/webhook_receiver.py``) that answers in ``--delay`` seconds, and on a
share of requests (a hash of key and attempt, so the same ones in every run):

- ``healthy``: none misbehaves;
- ``hang 5%``: never answers, until the worker hangs up;
- ``trickle 5%``: sends its answer one byte every 0.5 s.

Throughput is actions delivered per second of wall time, until all were delivered and
until 90% were (the pace of the traffic that does not misbehave: the last requests to
hang add one deadline to the drain of a small outbox). The worker's deadline is
``--deadline`` seconds (``timeout_seconds``, which the code before issue 19 used as a
per-read timeout), its lease 10 s. A hanging request holds a slot until the deadline, so
the target needs ``--concurrency`` of at least rate x (delay + 5% x deadline).

Usage: ``python bench/delivery.py [--actions 600] [--delay 0.05] [--deadline 2] [--concurrency 32]
[--pg-url URL] [--json]``. Exits 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test receiver and outbox helpers

from tests.integration.test_outbox import count, fast_settings, fill_outbox, make_worker
from tests.integration.webhook_receiver import MisbehavingReceiver, Mode

from cvm.engine import Engine

SCENARIOS: dict[str, tuple[Mode, float]] = {
    "healthy": ("ok", 0.0),
    "hang 5%": ("hang", 0.05),
    "trickle 5%": ("trickle", 0.05),
}


def _plan(mode: Mode, share: float) -> Callable[[str, int], Mode]:
    def plan(key: str, n: int) -> Mode:
        return mode if zlib.crc32(f"{key}:{n}".encode()) % 10_000 < share * 10_000 else "ok"

    return plan


@contextmanager
def _workspace(pg_url: str | None) -> Iterator[Engine]:
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        Engine.init(ws).close()
        admin, name = None, ""
        if pg_url:
            name = f"cvm_bench_{uuid.uuid4().hex[:8]}"
            admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            config = yaml.safe_load((ws / "cvm.yaml").read_text())
            config["store"]["online_url"] = sa.make_url(pg_url).set(database=name).render_as_string(False)
            (ws / "cvm.yaml").write_text(yaml.safe_dump(config))
        engine = Engine.open(ws)
        engine.online.migrate()
        try:
            yield engine
        finally:
            engine.close()
            if admin is not None:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.dispose()


def run_scenario(name: str, args: argparse.Namespace) -> dict[str, Any]:
    mode, share = SCENARIOS[name]
    with _workspace(args.pg_url) as engine:
        keys = fill_outbox(engine, args.actions)
        with MisbehavingReceiver(_plan(mode, share), delay=args.delay, trickle_interval=0.5, hold_limit=120) as rx:
            settings = fast_settings(
                rx.url, timeout_seconds=args.deadline, lease_seconds=10.0, concurrency=args.concurrency
            )
            worker = make_worker(engine, settings)
            stop = threading.Event()
            runner = threading.Thread(target=worker.run, kwargs={"stop": stop, "max_seconds": 600})
            start = time.perf_counter()
            runner.start()
            t90 = None
            while (done := count(engine, "action_requests", "WHERE status = 'delivered'")) < len(keys):
                if t90 is None and done >= 0.9 * len(keys):
                    t90 = time.perf_counter() - start
                time.sleep(0.02)
            elapsed = time.perf_counter() - start
            stop.set()
            runner.join()
            worker.close()
        held = [a.ended - a.started for a in rx.arrivals if a.mode != "ok"]
        return {
            "scenario": name,
            "actions": len(keys),
            "seconds": round(elapsed, 2),
            "per_second": round(len(keys) / elapsed, 1),
            "per_second_to_90%": round(0.9 * len(keys) / (t90 or elapsed), 1),
            "requests": len(rx.arrivals),
            "misbehaved": len(held),
            "longest_hold_s": round(max(held), 2) if held else None,
            "on_the_wire_twice": len(rx.overlapping()),
            "leases_lost": count(engine, "deliveries", "WHERE status = 'lost'"),
            "delivered_twice": count(engine, "deliveries", "WHERE status = 'delivered'") - len(keys),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=600)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds a healthy answer takes")
    parser.add_argument("--deadline", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [run_scenario(name, args) for name in args.scenarios.split(",")]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            print(", ".join(f"{k} {v}" for k, v in r.items()), flush=True)
    rate = {r["scenario"]: r["per_second_to_90%"] for r in results}
    ok = all(r["on_the_wire_twice"] == 0 and r["leases_lost"] == 0 for r in results)
    if "healthy" in rate and "hang 5%" in rate:
        ok = ok and rate["hang 5%"] >= rate["healthy"] / 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
