"""An action that ends a relationship waits for a person: nothing is sent before ``confirm``, exactly once after.

Real worker, real signed-webhook receiver on a loopback port, real API server, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cvm.api import create_app
from cvm.delivery import enqueue, write_transaction
from cvm.engine import Engine
from tests.conftest import CUSTOMERS_CSV, write
from tests.integration.test_outbox import T0, Receiver, action, fast_settings, make_worker, request_rows
from tests.serving import serve


def _enqueue_ends(engine: Engine) -> dict[str, int]:
    with write_transaction(engine.online) as conn:
        done = enqueue(
            conn,
            [
                action("C1", "end-1", plan="unprofitable", step="non_renewal", channel="crm_task", objective="end"),
                action("C2", "end-2", plan="unprofitable", step="non_renewal", channel="crm_task", objective="end"),
                action("C3", "info-3", plan="unprofitable", step="self_service", objective="inform"),
            ],
            now=T0,
        )
    return {e.idempotency_key: int(e.id or 0) for e in done}


def test_nothing_is_sent_before_confirmation_and_exactly_once_after(any_engine: Engine) -> None:
    ids = _enqueue_ends(any_engine)
    statuses = {r["idempotency_key"]: r["status"] for r in request_rows(any_engine)}
    assert statuses == {"end-1": "awaiting_confirmation", "end-2": "awaiting_confirmation", "info-3": "pending"}
    with Receiver() as receiver:
        settings = fast_settings(receiver.url)
        for _ in range(3):  # several cycles: the awaiting ones are never claimed
            make_worker(any_engine, settings).run(once=True)
        assert sorted(receiver.accepted) == ["info-3"]

        runner = CliRunner()
        from cvm.cli.main import app

        ws = str(any_engine.workspace)
        confirmed = runner.invoke(app, ["actions", "confirm", str(ids["end-1"]), "-w", ws, "--json"])
        assert confirmed.exit_code == 0, confirmed.output
        assert json.loads(confirmed.stdout)["status"] == "pending"
        rejected = runner.invoke(app, ["actions", "reject", str(ids["end-2"]), "-w", ws, "--json"])
        assert json.loads(rejected.stdout)["status"] == "rejected"
        again = runner.invoke(app, ["actions", "confirm", str(ids["end-2"]), "-w", ws])
        assert again.exit_code == 2  # a rejected action cannot be confirmed afterwards
        assert "is rejected" in again.output
        assert runner.invoke(app, ["actions", "retry", str(ids["end-2"]), "-w", ws]).exit_code == 2
        assert runner.invoke(app, ["actions", "confirm", "999999", "-w", ws]).exit_code != 0

        for _ in range(3):
            make_worker(any_engine, settings).run(once=True)
        assert receiver.accepted == {"info-3": 1, "end-1": 1}  # confirmed: sent exactly once; rejected: never
    final = {r["idempotency_key"]: r["status"] for r in request_rows(any_engine)}
    assert final == {"end-1": "delivered", "end-2": "rejected", "info-3": "delivered"}
    assert [e["action"] for e in any_engine.access.audit_entries(2)] == ["action.reject", "action.confirm"]


def test_the_api_confirms_and_rejects_for_admins_only(any_engine: Engine) -> None:
    ids = _enqueue_ends(any_engine)
    admin = {"X-API-Key": any_engine.access.create_key("admin")[1]}
    analyst = {"X-API-Key": any_engine.access.create_key("analyst")[1]}
    with serve(create_app(any_engine)) as url, httpx.Client(base_url=url, timeout=30) as client:
        waiting = client.get("/actions", params={"status": "awaiting_confirmation"}, headers=analyst).json()
        assert sorted(r["idempotency_key"] for r in waiting["data"]) == ["end-1", "end-2"]
        assert client.post(f"/actions/{ids['end-1']}/confirm", headers=analyst).status_code == 403
        assert client.post(f"/actions/{ids['end-1']}/confirm", headers=admin).json()["status"] == "pending"
        twice = client.post(f"/actions/{ids['end-1']}/confirm", headers=admin)
        assert twice.status_code == 409
        assert "awaiting confirmation" in twice.json()["detail"]
        assert client.post(f"/actions/{ids['end-2']}/reject", headers=admin).json()["status"] == "rejected"
        assert client.post(f"/actions/{ids['info-3']}/reject", headers=admin).status_code == 409
        assert client.post("/actions/999999/confirm", headers=admin).status_code == 404
        counts = client.get("/actions/summary", headers=analyst).json()["requests"]
        by_channel = {r["channel"]: (r["pending"], r["rejected"], r["awaiting_confirmation"]) for r in counts}
        assert by_channel == {"crm_task": (1, 1, 0), "email": (1, 0, 0)}


def test_the_migration_keeps_old_requests_and_refuses_to_drop_a_pending_decision(online_url: str) -> None:
    from alembic import command

    from cvm.store import OnlineStore
    from cvm.store.online import _alembic_config

    store = OnlineStore(online_url)
    cfg = _alembic_config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0006")
        enqueue(conn, [action("C1", "old")], now=T0)  # written before: stays pending
    store.migrate()
    with write_transaction(store) as conn:
        enqueue(conn, [action("C1", "new", objective="end")], now=T0)
    with store.engine.begin() as conn:
        rows = dict(conn.exec_driver_sql("SELECT idempotency_key, status FROM action_requests").fetchall())
    assert rows == {"old": "pending", "new": "awaiting_confirmation"}
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        with pytest.raises(RuntimeError, match="await confirmation or were rejected"):
            command.downgrade(cfg, "0006")
    store.engine.dispose()


def test_erasing_the_customer_stops_an_action_awaiting_confirmation(any_engine: Engine, tmp_path: Path) -> None:
    any_engine.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS_CSV))
    ids = _enqueue_ends(any_engine)
    any_engine.customers.erase("C1")
    [erased] = [r for r in request_rows(any_engine) if r["id"] == ids["end-1"]]
    assert (erased["status"], erased["last_error"]) == ("dead", "customer erased")
    with pytest.raises(ValueError, match="is dead"):
        any_engine.delivery.confirm_action(ids["end-1"])  # nobody can send it afterwards
