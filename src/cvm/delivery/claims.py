"""What the worker holds and counts: a claimed request, the retry policy, the run's statistics."""

from __future__ import annotations

import os
import random
import socket
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cvm.contracts.actions import PAYLOAD_FIELDS
from cvm.delivery.items import Outbound
from cvm.delivery.outbox import utc


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, and the attempt budget.

    The wait before attempt ``n + 1`` is uniform on ``[0, min(cap, base * 2**(n - 1))]``
    ("full jitter", Brooker 2015, *Exponential Backoff And Jitter*, AWS Architecture
    Blog), which spreads retries of many failed requests instead of synchronising them.

    Examples
    --------
    >>> policy = RetryPolicy(max_attempts=5, base=1.0, cap=30.0)
    >>> 0.0 <= policy.delay(3, random.Random(1)) <= 4.0
    True
    """

    max_attempts: int
    base: float
    cap: float

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based)."""
        return rng.uniform(0.0, min(self.cap, self.base * 2.0 ** max(attempt - 1, 0)))


@dataclass
class WorkerStats:
    """What one worker run did."""

    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    recovered: int = 0
    settled_late: int = 0
    renewed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def to_dict(self) -> dict[str, int]:
        keys = ("claimed", "delivered", "retried", "dead", "recovered", "settled_late", "renewed")
        return {k: int(getattr(self, k)) for k in keys}


@dataclass(frozen=True)
class Claim:
    """A request this worker holds: its row and the attempt number it is on."""

    row: Mapping[str, Any]

    @property
    def id(self) -> int:
        return int(self.row["id"])

    def outbound(self) -> Outbound:
        r = self.row
        payload = {k: r[k] for k in PAYLOAD_FIELDS}  # the action-request contract, its row id and cause
        payload.update(
            id=self.id,
            created_at=utc(r["created_at"]).isoformat(),
            not_before=None if r["not_before"] is None else utc(r["not_before"]).isoformat(),
        )
        return Outbound(self.id, int(r["attempts"]), r["idempotency_key"], r["channel"], payload)


def default_worker_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
