"""Request and response models of the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


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

    rows: list[dict[str, Any]] = Field(min_length=1, max_length=100_000)
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


class KeyCreate(BaseModel):
    role: str
    label: str | None = None


class KeyPublic(BaseModel):
    id: str
    role: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="The secret; shown once.")


class ErasurePublic(BaseModel):
    subject: str
    rows: dict[str, int]


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    rows: int | None
    detail: dict[str, Any] | None
