"""What ingestion reports back: one :class:`EventOutcome` per submitted event, and their batch.

Imports from a sibling stage: :mod:`cvm.delivery.outbox` for ``Enqueued`` (what the transactional
outbox answers for each action, reported back per event) and ``utc``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from cvm.contracts.actions import RESULT_FIELDS, SUPPRESSED_FIELDS, ActionRequest, Decision, Suppressed
from cvm.contracts.event_values import UnsoundError, excerpt, text_bytes
from cvm.contracts.events import MAX_ID, EventIn
from cvm.contracts.tables import complaint_status
from cvm.delivery.outbox import Enqueued, utc
from cvm.events.profile import OnlineProfile

Status = Literal["accepted", "duplicate", "invalid", "unknown_customer", "conflict"]
EventKey = tuple[str, str]
"""What makes an event unique: ``(source, event_id)``."""


@dataclass(frozen=True)
class EventOutcome:
    """What became of one submitted event."""

    index: int
    event_id: str | None
    status: Status
    actions: tuple[dict[str, Any], ...] = ()
    suppressed: tuple[dict[str, Any], ...] = ()
    errors: tuple[dict[str, Any], ...] = ()

    @property
    def ok(self) -> bool:
        return self.status in ("accepted", "duplicate")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "event_id": self.event_id, "status": self.status}
        if self.ok:
            out.update(actions=list(self.actions), suppressed=list(self.suppressed))
        else:
            out["errors"] = list(self.errors)
        return out


@dataclass(frozen=True)
class IngestReport:
    """The outcome of each submitted event, in submission order."""

    outcomes: list[EventOutcome]

    def count(self, *statuses: Status) -> int:
        return sum(o.status in statuses for o in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": [o.to_dict() for o in self.outcomes],
            "count": len(self.outcomes),
            "accepted": self.count("accepted"),
            "duplicates": self.count("duplicate"),
            "rejected": self.count("invalid", "unknown_customer", "conflict"),
            "actions": sum(len(o.actions) for o in self.outcomes if o.status == "accepted"),
        }


def refused(index: int, data: Any, errors: list[dict[str, Any]]) -> EventOutcome:
    """The outcome of an invalid event: its errors, and its id if that is a sound one within the id limit."""
    event_id = data.get("event_id") if isinstance(data, Mapping) else None
    if isinstance(event_id, str) and 0 < len(event_id) <= MAX_ID:
        try:
            text_bytes(event_id)
        except UnsoundError:
            event_id = None
    else:
        event_id = None
    return EventOutcome(index, event_id, "invalid", errors=tuple(errors))


def unknown_customer(index: int, event: EventIn) -> EventOutcome:
    error = {
        "loc": ["customer_id"],
        "msg": f"unknown customer {excerpt(event.customer_id)!r}",
        "type": "unknown_customer",
    }
    return EventOutcome(index, event.event_id, "unknown_customer", errors=(error,))


@dataclass(frozen=True)
class Stored:
    """An event as the event log holds it: what it said, and the result it had."""

    customer_id: str
    type: str
    ts: datetime
    properties: dict[str, Any]
    result: dict[str, Any]

    def same(self, event: EventIn) -> bool:
        """Whether ``event`` says what this one said (the same customer, type, time and properties)."""
        properties = self.properties
        if self.type == "complaint" and "status" in properties:  # stored before one vocabulary ("opened")
            properties = {**properties, "status": complaint_status(properties["status"]) or properties["status"]}
        return (self.customer_id, self.type, utc(self.ts), properties) == _content(event)


def _content(event: EventIn) -> tuple[str, str, datetime, dict[str, Any]]:
    return event.customer_id, event.type, event.ts, event.properties


def repeated(index: int, event: EventIn, stored: Stored) -> EventOutcome:
    """The outcome of an event whose id its source used before: a replay if it says the same, else a conflict."""
    if not stored.same(event):
        return conflict(index, event)
    actions = tuple(stored.result.get("actions", ()))
    return EventOutcome(index, event.event_id, "duplicate", actions, tuple(stored.result.get("suppressed", ())))


def conflict(index: int, event: EventIn) -> EventOutcome:
    """An event id reused for other content: refused, and nothing of the first event is told."""
    msg = "Event id was used before (in this source) for an event with other content; send it with a new id"
    return EventOutcome(
        index, event.event_id, "conflict", errors=({"loc": ["event_id"], "msg": msg, "type": "conflict"},)
    )


def action_json(a: ActionRequest, queued: Enqueued) -> dict[str, Any]:
    """An action in the result of ``POST /events``: its row id and status, then :data:`RESULT_FIELDS`."""
    out: dict[str, Any] = {"id": queued.id, "status": "duplicate" if queued.duplicate else "enqueued"}
    out.update((name, getattr(a, name)) for name in RESULT_FIELDS)
    out["not_before"] = utc(a.not_before).isoformat() if a.not_before else None
    return out


def suppressed_json(s: Suppressed) -> dict[str, Any]:
    """A held-back action in the result of ``POST /events`` (its customer is the event's)."""
    out: dict[str, Any] = {name: getattr(s, name) for name in SUPPRESSED_FIELDS if name != "customer_id"}
    out["deferred_until"] = utc(s.deferred_until).isoformat() if s.deferred_until else None
    return out


@dataclass
class Work:
    """Everything one attempt decided, waiting to be written in one transaction."""

    outcomes: dict[int, EventOutcome] = field(default_factory=dict)
    first_index: dict[EventKey, int] = field(default_factory=dict)
    fresh: list[tuple[int, EventIn]] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)
    decided: list[tuple[int, EventIn, Decision]] = field(default_factory=list)
    profiles: list[OnlineProfile] = field(default_factory=list)

    def drop(self, customers: set[str]) -> list[tuple[int, EventIn]]:
        """Forget what was decided for ``customers``; return their events, to decide again."""
        redo = [(i, e) for i, e in self.fresh if e.customer_id in customers]
        for i, _ in redo:
            self.outcomes.pop(i, None)
        self.decided = [d for d in self.decided if d[1].customer_id not in customers]
        self.profiles = [p for p in self.profiles if p.customer_id not in customers]
        return redo

    @property
    def actions(self) -> list[ActionRequest]:
        return [a for _, _, d in self.decided for a in d.actions]

    @property
    def action_events(self) -> list[str | None]:
        return [e.event_id for _, e, d in self.decided for _ in d.actions]

    @property
    def held(self) -> list[Suppressed]:
        return [s for _, _, d in self.decided for s in d.suppressed]

    @property
    def held_events(self) -> list[str | None]:
        return [e.event_id for _, e, d in self.decided for _ in d.suppressed]

    def echo_repeats(self, valid: list[tuple[int, EventIn]]) -> dict[int, EventOutcome]:
        """Give a repeat of an event id inside the batch the outcome of its first (a conflict if it differs)."""
        events = dict(valid)
        for i, event in valid:
            if i not in self.outcomes:
                first_index = self.first_index[(event.source, event.event_id)]
                first = self.outcomes[first_index]
                if _content(events[first_index]) != _content(event):
                    self.outcomes[i] = conflict(i, event)
                    continue
                status: Status = "duplicate" if first.ok else first.status
                self.outcomes[i] = EventOutcome(
                    i, event.event_id, status, first.actions, first.suppressed, first.errors
                )
        return self.outcomes
