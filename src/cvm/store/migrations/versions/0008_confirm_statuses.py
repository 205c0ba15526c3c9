"""Actions that end a relationship wait for a person: statuses ``awaiting_confirmation`` and ``rejected``.

Revision ID: 0008
Revises: 0006 (merge note: chain it after 0007, the decision log, when both branches meet)

A request whose objective is ``end`` is written ``awaiting_confirmation`` and never claimed by the
worker until ``cvm actions confirm ID`` makes it ``pending``; ``cvm actions reject ID`` makes it
``rejected`` (:mod:`cvm.delivery.confirm`). The status column grows to 32 characters to hold the name,
and its check constraint admits the two statuses. Downgrading refuses while such requests exist,
rather than lose a person's decision.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

NAME = "ck_action_requests_status"
BEFORE = "status IN ('pending', 'in_flight', 'delivered', 'dead')"
AFTER = "status IN ('pending', 'in_flight', 'delivered', 'dead', 'awaiting_confirmation', 'rejected')"


def upgrade() -> None:
    with op.batch_alter_table("action_requests") as batch:
        batch.drop_constraint(NAME, type_="check")
        batch.alter_column("status", type_=sa.String(32), existing_type=sa.String(16), existing_nullable=False)
        batch.create_check_constraint(NAME, sa.text(AFTER))


def downgrade() -> None:
    waiting = op.get_bind().execute(
        sa.text("SELECT count(*) FROM action_requests WHERE status IN ('awaiting_confirmation', 'rejected')")
    )
    if waiting.scalar_one():
        raise RuntimeError("action requests await confirmation or were rejected: confirm or remove them first")
    with op.batch_alter_table("action_requests") as batch:
        batch.drop_constraint(NAME, type_="check")
        batch.alter_column("status", type_=sa.String(16), existing_type=sa.String(32), existing_nullable=False)
        batch.create_check_constraint(NAME, sa.text(BEFORE))
