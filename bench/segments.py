"""Benchmark segments and plans on a synthetic base: all segments for 1M customers in 5 s, plans in 30 s.

Usage: ``python bench/segments.py [--customers 1000000] [--seed 1] [--json]``. Exits 1 when a target is missed.

The hub tables are drawn with numpy and written straight into a temporary offline store (no
ingestion), with value scores for everyone. Figures:

- ``attributes``: the attribute base from the hub tables (purchases, contracts, payments, ...);
- ``segments``: life-cycle stage, value × risk cell and named segments for the whole base, the
  membership rows and the transitions since the previous refresh, from the attribute base (target:
  5 s; Mautic users report about 40 minutes for a 260k-contact segment rebuild; Dittofeed recomputes
  by polling every 120 s); the end-to-end figure adds the attribute base;
- ``write``: storing the membership history;
- ``plans, first run``: every plan for the whole base with no plan state yet (everyone whose trigger
  holds enrols), and ``plans, next day``: the day after, with the plan state of the first run
  (target: 30 s each). Only SQL-selected candidates reach the per-customer ``decide``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from cvm.cli.console import console
from cvm.config import Settings
from cvm.plans.batch import PlanBatch, run_batch
from cvm.segments import compute_membership, refresh_segments
from cvm.store import OfflineStore

AS_OF = date(2025, 6, 30)
TARGET_SEGMENTS = 5.0
TARGET_PLANS = 30.0


def _maybe(values: pl.Series, keep: np.ndarray) -> pl.Series:
    """``values`` where ``keep``, null elsewhere."""
    return pl.select(pl.when(pl.Series(keep)).then(values)).to_series().alias(values.name)


def _days_before(rng: np.random.Generator, n: int, low: int, high: int) -> pl.Series:
    return pl.Series(np.datetime64(AS_OF) - rng.integers(low, high, n).astype("timedelta64[D]")).cast(pl.Date)


def synthetic_hub(n: int, seed: int) -> dict[str, pl.DataFrame]:
    """Hub tables for ``n`` customers: 3 transactions, 0.3 subscriptions, 0.5 invoices and contacts each."""
    rng = np.random.default_rng(seed)
    cid = pl.Series(np.char.add("C", np.char.zfill(np.arange(n).astype(str), 8)))
    acquired = _days_before(rng, n, 1, 6 * 365)
    customers = pl.DataFrame({
        "customer_id": cid, "acquired_at": acquired,
        "kind": rng.choice(["B2B", "B2C"], n, p=[0.2, 0.8]),
        "region": rng.choice(["North", "South", "East", "West"], n),
        "sector": rng.choice(["retail", "industry", "services"], n),
        "channel": rng.choice(["direct", "distribution"], n),
        "timezone": rng.choice(["Europe/Paris", "Europe/London", "America/New_York", "UTC"], n),
        "birth_date": _days_before(rng, n, 20 * 365, 80 * 365),
        "consent_email": rng.random(n) < 0.8, "consent_sms": rng.random(n) < 0.4,
        "consent_phone": rng.random(n) < 0.5, "consent_mail": rng.random(n) < 0.9,
    })  # fmt: skip
    t = 3 * n
    who = rng.integers(0, n, t)
    tenure = (np.datetime64(AS_OF) - customers["acquired_at"].to_numpy()).astype("timedelta64[D]").astype(np.int64)
    back = (rng.random(t) * tenure[who]).astype(np.int64)
    ts = (np.datetime64(AS_OF) - back.astype("timedelta64[D]")).astype("datetime64[us]")
    amount = np.round(rng.lognormal(3.5, 1.0, t), 2)
    transactions = pl.DataFrame({
        "transaction_id": np.char.add("T", np.arange(t).astype(str)), "customer_id": cid.to_numpy()[who],
        "ts": pl.Series(ts).dt.replace_time_zone("UTC"), "amount": amount, "margin": np.round(amount * 0.3, 2),
    })  # fmt: skip
    s = int(0.3 * n)
    start = _days_before(rng, s, 30, 4 * 365)
    subscriptions = pl.DataFrame({
        "subscription_id": np.char.add("S", np.arange(s).astype(str)),
        "customer_id": cid.to_numpy()[rng.integers(0, n, s)], "product": rng.choice(["basic", "pro"], s),
        "start": start, "end": _maybe(start + timedelta(days=365), rng.random(s) < 0.3),
        "mrr": np.round(rng.uniform(10, 200, s), 2),
    })  # fmt: skip
    p = n // 2
    due = _days_before(rng, p, 1, 365)
    payments = pl.DataFrame({
        "invoice_id": np.char.add("I", np.arange(p).astype(str)), "customer_id": cid.to_numpy()[rng.integers(0, n, p)],
        "due_date": due, "amount": np.round(rng.uniform(20, 500, p), 2),
        "paid_date": _maybe(due + pl.Series(rng.integers(-5, 40, p)).cast(pl.Duration("ms")) * 86_400_000,
                            rng.random(p) < 0.9).cast(pl.Date),
    })  # fmt: skip
    c = n // 2
    contacts = pl.DataFrame({
        "contact_id": np.char.add("K", np.arange(c).astype(str)), "customer_id": cid.to_numpy()[rng.integers(0, n, c)],
        "ts": pl.Series((np.datetime64(AS_OF) - rng.integers(1, 365, c).astype("timedelta64[D]")).astype(
            "datetime64[us]")).dt.replace_time_zone("UTC"),
        "channel": rng.choice(["phone", "email", "visit"], c), "direction": rng.choice(["inbound", "outbound"], c),
        "topic": rng.choice(["service", "complaint", "billing"], c, p=[0.6, 0.1, 0.3]),
        "outcome": rng.choice(["resolved", "open"], c, p=[0.8, 0.2]),
    })  # fmt: skip
    clv = np.round(rng.lognormal(5, 1.2, n), 2)
    rank = np.argsort(np.argsort(-clv))
    grade = np.where(rank < 0.2 * n, "high", np.where(rank < 0.5 * n, "medium", "low"))
    p_alive = rng.beta(3, 2, n)
    scores = pl.concat([
        pl.DataFrame({"customer_id": cid, "as_of": [AS_OF] * n, "score": ["clv"] * n, "value": clv, "grade": grade}),
        pl.DataFrame({"customer_id": cid, "as_of": [AS_OF] * n, "score": ["p_alive"] * n, "value": p_alive,
                      "grade": [None] * n}),
    ], how="vertical_relaxed")  # fmt: skip
    return {"customers": customers, "transactions": transactions, "subscriptions": subscriptions,
            "payments": payments, "contacts": contacts, "scores": scores}  # fmt: skip


def _write(store: OfflineStore, tables: dict[str, pl.DataFrame]) -> None:
    store.create()
    with store.transaction() as tx:
        for name, frame in tables.items():
            tx.append(name, frame)


def _plans(
    store: OfflineStore, settings: Settings, day: date, states: dict[str, dict[str, object]], workers: int | None
) -> tuple[float, PlanBatch]:
    """Run every plan for the whole base as of ``day`` (09:00 UTC); time the batch, not the base it reads."""
    now = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=9)
    con = store.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        compute_membership(con, settings.segments, day)
        t = time.perf_counter()
        batch = run_batch(con, settings.plans, now, "segmented", states, {}, {}, workers)
        return time.perf_counter() - t, batch
    finally:
        con.close()


def run(n: int, seed: int, workers: int | None = None) -> dict[str, object]:
    """Generate, refresh segments twice, run plans twice; return the figures."""
    settings = Settings()
    with tempfile.TemporaryDirectory(prefix="cvm-seg-bench-") as tmp:
        store = OfflineStore(Path(tmp) / "offline")
        t = time.perf_counter()
        _write(store, synthetic_hub(n, seed))
        gen = time.perf_counter() - t
        refresh_segments(store, settings.segments, AS_OF - timedelta(days=1))
        report = refresh_segments(store, settings.segments, AS_OF)
        first_s, first = _plans(store, settings, AS_OF, {}, workers)
        states = {cid: dict(d.plan_state) for cid, d in first.decisions}
        next_s, nxt = _plans(store, settings, AS_OF + timedelta(days=1), states, workers)
    return {
        "customers": n, "cpus": os.cpu_count(), "generate_s": gen,
        "attributes_s": report.seconds["attributes"], "segments_s": report.seconds["segments"],
        "write_s": report.seconds["write"], "memberships": sum(report.counts.values()),
        "transitions": report.transitions.height, "segment_counts": report.counts,
        "plans_first_s": first_s, "plans_first": first.to_dict(),
        "plans_next_s": next_s, "plans_next": nxt.to_dict(),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    helps = "processes for decide (default 1; 0: one per CPU, at most 8)"
    parser.add_argument("--workers", type=int, default=None, help=helps)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    r = run(args.customers, args.seed, args.workers)
    seg_total = float(r["attributes_s"]) + float(r["segments_s"])  # type: ignore[arg-type]
    ok = {
        "segments": float(r["segments_s"]) <= TARGET_SEGMENTS,  # type: ignore[arg-type]
        "first": float(r["plans_first_s"]) <= TARGET_PLANS,  # type: ignore[arg-type]
        "next": float(r["plans_next_s"]) <= TARGET_PLANS,  # type: ignore[arg-type]
    }
    if args.json:
        console.json(
            {**r, "targets": {"segments_s": TARGET_SEGMENTS, "plans_s": TARGET_PLANS}, "pass": all(ok.values())}
        )
        return 0 if all(ok.values()) else 1
    v = {True: "pass", False: "FAIL"}
    first, nxt = r["plans_first"], r["plans_next"]
    rows = [
        ("customers", r["customers"], "", "", ""),
        ("synthetic hub written (s)", r["generate_s"], "", "", ""),
        ("attribute base from hub tables (s)", r["attributes_s"], "", "", ""),
        ("all segments + transitions (s)", r["segments_s"], f"{TARGET_SEGMENTS:.0f} s", "Mautic ~40 min @260k",
         v[ok["segments"]]),
        ("  end to end from hub tables (s)", seg_total, "", "Dittofeed polls every 120 s", ""),
        ("membership history written (s)", r["write_s"], "", "", ""),
        ("plans, first run (s)", r["plans_first_s"], f"{TARGET_PLANS:.0f} s", "Mautic ~2.5 days @1M", v[ok["first"]]),
        ("  candidates / actions", f"{first['candidates']:,} / {sum(first['actions'].values()):,}", "", "", ""),  # type: ignore[index]
        ("plans, next day (s)", r["plans_next_s"], f"{TARGET_PLANS:.0f} s", "", v[ok["next"]]),
        ("  candidates / actions", f"{nxt['candidates']:,} / {sum(nxt['actions'].values()):,}", "", "", ""),  # type: ignore[index]
    ]  # fmt: skip
    console.table(f"Segments and plans ({r['cpus']} CPUs)", ["step", "value", "target", "peer", "verdict"], rows)
    return 0 if all(ok.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
