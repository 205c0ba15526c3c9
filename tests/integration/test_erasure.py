"""Erasure on every online-store backend: the audit token and the outbox rows (issue 19).

The audit entry of an erasure used to keep ``sha256(id)[:16]``: hashing candidate ids found the
erased one (930 guesses in the probe). It now keeps an HMAC-SHA256 token under a secret key.
The outbox kept the idempotency key (a hash of the id, plan and date), the event id and receivers'
error replies, which may quote the customer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from cvm.customers.subject import KEY_FILE, erasure_key, subject_token
from cvm.delivery import enqueue, write_transaction
from cvm.engine import Engine
from tests.conftest import CUSTOMERS_CSV, write
from tests.integration.test_outbox import T0, action, fast_settings, make_worker, request_rows
from tests.serving import Listening

CANDIDATES = [f"C{i}" for i in range(10_000)]


def _erase_target(engine: Engine) -> str:
    [entry] = [e for e in engine.access.audit_entries(10) if e["action"] == "customer.erase"][:1]
    return str(entry["target"])


def test_the_audit_token_cannot_be_reversed_without_the_key(any_engine: Engine, tmp_path: Path) -> None:
    any_engine.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS_CSV))
    any_engine.customers.erase("C2")
    token = _erase_target(any_engine)
    assert "C2" not in token
    digest = token.rsplit(":", 1)[-1]
    plain = [c for c in CANDIDATES if hashlib.sha256(c.encode()).hexdigest().startswith(digest[:16])]
    guessed_key = secrets.token_bytes(32)
    wrong_key = [c for c in CANDIDATES if subject_token(guessed_key, c) == token]
    assert (plain, wrong_key) == ([], [])
    key = erasure_key(any_engine.workspace)
    assert [c for c in CANDIDATES if subject_token(key, c) == token] == ["C2"]
    assert hmac.compare_digest(subject_token(key, "C2"), token)


def test_the_same_id_erased_twice_gives_the_same_token(any_engine: Engine, tmp_path: Path) -> None:
    source = write(tmp_path / "c.csv", CUSTOMERS_CSV)
    any_engine.ingest("customers", source)
    first = any_engine.customers.erase("C1").subject
    write(tmp_path / "again.csv", CUSTOMERS_CSV.replace("Ann Smith", "Ann Smith-Again"))
    any_engine.ingest("customers", tmp_path / "again.csv", upsert=True)
    assert any_engine.customers.erase("C1").subject == first
    assert any_engine.customers.erase("C3").subject != first


def test_the_key_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        key = erasure_key(tmp_path)
    finally:
        os.umask(old)
    assert os.stat(tmp_path / KEY_FILE).st_mode & 0o777 == 0o600
    assert erasure_key(tmp_path) == key
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE]


def test_a_key_from_the_environment_is_used_and_no_file_is_made(workspace: Path, tmp_path: Path) -> None:
    os.environ["CVM__PRIVACY__ERASURE_KEY"] = "k" * 40
    try:
        engine = Engine.open(workspace)
    finally:
        del os.environ["CVM__PRIVACY__ERASURE_KEY"]
    engine.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS_CSV))
    assert engine.customers.erase("C1").subject == subject_token(b"k" * 40, "C1")
    assert not (workspace / KEY_FILE).exists()
    engine.close()


@pytest.fixture
def echoing_receiver() -> Iterator[str]:
    """A receiver that refuses every action with a 500 quoting the body (as some CRMs do)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"cannot process " + body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    listening = Listening(Handler)
    yield listening.url
    listening.stop()


def test_outbox_rows_keep_nothing_that_leads_back(any_engine: Engine, tmp_path: Path, echoing_receiver: str) -> None:
    any_engine.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS_CSV))
    with write_transaction(any_engine.online) as conn:
        enqueue(conn, [action("C1", "key-c1"), action("C2", "key-c2")], now=T0, event_ids=["ev-c1", "ev-c2"])
    worker = make_worker(any_engine, fast_settings(echoing_receiver, max_attempts=1))
    worker.run(once=True)
    worker.close()
    with any_engine.online.begin() as conn:
        errors = [r[0] for r in conn.exec_driver_sql("SELECT error FROM deliveries ORDER BY request_id")]
    assert '"customer_id":"C1"' in errors[0]  # the receiver's reply quotes the customer

    any_engine.customers.erase("C1")
    erased, kept = request_rows(any_engine)
    assert erased["customer_id"].startswith("anon-")
    assert erased["idempotency_key"].startswith("erased-")
    assert erased["event_id"] is None
    assert erased["last_error"] == "customer erased"
    assert (kept["customer_id"], kept["idempotency_key"], kept["event_id"]) == ("C2", "key-c2", "ev-c2")
    with any_engine.online.begin() as conn:
        errors = [r[0] for r in conn.exec_driver_sql("SELECT error FROM deliveries ORDER BY request_id")]
    assert errors[0] == "customer erased"
    assert '"customer_id":"C2"' in errors[1]
    assert "C1" not in json.dumps([erased, errors[0]], default=str)


def test_every_online_table_with_customer_ids_is_erased(any_engine: Engine, tmp_path: Path) -> None:
    """A table added to the online store with a customer_id column must be added to the erasure too."""
    from cvm.store.tables import metadata

    any_engine.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS_CSV))
    rows = any_engine.customers.erase("C1").rows
    with_ids = {name for name, table in metadata.tables.items() if "customer_id" in table.c}
    assert with_ids <= {name.removeprefix("online.") for name in rows}
