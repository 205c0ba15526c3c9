"""The HTTP API against a real online store: auth, roles, customers, ingestion."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cvm.api import create_app
from cvm.engine import Engine
from tests.conftest import CUSTOMERS_CSV, TRANSACTIONS_CSV, write
from tests.serving import serve


@pytest.fixture
def client(any_engine: Engine, tmp_path: Path) -> Iterator[httpx.Client]:
    any_engine.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS_CSV))
    any_engine.ingest("transactions", write(tmp_path / "t.csv", TRANSACTIONS_CSV))
    with serve(create_app(any_engine)) as url, httpx.Client(base_url=url, timeout=30) as c:
        yield c


def _key(engine: Engine, role: str) -> dict[str, str]:
    return {"X-API-Key": engine.access.create_key(role)[1]}


def test_health_and_openapi_need_no_key(client: httpx.Client) -> None:
    assert client.get("/health").json()["status"] == "ok"
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/customers", "/customers/{customer_id}", "/customers/{customer_id}/timeline"} <= set(paths)


def test_missing_or_wrong_key_is_401(client: httpx.Client) -> None:
    assert client.get("/customers").status_code == 401
    assert client.get("/customers", headers={"X-API-Key": "cvm_abc_def"}).status_code == 401


def test_roles(client: httpx.Client, any_engine: Engine) -> None:
    analyst, ingest, admin = (_key(any_engine, r) for r in ("analyst", "ingest", "admin"))
    rows = {"rows": [{"customer_id": "C4", "acquired_at": "2024-06-01", "kind": "B2C"}]}
    assert client.get("/customers", headers=analyst).status_code == 200
    assert client.get("/customers", headers=ingest).status_code == 403
    assert client.post("/tables/customers/rows", json=rows, headers=analyst).status_code == 403
    assert client.post("/tables/customers/rows", json=rows, headers=ingest).status_code == 200
    assert client.get("/audit", headers=analyst).status_code == 403
    assert client.get("/audit", headers=admin).status_code == 200
    assert client.delete("/customers/C1", headers=analyst).status_code == 403


def test_customer_list_profile_and_timeline(client: httpx.Client, any_engine: Engine) -> None:
    h = _key(any_engine, "analyst")
    page = client.get("/customers", params={"limit": 2, "offset": 1}, headers=h).json()
    assert page["count"] == 3
    assert [c["customer_id"] for c in page["data"]] == ["C2", "C3"]
    found = client.get("/customers", params={"q": "BOB@"}, headers=h).json()
    assert [c["customer_id"] for c in found["data"]] == ["C2"]
    view = client.get("/customers/C1", headers=h).json()
    assert view["profile"]["email"] == "ann@example.com"
    assert view["kpis"]["revenue"] == 150.5
    timeline = client.get("/customers/C1/timeline", headers=h).json()
    assert [e["type"] for e in timeline["data"]] == ["acquired", "transaction", "transaction"]
    assert timeline["data"] == view["timeline"]
    assert client.get("/customers/NOPE", headers=h).status_code == 404


def test_ingest_rows_reports_rejects_and_audits_the_key(client: httpx.Client, any_engine: Engine) -> None:
    key, secret = any_engine.access.create_key("ingest")
    body = {
        "rows": [
            {"customer_id": "C5", "acquired_at": "2024-06-01", "kind": "B2B"},
            {"customer_id": "C6", "acquired_at": "someday", "kind": "B2B"},
        ]
    }
    refused = client.post("/tables/customers/rows", json=body, headers={"X-API-Key": secret})
    assert refused.status_code == 422
    assert refused.json()["rejects"][0]["field"] == "acquired_at"
    body["max_reject_ratio"] = 0.5  # type: ignore[assignment]
    ok = client.post("/tables/customers/rows", json=body, headers={"X-API-Key": secret}).json()
    assert (ok["read"], ok["accepted"], ok["rejected"], ok["status"]) == (2, 1, 1, "committed")
    entry = any_engine.access.audit_entries(1)[0]
    assert (entry["actor"], entry["action"], entry["rows"]) == (f"key:{key.id}", "ingest.committed", 1)
