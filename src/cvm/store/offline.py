"""The offline store: one folder of Parquet files per table, committed through a manifest.

A write is a :class:`Transaction`. Parts are written under new names first; the
commit is one atomic ``os.replace`` of ``_manifest.json``. Readers only see the
files the manifest lists, so a crash or ``kill -9`` before the replace leaves the
store exactly as it was; unlisted files are swept at the next write.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from cvm.contracts import TABLES, TableSchema, table_schema
from cvm.errors import ConflictError
from cvm.store.schema import arrow_schema, conform, empty_frame, polars_schema

if TYPE_CHECKING:
    import duckdb

MANIFEST = "_manifest.json"
LOCK = ".lock"
# Rows per Parquet row group: DuckDB's own default. DuckDB reads row groups in parallel, so a part written
# with pyarrow's default (one group per million rows) is scanned by one thread.
ROW_GROUP_ROWS = 122_880


class StoreError(ConflictError, RuntimeError):
    """The offline store is missing, locked or inconsistent."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _empty_manifest() -> dict[str, Any]:
    return {"version": 0, "tables": {name: [] for name in TABLES}, "batches": {}}


@dataclass
class Transaction:
    """Pending changes to the offline store; see :meth:`OfflineStore.transaction`."""

    store: OfflineStore
    manifest: dict[str, Any]
    written: list[Path] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def _write_part(self, table: TableSchema, frame: pl.DataFrame) -> str:
        rel = f"{table.name}/part-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}.parquet"
        path = self.store.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        arrow = conform(frame, table).to_arrow().cast(arrow_schema(table))
        import pyarrow.parquet as pq

        pq.write_table(arrow, path, compression="zstd", row_group_size=ROW_GROUP_ROWS)
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
        self.written.append(path)
        return rel

    def append(self, table: str, frame: pl.DataFrame) -> None:
        """Add ``frame`` as a new part of ``table``."""
        if frame.height == 0:
            return
        schema = table_schema(table)
        self.manifest["tables"].setdefault(table, []).append(self._write_part(schema, frame))

    def replace(self, table: str, frame: pl.DataFrame) -> None:
        """Replace all of ``table`` by ``frame``."""
        schema = table_schema(table)
        self.dropped.extend(self.manifest["tables"].get(table, []))
        parts = [self._write_part(schema, frame)] if frame.height else []
        self.manifest["tables"][table] = parts

    def upsert(self, table: str, frame: pl.DataFrame) -> None:
        """Replace the stored rows of ``table`` that share a natural key with ``frame``, add the rest."""
        schema = table_schema(table)
        keys = list(schema.key)
        stored = self.store.read(table)
        kept = stored.join(frame.select(keys), on=keys, how="anti")
        self.replace(table, pl.concat([kept, conform(frame, schema)], how="vertical_relaxed"))

    def record_batch(self, batch_id: str, info: dict[str, Any]) -> None:
        """Remember a committed batch, so that the same content is a no-op next time."""
        self.manifest["batches"][batch_id] = info


class OfflineStore:
    """Parquet files per table under ``root``, queried with DuckDB or Polars."""

    capabilities = frozenset({"sql", "atomic_batches", "rewrite"})

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def create(self) -> None:
        """Create the folders and an empty manifest (idempotent)."""
        self.root.mkdir(parents=True, exist_ok=True)
        for name in TABLES:
            (self.root / name).mkdir(exist_ok=True)
        if not (self.root / MANIFEST).exists():
            self._write_manifest(_empty_manifest())

    def exists(self) -> bool:
        return (self.root / MANIFEST).exists()

    def manifest(self) -> dict[str, Any]:
        """Return the committed manifest."""
        path = self.root / MANIFEST
        if not path.exists():
            raise StoreError(f"no offline store at {self.root} (run `cvm init`)")
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        for name in TABLES:
            data["tables"].setdefault(name, [])
        return data

    def _write_manifest(self, data: dict[str, Any]) -> None:
        tmp = self.root / f"{MANIFEST}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.root / MANIFEST)
        _fsync_dir(self.root)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK, "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _sweep(self, manifest: dict[str, Any]) -> None:
        """Delete files that no committed manifest lists (left by a crashed write)."""
        listed = {p for parts in manifest["tables"].values() for p in parts}
        for name in TABLES:
            folder = self.root / name
            if folder.is_dir():
                for path in folder.glob("*.parquet"):
                    if f"{name}/{path.name}" not in listed:
                        path.unlink()
        for tmp in self.root.glob(f"{MANIFEST}.*.tmp"):
            tmp.unlink()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Open an exclusive write; it commits atomically when the block ends without error."""
        with self._lock():
            manifest = self.manifest()
            self._sweep(manifest)
            tx = Transaction(self, json.loads(json.dumps(manifest)))
            try:
                yield tx
            except BaseException:
                for path in tx.written:
                    path.unlink(missing_ok=True)
                raise
            if not tx.written and not tx.dropped and tx.manifest == manifest:
                return
            tx.manifest["version"] = manifest["version"] + 1
            tx.manifest["committed_at"] = datetime.now(UTC).isoformat()
            self._write_manifest(tx.manifest)
            for rel in tx.dropped:
                (self.root / rel).unlink(missing_ok=True)

    def files(self, table: str) -> list[Path]:
        """Committed Parquet files of ``table``."""
        table_schema(table)
        return [self.root / rel for rel in self.manifest()["tables"].get(table, [])]

    def read(self, table: str, columns: list[str] | None = None) -> pl.DataFrame:
        """Read a whole table into Polars (typed, possibly empty)."""
        scan = self.scan(table)
        return (scan.select(columns) if columns else scan).collect()

    def scan(self, table: str) -> pl.LazyFrame:
        """Scan a table lazily with Polars.

        A column added to a table's schema after some parts were written reads as null in those parts.
        """
        schema = table_schema(table)
        files = self.files(table)
        if not files:
            return empty_frame(schema).lazy()
        return pl.scan_parquet(files, schema=polars_schema(schema), missing_columns="insert", extra_columns="ignore")

    def count(self, table: str) -> int:
        return int(self.scan(table).select(pl.len()).collect().item())

    def connect(self) -> duckdb.DuckDBPyConnection:
        """Open an in-memory DuckDB connection with one view per table."""
        import duckdb  # loaded by the queries that need it, not by every command that opens the store

        con = duckdb.connect()
        for name in TABLES:
            files = [str(p) for p in self.files(name)]
            if files:
                con.execute(
                    f"CREATE VIEW {name} AS SELECT * FROM read_parquet($files, union_by_name = true)".replace(
                        "$files", "[" + ", ".join(_sql_literal(f) for f in files) + "]"
                    )
                )
            else:
                con.register(f"_{name}_empty", empty_frame(table_schema(name)).to_arrow())
                con.execute(f"CREATE VIEW {name} AS SELECT * FROM _{name}_empty")
        return con


def _sql_literal(text: str) -> str:
    """Quote a path we wrote ourselves as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"
