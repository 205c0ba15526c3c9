"""Erasure leaves zero bytes of the person: inbox, exports, outbox, online store, logs (issue 19).

One customer goes through every path that stores personal data: the inbox (a file that is
ingested and archived, and one that is refused and stays), the plans and the worker (a CSV
export and a webhook to a real receiver), real-time events, and API and dashboard requests to a
real ``cvm serve`` whose output (the access log) goes to a log directory. After the erasure,
every byte of every file under the workspace and the log directory is searched for the name,
e-mail, phone and id; Parquet files and SQLite tables are also opened and every cell checked
(their pages may be compressed). On PostgreSQL every cell of every table is checked too.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import yaml

from cvm.config import ConfigError, load_settings
from cvm.engine import Engine
from tests.e2e.test_cli import cvm
from tests.serving import Listening, cvm_serve

ID = "cust-zq4711"
NAME = "Zelda Quixote-Erasmus"
EMAIL = "zelda.qe@example.org"
PHONE = "+31 6 5555 0199"
SECRET = "whsec-erasure-test"
PERSONAL = (ID, NAME, EMAIL, PHONE)


def _customers(today: str) -> str:
    return (
        "customer_id,name,email,phone,acquired_at,kind,region,sector,channel,consent_email\n"
        f"{ID},{NAME},{EMAIL},{PHONE},{today},B2C,North,consumer,direct,true\n"
        f"C2,Bob Jones,bob@example.com,+31 6 1111 2222,{today},B2C,South,retail,direct,true\n"
    )


TRANSACTIONS = f"transaction_id,customer_id,ts,amount,margin\nT1,{ID},2024-05-01,100,30\nT2,C2,2024-05-02,50,10\n"
REFUSED = f"transaction_id;customer_id;ts;amount\nT8;{ID};not a date;10\nT9;C2;also not;10\n"


class Hook:
    """A webhook receiver on a loopback port that keeps the bodies it got."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                hook.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.listening = Listening(Handler)
        self.url = self.listening.url

    def close(self) -> None:
        self.listening.stop()


def _configure(ws: Path, hook_url: str, online_url: str | None) -> None:
    """Route e-mail to the webhook, letters to a CSV and call tasks to a Parquet export; plans for new customers."""
    config = yaml.safe_load((ws / "cvm.yaml").read_text())
    config["store"]["online_url"] = online_url
    config["delivery"].update(routes={"email": "webhook", "mail": "csv", "crm_task": "parquet"}, webhook_url=hook_url)
    config["plans"] = {
        "policy": {"max_actions": 3, "caps": {"all": {"day": 5}}, "quiet_hours": {"channels": []}},
        "definitions": {
            "letter": {
                "description": "A welcome letter to new customers.",
                "trigger": {"type": "new_customer", "days": 7},
                "steps": [
                    {"name": "letter", "day": 0, "objective": "inform", "channel": "mail", "propensity": "0.5"},
                ],
            },
            "call": {
                "description": "A call task for new customers.",
                "trigger": {"type": "new_customer", "days": 7},
                "steps": [{"name": "call", "day": 0, "objective": "ask", "channel": "crm_task", "propensity": "0.5"}],
            },
        },
    }
    (ws / "cvm.yaml").write_text(yaml.safe_dump(config))


