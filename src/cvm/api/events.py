"""Routes for real-time events, the next best action and the outbox.

``POST /events`` takes one event or ``{"events": [...]}`` (up to 1,000). It answers
only after the events and their effects are committed. A malformed single event
is a 422 whose ``detail`` names the bad field (``["body", "properties", "amount"]``);
in a batch the good events are kept and each bad one is reported by its index.
Errors quote no input beyond a field path and a short excerpt (:mod:`cvm.contracts.event_values`).

Event ids are unique per source (:func:`key_source`): a repeat with the same content
replays the stored result (``duplicate``), one with other content is a 409 (a single
event) or the status ``conflict`` (in a batch). A body that is not JSON is a 422, one
that is not declared JSON a 415, and one over ``api.max_body_bytes`` a 413
(:mod:`cvm.api.limits`).

The events a request stores are one ``events.ingest`` entry of the audit log (actor: the key's
label, :func:`key_source`), written in their transaction. Transactions, payments, contacts,
complaints and surveys are hub facts: in the customer 360 at once, in the hub tables from the
next ``cvm run`` (:mod:`cvm.events.export`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError, create_model
from starlette.concurrency import run_in_threadpool

from cvm.access import ApiKey
from cvm.api import errors
from cvm.api.deps import Admin, EngineDep, PresentedKey, Reader, actor, authorize
from cvm.api.errors import BODY, KEYED, MAX_ID
from cvm.api.schemas import ActionStatus, UtcDatetime
from cvm.contracts import jsontext
from cvm.contracts.actions import REQUEST_FIELDS, RESULT_FIELDS, public_fields
from cvm.contracts.event_values import loc
from cvm.contracts.events import PROPERTY_MODELS, EventBatchIn, EventIn
from cvm.customers import UnknownCustomerError
from cvm.engine import Engine

router = APIRouter()
MAX_BATCH = 1000


class _Results(JSONResponse):
    """Compact UTF-8 JSON as Starlette renders it, made by orjson (:mod:`cvm.contracts.jsontext`)."""

    def render(self, content: Any) -> bytes:
        return jsontext.dumpb(content)


ActionPublic = create_model(
    "ActionPublic", id=(int | None, ...), status=(str, ...), **public_fields(RESULT_FIELDS, time=str)
)
"""An action in an event's result: built from the action-request contract (:mod:`cvm.contracts.actions`)."""

EventResultPublic = create_model(
    "EventResultPublic",
    index=(int, ...),
    event_id=(str | None, ...),
    status=(str, ...),
    actions=(list[ActionPublic], []),
    suppressed=(list[dict[str, Any]], []),
    errors=(list[dict[str, Any]], []),
)


class EventBatchPublic(BaseModel):
    data: list[EventResultPublic]
    count: int
    accepted: int
    duplicates: int
    rejected: int
    actions: int


RequestPublic = create_model(
    "RequestPublic",
    id=(int, ...),
    **public_fields(REQUEST_FIELDS, time=UtcDatetime),  # the action-request contract, then the delivery state
    status=(str, ...),
    attempts=(int, ...),
    created_at=(UtcDatetime, ...),
    next_attempt_at=(UtcDatetime, ...),
    delivered_at=(UtcDatetime | None, ...),
    last_error=(str | None, ...),
)
"""An action request in the outbox, as ``GET /actions`` lists it."""


_ANSWERS = ("nps", "would_recommend", "did_recommend")
"""A survey needs one of these answered (:class:`cvm.contracts.events.SurveyProps`)."""


def _event_schema(kind: str) -> dict[str, Any]:
    """The envelope with ``type`` fixed to ``kind`` and its property model, so a schema-valid event is accepted."""
    schema = EventIn.model_json_schema()
    props = PROPERTY_MODELS[kind].model_json_schema()
    if kind == "survey":  # the model's own check, which JSON Schema can only state as a choice
        props["anyOf"] = [{"required": [a], "properties": {a: {"not": {"type": "null"}}}} for a in _ANSWERS]
    schema["properties"] = {**schema["properties"], "type": {"const": kind}, "properties": props}
    if props.get("required") or kind == "survey":
        schema["required"] = [*schema["required"], "properties"]
    schema["title"] = f"Event ({kind})"
    return schema


