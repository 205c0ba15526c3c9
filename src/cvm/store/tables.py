"""SQLAlchemy Core tables of the online store (the migrations create them).

``action_requests`` takes its columns from the action-request contract
(:mod:`cvm.contracts.actions`), then adds the outbox's bookkeeping.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from cvm.contracts.actions import STORED, Stored

metadata = sa.MetaData()

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("label", sa.String(200), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(200), nullable=True),
    sa.Column("rows", sa.Integer, nullable=True),
    sa.Column("detail", sa.JSON, nullable=True),
)

# -- events, outbox and contact history (migration 0002) --------------------------------------
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER keys only
_TS = sa.DateTime(timezone=True)

event_log = sa.Table(
    "event_log",
    metadata,
    sa.Column("event_id", sa.String(200), primary_key=True),
    sa.Column("customer_id", sa.String(200), nullable=False, index=True),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("ts", _TS, nullable=False),
    sa.Column("properties", sa.JSON, nullable=False),
    sa.Column("received_at", _TS, nullable=False),
    sa.Column("result", sa.JSON, nullable=False),
    # an event id is unique within its source (migration 0005); "" for events stored before sources
    sa.Column("source", sa.String(200), primary_key=True, server_default=""),
    # when `cvm run` wrote the event into the offline hub tables (migration 0006; cvm.events.export)
    sa.Column("exported_at", _TS, nullable=True),
    sa.Index(
        "ix_event_log_unexported",
        "received_at",
        postgresql_where=sa.text("exported_at IS NULL"),
        sqlite_where=sa.text("exported_at IS NULL"),
    ),
)

customer_online = sa.Table(
    "customer_online",
    metadata,
    sa.Column("customer_id", sa.String(200), primary_key=True),
    sa.Column("provisional", sa.Boolean, nullable=False),
    sa.Column("first_event_at", _TS, nullable=True),
    sa.Column("last_event_at", _TS, nullable=True),
    sa.Column("event_count", sa.Integer, nullable=False),
    sa.Column("open_complaint", sa.Boolean, nullable=False),
    sa.Column("consents", sa.JSON, nullable=False),
    sa.Column("features", sa.JSON, nullable=False),
    sa.Column("scores", sa.JSON, nullable=False),
    sa.Column("plan_state", sa.JSON, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", _TS, nullable=False),
)


def _contract_column(name: str, stored: Stored) -> sa.Column[Any]:
    """The column of one field of the action-request contract, as :class:`~cvm.contracts.actions.Stored` says."""
    kinds: dict[str, Any] = {"text": sa.String(stored.length), "float": sa.Float, "json": sa.JSON, "time": _TS}
    return sa.Column(name, kinds[stored.kind], nullable=stored.nullable, unique=stored.unique or None,
                     index=stored.index or None)  # fmt: skip


action_requests = sa.Table(
    "action_requests",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    *(_contract_column(name, stored) for name, stored in STORED.items()),  # the contract's fields, in order
    # the outbox's own bookkeeping (OUTBOX_FIELDS)
    sa.Column("event_id", sa.String(200), nullable=True),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", _TS, nullable=False),
    sa.Column("lease_until", _TS, nullable=True),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("last_error", sa.String(1000), nullable=True),
    sa.Column("delivered_at", _TS, nullable=True),
    sa.Index("ix_action_requests_due", "status", "next_attempt_at"),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("request_id", _ID, sa.ForeignKey("action_requests.id"), nullable=False, index=True),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("http_status", sa.Integer, nullable=True),
    sa.Column("at", _TS, nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=True),
    sa.Column("error", sa.String(1000), nullable=True),
)

contact_history = sa.Table(
    "contact_history",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("customer_id", sa.String(200), nullable=False),
    sa.Column("at", _TS, nullable=False),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("objective", sa.String(100), nullable=True),
    sa.Column("plan", sa.String(100), nullable=False),
    sa.Column("request_id", _ID, sa.ForeignKey("action_requests.id"), nullable=False, unique=True),
    sa.Index("ix_contact_history_customer", "customer_id", "at"),
)

suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("customer_id", sa.String(200), nullable=False),
    sa.Column("at", _TS, nullable=False),
    sa.Column("plan", sa.String(100), nullable=False),
    sa.Column("step", sa.String(100), nullable=True),
    sa.Column("channel", sa.String(40), nullable=True),
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Column("deferred_until", _TS, nullable=True),
    sa.Column("event_id", sa.String(200), nullable=True),
    sa.Index("ix_suppressions_customer", "customer_id", "at"),
)

# -- pilot assignments (migration 0003) -------------------------------------------------------
assignments = sa.Table(
    "assignments",
    metadata,
    sa.Column("experiment", sa.String(100), primary_key=True),
    sa.Column("customer_id", sa.String(200), primary_key=True),
    sa.Column("arm", sa.String(100), nullable=False),
    sa.Column("bucket", sa.Integer, nullable=False),
    sa.Column("assigned_at", _TS, nullable=False),
    sa.Column("plan", sa.String(100), nullable=True),
    sa.Column("step", sa.String(100), nullable=True),
    sa.Index("ix_assignments_customer", "customer_id"),
)

# -- the decision log (migration 0007; cvm.store.decision_log) --------------------------------
decision_log = sa.Table(
    "decision_log",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("decision_id", sa.String(64), nullable=False, unique=True),
    sa.Column("customer_id", sa.String(200), nullable=False, index=True),
    sa.Column("decided_at", _TS, nullable=False),
    sa.Column("path", sa.String(16), nullable=False),
    sa.Column("arbitration", sa.String(16), nullable=False),
    sa.Column("policy_version", sa.String(32), nullable=False),
    sa.Column("rung", sa.String(20), nullable=False),
    sa.Column("chosen", sa.String(200), nullable=False),
    sa.Column("probability", sa.Float, nullable=False),
    sa.Column("exploration", sa.Float, nullable=False),
    sa.Column("candidates", sa.JSON, nullable=False),
    sa.Column("model_versions", sa.JSON, nullable=False),
    sa.Column("context", sa.JSON, nullable=False),
    sa.Column("logged_at", _TS, nullable=False, index=True),
)
