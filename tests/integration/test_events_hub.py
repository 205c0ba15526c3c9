"""Events become hub facts: in the 360 at once, in the hub tables after ``cvm run``, once each, and audited.

A real ``cvm serve`` takes the events over HTTP; ``cvm run`` runs as the CLI; on SQLite and PostgreSQL.
The crash test makes the online store itself refuse the marking (a trigger), after the offline write.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import closing
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
import sqlalchemy as sa
import yaml

from cvm.engine import Engine
from cvm.segments.attributes import build_base
from tests.conftest import CUSTOMERS_CSV, TRANSACTIONS_CSV, write
from tests.integration.conftest import make_workspace
from tests.serving import cvm_serve

PAYMENTS_CSV = """invoice_id,customer_id,due_date,paid_date,amount
I9,C2,2024-04-01,,250.00
"""
CONTACTS_CSV = """contact_id,customer_id,ts,channel,direction,topic,outcome
K3,C3,2024-05-02T09:00:00Z,phone,inbound,complaint,Opened
"""
TS = "2024-06-01T10:00:00+02:00"


def _event(event_id: str, type_: str, customer: str, **props: Any) -> dict[str, Any]:
    return {"event_id": event_id, "customer_id": customer, "type": type_, "ts": TS, "properties": props}


EVENTS = [
    _event("e-tx", "transaction", "C1", amount=80.0, product="hardware", transaction_id="TX-E1"),
    _event("e-late", "payment_late", "C2", invoice_id="I7", amount=40.0, due_date="2024-05-01"),
    _event("e-paid", "payment_received", "C2", invoice_id="I9", amount=250.0),
    _event("e-open", "complaint", "C1", status="opened", complaint_id="K1", channel="email"),
    _event("e-solved", "complaint", "C3", status="closed"),  # no id: resolves C3's open complaint K3
    _event("e-nps", "survey", "C1", nps=9),
    _event("e-call", "contact", "C2", channel="phone", direction="inbound", topic="billing"),
]


@pytest.fixture
def ws(tmp_path: Path, online_url: str) -> Path:
    ws = make_workspace(tmp_path / "ws", online_url)
    with closing(Engine.open(ws)) as eng:
        for table, text in [("customers", CUSTOMERS_CSV), ("transactions", TRANSACTIONS_CSV),
                            ("payments", PAYMENTS_CSV), ("contacts", CONTACTS_CSV)]:  # fmt: skip
            assert eng.ingest(table, write(tmp_path / f"{table}.csv", text)).status == "committed"
    return ws


def _cvm(ws: Path, *args: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "cvm.cli.main", *args, "-w", str(ws), "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**_env()})
    assert done.returncode == 0, done.stdout + done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def _hub(ws: Path) -> dict[str, pl.DataFrame]:
    with closing(Engine.open(ws)) as eng:
        return {t: eng.offline.read(t) for t in ("transactions", "payments", "contacts", "surveys")}


def _once_each(hub: dict[str, pl.DataFrame]) -> None:
    """Every event is one row of its table, the files' rows are still there, and no key is stored twice."""
    tx, pay, con, srv = hub["transactions"], hub["payments"], hub["contacts"], hub["surveys"]
    assert sorted(tx["transaction_id"]) == ["T1", "T2", "T3", "T4", "TX-E1"]
    assert tx.filter(pl.col("transaction_id") == "TX-E1")["amount"].to_list() == [80.0]
    assert sorted(pay["invoice_id"]) == ["I7", "I9"]
    assert pay.filter(pl.col("invoice_id") == "I9")["paid_date"].to_list() == [date(2024, 6, 1)]
    assert pay.filter(pl.col("invoice_id") == "I7")["due_date"].to_list() == [date(2024, 5, 1)]
    assert sorted(con["contact_id"]) == ["K1", "K3", "shop:e-call"]
    outcomes = dict(zip(con["contact_id"], con["outcome"], strict=True))
    assert (outcomes["K1"], outcomes["K3"]) == ("open", "resolved")
    assert srv.select("customer_id", "nps").rows() == [("C1", 9)]


