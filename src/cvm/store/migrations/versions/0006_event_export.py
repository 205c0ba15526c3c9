"""Events become hub facts: ``event_log`` gets ``exported_at``, set when ``cvm run`` wrote an event to the hub.

Revision ID: 0006
Revises: 0005

``cvm run`` writes the accepted transactions, payments, contacts, complaints and surveys of
``POST /events`` into the offline hub tables (:mod:`cvm.events.export`), then marks them here.
A partial index holds only the events not exported yet, so finding them costs what they
number, not what the log holds. Events stored before keep ``NULL``: the next run exports them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEX = "ix_event_log_unexported"


def upgrade() -> None:
    with op.batch_alter_table("event_log") as batch:
        batch.add_column(sa.Column("exported_at", sa.DateTime(timezone=True), nullable=True))
    unexported = sa.text("exported_at IS NULL")
    op.create_index(INDEX, "event_log", ["received_at"], postgresql_where=unexported, sqlite_where=unexported)


def downgrade() -> None:
    op.drop_index(INDEX, "event_log")
    with op.batch_alter_table("event_log") as batch:
        batch.drop_column("exported_at")
