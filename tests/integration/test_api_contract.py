"""The API keeps its contract over real HTTP: bounded numbers, 422s naming the field, ids with ``/``,
a quiet ``/health``, ``no-store`` on personal data, and every error status documented (issue 19)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest

from cvm.access import ROLES
from cvm.api import create_app
from cvm.api.schemas import ActionStatus, Role
from cvm.delivery import STATUSES
from cvm.engine import Engine
from tests.conftest import CUSTOMERS_CSV, TRANSACTIONS_CSV, write
from tests.serving import serve


@pytest.fixture
def client(any_engine: Engine, tmp_path: Path) -> Iterator[httpx.Client]:
    any_engine.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS_CSV))
    any_engine.ingest("transactions", write(tmp_path / "t.csv", TRANSACTIONS_CSV))
    admin = any_engine.access.create_key("admin")[1]
    with serve(create_app(any_engine)) as url, httpx.Client(base_url=url, timeout=30) as c:
        c.headers["X-API-Key"] = admin
        yield c


def _locs(response: httpx.Response) -> list[list[str | int]]:
    """The field paths of a 422, which must be in the one documented shape."""
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert all(set(d) == {"loc", "msg", "type"} for d in detail), detail
    return [d["loc"] for d in detail]


def test_huge_offset_and_action_id_are_422_not_500(client: httpx.Client) -> None:
    huge = 2**70
    assert _locs(client.get("/customers", params={"offset": huge})) == [["query", "offset"]]
    assert _locs(client.post(f"/actions/{huge}/retry")) == [["path", "request_id"]]
    assert _locs(client.post("/actions/0/retry")) == [["path", "request_id"]]
    assert client.get("/customers", params={"offset": 2**31 - 1}).json()["data"] == []
    assert client.post(f"/actions/{2**63 - 1}/retry").status_code == 404


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({}, None),
        ({"customer_id": "C9", "acquired_at": "2024-06-01", "kind": ["B2B"]}, "kind"),
        ({"customer_id": "C9", "acquired_at": "2024-06-01", "name": {"a": 1}}, "name"),
    ],
)
def test_rows_that_are_empty_or_hold_lists_or_objects_are_422_naming_the_field(
    client: httpx.Client, row: dict[str, Any], field: str | None
) -> None:
    good = {"customer_id": "C8", "acquired_at": "2024-06-01", "kind": "B2C"}
    answer = client.post("/tables/customers/rows", json={"rows": [good, row]})
    where: list[str | int] = ["body", "rows", 1] + ([field] if field else [])
    locs = _locs(answer)
    assert locs
    assert all(loc[: len(where)] == where for loc in locs), locs
    assert client.get("/customers/C9").status_code == 404
    assert client.get("/customers/C8").status_code == 404  # the batch is refused whole, nothing half-written


def test_a_bool_is_not_an_amount(client: httpx.Client) -> None:
    rows = [
        {"transaction_id": "T8", "customer_id": "C1", "ts": "2024-05-01", "amount": 10},
        {"transaction_id": "T9", "customer_id": "C1", "ts": "2024-05-01", "amount": True},
    ]
    answer = client.post("/tables/transactions/rows", json={"rows": rows, "max_reject_ratio": 0.5})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert body["rejects"][0]["field"] == "amount"


def test_request_fields_are_strict_and_text_is_unicode(client: httpx.Client) -> None:
    row = {"customer_id": "C9", "acquired_at": "2024-06-01", "kind": "B2C"}
    assert _locs(client.post("/tables/customers/rows", json={"rows": [row], "upsert": "yes"})) == [["body", "upsert"]]
    ratio = {"rows": [row], "max_reject_ratio": True}
    assert _locs(client.post("/tables/customers/rows", json=ratio)) == [["body", "max_reject_ratio"]]
    lone = '{"rows": [{"customer_id": "\\ud800", "acquired_at": "2024-06-01", "kind": "B2C"}]}'
    answer = client.post("/tables/customers/rows", content=lone, headers={"Content-Type": "application/json"})
    assert _locs(answer) == [["body", "rows", 0, "customer_id"]]
    assert client.get("/customers", params={"q": "C9"}).json()["count"] == 0


def test_a_refused_batch_is_a_422_in_the_one_shape_and_keeps_its_rejects(client: httpx.Client) -> None:
    rows = [{"customer_id": "C5", "acquired_at": "someday", "kind": "B2B"}]
    answer = client.post("/tables/customers/rows", json={"rows": rows})
    assert answer.json()["rejects"][0]["field"] == "acquired_at"
    assert ["body", "rows", 0, "acquired_at"] in _locs(answer)


def test_an_unknown_table_or_status_or_role_is_a_422_naming_the_field(client: httpx.Client) -> None:
    rows = {"rows": [{"customer_id": "C9"}]}
    assert _locs(client.post("/tables/nope/rows", json=rows)) == [["path", "table"]]
    assert _locs(client.get("/actions", params={"status": "accepted"})) == [["query", "status"]]
    assert _locs(client.post("/keys", json={"role": "root"})) == [["body", "role"]]
    assert _locs(client.get("/risk/early-warning", params={"as_of": "0"})) == [["query", "as_of"]]


def test_validation_errors_never_echo_the_input(client: httpx.Client) -> None:
    secret = "ann@example.com-" + "x" * 10_000
    for answer in (
        client.post("/keys", json={"role": secret}),
        client.get("/customers", params={"limit": secret}),
        client.post("/tables/customers/rows", json={"rows": [{"customer_id": [secret]}]}),
    ):
        _locs(answer)
        assert "ann@example.com" not in answer.text
        assert len(answer.content) < 2_000
    named = client.post("/tables/customers/rows", json={"rows": [{secret: [1]}]})  # a field name is the path
    assert _locs(named)[0][3] == secret[:79] + "…"
    assert len(named.content) < 2_000


def test_customer_ids_with_a_slash_are_read_and_erased_url_encoded(client: httpx.Client) -> None:
    rows = {"rows": [{"customer_id": "NL/2024/7", "acquired_at": "2024-06-01", "kind": "B2B", "name": "Dee"}]}
    assert client.post("/tables/customers/rows", json=rows).status_code == 200
    encoded = "/customers/NL%2F2024%2F7"
    assert client.get(encoded).json()["profile"]["name"] == "Dee"
    assert [e["type"] for e in client.get(f"{encoded}/timeline").json()["data"]] == ["acquired"]
    assert client.get(f"{encoded}/scores").json()["count"] == 0
    assert client.get(f"{encoded}/next-best-action").status_code == 200
    erased = client.delete(encoded)
    assert erased.status_code == 200, erased.text
    assert client.get(encoded).status_code == 404
    assert client.get("/customers/C1/timeline").json()["count"] == 3  # the other routes still match


def test_health_says_only_ok_without_a_key(client: httpx.Client) -> None:
    anonymous = httpx.get(f"{client.base_url}/health")
    assert anonymous.json() == {"status": "ok"}
    detailed = client.get("/health").json()
    assert detailed["status"] == "ok"
    assert set(detailed) == {"status", "version", "online"}
    assert httpx.get(f"{client.base_url}/health", headers={"X-API-Key": "cvm_bad_key"}).json() == {"status": "ok"}


def test_personal_data_is_no_store(client: httpx.Client) -> None:
    for path in ("/customers", "/customers/C1", "/customers/C1/timeline", "/customers/C1/scores", "/audit", "/keys"):
        assert client.get(path).headers["cache-control"] == "no-store", path
    assert client.get("/customers/NOPE").headers["cache-control"] == "no-store"
    event = {"event_id": "e1", "customer_id": "C1", "type": "transaction", "ts": "2024-05-01T10:00:00Z"}
    assert client.post("/events", json={**event, "properties": {"amount": 5}}).headers["cache-control"] == "no-store"
    assert "cache-control" not in client.get("/health").headers


def test_key_and_audit_times_carry_their_zone(client: httpx.Client) -> None:
    key = client.get("/keys").json()["data"][0]
    entry = client.get("/audit").json()["data"][0]
    assert datetime.fromisoformat(key["created_at"]).tzinfo is not None
    assert datetime.fromisoformat(entry["at"]).tzinfo is not None


def test_every_error_status_is_documented_with_its_body(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            codes = set(op["responses"])
            if op.get("security") and path != "/health":  # /health takes a key for details, never refuses
                assert {"401", "403"} <= codes, (method, path)
            if "requestBody" in op:
                assert {"400", "413", "422"} <= codes, (method, path)
            if op.get("parameters"):
                assert "422" in codes, (method, path)
            for code in codes - {"200", "201"}:
                body = op["responses"][code]["content"]["application/json"]["schema"]
                names = {s["$ref"].rsplit("/", 1)[-1] for s in body.get("anyOf", [body])}
                assert names in ({"ErrorBody"}, {"InvalidBody"}, {"InvalidBody", "BatchRefused"}), (method, path, code)


def test_the_documented_roles_and_statuses_are_the_engines() -> None:
    assert set(get_args(Role)) == set(ROLES)
    assert get_args(ActionStatus) == STATUSES


def test_a_405_names_every_method_of_the_resource(client: httpx.Client) -> None:
    assert client.request("OPTIONS", "/customers/C1").headers["allow"] == "DELETE, GET"
    assert client.request("OPTIONS", "/customers/C1/timeline").headers["allow"] == "GET"
    assert client.request("OPTIONS", "/keys").headers["allow"] == "GET, POST"
