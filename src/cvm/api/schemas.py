"""Request and response models of the API."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator

from cvm.api.errors import FieldIssue

T = TypeVar("T")


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
"""A stored time, always with its zone (SQLite hands stored UTC times back naive)."""


def _utf8(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text (a lone surrogate)") from None
    return value


Text = Annotated[str, AfterValidator(_utf8)]
_JSON_TYPES: dict[type, str] = {list: "an array", dict: "an object"}


def _cell(value: object) -> str | int | float | bool | None:
    if isinstance(value, str):
        return _utf8(value)
    if value is None or isinstance(value, int | float | bool):
        return value
    raise ValueError(f"a cell is a string, a number, true, false or null, not {_JSON_TYPES.get(type(value), 'that')}")


Cell = Annotated[
    str | int | float | bool | None, PlainValidator(_cell, json_schema_input_type=str | int | float | bool | None)
]
"""One value of a row sent as JSON: a scalar (a list or an object is no cell of a hub table)."""
Role = Literal["admin", "analyst", "ingest"]
"""The roles of :data:`cvm.access.ROLES`."""
ActionStatus = Literal["pending", "in_flight", "delivered", "dead", "awaiting_confirmation", "rejected"]
"""The statuses of :data:`cvm.delivery.STATUSES`."""


def _iso_day(value: object) -> object:
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_day)]
"""A day written ``YYYY-MM-DD`` (not a number of seconds, which pydantic would take too)."""


class Health(BaseModel):
    """``{"status": "ok"}``; the version and the online backend only for a valid key."""

    status: Literal["ok"]
    version: str | None = None
    online: str | None = None


class Page(BaseModel, Generic[T]):
    """A list envelope."""

    data: list[T]
    count: int


class CustomerSummary(BaseModel):
    customer_id: str
    name: str | None = None
    email: str | None = None
    kind: str | None = None
    region: str | None = None
    sector: str | None = None
    channel: str | None = None
    acquired_at: str | None = None


class TimelineEvent(BaseModel):
    ts: str
    type: str
    source: str
    summary: str


class CustomerPublic(BaseModel):
    """The 360° view of one customer."""

    customer_id: str
    profile: dict[str, Any]
    holdings: dict[str, Any]
    kpis: dict[str, Any]
    scores: list[dict[str, Any]]
    timeline: list[TimelineEvent]


class RowsCreate(BaseModel):
    """Rows to ingest into a hub table, as JSON objects keyed by column."""

    model_config = ConfigDict(strict=True)  # "yes" is no bool and true no ratio

    rows: list[Annotated[dict[Text, Cell], Field(min_length=1)]] = Field(min_length=1, max_length=100_000)
    upsert: bool = False
    max_reject_ratio: float | None = Field(default=None, ge=0.0, le=1.0)


class BatchPublic(BaseModel):
    table: str
    read: int
    accepted: int
    rejected: int
    batch_id: str
    status: str
    rejects: list[dict[str, Any]] = []


class BatchRefused(BatchPublic):
    """A batch refused for its rejected rows: the batch, and each rejected cell as a field problem."""

    detail: list[FieldIssue]


class KeyCreate(BaseModel):
    model_config = ConfigDict(strict=True)

    role: Role
    label: str | None = None


class KeyPublic(BaseModel):
    id: str
    role: str
    label: str | None
    created_at: UtcDatetime
    revoked_at: UtcDatetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="The secret; shown once.")


class ErasurePublic(BaseModel):
    subject: str
    rows: dict[str, int]


class AuditEntry(BaseModel):
    id: int
    at: UtcDatetime
    actor: str
    action: str
    target: str | None
    rows: int | None
    detail: dict[str, Any] | None
