"""The decision log: one row per decision with a candidate, append-only (issue 18).

Revision ID: 0007
Revises: 0006

``decision_log`` holds each :class:`cvm.contracts.decisionlog.DecisionRecord`: the candidates with
their worth terms (JSON), the chosen action or ``none``, the probability with which the policy chose
it, the rung of the holdout ladder, the policy and model versions and the numeric context. The batch
cycle and the events API append rows in the transaction that writes the actions they lead to.

Append-only: a trigger refuses every ``UPDATE`` on both backends; rows leave only by erasure
(``DELETE`` of one customer's rows, :mod:`cvm.events.erase`). ``logged_at`` orders the export to the
offline store (:mod:`cvm.store.decision_log`).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MESSAGE = "decision_log is append-only"


def upgrade() -> None:
    op.create_table(
        "decision_log",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("decision_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("decided_at", TS, nullable=False),
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
        sa.Column("logged_at", TS, nullable=False),
        sa.UniqueConstraint("decision_id", name="uq_decision_log_decision_id"),
        sa.CheckConstraint("probability > 0 AND probability <= 1", name="ck_decision_log_probability"),
    )
    op.create_index("ix_decision_log_customer_id", "decision_log", ["customer_id"])
    op.create_index("ix_decision_log_logged_at", "decision_log", ["logged_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION decision_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER decision_log_no_update BEFORE UPDATE ON decision_log "
            "FOR EACH ROW EXECUTE FUNCTION decision_log_append_only()"
        )
    else:
        op.execute(
            "CREATE TRIGGER decision_log_no_update BEFORE UPDATE ON decision_log "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS decision_log_no_update ON decision_log")
        op.execute("DROP FUNCTION IF EXISTS decision_log_append_only()")
    op.drop_index("ix_decision_log_logged_at", table_name="decision_log")
    op.drop_index("ix_decision_log_customer_id", table_name="decision_log")
    op.drop_table("decision_log")
