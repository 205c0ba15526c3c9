"""Plans & actions: what the plans asked for, what was held back and why, contact pressure, value, dead letters.

Definitions (one place; the dashboard's Plans & actions page and ``cvm actions summary --json`` show them):

- **Requests** per plan and channel, by status: ``pending`` (due now, waiting for the worker),
  ``deferred`` (pending but not due yet: ``quiet_hours`` when the plan timed it after quiet hours,
  ``retry`` when a failed attempt waits for its backoff), ``sent`` (handed to a transport, no
  confirmation yet: in flight), ``delivered`` (confirmed), ``dead`` (out of attempts; ``cvm actions
  retry ID`` sends it again), ``awaiting_confirmation`` (ends a relationship: waits for ``cvm actions confirm
  ID``), ``rejected`` (a person said no: never sent).
- **Held back**: actions a plan would have taken but the policy stopped (the ``suppressions``
  table), by kind of reason: ``consent``, ``cap``, ``suppression`` (a suppression rule),
  ``holdout`` (a pilot's or the global holdout), ``cooldown``, ``arbitration`` (another action
  was worth more), ``min_value``, ``not_eligible``, ``expired``, ``fatigue`` (the next contact's
  fatigue cost exceeds its value), ``explore`` (exploration drew another action), ``credit`` (below the
  acceptance cut-off), ``early_warning`` (a payment-terms action instead), ``other``. A held action with a
  ``deferred_until`` was only postponed (a cap frees up, a cooldown ends).
- **Contact pressure** per cap in ``cvm.yaml`` (``plans.policy.caps``; ``all`` leaves out
  ``exempt_from_total``): contacts sent or planned (pending, in flight or delivered, as the caps
  count them) in the last 1, 7 and 30 days, the customers contacted, the busiest customer and the
  customers at or over the cap. The hub's own outbound contacts are not in the outbox and not here.
- **Value** per plan: the expected value of delivered actions, and where outcomes exist (the
  ``OUTCOME_DAYS`` after the request lie within the data) the revenue those customers brought in that
  window next to the expected value of the same actions. The window starts when the plan asked for
  the action (``created_at``: the decision time, also for a batch run as of a past date). Revenue
  after a contact is not the contact's effect: only a pilot (holdout) measures that. The requests
  measured are those of the ``MEASURED_DAYS`` before the last window the data covers.

Imports from a sibling stage: :mod:`cvm.delivery.outbox`, the one owner of the action statuses: the
summary counts them with its reader rather than a second definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import sqlalchemy as sa

from cvm.config.plans import PolicyConfig
from cvm.delivery.outbox import CONTACT_STATUSES, list_requests, utc
from cvm.store.tables import action_requests, contact_history, suppressions

REQUEST_STATUSES = ("pending", "deferred", "sent", "delivered", "dead", "awaiting_confirmation", "rejected")
HELD_KINDS = (
    "consent",
    "cap",
    "suppression",
    "holdout",
    "cooldown",
    "arbitration",
    "min_value",
    "not_eligible",
    "expired",
    "fatigue",
    "explore",
    "credit",
    "early_warning",
    "other",
)
_PREFIXES = (
    ("no consent", "consent"),
    ("cap:", "cap"),
    ("suppressed by", "suppression"),
    ("holdout", "holdout"),
    ("cooldown", "cooldown"),
    ("arbitration", "arbitration"),
    ("expected value", "min_value"),
    ("not eligible", "not_eligible"),
    ("expired", "expired"),
    ("fatigue", "fatigue"),
    ("explore", "explore"),
    ("credit", "credit"),
    ("early warning", "early_warning"),
)
OUTCOME_DAYS = 30
MEASURED_DAYS = 365  # requests whose outcome is measured: the year before the last complete window
DEAD_SHOWN = 50


def held_kind(reason: str) -> str:
    """The kind of a hold-back reason as :mod:`cvm.plans` writes it (``"no consent: ..."`` is ``consent``)."""
    text = reason.strip().lower()
    return next((kind for prefix, kind in _PREFIXES if text.startswith(prefix)), "other")


def held_by_kind(reasons: Mapping[str, int]) -> list[tuple[str, int]]:
    """A batch's hold-back counts keyed by the text before each reason's colon (``cvm run``'s summary), summed by
    :func:`held_kind`, most frequent first.

    >>> held_by_kind({"fatigue": 3, "no consent": 2, "holdout": 1, "suppressed by vip": 4})
    [('suppression', 4), ('fatigue', 3), ('consent', 2), ('holdout', 1)]
    """
    kinds: dict[str, int] = {}
    for reason, n in reasons.items():
        kind = held_kind(f"{reason}:")
        kinds[kind] = kinds.get(kind, 0) + int(n)
    return sorted(kinds.items(), key=lambda kv: -kv[1])


def retry_command(request_id: int) -> str:
    """The command that sends a dead action again."""
    return f"cvm actions retry {request_id}"


@dataclass(frozen=True)
class ActionsSummary:
    """Everything the Plans & actions page shows, as plain rows (``to_dict`` is the JSON form)."""

    as_of: datetime
    requests: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    deferred_why: dict[str, int] = field(default_factory=dict)
    held: list[dict[str, Any]] = field(default_factory=list)
    held_by_kind: dict[str, int] = field(default_factory=dict)
    pressure: list[dict[str, Any]] = field(default_factory=list)
    value: list[dict[str, Any]] = field(default_factory=list)
    dead: list[dict[str, Any]] = field(default_factory=list)
    outcome_days: int = OUTCOME_DAYS

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO text."""
        out = asdict(self)
        out["as_of"] = self.as_of.isoformat()
        for row in out["dead"]:
            for key in ("created_at", "next_attempt_at"):
                row[key] = row[key].isoformat() if isinstance(row[key], datetime) else row[key]
        return out


def _status(status: str, waiting: bool) -> str:
    if status == "in_flight":
        return "sent"
    return "deferred" if status == "pending" and waiting else status


def _requests(conn: sa.Connection, now: datetime) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Request counts per (plan, channel) and status; how many deferred ones wait for quiet hours or a retry."""
    t = action_requests.c
    waiting = sa.case((t.next_attempt_at > now, 1), else_=0)
    retrying = sa.case((t.attempts > 0, 1), else_=0)
    query = sa.select(t.plan, t.channel, t.status, waiting, retrying, sa.func.count()).group_by(
        t.plan, t.channel, t.status, waiting, retrying
    )
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    why = {"quiet_hours": 0, "retry": 0}
    for plan, channel, status, wait, retry, n in conn.execute(query):
        row = rows.setdefault((plan, channel), {"plan": plan, "channel": channel, **dict.fromkeys(REQUEST_STATUSES, 0)})
        shown = _status(status, bool(wait))
        row[shown] += int(n)
        if shown == "deferred":
            why["retry" if retry else "quiet_hours"] += int(n)
    out = [{**r, "total": sum(r[s] for s in REQUEST_STATUSES)} for _, r in sorted(rows.items())]
    return out, why


def _held(conn: sa.Connection) -> list[dict[str, Any]]:
    """Held-back actions per plan, channel and kind of reason, with how many were only deferred."""
    s = suppressions.c
    deferred = sa.case((s.deferred_until.is_not(None), 1), else_=0)
    query = sa.select(s.plan, s.channel, s.reason, sa.func.count(), sa.func.sum(deferred)).group_by(
        s.plan, s.channel, s.reason
    )
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for plan, channel, reason, n, later in conn.execute(query):
        kind = held_kind(reason)
        key = (plan, channel or "", kind)
        row = rows.setdefault(key, {"plan": plan, "channel": channel or "", "kind": kind, "held": 0, "deferred": 0})
        row["held"] += int(n)
        row["deferred"] += int(later or 0)
    return [rows[k] for k in sorted(rows, key=lambda k: (k[0], k[1], HELD_KINDS.index(k[2])))]


WINDOW_DAYS = {"day": 1, "week": 7, "month": 30}


def _per_customer(conn: sa.Connection, now: datetime, longest: int) -> pl.DataFrame:
    """Contacts per customer and channel in each window (one SQL aggregate): ``customer_id, channel, day, ...``."""
    t = action_requests.c
    when = sa.func.coalesce(t.delivered_at, t.next_attempt_at)
    counts = [
        sa.func.sum(sa.case((when > now - timedelta(days=days), 1), else_=0)).label(name)
        for name, days in WINDOW_DAYS.items()
    ]
    query = (
        sa.select(t.customer_id, t.channel, *counts)
        .where(t.status.in_(CONTACT_STATUSES), t.created_at >= now - timedelta(days=longest + 1))
        .group_by(t.customer_id, t.channel)
    )
    schema = {"customer_id": pl.Utf8, "channel": pl.Utf8, **dict.fromkeys(WINDOW_DAYS, pl.Int64)}
    return pl.DataFrame([tuple(row) for row in conn.execute(query)], schema=schema, orient="row")


def _pressure(conn: sa.Connection, policy: PolicyConfig, now: datetime) -> list[dict[str, Any]]:
    """Contacts per customer in each cap's windows, against the cap."""
    longest = max((days for cap in policy.caps.values() for _, days, _ in cap.windows()), default=0)
    if not longest:
        return []
    frame = _per_customer(conn, now, longest)
    out = []
    for key, cap in policy.caps.items():
        if key == "all":
            scope = frame.filter(~pl.col("channel").is_in(list(policy.exempt_from_total)))
        else:
            scope = frame.filter(pl.col("channel") == key)
        per = scope.group_by("customer_id").agg(pl.col(list(WINDOW_DAYS)).sum())
        for window, _days, limit in cap.windows():
            n = per.get_column(window).filter(per.get_column(window) > 0)
            out.append(
                {
                    "channel": key,
                    "window": window,
                    "cap": limit,
                    "contacts": int(n.sum()),
                    "customers": n.len(),
                    "max_per_customer": int(n.max() or 0) if n.len() else 0,  # type: ignore[arg-type]
                    "at_cap": int((n >= limit).sum()),
                }
            )
    return out


def _data_end(transactions: pl.LazyFrame) -> datetime | None:
    """The last transaction time (UTC), or None without transactions."""
    end = transactions.select(pl.col("ts").max()).collect().item()
    if end is None:
        return None
    return utc(end) if isinstance(end, datetime) else datetime(end.year, end.month, end.day, tzinfo=UTC)


def _value(conn: sa.Connection, transactions: pl.LazyFrame) -> list[dict[str, Any]]:
    """Expected value of delivered actions per plan; revenue in the outcome window where the data covers it.

    The totals are one SQL aggregate; only the requests of the ``MEASURED_DAYS`` before the last window
    the data covers are read one by one, to join them with the transactions that followed.
    """
    h, r = contact_history.c, action_requests.c
    joined = contact_history.join(action_requests, r.id == h.request_id)
    totals = sa.select(h.plan, sa.func.count(), sa.func.sum(r.expected_value)).select_from(joined).group_by(h.plan)
    out = {
        plan: {"plan": plan, "delivered": int(n), "expected_value": round(float(ev or 0.0), 2), "measured": 0,
               "expected_measured": None, "realised_revenue": None}
        for plan, n, ev in conn.execute(totals)
    }  # fmt: skip
    end = _data_end(transactions)
    if not out or end is None:
        return [out[plan] for plan in sorted(out)]
    window = timedelta(days=OUTCOME_DAYS)
    last = end - window
    query = (
        sa.select(h.plan, h.customer_id, r.created_at, r.expected_value)
        .select_from(joined)
        .where(r.created_at <= last, r.created_at > last - timedelta(days=MEASURED_DAYS))
    )
    rows = [(plan, cid, utc(at), ev) for plan, cid, at, ev in conn.execute(query)]
    measured = pl.DataFrame(
        rows,
        schema={"plan": pl.Utf8, "customer_id": pl.Utf8, "at": pl.Datetime("us", "UTC"), "ev": pl.Float64},
        orient="row",
    )
    tx = transactions.select("customer_id", pl.col("ts").cast(pl.Datetime("us", "UTC")), "amount")
    revenue = (
        measured.lazy()
        .join(tx, on="customer_id", how="inner")
        .filter((pl.col("ts") > pl.col("at")) & (pl.col("ts") <= pl.col("at") + window))
        .group_by("plan")
        .agg(revenue=pl.col("amount").cast(pl.Float64).sum())
        .collect()
    )
    realised = dict(zip(revenue["plan"].to_list(), revenue["revenue"].to_list(), strict=True))
    for (plan,), part in measured.group_by("plan"):
        out[str(plan)] |= {
            "measured": part.height,
            "expected_measured": round(float(part["ev"].fill_null(0).sum()), 2),
            "realised_revenue": round(float(realised.get(plan, 0.0)), 2),
        }
    return [out[plan] for plan in sorted(out)]


def _dead(conn: sa.Connection) -> list[dict[str, Any]]:
    keep = ("id", "customer_id", "plan", "step", "channel", "attempts", "last_error", "created_at", "next_attempt_at")
    rows = list_requests(conn, status="dead", limit=DEAD_SHOWN)
    return [{**{k: row.get(k) for k in keep}, "retry": retry_command(int(row["id"]))} for row in rows]


def _counts(rows: list[dict[str, Any]], key: str, names: tuple[str, ...]) -> dict[str, int]:
    counts = dict.fromkeys(names, 0)
    for row in rows:
        counts[row[key]] += int(row["held"])
    return counts


def actions_summary(
    conn: sa.Connection, policy: PolicyConfig, transactions: pl.LazyFrame, now: datetime | None = None
) -> ActionsSummary:
    """The Plans & actions summary from the online store's outbox and the offline transactions."""
    now = utc(now or datetime.now(UTC))
    requests, why = _requests(conn, now)
    held = _held(conn)
    totals: Mapping[str, int] = {s: sum(r[s] for r in requests) for s in (*REQUEST_STATUSES, "total")}
    return ActionsSummary(
        as_of=now,
        requests=requests,
        totals=dict(totals),
        deferred_why=why,
        held=held,
        held_by_kind=_counts(held, "kind", HELD_KINDS),
        pressure=_pressure(conn, policy, now),
        value=_value(conn, transactions),
        dead=_dead(conn),
    )
