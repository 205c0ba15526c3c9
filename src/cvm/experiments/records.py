"""The ``assignments`` table of the online store: written once per experiment and customer.

Writers insert with ``ON CONFLICT DO NOTHING`` on the key (experiment, customer_id), so an
assignment, once made, is never changed, and concurrent writers cannot make two. The
decision keeps a copy in the customer's plan state (``@pilots``), which the real-time path
saves with the profile in the same transaction as the decision; :func:`sync_from_profiles`
copies those into this table, so the table is complete whichever path made the assignment.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl
import sqlalchemy as sa

from cvm.contracts.actions import Assignment
from cvm.experiments.assign import STATE_KEY, from_state
from cvm.store.tables import assignments, customer_online

COLUMNS: dict[str, pl.DataType] = {
    "experiment": pl.Utf8(),
    "customer_id": pl.Utf8(),
    "arm": pl.Utf8(),
    "bucket": pl.Int64(),
    "assigned_at": pl.Datetime("us", "UTC"),
    "plan": pl.Utf8(),
    "step": pl.Utf8(),
}


def _insert(conn: sa.Connection) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(assignments)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(assignments)


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def record(conn: sa.Connection, items: Iterable[Assignment]) -> int:
    """Insert the assignments not yet recorded (existing ones are kept as they are); rows inserted."""
    rows = {
        (a.experiment, a.customer_id): {
            "experiment": a.experiment,
            "customer_id": a.customer_id,
            "arm": a.arm,
            "bucket": a.bucket,
            "assigned_at": _utc(a.assigned_at),
            "plan": a.plan,
            "step": a.step,
        }
        for a in items
    }
    if not rows:
        return 0
    stmt = (
        _insert(conn)
        .on_conflict_do_nothing(index_elements=["experiment", "customer_id"])
        .returning(assignments.c.customer_id)
    )
    inserted = 0
    values = list(rows.values())
    for i in range(0, len(values), 5_000):
        inserted += len(conn.execute(stmt, values[i : i + 5_000]).all())
    return inserted


def sync_from_profiles(conn: sa.Connection) -> int:
    """Record the assignments kept in online profiles' plan states (real-time decisions); rows inserted."""
    found: list[Assignment] = []
    for cid, state in conn.execute(sa.select(customer_online.c.customer_id, customer_online.c.plan_state)):
        if state and state.get(STATE_KEY):
            found += from_state(cid, state)
    return record(conn, found)


def frame(conn: sa.Connection, experiment: str | None = None) -> pl.DataFrame:
    """The assignments (of one experiment, or all) as a typed frame."""
    query = sa.select(*(assignments.c[c] for c in COLUMNS)).order_by(
        assignments.c.experiment, assignments.c.customer_id
    )
    if experiment is not None:
        query = query.where(assignments.c.experiment == experiment)
    rows = [dict(r._mapping) for r in conn.execute(query)]
    for r in rows:
        r["assigned_at"] = _utc(r["assigned_at"])
    return pl.DataFrame(rows, schema=COLUMNS, orient="row")


def for_customer(conn: sa.Connection, customer_id: str) -> list[dict[str, Any]]:
    """One customer's assignments, oldest first (for the customer 360 timeline)."""
    query = sa.select(assignments).where(assignments.c.customer_id == customer_id).order_by(assignments.c.assigned_at)
    return [{**r._mapping, "assigned_at": _utc(r.assigned_at)} for r in conn.execute(query)]


def counts(conn: sa.Connection) -> dict[str, dict[str, int]]:
    """Experiment → arm → customers assigned."""
    c = assignments.c
    out: dict[str, dict[str, int]] = {}
    for exp, arm, n in conn.execute(sa.select(c.experiment, c.arm, sa.func.count()).group_by(c.experiment, c.arm)):
        out.setdefault(exp, {})[arm] = int(n)
    return out


def erase(conn: sa.Connection, customer_id: str) -> int:
    """Delete one customer's assignments (right to erasure); rows deleted."""
    return int(conn.execute(assignments.delete().where(assignments.c.customer_id == customer_id)).rowcount or 0)


def replace_experiment(conn: sa.Connection, experiment: str, items: Sequence[Assignment]) -> int:
    """Replace every assignment of a *retrospective* experiment (the demo's pilot is rebuilt, never live)."""
    conn.execute(assignments.delete().where(assignments.c.experiment == experiment))
    return record(conn, items)
