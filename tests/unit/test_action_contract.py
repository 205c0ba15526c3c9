"""The action-request contract is one definition: every surface built from it agrees with it.

Export columns, webhook payload, API schemas, the ``action_requests`` table and the event
results carry the contract's fields under the same names, in the same order.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from cvm.api.events import ActionPublic, RequestPublic
from cvm.contracts.actions import (
    ACTION_FIELDS,
    OUTBOX_FIELDS,
    PAYLOAD_FIELDS,
    STORED,
    SUPPRESSED_FIELDS,
    ActionRequest,
    Suppressed,
)
from cvm.delivery.exports import COLUMNS
from cvm.delivery.outbox import Enqueued
from cvm.delivery.worker import Claim
from cvm.events.results import action_json, suppressed_json
from cvm.store.tables import action_requests, suppressions

AT = datetime(2025, 3, 4, 10, tzinfo=UTC)
ACTION = ActionRequest(
    idempotency_key="k1", customer_id="C1", plan="welcome", step="inform", action="welcome.inform",
    channel="email", objective="onboard", offer=None, expected_value=1.5, priority=2,
    reasons=("plan welcome", "ev"), not_before=AT,
)  # fmt: skip


def _contract_part(names: Any) -> list[str]:
    """The contract's fields among ``names``, in the order ``names`` gives them."""
    return [n for n in names if n in STORED]


def _in_contract_order(names: Any) -> list[str]:
    return [f for f in ACTION_FIELDS if f in set(names)]


def test_the_contract_is_the_dataclass() -> None:
    assert tuple(f.name for f in dataclasses.fields(ActionRequest)) == ACTION_FIELDS
    assert tuple(f.name for f in dataclasses.fields(Suppressed)) == SUPPRESSED_FIELDS


def test_table_columns_are_the_contract_then_the_bookkeeping() -> None:
    assert tuple(action_requests.c.keys()) == ("id", *ACTION_FIELDS, *OUTBOX_FIELDS)
    for name, stored in STORED.items():
        column = action_requests.c[name]
        assert column.nullable == stored.nullable, name
        assert bool(column.unique) == stored.unique, name
        assert bool(column.index) == stored.index, name
        assert getattr(column.type, "length", None) == stored.length, name


SURFACES = {
    "export columns": COLUMNS,
    "webhook payload": PAYLOAD_FIELDS,
    "ActionPublic": tuple(ActionPublic.model_fields),
    "RequestPublic": tuple(RequestPublic.model_fields),
    "table": tuple(action_requests.c.keys()),
}


@pytest.mark.parametrize("surface", SURFACES)
def test_every_surface_has_the_contract_fields_in_contract_order(surface: str) -> None:
    names = SURFACES[surface]
    assert len(set(names)) == len(names)
    assert _contract_part(names) == _in_contract_order(names)


@pytest.mark.parametrize("surface", ["export columns", "webhook payload", "table"])
def test_delivery_surfaces_carry_the_whole_contract(surface: str) -> None:
    assert _contract_part(SURFACES[surface]) == list(ACTION_FIELDS)


def test_the_webhook_payload_and_the_export_of_a_stored_row() -> None:
    row = dict.fromkeys(action_requests.c.keys())
    row.update(id=7, attempts=0, created_at=AT, **{f: getattr(ACTION, f) for f in ACTION_FIELDS})
    payload = Claim(row).outbound().payload
    assert tuple(payload) == PAYLOAD_FIELDS
    assert payload["not_before"] == AT.isoformat()
    assert payload["idempotency_key"] == "k1"
    assert set(COLUMNS) - set(payload) == {"request_id", "exported_at"}


def test_event_results_match_the_api_schemas() -> None:
    out = action_json(ACTION, Enqueued("k1", 7, duplicate=False))
    assert tuple(out) == tuple(ActionPublic.model_fields)
    assert ActionPublic.model_validate(out).model_dump() == out
    held = suppressed_json(Suppressed("C1", "welcome", "inform", "email", "cap", None))
    assert tuple(held) == SUPPRESSED_FIELDS[1:]
    assert set(held) <= set(suppressions.c.keys())
