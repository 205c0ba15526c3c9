"""The decision's inputs and its ranking: what :func:`cvm.plans.decide.decide` and ``rank`` take and give.

:class:`CustomerState` and :class:`Event` are what a caller (the batch plan, the events
stage) hands the decision; :class:`RankedAction` is one line of the next-best-action
view. The decision's outcome is :class:`cvm.contracts.actions.Decision`.
This module imports nothing internal to CVM.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class CustomerState:
    """Everything the decision needs about one customer, as plain values.

    Attributes
    ----------
    customer_id
        The customer.
    attributes
        Profile fields, features, scores and grades, segment flags: the same
        column names the expression language uses.
    consents
        Per channel (email, sms, phone, visit, mail, crm_task): ``True`` when
        the customer agreed. A missing channel counts as no consent for
        email, sms and phone, and as consent for the others (see the policy).
    timezone
        IANA zone of the customer, for quiet hours and days.
    contacts_sent
        ``(at, channel, objective)`` of delivered or planned contacts, for caps
        and cooldowns.
    open_complaint
        Whether a complaint is open.
    plan_state
        Per plan: current step and next due time (persisted waits); under ``@pilots``, the
        customer's pilot assignments (experiment → arm, bucket, time).
    """

    customer_id: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    consents: Mapping[str, bool] = field(default_factory=dict)
    timezone: str = "UTC"
    contacts_sent: Sequence[tuple[datetime, str, str]] = ()
    open_complaint: bool = False
    plan_state: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    """Something that happened to a customer (a trigger candidate)."""

    event_id: str
    customer_id: str
    type: str
    ts: datetime
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RankedAction:
    """One candidate action for the next-best-action view, chosen or not."""

    plan: str
    step: str
    action: str
    channel: str
    objective: str
    offer: str | None
    expected_value: float
    priority: int
    chosen: bool
    reasons: tuple[str, ...]
