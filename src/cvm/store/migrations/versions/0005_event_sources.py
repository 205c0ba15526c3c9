"""Event ids are unique per source: ``event_log`` gets a ``source`` column and the key ``(event_id, source)``.

Revision ID: 0005
Revises: 0004

Before, an event id was unique across all senders: an event of one system that reused
an id of another's was taken for a repeat, never stored, and answered with the other
event's result. Now the key is the source and the id (``POST /events`` takes the
source from the event, or from the sending API key). Events stored before keep the
source ``""``; ingestion checks every source's ids against it too, so a retry of an
event sent before the upgrade is still recognised as one.

The key leads with ``event_id``, as the old one did: the look-up of a batch's ids
probes it by id, then by source. SQLite cannot change a primary key in place, so the
table is copied (in the migration's transaction); PostgreSQL adds the column without a
rewrite (a constant default) and builds the new key's index.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

KEY = "event_log_pkey"


def upgrade() -> None:
    source = sa.Column("source", sa.String(200), nullable=False, server_default="")
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("event_log", recreate="always", copy_from=_before()) as batch:
            batch.drop_constraint(KEY, type_="primary")
            batch.add_column(source)
            batch.create_primary_key(KEY, ["event_id", "source"])
        return
    op.add_column("event_log", source)
    op.drop_constraint(_key_name(), "event_log", type_="primary")
    op.create_primary_key(KEY, "event_log", ["event_id", "source"])


def downgrade() -> None:
    """Back to one key per id: refused while two sources share an id (erase or rename one first)."""
    shared = (
        op.get_bind()
        .exec_driver_sql("SELECT event_id FROM event_log GROUP BY event_id HAVING count(*) > 1 LIMIT 1")
        .scalar()
    )
    if shared is not None:
        raise RuntimeError("cannot downgrade: several sources have events with the same id")
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("event_log", recreate="always") as batch:
            batch.drop_constraint(KEY, type_="primary")
            batch.drop_column("source")
            batch.create_primary_key(KEY, ["event_id"])
        return
    op.drop_constraint(KEY, "event_log", type_="primary")
    op.drop_column("event_log", "source")
    op.create_primary_key(KEY, "event_log", ["event_id"])


def _before() -> sa.Table:
    """``event_log`` as migration 0002 made it, with its key named (SQLite reflects it without a name)."""
    ts = sa.DateTime(timezone=True)
    return sa.Table(
        "event_log",
        sa.MetaData(),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("ts", ts, nullable=False),
        sa.Column("properties", sa.JSON, nullable=False),
        sa.Column("received_at", ts, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=KEY),
        sa.Index("ix_event_log_customer_id", "customer_id"),
    )


def _key_name() -> str:
    name = sa.inspect(op.get_bind()).get_pk_constraint("event_log").get("name")
    return str(name or KEY)