def _cells(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _cells(v)
    elif isinstance(value, list):
        for v in value:
            yield from _cells(v)
    elif value is not None:
        yield str(value)


def hits(*roots: Path, values: tuple[str, ...] = PERSONAL) -> dict[str, list[str]]:
    """Where each personal value (or its URL-encoded form) still is.

    Searched: the raw bytes of every file, the cells of every Parquet file and of every SQLite table.
    """
    found: dict[str, list[str]] = {}
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            data = path.read_bytes()
            texts = [data.decode("latin-1"), data.decode("utf-8", errors="ignore").lower()]
            if path.suffix in (".parquet", ".pq"):
                texts.append("\n".join(_cells(pq.read_table(path).to_pylist())))
            if data.startswith(b"SQLite format 3"):
                texts.append("\n".join(_sqlite_cells(path)))
            for value in values:
                forms = {value, value.lower(), quote(value, safe=""), quote_plus(value), quote(value).lower()}
                if any(form in t for form in forms for t in texts):
                    found.setdefault(value, []).append(str(path.relative_to(root.parent)))
    return found


def _sqlite_cells(path: Path) -> Iterator[str]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in con.execute(f'SELECT * FROM "{table}"'):
                yield from (str(c) for c in row if c is not None)
    finally:
        con.close()


def _database_hits(url: str) -> dict[str, list[str]]:
    """Where each personal value still is in the cells of a PostgreSQL database."""
    engine = sa.create_engine(url)
    found: dict[str, list[str]] = {}
    try:
        with engine.connect() as conn:
            for table in sa.inspect(conn).get_table_names():
                text = "\n".join(str(c) for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')) for c in row)
                for value in PERSONAL:
                    if value in text or value.lower() in text.lower():
                        found.setdefault(value, []).append(table)
    finally:
        engine.dispose()
    return found


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def online(request: pytest.FixtureRequest) -> str | None:
    """The online store: SQLite in the workspace (None), or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.mark.slow
def test_erasure_leaves_no_byte_of_the_person(tmp_path: Path, online: str | None) -> None:
    ws, logs = tmp_path / "ws", tmp_path / "logs"
    logs.mkdir()
    hook = Hook()
    env = {**os.environ, "CVM__DELIVERY__WEBHOOK_SECRET": SECRET}
    try:
        cvm("init", str(ws))
        _configure(ws, hook.url, online)
        today = datetime.now(UTC).date()
        (ws / "inbox" / "customers" / "crm.csv").write_text(_customers(str(today - timedelta(days=1))))
        (ws / "inbox" / "transactions" / "erp.csv").write_text(TRANSACTIONS)
        (ws / "inbox" / "transactions" / "late.csv").write_text(REFUSED, encoding="cp1252")
        run = subprocess.run(
            [sys.executable, "-m", "cvm.cli.main", "run", "-w", str(ws), "--json"],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
        assert run.returncode == 1, run.stderr  # late.csv is refused and stays in the inbox
        assert (ws / "inbox" / "customers" / "archive" / "crm.csv").exists()
        delivery = json.loads(run.stdout)["cycle"]["delivery"]
        assert delivery["delivered"] == 6, run.stdout  # e-mail, letter and call task for both customers
        assert any(ID.encode() in body for body in hook.bodies)
        assert ID in "".join(p.read_text() for p in (ws / "exports").glob("*.csv"))
        assert ID in str([pq.read_table(p).to_pylist() for p in (ws / "exports").glob("*.parquet")])

        admin = json.loads(cvm("keys", "create", "--role", "admin", "-w", str(ws), "--json").stdout)["key"]
        headers = {"X-API-Key": admin}
        with (
            cvm_serve(ws, logs / "serve.log", "--log-dir", str(logs), env=env) as base,
            httpx.Client(base_url=base, headers=headers) as api,
        ):
            assert api.get("/customers", params={"q": EMAIL}).json()["count"] == 1
            assert api.get(f"/customers/{ID}").json()["profile"]["email"] == EMAIL
            assert api.get(f"/customers/{ID}/timeline").status_code == 200
            assert api.get(f"/customers/{ID}/next-best-action").status_code == 200
            event = {
                "event_id": f"{ID}-e1",
                "customer_id": ID,
                "type": "transaction",
                "ts": f"{today}T10:00:00+00:00",
                "properties": {"amount": 20.0, "note": f"call {NAME} on {PHONE}"},
            }
            assert api.post("/events", json=event).status_code == 200
            assert api.get("/actions", params={"customer_id": ID}).status_code == 200
            assert api.get(f"/ui/customers/{ID}").status_code == 200  # the login page, with ?next=<the path>
            assert api.get("/ui/customers", params={"q": NAME}).status_code == 200
            assert hits(ws, logs), "the person is in the workspace before the erasure"
            assert online is None or _database_hits(online), "the person is in the database before the erasure"
            erased = api.delete(f"/customers/{ID}")
            assert erased.status_code == 200, erased.text
            assert api.get(f"/customers/{ID}").status_code == 404
    finally:
        hook.close()
    left = hits(ws, logs)
    assert left == {}, json.dumps(left, indent=1)
    if online is not None:
        assert _database_hits(online) == {}


@pytest.mark.slow
def test_erasure_reaches_the_demo_sources_and_models(tmp_path: Path) -> None:
    """The demo company's source files (and ground truth) sit in the workspace; trained models hold no customer."""
    ws = tmp_path / "ws"
    cvm("demo", "-n", "300", "-w", str(ws))
    assert (ws / "models" / "churn").is_dir()
    person = pq.read_table(ws / "demo-data" / "customers.parquet").slice(122, 1).to_pylist()[0]
    values = (person["customer_id"], person["email"], person["phone"])  # names repeat among demo customers
    assert set(hits(ws, values=values)) == set(values)
    erased = json.loads(cvm("customer", "erase", person["customer_id"], "--yes", "-w", str(ws), "--json").stdout)
    assert erased["rows"]["files.demo-data"] >= 2  # the customer's row and their ground truth, at least
    left = hits(ws, values=values)
    assert left == {}, json.dumps(left, indent=1)


@pytest.mark.slow
def test_serve_writes_a_masked_access_log_to_the_configured_folder(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    Engine.init(ws).close()
    config = yaml.safe_load((ws / "cvm.yaml").read_text())
    config["privacy"]["log_dir"] = "logs"
    (ws / "cvm.yaml").write_text(yaml.safe_dump(config))
    with cvm_serve(ws, tmp_path / "serve.out") as base:
        httpx.get(f"{base}/customers/{ID}", params={"q": EMAIL}, timeout=10)
    text = (ws / "logs" / "access.log").read_text()
    assert '"GET /customers/***?q=*** HTTP/1.1" 401' in text
    assert hits(ws / "logs") == {}
    assert (ws / "logs" / "access.log").stat().st_mode & 0o777 == 0o600


def test_the_erasure_key_is_refused_in_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "cvm.yaml").write_text(yaml.safe_dump({"privacy": {"erasure_key": "k" * 40}}))
    with pytest.raises(ConfigError, match=r"privacy\.erasure_key is a secret; set CVM__PRIVACY__ERASURE_KEY"):
        load_settings(tmp_path)