@pytest.mark.slow
def test_events_are_in_the_360_at_once_then_in_the_hub_once_each_and_audited(ws: Path, tmp_path: Path) -> None:
    with closing(Engine.open(ws)) as eng:
        secret = eng.access.create_key("ingest", label="shop")[1]
        reader = eng.access.create_key("analyst")[1]
    with cvm_serve(ws, tmp_path / "serve.log") as url, httpx.Client(base_url=url, timeout=30) as http:
        sent = http.post("/events", json={"events": EVENTS}, headers={"X-API-Key": secret})
        assert sent.status_code == 200, sent.text
        assert sent.json()["accepted"] == len(EVENTS)
        c1 = http.get("/customers/C1", headers={"X-API-Key": reader}).json()
        c2 = http.get("/customers/C2", headers={"X-API-Key": reader}).json()
        c3 = http.get("/customers/C3/timeline", headers={"X-API-Key": reader}).json()
    kpis = c1["kpis"]
    assert (kpis["transactions"], kpis["revenue"], kpis["complaints"], kpis["last_nps"]) == (3, 230.5, 1, 9)
    assert "hardware 80.0 (margin -)" in {e["summary"] for e in c1["timeline"] if e["type"] == "transaction"}
    assert c2["kpis"]["open_overdue_invoices"] == 1  # I7 is late; I9 was paid by the event
    assert c2["kpis"]["open_overdue_amount"] == 40.0
    assert any("invoice I9 paid" in e["summary"] for e in c2["timeline"])
    assert [e["summary"] for e in c3["data"] if e["type"] == "complaint"] == ["inbound complaint via phone: resolved"]

    first = _cvm(ws, "run")
    assert {(b["table"], b["accepted"]) for b in first["batches"]} >= {("transactions", 1), ("surveys", 1)}
    _once_each(_hub(ws))
    with closing(Engine.open(ws)) as eng:
        assert eng.run().batches == []  # run again: nothing left to export
        _once_each(_hub(ws))
        resent = TRANSACTIONS_CSV + "TX-E1,C1,2024-06-01T08:00:00Z,80,,hardware\n"  # the shop's own export
        assert eng.ingest("transactions", write(tmp_path / "tx2.csv", resent), upsert=True).ok
        _once_each(_hub(ws))
        alone = eng.ingest(
            "transactions", write(tmp_path / "tx3.csv", resent.splitlines()[0] + "\n" + resent.splitlines()[-1])
        )
        assert (alone.accepted, alone.rejected) == (0, 1)  # already stored: not a second row
        _once_each(_hub(ws))
        profile = eng.customers.customer("C1")["kpis"]
        assert (profile["transactions"], profile["revenue"]) == (3, 230.5)  # after the run: from the hub alone
        entries = eng.access.audit_entries(200)
    ingested = [e for e in entries if e["action"] == "events.ingest"]
    assert [(e["actor"], e["target"], e["rows"]) for e in ingested] == [("shop", "events", len(EVENTS))]
    assert ingested[0]["detail"]["types"]["complaint"] == 2
    exported = [e for e in entries if e["action"] == "events.export"]
    assert [(e["target"], e["rows"]) for e in exported] == [("events", len(EVENTS))]
    from_events = {
        e["target"] for e in entries if e["action"] == "ingest.committed" and e["detail"]["sources"] == ["events"]
    }
    assert from_events == {"transactions", "payments", "contacts", "surveys"}


_FAIL = {
    "sqlite": [
        "CREATE TRIGGER refuse_mark BEFORE UPDATE OF exported_at ON event_log "
        "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_mark() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$",
        "CREATE TRIGGER refuse_mark BEFORE UPDATE OF exported_at ON event_log "
        "FOR EACH ROW EXECUTE FUNCTION refuse_mark()",
    ],
}


def test_a_run_that_fails_after_the_offline_write_exports_nothing_twice(ws: Path, online_url: str) -> None:
    with closing(Engine.open(ws)) as eng:
        report = eng.plans.ingest_events(EVENTS, source="shop", actor="shop")
        assert report.to_dict()["accepted"] == len(EVENTS)
        with eng.online.begin() as conn:
            for sql in _FAIL[conn.dialect.name]:
                conn.exec_driver_sql(sql)
        with pytest.raises(sa.exc.DBAPIError, match="disk full"):
            eng.run()
        hub = _hub(ws)
        assert "TX-E1" in hub["transactions"]["transaction_id"].to_list()  # written, not marked
        with eng.online.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER refuse_mark" + (" ON event_log" if "postgres" in online_url else ""))
        assert not [e for e in eng.access.audit_entries(100) if e["action"] == "events.export"]
        eng.run()
        eng.run()
    _once_each(_hub(ws))


def test_complaint_statuses_of_files_and_events_are_one_vocabulary(ws: Path) -> None:
    """A file's ``Opened`` complaint is open for plans; an event's ``closed`` is ``resolved`` (and stored so)."""
    with closing(Engine.open(ws)) as eng:

        def open_complaints() -> dict[str, bool]:
            con = eng.offline.connect()
            try:
                build_base(con, eng.settings.segments, date(2024, 7, 1))
                return dict(con.execute("SELECT customer_id, open_complaint FROM attrs").fetchall())
            finally:
                con.close()

        assert open_complaints()["C3"] is True
        report = eng.plans.ingest_events([EVENTS[4]], source="shop")
        assert report.outcomes[0].status == "accepted"
        eng.ingest.export_events()
        assert open_complaints()["C3"] is False
        with eng.online.read() as conn:
            stored = conn.exec_driver_sql("SELECT properties FROM event_log").scalar_one()
        assert (json.loads(stored) if isinstance(stored, str) else stored)["status"] == "resolved"


def test_events_of_a_customer_the_hub_does_not_know_yet_wait_for_it(ws: Path, tmp_path: Path) -> None:
    config = yaml.safe_load((ws / "cvm.yaml").read_text())
    config.setdefault("events", {})["unknown_customer"] = "provisional"
    (ws / "cvm.yaml").write_text(yaml.safe_dump(config))
    with closing(Engine.open(ws)) as eng:
        sent = _event("e-new", "transaction", "C9", amount=12.0, transaction_id="TX-C9")
        assert eng.plans.ingest_events([sent], source="shop").outcomes[0].status == "accepted"
        waiting = eng.ingest.export_events()
        assert (waiting.events, waiting.waiting, waiting.batches) == (0, 1, [])
        assert "TX-C9" not in eng.offline.read("transactions")["transaction_id"].to_list()
        new = "customer_id,acquired_at,kind\nC9,2024-05-01,B2C\n"
        assert eng.ingest("customers", write(tmp_path / "c9.csv", new)).status == "committed"
        done = eng.ingest.export_events()
        assert (done.events, done.waiting) == (1, 0)
        assert eng.ingest.export_events().events == 0
        assert eng.offline.read("transactions")["transaction_id"].to_list().count("TX-C9") == 1