def _body_schema() -> dict[str, Any]:
    events = [_event_schema(kind) for kind in PROPERTY_MODELS]
    batch = EventBatchIn.model_json_schema()
    batch["properties"]["events"]["items"] = {
        "description": "Any JSON value: each event is checked on its own, and a bad one gets the status "
        "`invalid` naming the field while the others are stored."
    }
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"oneOf": [*events, batch]},
                "example": {
                    "event_id": "evt-0001",
                    "customer_id": "C1",
                    "type": "transaction",
                    "ts": "2024-05-01T10:00:00+02:00",
                    "properties": {"amount": 120.0, "product": "hardware"},
                },
            }
        },
        "description": 'One event (its `properties` per `type`), or a batch `{"events": [...]}` of up to 1,000.',
    }


def _bad_request(errors: list[dict[str, Any]], prefix: tuple[str | int, ...] = ("body",)) -> RequestValidationError:
    return RequestValidationError([{**e, "loc": (*prefix, *e["loc"])} for e in errors])


@router.post(
    "/events",
    tags=["events"],
    response_model=None,  # built by the engine; documented below, not validated again per event
    responses={
        200: {"model": EventResultPublic | EventBatchPublic, "description": "One result, or one per event."},
        **errors.responses(
            *KEYED,
            *BODY,
            404,
            415,
            e404="Unknown customer (events.unknown_customer: reject).",
        ),
        409: {
            "model": errors.InvalidBody,
            "description": "The event id was used before by this source for other content: the fields that differ.",
        },
    },
    openapi_extra={"requestBody": _body_schema()},
)
async def post_events(request: Request, engine: EngineDep, presented: PresentedKey) -> JSONResponse:
    """Ingest one event, or a batch ``{"events": [...]}`` of up to 1,000; answers after the commit."""
    raw = await request.body()  # at most api.max_body_bytes (cvm.api.limits)
    content_type = request.headers.get("content-type")
    return await run_in_threadpool(_ingest, raw, content_type, engine, presented)  # one thread hop


def key_source(key: ApiKey) -> str:
    """The source of the events a key sends that name none: the key's label, or ``key:<id>`` without one.

    Event ids are unique per source. The label names the sending system and outlives
    the key: a key rotated under the same label keeps its source, so a retry sent with
    the new key is still recognised as a repeat. Keys that share a label share a source;
    a system that sends for several others names each in the event's ``source``.
    """
    return key.label or f"key:{key.id}"


def _read(raw: bytes, content_type: str | None) -> Any:
    """The JSON body (415 when it is declared as something else, 422 when it does not read)."""
    media = (content_type or "application/json").split(";", 1)[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "the body must be JSON (Content-Type: application/json)"
        )
    if not raw:
        raise _bad_request([{"type": "missing", "loc": (), "msg": "A JSON body is required"}])
    try:
        return jsontext.loads_request(raw)
    except ValueError as exc:
        raise _bad_request([{"type": "json_invalid", "loc": (), "msg": str(exc)}]) from None


