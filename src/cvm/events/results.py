"""What ingestion reports back: one :class:`EventOutcome` per submitted event, and their batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from cvm.delivery.outbox import Enqueued, utc
from cvm.events.model import EventIn
from cvm.events.profile import OnlineProfile
from cvm.plans.decide import ActionRequest, Decision, Suppressed

Status = Literal["accepted", "duplicate", "invalid", "unknown_customer"]


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
            "rejected": self.count("invalid", "unknown_customer"),
            "actions": sum(len(o.actions) for o in self.outcomes if o.status == "accepted"),
        }


def unknown_customer(index: int, event: EventIn) -> EventOutcome:
    error = {"loc": ["customer_id"], "msg": f"unknown customer {event.customer_id!r}", "type": "unknown_customer"}
    return EventOutcome(index, event.event_id, "unknown_customer", errors=(error,))


def replayed(index: int, event_id: str, result: dict[str, Any]) -> EventOutcome:
    """The outcome of an event id seen before: its first result, marked ``duplicate``."""
    actions = tuple(result.get("actions", ()))
    return EventOutcome(index, event_id, "duplicate", actions, tuple(result.get("suppressed", ())))


def action_json(a: ActionRequest, queued: Enqueued) -> dict[str, Any]:
    return {
        "id": queued.id,
        "idempotency_key": a.idempotency_key,
        "status": "duplicate" if queued.duplicate else "enqueued",
        "plan": a.plan,
        "step": a.step,
        "action": a.action,
        "channel": a.channel,
        "objective": a.objective,
        "offer": a.offer,
        "expected_value": a.expected_value,
        "not_before": utc(a.not_before).isoformat() if a.not_before else None,
    }


def suppressed_json(s: Suppressed) -> dict[str, Any]:
    return {
        "plan": s.plan,
        "step": s.step,
        "channel": s.channel,
        "reason": s.reason,
        "deferred_until": utc(s.deferred_until).isoformat() if s.deferred_until else None,
    }


@dataclass
class Work:
    """Everything one attempt decided, waiting to be written in one transaction."""

    outcomes: dict[int, EventOutcome] = field(default_factory=dict)
    first_index: dict[str, int] = field(default_factory=dict)
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
        """Give a repeat of an event id inside the batch the outcome of its first occurrence."""
        for i, event in valid:
            if i not in self.outcomes:
                first = self.outcomes[self.first_index[event.event_id]]
                status: Status = "duplicate" if first.ok else first.status
                self.outcomes[i] = EventOutcome(
                    i, event.event_id, status, first.actions, first.suppressed, first.errors
                )
        return self.outcomes
