"""Pilot assignments: one row per experiment and customer, never changed once made.

Revision ID: 0003
Revises: 0002

- ``assignments``: the arm of a customer in an experiment (a pilot, or ``global`` for the
  global holdout), its hash bucket (0..9999), when it was made, and the plan and step that
  would have acted. The primary key (experiment, customer_id) makes a second assignment of
  the same customer impossible; writers insert only rows that are not there yet.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "assignments",
        sa.Column("experiment", sa.String(100), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("arm", sa.String(100), nullable=False),
        sa.Column("bucket", sa.Integer, nullable=False),
        sa.Column("assigned_at", TS, nullable=False),
        sa.Column("plan", sa.String(100), nullable=True),
        sa.Column("step", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("experiment", "customer_id", name="pk_assignments"),
        sa.CheckConstraint("bucket >= 0 AND bucket < 10000", name="ck_assignments_bucket"),
    )
    op.create_index("ix_assignments_customer", "assignments", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_assignments_customer", table_name="assignments")
    op.drop_table("assignments")
