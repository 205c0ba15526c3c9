"""The action-request contract: what a decision sends, holds back and assigns.

:class:`ActionRequest`, :class:`Suppressed`, :class:`Assignment` and :class:`Decision`
are what the plans stage (:func:`cvm.plans.decide.decide`) hands to the stages after it:
the outbox (``action_requests``), the worker's webhook payload and file exports, the
events API and the batch cycle. Each field of :class:`ActionRequest` declares how it is
stored (:class:`Stored`); everything else is derived from that one definition, in the
order of the fields:

- :data:`ACTION_FIELDS`, the field names;
- the columns of ``action_requests`` (:mod:`cvm.store.tables`), plus the outbox's own
  bookkeeping (:data:`OUTBOX_FIELDS`);
- the webhook payload (:data:`PAYLOAD_FIELDS`) and the export columns
  (:data:`EXPORT_COLUMNS`);
- the API's ``ActionPublic`` (:data:`RESULT_FIELDS`) and ``RequestPublic``
  (:data:`REQUEST_FIELDS`), typed by :func:`public_fields`.

``tests/unit/test_action_contract.py`` holds them to the same names in the same order.
This module imports nothing internal to CVM but the decision-log contract (:mod:`cvm.contracts.decisionlog`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from cvm.contracts.decisionlog import DecisionRecord

Kind = Literal["text", "float", "json", "time"]


@dataclass(frozen=True)
class Stored:
    """How a field of the contract is stored in the online store (and typed in the API)."""

    kind: Kind
    length: int | None = None
    nullable: bool = False
    unique: bool = False
    index: bool = False


def _stored(kind: Kind, length: int | None = None, **flags: bool) -> dict[str, Stored]:
    return {"stored": Stored(kind, length, **flags)}


@dataclass(frozen=True)
class ActionRequest:
    """An action chosen for delivery; ``idempotency_key`` is stable across re-runs.

    Fields are keyword-only in spirit (:func:`~cvm.plans.decide.decide` names them all);
    their order is the order of every derived column list.
    """

    idempotency_key: str = field(metadata=_stored("text", 200, unique=True))
    customer_id: str = field(metadata=_stored("text", 200, index=True))
    plan: str = field(metadata=_stored("text", 100))
    step: str = field(metadata=_stored("text", 100))
    action: str = field(metadata=_stored("text", 100))
    channel: str = field(metadata=_stored("text", 40))
    objective: str = field(metadata=_stored("text", 100, nullable=True))
    offer: str | None = field(metadata=_stored("text", 200, nullable=True))
    expected_value: float = field(metadata=_stored("float", nullable=True))
    priority: int = field(metadata=_stored("float", nullable=True))
    reasons: tuple[str, ...] = field(metadata=_stored("json"))
    not_before: datetime = field(metadata=_stored("time", nullable=True))


@dataclass(frozen=True)
class Suppressed:
    """An action not sent, with the reason; ``deferred_until`` set when only postponed."""

    customer_id: str
    plan: str
    step: str
    channel: str
    reason: str
    deferred_until: datetime | None


@dataclass(frozen=True)
class Assignment:
    """One customer's arm in one experiment (a row of ``assignments``), made when a plan would have acted."""

    experiment: str
    customer_id: str
    arm: str
    bucket: int
    assigned_at: datetime
    plan: str | None = None
    step: str | None = None

    def state(self) -> dict[str, Any]:
        """The JSON-friendly form kept in the plan state."""
        return {"arm": self.arm, "bucket": self.bucket, "at": self.assigned_at.isoformat(),
                "plan": self.plan, "step": self.step}  # fmt: skip


@dataclass(frozen=True)
class Decision:
    """The outcome of a decision: actions to send, actions held back, new plan state.

    ``assignments`` are the customer's new pilot assignments (also in ``plan_state``): the
    caller persists them in the ``assignments`` table (:mod:`cvm.experiments.records`), and
    ``record`` in ``decision_log`` (:mod:`cvm.store.decision_log`), in the same transaction.
    """

    actions: tuple[ActionRequest, ...]
    suppressed: tuple[Suppressed, ...]
    plan_state: Mapping[str, Any]
    assignments: tuple[Assignment, ...] = ()
    record: DecisionRecord | None = None
    """The decision-log record (:mod:`cvm.contracts.decisionlog`); ``None`` when there was no candidate."""


STORED: dict[str, Stored] = {f.name: f.metadata["stored"] for f in dataclasses.fields(ActionRequest)}
"""How each field of :class:`ActionRequest` is stored, in field order."""
ACTION_FIELDS: tuple[str, ...] = tuple(STORED)
"""The fields of :class:`ActionRequest`, in order."""
SUPPRESSED_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Suppressed))

OUTBOX_FIELDS: tuple[str, ...] = ("event_id", "created_at", "status", "attempts", "next_attempt_at",
                                  "lease_until", "lease_owner", "last_error", "delivered_at")  # fmt: skip
"""The outbox's own columns of ``action_requests`` after the contract's (besides the row ``id`` first)."""
PAYLOAD_FIELDS: tuple[str, ...] = ("id", *ACTION_FIELDS, "event_id", "created_at")
"""The webhook payload: the row id, the action request, its cause and when it was enqueued."""
EXPORT_COLUMNS: tuple[str, ...] = (ACTION_FIELDS[0], "request_id", *ACTION_FIELDS[1:], "event_id", "created_at",
                                   "exported_at")  # fmt: skip
"""The columns of a file export: the dedupe key first, then the row id and the rest of the payload."""
RESULT_FIELDS: tuple[str, ...] = tuple(f for f in ACTION_FIELDS if f not in ("customer_id", "priority", "reasons"))
"""The fields of an action in the result of ``POST /events`` (``ActionPublic``, besides ``id`` and ``status``)."""
REQUEST_FIELDS: tuple[str, ...] = tuple(f for f in ACTION_FIELDS if f not in ("priority", "reasons", "not_before"))
"""The fields of an action request in ``GET /actions`` (``RequestPublic``, before the delivery state)."""

_PY: dict[Kind, Any] = {"text": str, "float": float, "json": list[str], "time": datetime}


def public_fields(names: Sequence[str], *, time: Any = datetime) -> dict[str, Any]:
    """``pydantic.create_model`` field definitions of ``names``, typed as stored (``| None`` when nullable).

    ``time`` is the type given to timestamps (the API passes its UTC datetime, or ``str``).

    Examples
    --------
    >>> public_fields(["plan", "offer"])
    {'plan': (<class 'str'>, Ellipsis), 'offer': (str | None, Ellipsis)}
    """
    out: dict[str, Any] = {}
    for name in names:
        s = STORED[name]
        py = time if s.kind == "time" else _PY[s.kind]
        out[name] = (py | None if s.nullable else py, ...)
    return out
