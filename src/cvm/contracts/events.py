"""The event contract of ``POST /events``: an envelope plus typed properties per event type.

The events stage (:mod:`cvm.events`) ingests what this contract accepts; the API documents
its schema from the same models.

An event reads::

    {"event_id": "e-1", "customer_id": "C1", "type": "transaction",
     "ts": "2024-05-01T10:00:00+02:00", "properties": {"amount": 120.0, "product": "hardware"}}

``ts`` must carry a time zone (naive timestamps are ambiguous and refused); it is
stored in UTC. Each type has its own property model; unknown extra properties are
kept as they are when sound (:mod:`cvm.contracts.event_values`: 64-bit integers, finite numbers,
valid text, within the depth and size limits of ``events``). Numbers are numbers:
``true`` is not an amount (numeric text such as ``"12.5"`` is read as a number).
Errors name the path of the bad field, e.g. ``properties.amount``, and quote no more
of the input than a short excerpt of a field name.

An event id is unique per *source* (``source``, by default the sending API key's
label: see :func:`cvm.api.events.key_source`), not across sources: two systems may
use the same ids without one's events passing for repeats of the other's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from cvm.contracts.event_values import UnsoundError, ValueLimits, check_properties, loc, text_bytes
from cvm.contracts.ids import DEFAULT_CUSTOMER_ID_PATTERN, check_customer_id
from cvm.contracts.tables import (
    COMPLAINT_STATUS_SYNONYMS,
    COMPLAINT_STATUSES,
    INVOLUNTARY_REASONS,
    VOLUNTARY_REASONS,
    complaint_status,
)
from cvm.errors import InvalidError

EventType = Literal[
    "transaction",
    "payment_late",
    "payment_received",
    "contact",
    "complaint",
    "survey",
    "subscription_started",
    "subscription_ended",
]
CONSENT_CHANNELS = ("email", "sms", "phone", "visit", "mail", "crm_task")
END_REASONS = VOLUNTARY_REASONS + INVOLUNTARY_REASONS
MAX_ID = 200
"""The longest event id, customer id or source."""


def _not_bool(value: Any) -> Any:
    """Refuse ``true`` and ``false`` where a number is due (pydantic would read them as 1 and 0)."""
    if isinstance(value, bool):
        raise PydanticCustomError("bool_not_number", "Input should be a number, not true or false")
    return value


Number = Annotated[float, BeforeValidator(_not_bool)]
"""A float that is not a bool: a JSON number, or text that reads as one."""
Whole = Annotated[int, BeforeValidator(_not_bool)]
"""An int that is not a bool."""


class _Props(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class TransactionProps(_Props):
    amount: Number = Field(ge=-1e9, le=1e9, allow_inf_nan=False, description="Negative for a refund.")
    margin: Number | None = Field(default=None, ge=-1e9, le=1e9, allow_inf_nan=False)
    product: str | None = Field(default=None, max_length=200)
    transaction_id: str | None = Field(default=None, max_length=200)


class PaymentLateProps(_Props):
    invoice_id: str | None = Field(default=None, max_length=200)
    amount: Number | None = Field(default=None, ge=0, le=1e9, allow_inf_nan=False)
    due_date: date | None = None
    days_late: Whole | None = Field(default=None, ge=0)


class PaymentReceivedProps(_Props):
    invoice_id: str | None = Field(default=None, max_length=200)
    amount: Number | None = Field(default=None, ge=0, le=1e9, allow_inf_nan=False)


class ContactProps(_Props):
    channel: str = Field(min_length=1, max_length=40)
    direction: Literal["inbound", "outbound"] | None = None
    topic: str | None = Field(default=None, max_length=200)
    outcome: str | None = Field(default=None, max_length=200)
    consents: dict[Literal["email", "sms", "phone", "visit", "mail", "crm_task"], bool] | None = Field(
        default=None, description="Consent given (true) or withdrawn (false) during the contact, per channel."
    )


def _complaint_status(value: Any) -> Any:
    """A known spelling of a complaint status as its canonical form (``opened`` -> ``open``); others as they are."""
    return (complaint_status(value) or value) if isinstance(value, str) else value


ComplaintStatus = Annotated[
    Literal["open", "resolved"],
    BeforeValidator(_complaint_status),
    WithJsonSchema(
        {"enum": [*COMPLAINT_STATUSES, *COMPLAINT_STATUS_SYNONYMS], "default": "open"},
    ),
]
"""The complaint statuses of the hub (:data:`cvm.contracts.tables.COMPLAINT_STATUSES`), synonyms accepted."""


class ComplaintProps(_Props):
    status: ComplaintStatus = Field(
        default="open", description="open or resolved (opened, closed... are read as these), as in contact files."
    )
    channel: str | None = Field(default=None, max_length=40)
    reason: str | None = Field(default=None, max_length=200)


class SurveyProps(_Props):
    nps: Whole | None = Field(default=None, ge=0, le=10, description="0-10 'how likely to recommend'.")
    would_recommend: bool | None = None
    did_recommend: bool | None = None

    @model_validator(mode="after")
    def _answered(self) -> SurveyProps:
        if self.nps is None and self.would_recommend is None and self.did_recommend is None:
            raise ValueError("a survey needs at least one of nps, would_recommend, did_recommend")
        return self


class SubscriptionStartedProps(_Props):
    product: str = Field(min_length=1, max_length=200)
    mrr: Number | None = Field(default=None, ge=0, le=1e9, allow_inf_nan=False)
    subscription_id: str | None = Field(default=None, max_length=200)


class SubscriptionEndedProps(_Props):
    product: str = Field(min_length=1, max_length=200)
    reason: Annotated[
        str | None,
        WithJsonSchema({"anyOf": [{"enum": list(END_REASONS)}, {"type": "null"}], "default": None}),
    ] = Field(default=None, description=f"One of {', '.join(END_REASONS)}.")
    subscription_id: str | None = Field(default=None, max_length=200)

    @field_validator("reason")
    @classmethod
    def _known_reason(cls, value: str | None) -> str | None:
        if value is not None and value not in END_REASONS:
            raise ValueError(f"must be one of {', '.join(END_REASONS)}")
        return value


PROPERTY_MODELS: dict[str, type[_Props]] = {
    "transaction": TransactionProps,
    "payment_late": PaymentLateProps,
    "payment_received": PaymentReceivedProps,
    "contact": ContactProps,
    "complaint": ComplaintProps,
    "survey": SurveyProps,
    "subscription_started": SubscriptionStartedProps,
    "subscription_ended": SubscriptionEndedProps,
}


class EventIn(BaseModel):
    """One event as it arrives (``properties`` is checked against the model of ``type``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(
        min_length=1,
        max_length=MAX_ID,
        description="Unique per event within its source: a repeat with the same content is a no-op, "
        "with other content a conflict.",
    )
    customer_id: str = Field(min_length=1, max_length=MAX_ID)
    type: EventType
    ts: AwareDatetime = Field(description="ISO-8601 with a time zone offset.")
    properties: dict[str, Any] = Field(default_factory=dict)
    source: str = Field(
        default="",
        max_length=MAX_ID,
        description="The system the event id is unique in; by default the sending API key's label (or its id).",
    )


class EventBatchIn(BaseModel):
    """A batch of up to 1,000 events."""

    model_config = ConfigDict(extra="forbid")

    events: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


_LIMITS = ValueLimits()


class EventError(InvalidError, ValueError):
    """An event failed validation; ``errors`` hold ``{"loc", "msg", "type"}`` with field paths."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))


def _errors(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> list[dict[str, Any]]:
    """Pydantic's errors as ``loc``, ``msg`` and ``type`` only: its ``input`` would echo the request."""
    return [{"loc": loc((*prefix, *e["loc"])), "msg": _message(e), "type": e["type"]} for e in exc.errors()]


def _named(errors: list[dict[str, Any]], data: Any) -> list[dict[str, Any]]:
    """Pydantic reports a field name that is not valid text without a path: give it the name (escaped)."""
    if not isinstance(data, dict) or not any(e["type"] == "string_unicode" and not e["loc"] for e in errors):
        return errors
    named = []
    for name in data:
        try:
            text_bytes(name)
        except UnsoundError as exc:
            named.append({"loc": loc([name]), "msg": exc.msg, "type": exc.type})
    return named + [e for e in errors if e["loc"] or e["type"] != "string_unicode"]


def _message(error: Any) -> str:
    """Pydantic's message, except where it would name an internal class (an event that is not an object)."""
    if error["type"] == "model_type" and not error["loc"]:
        return "An event should be a JSON object"
    return str(error["msg"])


def parse_event(
    data: Any,
    *,
    now: datetime | None = None,
    future_tolerance: timedelta | None = None,
    limits: ValueLimits | None = None,
    source: str = "",
    id_pattern: str = DEFAULT_CUSTOMER_ID_PATTERN,
) -> EventIn:
    """Validate one event; raise :class:`EventError` naming each bad field.

    Parameters
    ----------
    data
        The decoded JSON object.
    now, future_tolerance
        When both are given, a ``ts`` later than ``now + future_tolerance`` is refused.
    limits
        Depth and size limits of the properties (the defaults of ``events`` when omitted).
    source
        The source of an event that names none (``source`` stays empty when both are).
    id_pattern
        ``ingest.customer_id_pattern``: the customer id is held to it as in file ingest
        (:func:`cvm.contracts.ids.check_customer_id`).

    Examples
    --------
    >>> e = parse_event({"event_id": "e1", "customer_id": "C1", "type": "survey",
    ...                  "ts": "2024-05-01T10:00:00+02:00", "properties": {"nps": 9}})
    >>> e.ts.isoformat()
    '2024-05-01T08:00:00+00:00'
    """
    try:
        event = EventIn.model_validate(data)
    except ValidationError as exc:
        raise EventError(_named(_errors(exc), data)) from None
    for name in ("event_id", "customer_id", "source"):
        try:
            text_bytes(getattr(event, name))
        except UnsoundError as exc:
            raise EventError([{"loc": [name], "msg": exc.msg, "type": exc.type}]) from None
    if why := check_customer_id(event.customer_id, id_pattern):
        raise EventError([{"loc": ["customer_id"], "msg": why, "type": "customer_id_pattern"}])
    if event.properties and (unsound := check_properties(event.properties, limits or _LIMITS)):
        raise EventError(unsound)
    try:
        props = PROPERTY_MODELS[event.type].model_validate(event.properties)
    except ValidationError as exc:
        raise EventError(_errors(exc, ("properties",))) from None
    try:
        ts = event.ts.astimezone(UTC)
    except OverflowError:
        msg = "Timestamp should fall between the years 1 and 9999 in UTC"
        raise EventError([{"loc": ["ts"], "msg": msg, "type": "datetime_range"}]) from None
    if now is not None and future_tolerance is not None and ts > (limit := now + future_tolerance):
        days = future_tolerance / timedelta(days=1)
        msg = f"is in the future (later than {limit:%Y-%m-%d %H:%M} UTC, {days:g} day tolerance)"
        raise EventError([{"loc": ["ts"], "msg": msg, "type": "future_timestamp"}])
    update = {
        "ts": ts,
        "properties": props.model_dump(mode="json", exclude_none=True),
        "source": event.source or source,
    }
    return event.model_copy(update=update)
