"""The online profile of a customer (``customer_online``) and how each event type changes it.

The profile keeps what real-time decisions need between batch runs: counters and
last-seen times per event type, the open complaint flag, consent changes and the
state of each plan. ``version`` rises with every write; an update that finds a
different version was overtaken by a concurrent writer and is retried.

Imports from a sibling stage: :mod:`cvm.delivery.outbox` for ``utc``/``utc_or_none``, how the
outbox reads the stored times that SQLite hands back naive (one definition for the online store).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from cvm.contracts.events import EventIn
from cvm.contracts.tables import complaint_status
from cvm.delivery.outbox import utc, utc_or_none
from cvm.errors import ConflictError
from cvm.store import bulk
from cvm.store.tables import customer_online


class StaleProfileError(ConflictError, RuntimeError):
    """A profile changed under us (another writer committed first); the transaction is retried."""


@dataclass
class OnlineProfile:
    """One row of ``customer_online``; ``version`` 0 means not stored yet."""

    customer_id: str
    provisional: bool = False
    first_event_at: datetime | None = None
    last_event_at: datetime | None = None
    event_count: int = 0
    open_complaint: bool = False
    consents: dict[str, bool] = field(default_factory=dict)
    features: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, Any] = field(default_factory=dict)
    plan_state: dict[str, Any] = field(default_factory=dict)
    version: int = 0

    def row(self, now: datetime) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "provisional": self.provisional,
            "first_event_at": self.first_event_at,
            "last_event_at": self.last_event_at,
            "event_count": self.event_count,
            "open_complaint": self.open_complaint,
            "consents": self.consents,
            "features": self.features,
            "scores": self.scores,
            "plan_state": self.plan_state,
            "version": self.version + 1,
            "updated_at": now,
        }


_PROFILE_COLUMNS = [customer_online.c[f.name] for f in fields(OnlineProfile)]  # in the order of the fields


def _profile(row: Sequence[Any]) -> OnlineProfile:
    """A profile from a row of :data:`_PROFILE_COLUMNS` (the decoded JSON values are the row's own)."""
    cid, provisional, first, last, count, complaint, consents, features, scores, plan_state, version = row
    return OnlineProfile(
        cid,
        bool(provisional),
        utc_or_none(first),
        utc_or_none(last),
        int(count),
        bool(complaint),
        consents or {},
        features or {},
        scores or {},
        plan_state or {},
        int(version),
    )


def _select(conn: sa.Connection, columns: Sequence[sa.Column[Any]], lock: bool) -> sa.TextualSelect:
    """``SELECT columns FROM customer_online`` for the ids in ``:ids``, in id order (row-locked with ``lock``)."""
    return _select_for(conn.dialect.name, tuple(c.name for c in columns), lock and conn.dialect.name == "postgresql")


@lru_cache(maxsize=16)
def _select_for(dialect: str, names: tuple[str, ...], lock: bool) -> sa.TextualSelect:
    """The statement of :func:`_select`, built once (see :func:`cvm.store.bulk.in_ids`)."""
    listed = ", ".join(names)
    sql = f"SELECT {listed} FROM customer_online WHERE customer_id {bulk.in_ids(dialect)} ORDER BY customer_id"
    if lock:
        sql += " FOR UPDATE"
    return sa.text(sql).columns(*(customer_online.c[n] for n in names))  # typed: dates and JSON decoded as Core does


def load_profiles(conn: sa.Connection, customer_ids: Sequence[str], *, lock: bool = False) -> dict[str, OnlineProfile]:
    """The stored profiles of ``customer_ids`` (their ``version`` is checked when they are saved).

    ``lock`` takes their row locks, in id order, on PostgreSQL (SQLite's writer lock covers it).
    """
    if not customer_ids:
        return {}
    query = _select(conn, _PROFILE_COLUMNS, lock)
    rows = conn.execute(query, {"ids": bulk.id_list(sorted(set(customer_ids)))})
    return {r[0]: _profile(r) for r in rows}


def current_versions(conn: sa.Connection, customer_ids: Sequence[str], *, lock: bool = False) -> dict[str, int]:
    """The stored ``version`` of each customer that has a profile (row-locked in id order with ``lock``)."""
    if not customer_ids:
        return {}
    c = customer_online.c
    query = _select(conn, [c.customer_id, c.version], lock)
    return {cid: int(v) for cid, v in conn.execute(query, {"ids": bulk.id_list(sorted(set(customer_ids)))})}


def save_profiles(conn: sa.Connection, profiles: Sequence[OnlineProfile], now: datetime) -> None:
    """Insert new profiles and update stored ones, checking that no one else wrote in between.

    One statement each for the new and the stored profiles; an update matches a row only
    at the version that was read, so a concurrent writer's change raises
    :class:`StaleProfileError` (the caller rolls back and retries).
    """
    ordered = sorted(profiles, key=lambda p: p.customer_id)  # one lock order for every writer
    fresh = [p.row(now) for p in ordered if p.version == 0]
    stored = [{**p.row(now), "old_version": p.version} for p in ordered if p.version > 0]
    bulk.insert(conn, customer_online, fresh)  # a customer created concurrently fails here
    changed = bulk.update(conn, customer_online, stored, {"customer_id": "customer_id", "old_version": "version"})
    if changed != len(stored):
        raise StaleProfileError(f"{len(stored) - changed} online profiles changed during the transaction")
    for p in profiles:
        p.version += 1


# -- how events change the profile ---------------------------------------------------------
def _count(f: dict[str, Any], key: str, step: float = 1) -> None:
    f[key] = f.get(key, 0) + step


def _latest(f: dict[str, Any], key: str, ts: datetime) -> bool:
    """Set ``f[key]`` to ``ts`` if it is newer; returns whether it was (the event is the latest)."""
    current, iso = f.get(key), ts.isoformat()
    if current is None or iso >= current:
        f[key] = iso
        return True
    return False


def _transaction(p: OnlineProfile, e: EventIn) -> None:
    f, props = p.features, e.properties
    _count(f, "online_transactions")
    _count(f, "online_revenue", float(props["amount"]))
    if props["amount"] > 0:
        _latest(f, "last_purchase_at", e.ts)


def _payment_late(p: OnlineProfile, e: EventIn) -> None:
    f = p.features
    _count(f, "online_late_payments")
    _count(f, "online_late_open")
    if _latest(f, "last_late_payment_at", e.ts):
        f["last_days_late"] = e.properties.get("days_late")


def _payment_received(p: OnlineProfile, e: EventIn) -> None:
    f = p.features
    f["online_late_open"] = max(0, int(f.get("online_late_open", 0)) - 1)
    _latest(f, "last_payment_at", e.ts)


def _contact(p: OnlineProfile, e: EventIn) -> None:
    f = p.features
    _count(f, "online_contacts")
    if _latest(f, "last_contact_at", e.ts):
        f["last_contact_channel"] = e.properties.get("channel")
    p.consents.update(e.properties.get("consents") or {})


def _complaint(p: OnlineProfile, e: EventIn) -> None:
    f = p.features
    opened = complaint_status(e.properties.get("status", "open")) == "open"  # "opened" in older stored events
    if opened:
        _count(f, "online_complaints")
    if _latest(f, "last_complaint_at", e.ts):
        p.open_complaint = opened


def _survey(p: OnlineProfile, e: EventIn) -> None:
    f, nps = p.features, e.properties.get("nps")
    if nps is not None and _latest(f, "last_survey_at", e.ts):
        f["nps"] = nps


def _subscription_started(p: OnlineProfile, e: EventIn) -> None:
    f = p.features
    _count(f, "online_subscriptions_started")
    _count(f, "online_mrr_started", float(e.properties.get("mrr") or 0.0))
    _latest(f, "last_subscription_start_at", e.ts)


def _subscription_ended(p: OnlineProfile, e: EventIn) -> None:
    f = p.features
    _count(f, "online_subscriptions_ended")
    if _latest(f, "last_subscription_end_at", e.ts):
        f["last_end_reason"] = e.properties.get("reason")


APPLY: dict[str, Callable[[OnlineProfile, EventIn], None]] = {
    "transaction": _transaction,
    "payment_late": _payment_late,
    "payment_received": _payment_received,
    "contact": _contact,
    "complaint": _complaint,
    "survey": _survey,
    "subscription_started": _subscription_started,
    "subscription_ended": _subscription_ended,
}


def apply_event(profile: OnlineProfile, event: EventIn) -> None:
    """Fold one event into the profile (order-tolerant: 'last' fields keep the newest event)."""
    ts = utc(event.ts)
    profile.event_count += 1
    if profile.first_event_at is None or ts < profile.first_event_at:
        profile.first_event_at = ts
    if profile.last_event_at is None or ts > profile.last_event_at:
        profile.last_event_at = ts
    APPLY[event.type](profile, event)


# -- what decisions read of the online profile ----------------------------------------------
def _days_since(iso: str | None, now: datetime) -> int | None:
    return None if iso is None else (now - datetime.fromisoformat(iso)).days


def _sooner(offline: Any, online: int | None) -> Any:
    """The more recent of two "days since" values (``None`` counts as never)."""
    if online is None:
        return offline
    return online if offline is None or online < offline else offline


def online_attributes(profile: OnlineProfile, offline: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """Attribute-base columns that online events make more recent, plus the online counters.

    Only "latest value" columns are overridden (open complaint, NPS, days since a
    purchase, a survey or activity, days past due), never the counts and sums of the
    base: those come from the offline store, so an event later loaded in a batch is
    not counted twice. The online counters keep their own names (``online_revenue``).
    """
    f = profile.features
    out: dict[str, Any] = dict(f)
    if "last_complaint_at" in f:
        out["open_complaint"] = profile.open_complaint
    survey = _days_since(f.get("last_survey_at"), now)
    if "nps" in f and _sooner(offline.get("days_since_survey"), survey) == survey:
        out.update(nps=f["nps"], days_since_survey=survey)
    else:
        out.pop("nps", None)
    bought = _days_since(f.get("last_purchase_at"), now)
    out["days_since_last_purchase"] = _sooner(offline.get("days_since_last_purchase"), bought)
    started = 0 if f.get("last_subscription_start_at", "") > f.get("last_subscription_end_at", "") else None
    out["days_inactive"] = _sooner(_sooner(offline.get("days_inactive"), bought), started)
    ended = _days_since(f.get("last_subscription_end_at"), now)
    out["days_since_subscription_end"] = _sooner(offline.get("days_since_subscription_end"), ended)
    if f.get("online_late_open"):
        late = (f.get("last_days_late") or 0) + (_days_since(f.get("last_late_payment_at"), now) or 0)
        out["days_past_due"] = max(int(offline.get("days_past_due") or 0), late)
    out.update(provisional=profile.provisional, event_count=profile.event_count)
    return out
