"""Events, the outbox of action requests, deliveries, contact history and suppressions.

Revision ID: 0002
Revises: 0001

- ``event_log``: every accepted event with the result it produced (a repeated event id replays it).
- ``customer_online``: the online profile of a customer (counters, consents, open complaint, plan state).
- ``action_requests``: the transactional outbox (pending, in_flight, delivered, dead), with its lease.
- ``deliveries``: one row per delivery attempt.
- ``contact_history``: one row per delivered contact (what contact-pressure caps count).
- ``suppressions``: what the policy held back, and why.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def _events() -> None:
    op.create_table(
        "event_log",
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("properties", sa.JSON, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
    )
    op.create_index("ix_event_log_customer_id", "event_log", ["customer_id"])
    op.create_table(
        "customer_online",
        sa.Column("customer_id", sa.String(200), primary_key=True),
        sa.Column("provisional", sa.Boolean, nullable=False),
        sa.Column("first_event_at", TS, nullable=True),
        sa.Column("last_event_at", TS, nullable=True),
        sa.Column("event_count", sa.Integer, nullable=False),
        sa.Column("open_complaint", sa.Boolean, nullable=False),
        sa.Column("consents", sa.JSON, nullable=False),
        sa.Column("features", sa.JSON, nullable=False),
        sa.Column("scores", sa.JSON, nullable=False),
        sa.Column("plan_state", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def _outbox() -> None:
    op.create_table(
        "action_requests",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("plan", sa.String(100), nullable=False),
        sa.Column("step", sa.String(100), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("objective", sa.String(100), nullable=True),
        sa.Column("offer", sa.String(200), nullable=True),
        sa.Column("expected_value", sa.Float, nullable=True),
        sa.Column("priority", sa.Float, nullable=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("event_id", sa.String(200), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("not_before", TS, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("last_error", sa.String(1000), nullable=True),
        sa.Column("delivered_at", TS, nullable=True),
        sa.UniqueConstraint("idempotency_key", name="uq_action_requests_idempotency_key"),
        sa.CheckConstraint("status IN ('pending', 'in_flight', 'delivered', 'dead')", name="ck_action_requests_status"),
    )
    op.create_index("ix_action_requests_customer_id", "action_requests", ["customer_id"])
    op.create_index("ix_action_requests_due", "action_requests", ["status", "next_attempt_at"])
    op.create_table(
        "deliveries",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("request_id", ID, sa.ForeignKey("action_requests.id"), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("http_status", sa.Integer, nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=True),
        sa.Column("error", sa.String(1000), nullable=True),
    )
    op.create_index("ix_deliveries_request_id", "deliveries", ["request_id"])


def _history() -> None:
    op.create_table(
        "contact_history",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("objective", sa.String(100), nullable=True),
        sa.Column("plan", sa.String(100), nullable=False),
        sa.Column("request_id", ID, sa.ForeignKey("action_requests.id"), nullable=False),
        sa.UniqueConstraint("request_id", name="uq_contact_history_request_id"),
    )
    op.create_index("ix_contact_history_customer", "contact_history", ["customer_id", "at"])
    op.create_table(
        "suppressions",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("plan", sa.String(100), nullable=False),
        sa.Column("step", sa.String(100), nullable=True),
        sa.Column("channel", sa.String(40), nullable=True),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("deferred_until", TS, nullable=True),
        sa.Column("event_id", sa.String(200), nullable=True),
    )
    op.create_index("ix_suppressions_customer", "suppressions", ["customer_id", "at"])


def upgrade() -> None:
    _events()
    _outbox()
    _history()


def downgrade() -> None:
    for table in ("suppressions", "contact_history", "deliveries", "action_requests", "customer_online", "event_log"):
        op.drop_table(table)
