"""Pilots against a real online store (SQLite, then PostgreSQL): assignments, the real-time path, API and page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml

from cvm.api import create_app
from cvm.contracts.actions import Assignment
from cvm.engine import Engine
from cvm.experiments import records
from cvm.experiments.assign import arm_for, bucket
from cvm.store.tables import suppressions
from tests.conftest import CUSTOMERS_CSV, TRANSACTIONS_CSV, write
from tests.serving import serve

AT = datetime(2024, 6, 1, tzinfo=UTC)
CARE = {
    "trigger": {"type": "event", "event": "transaction"},
    "steps": [{"name": "thanks", "objective": "inform", "channel": "email", "propensity": "0.5", "value": "10"}],
}


@pytest.fixture
def engine(any_engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    """A workspace with three customers, a plan ``care`` and a pilot of its one step."""
    path = any_engine.workspace / "cvm.yaml"
    config = yaml.safe_load(path.read_text())
    config.setdefault("plans", {})["definitions"] = {"care": CARE}
    path.write_text(yaml.safe_dump(config))
    any_engine.close()
    eng = Engine.open(any_engine.workspace)
    assert eng.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS_CSV)).ok
    assert eng.ingest("transactions", write(tmp_path / "t.csv", TRANSACTIONS_CSV)).ok
    eng.pilots.create_pilot("care_test", {"plan": "care", "step": "thanks", "primary": "retention"})
    yield eng
    eng.close()


def _event(event_id: str, customer: str) -> dict[str, Any]:
    return {"event_id": event_id, "customer_id": customer, "type": "transaction", "ts": "2024-06-01T10:00:00+02:00",
            "properties": {"amount": 150.0, "product": "hardware"}}  # fmt: skip


def test_assignments_are_written_once(any_engine: Engine) -> None:
    first = Assignment("p", "C1", "control", 12, AT, "plan", "step")
    with any_engine.online.begin() as conn:
        assert records.record(conn, [first, Assignment("p", "C2", "b", 7000, AT)]) == 2
    with any_engine.online.begin() as conn:  # a second writer cannot change an arm
        assert records.record(conn, [Assignment("p", "C1", "b", 9999, AT)]) == 0
        frame = records.frame(conn, "p")
        assert frame.filter(frame["customer_id"] == "C1")["arm"].to_list() == ["control"]
        assert records.counts(conn) == {"p": {"control": 1, "b": 1}}
        assert records.for_customer(conn, "C1")[0]["assigned_at"] == AT
        assert records.erase(conn, "C1") == 1
        with pytest.raises(sa.exc.IntegrityError):
            conn.execute(records.assignments.insert().values(experiment="p", customer_id="C9", arm="a", bucket=10_000,
                                                             assigned_at=AT))  # fmt: skip


def test_real_time_decisions_assign_hold_out_and_show_in_the_360(engine: Engine) -> None:
    report = engine.plans.ingest_events([_event(f"e{c}", c) for c in ("C1", "C2", "C3")])
    arms = {c: arm_for(bucket("care_test", c), [("control", 0.5), ("treatment", 0.5)]) for c in ("C1", "C3")}
    outcome = {o.event_id: o for o in report.outcomes}
    for cid, arm in arms.items():
        got = outcome[f"e{cid}"]
        if arm == "control":
            assert not got.actions
            assert [s["reason"] for s in got.suppressed] == ["holdout:care_test"]
        else:
            assert [a["plan"] for a in got.actions] == ["care"]
    listed = {p["name"]: p for p in engine.pilots.pilots()}  # syncs the profiles' assignments into the table
    assert listed["care_test"]["arms"] == {a: list(arms.values()).count(a) for a in ("control", "treatment")}
    with engine.online.begin() as conn:
        assigned = records.frame(conn, "care_test")
        held = conn.execute(sa.select(suppressions.c.customer_id).where(suppressions.c.reason == "holdout:care_test"))
        assert sorted(r[0] for r in held) == sorted(c for c, a in arms.items() if a == "control")
    assert sorted(assigned["customer_id"]) == ["C1", "C3"]  # C2 has no e-mail consent: never targeted
    timeline = [e["summary"] for e in engine.customers.timeline("C1") if e["type"] == "pilot"]
    assert timeline == [f"pilot care_test: arm {arms['C1']} (bucket {bucket('care_test', 'C1')}) when plan care "
                        "(thanks) would act"]  # fmt: skip
    again = engine.plans.ingest_events([_event("e1b", "C1")])  # re-entering the plan keeps the arm
    assert engine.pilots.pilots()[0]["arms"] == listed["care_test"]["arms"]
    assert again.outcomes[0].status == "accepted"
    erased = engine.customers.erase("C1")
    assert erased.rows["online.assignments"] == 1


def test_pilot_api_and_page(engine: Engine) -> None:
    engine.plans.ingest_events([_event(f"e{c}", c) for c in ("C1", "C3")])
    analyst, ingest = ({"X-API-Key": engine.access.create_key(r)[1]} for r in ("analyst", "ingest"))
    admin = {"X-API-Key": engine.access.create_key("admin")[1]}
    with serve(create_app(engine)) as url, httpx.Client(base_url=url, timeout=60) as client:
        listed = client.get("/pilots", headers=analyst)
        assert listed.status_code == 200, listed.text
        assert [p["name"] for p in listed.json()["data"]] == ["care_test"]
        assert client.get("/pilots", headers=ingest).status_code == 403
        assert client.get("/pilots").status_code == 401
        report = client.get("/pilots/care_test", headers=admin)
        assert report.status_code == 200, report.text
        body = report.json()
        assert body["primary"] == "retention"
        assert sum(a["assigned"] for a in body["arms"]) == 2
        assert body["recommendation"]["decision"] == "keep testing"
        assert "too few customers" in body["recommendation"]["reason"]
        assert client.get("/pilots/nope", headers=analyst).status_code == 404
        page = client.get("/ui/pilots", headers=analyst)
        assert page.status_code == 200
        assert 'data-testid="pilot-recommendation" data-value="keep testing"' in page.text
        assert "care_test" in page.text