def _ingest(raw: bytes, content_type: str | None, engine: Engine, presented: str | None) -> JSONResponse:
    source = key_source(authorize(engine, presented, "write"))  # first: no key, no word on the body
    ingest = partial(engine.plans.ingest_events, source=source, actor=source)  # audited as the key's label
    body = _read(raw, content_type)
    if not isinstance(body, dict):
        raise _bad_request([{"type": "dict_type", "loc": (), "msg": "Input should be a valid dictionary"}])
    if "events" in body:
        events = body["events"]
        if not isinstance(events, list) or not 1 <= len(events) <= MAX_BATCH or set(body) != {"events"}:
            try:  # the envelope is wrong: let the model say how (each event is checked on its own)
                EventBatchIn.model_validate(body)
            except ValidationError as exc:  # field, message and type only: its input would echo the batch
                errors = [{"type": e["type"], "loc": loc(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
                raise _bad_request(errors) from None
        return _Results(ingest(events).to_dict())
    outcome = ingest([body]).outcomes[0]
    if outcome.status == "invalid":
        raise _bad_request(list(outcome.errors))
    if outcome.status == "unknown_customer":
        raise HTTPException(status.HTTP_404_NOT_FOUND, outcome.errors[0]["msg"])
    if outcome.status == "conflict":
        raise HTTPException(status.HTTP_409_CONFLICT, [{**e, "loc": ["body", *e["loc"]]} for e in outcome.errors])
    return _Results(outcome.to_dict())


@router.get(
    "/customers/{customer_id:path}/next-best-action",
    tags=["customers"],
    responses=errors.responses(*KEYED, 404, 422, e404="Unknown customer."),
)
def next_best_action(customer_id: str, engine: EngineDep, _: Reader) -> dict[str, Any]:
    """Eligible actions for the customer now, best first, with the reasons for each."""
    try:
        ranked = engine.plans.next_best_action(customer_id)
    except UnknownCustomerError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    data = [asdict(r) for r in ranked]
    return {"data": data, "count": len(data)}


@router.get("/actions", tags=["actions"], responses=errors.responses(*KEYED, 422))
def list_actions(
    engine: EngineDep,
    _: Reader,
    status_: Annotated[ActionStatus | None, Query(alias="status")] = None,
    customer_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Action requests in the outbox, newest first."""
    try:
        rows = engine.delivery.actions(status=status_, customer_id=customer_id, limit=limit)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    data = [RequestPublic.model_validate(r).model_dump(mode="json") for r in rows]
    return {"data": data, "count": len(data)}


@router.get("/actions/summary", tags=["actions"], responses=errors.responses(*KEYED))
def actions_summary(engine: EngineDep, _: Reader) -> dict[str, Any]:
    """Plans & actions: requests per plan and channel by status, held back by reason, pressure, value, dead letters.

    The numbers of the dashboard's Plans & actions page and of ``cvm actions summary --json``.
    """
    return engine.delivery.summary().to_dict()


@router.post(
    "/actions/{request_id}/confirm",
    tags=["actions"],
    responses=errors.responses(
        *KEYED, 404, 409, 422, e404="Unknown action.", e409="The action is not awaiting confirmation."
    ),
)
def confirm_action(
    request_id: Annotated[int, Path(ge=1, le=MAX_ID)], engine: EngineDep, caller: Admin
) -> dict[str, Any]:
    """Confirm an action that ends a relationship: the worker sends it next, once."""
    return _decided(engine.delivery.confirm_action, request_id, caller)


@router.post(
    "/actions/{request_id}/reject",
    tags=["actions"],
    responses=errors.responses(
        *KEYED, 404, 409, 422, e404="Unknown action.", e409="The action is not awaiting confirmation."
    ),
)
def reject_action(
    request_id: Annotated[int, Path(ge=1, le=MAX_ID)], engine: EngineDep, caller: Admin
) -> dict[str, Any]:
    """Reject an action that ends a relationship: it is kept as rejected and never sent."""
    return _decided(engine.delivery.reject_action, request_id, caller)


def _decided(decide: Callable[..., dict[str, Any]], request_id: int, caller: Any) -> dict[str, Any]:
    try:
        row = decide(request_id, actor=actor(caller))
    except KeyError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc.args[0])) from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return RequestPublic.model_validate(row).model_dump(mode="json")


@router.post(
    "/actions/{request_id}/retry",
    tags=["actions"],
    responses=errors.responses(*KEYED, 404, 409, 422, e404="Unknown action.", e409="The action is not dead."),
)
def retry_action(request_id: Annotated[int, Path(ge=1, le=MAX_ID)], engine: EngineDep, caller: Admin) -> dict[str, Any]:
    """Make a dead action due again with a fresh attempt budget."""
    try:
        row = engine.delivery.retry_action(request_id, actor=actor(caller))
    except KeyError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc.args[0])) from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return RequestPublic.model_validate(row).model_dump(mode="json")
