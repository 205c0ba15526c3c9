"""The online store: SQLAlchemy over SQLite (default) or PostgreSQL, with Alembic migrations."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from cvm.contracts import jsontext
from cvm.errors import BadValueError
from cvm.store.tables import audit_log

if TYPE_CHECKING:
    from alembic.config import Config

BACKENDS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def _alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return cfg


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA secure_delete=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    # Checkpoint every ~40 MB of WAL rather than 4 MB: index and profile pages that many
    # commits rewrite are copied into the database once per checkpoint, with fewer syncs.
    # Commits still sync the WAL (the default synchronous=FULL), so nothing acknowledged is lost.
    cur.execute("PRAGMA wal_autocheckpoint=10000")
    cur.close()


class OnlineStore:
    """Transactional tables for keys, audit and (later) events, outbox and contact history."""

    def __init__(self, url: str) -> None:
        self.url = url
        backend = sa.make_url(url).get_backend_name()
        if backend not in BACKENDS:
            raise BadValueError(f"online store {url!r}: backend {backend!r} is not one of {sorted(BACKENDS)}")
        self.backend = backend
        self.engine = sa.create_engine(
            url, future=True, pool_pre_ping=True, json_serializer=jsontext.dumps, json_deserializer=jsontext.loads
        )
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")  # same pool
        self._turn = threading.Lock()
        self._turn_file: str | None = None
        if backend == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            database = sa.make_url(url).database
            if database and database != ":memory:" and not database.startswith("file:"):
                self._turn_file = f"{database}-writers"

    @contextmanager
    def writer_turn(self) -> Iterator[None]:
        """SQLite: wait in a queue for the other writers of the file before taking its writer lock.

        SQLite's own lock is polled (sleeps of up to 25 ms and more while a writer holds it),
        so a writer that waits often wakes well after the lock came free while a core sits
        idle. Threads of this process take turns on a lock, processes on an exclusive
        ``flock`` of ``<database>-writers``; both wake the next writer as soon as the last
        one is done, and the kernel drops the ``flock`` of a process that dies. SQLite's lock
        still decides: this only orders the writers that ask for their turn. A no-op on
        PostgreSQL, whose row locks queue.
        """
        if self.backend != "sqlite":
            yield
            return
        with self._turn:
            if self._turn_file is None:
                yield
                return
            fd = os.open(self._turn_file, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # releases the flock

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        from alembic import command

        cfg = _alembic_config()
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def is_current(self) -> bool:
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(_alembic_config())
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision() == script.get_current_head()

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A connection outside any transaction: each statement reads what is committed when it runs.

        For reads that need no snapshot across statements (PostgreSQL's default isolation
        gives each statement its own anyway): it spares the ``BEGIN`` and ``ROLLBACK`` round
        trips a transaction costs on PostgreSQL. A write through it commits at once.
        """
        with self._autocommit.connect() as conn:
            yield conn

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A transaction: commits on success, rolls back on error."""
        with self.engine.begin() as conn:
            yield conn

    def audit(
        self,
        conn: sa.Connection,
        *,
        actor: str,
        action: str,
        target: str | None = None,
        rows: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Append one entry to the audit log inside ``conn``'s transaction."""
        conn.execute(
            audit_log.insert().values(
                at=datetime.now(UTC), actor=actor, action=action, target=target, rows=rows, detail=detail
            )
        )

    def audit_entries(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest ``limit`` audit entries, newest first."""
        with self.begin() as conn:
            rows = conn.execute(sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit))
            return [dict(r._mapping) for r in rows]

    def vacuum(self) -> None:
        """Reclaim freed pages so that deleted personal data leaves no trace on disk."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM")
            if self.backend == "sqlite":
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def dispose(self) -> None:
        self.engine.dispose()
