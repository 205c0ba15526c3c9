"""What a transport is handed (:class:`Outbound`) and what it reports back (:class:`Outcome`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Outbound:
    """One attempt at one action request; ``payload`` is the JSON body."""

    id: int
    attempt: int
    idempotency_key: str
    channel: str
    payload: Mapping[str, Any]

    def body(self) -> bytes:
        """The canonical JSON body (sorted keys, no spaces): what the signature covers."""
        return json.dumps(self.payload, sort_keys=True, separators=(",", ":"), default=str).encode()


@dataclass(frozen=True)
class Outcome:
    """What happened to one attempt; ``permanent`` failures are not retried."""

    ok: bool
    status: Literal["delivered", "failed", "timeout"]
    http_status: int | None = None
    error: str | None = None
    permanent: bool = False
    duration_ms: float | None = None
