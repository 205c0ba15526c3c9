"""Per-plan state of one customer, kept as JSON-friendly values between decisions.

``plan_state[plan]`` is a mapping with:

- ``status``: ``active`` (steps pending), ``done`` (all steps handled) or ``exited``
  (the plan's exit condition held);
- ``started``: ISO time of the enrolment (step days count from it);
- ``step``: index of the next step; ``due``: ISO time it is due (the persisted wait);
- ``ended``: ISO time the plan ended; ``enrolments``: how many times the customer entered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from cvm.config.plans import PlanConfig


@lru_cache(maxsize=8192)
def iso(t: datetime) -> str:
    """``t.isoformat()``, cached: a batch writes the same few times for many customers."""
    return t.isoformat()


@lru_cache(maxsize=8192)
def _parse(text: str) -> datetime:
    t = datetime.fromisoformat(text)
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def as_time(value: Any) -> datetime | None:
    """A timezone-aware datetime from an ISO string or a datetime (naive means UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return _parse(str(value))


@dataclass(frozen=True)
class Enrolment:
    """A customer's place in one plan."""

    status: str
    started: datetime
    step: int
    due: datetime | None
    ended: datetime | None = None
    enrolments: int = 1

    @classmethod
    def load(cls, raw: Mapping[str, Any] | None) -> Enrolment | None:
        if not raw or as_time(raw.get("started")) is None:
            return None
        started = as_time(raw["started"])
        assert started is not None
        return cls(
            status=str(raw.get("status", "active")),
            started=started,
            step=int(raw.get("step", 0)),
            due=as_time(raw.get("due")),
            ended=as_time(raw.get("ended")),
            enrolments=int(raw.get("enrolments", 1)),
        )

    def dump(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "started": iso(self.started),
            "step": self.step,
            "due": iso(self.due) if self.due else None,
            "ended": iso(self.ended) if self.ended else None,
            "enrolments": self.enrolments,
        }

    @property
    def active(self) -> bool:
        return self.status == "active"

    def advance(self, plan: PlanConfig, now: datetime) -> Enrolment:
        """Move past the current step: the next one becomes due, or the plan is done."""
        nxt = self.step + 1
        if nxt >= len(plan.steps):
            return Enrolment("done", self.started, nxt, None, now, self.enrolments)
        due = self.started + timedelta(days=plan.steps[nxt].day)
        return Enrolment(self.status, self.started, nxt, due, self.ended, self.enrolments)

    def end(self, status: str, now: datetime) -> Enrolment:
        return Enrolment(status, self.started, self.step, None, now, self.enrolments)
