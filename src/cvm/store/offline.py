"""The offline store: one folder of Parquet files per table, committed through a manifest.

A write is a :class:`Transaction`. Parts are written under new names first; the
commit is one atomic ``os.replace`` of ``_manifest.json`` (one conditional PUT on an object store:
:mod:`cvm.store.commit`). Readers only see the files the manifest lists, so a crash or ``kill -9``
before the commit leaves the store exactly as it was; unlisted files are swept at a later write.
The store's root is a local folder or an ``s3://`` URL (:mod:`cvm.store.fs`).

Parts that a commit replaces (an overwritten partition, a replaced table) are *retired*, not deleted: they
stay on disk for :data:`RETAIN_SECONDS`, so a reader that loaded the previous manifest just before the commit
reads the whole old version instead of failing on a vanished file; the first write after that deletes them.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from cvm.contracts import TABLES, TableSchema, table_schema
from cvm.errors import ConflictError
from cvm.store import commit
from cvm.store.commit import LOCK, MANIFEST
from cvm.store.fs import ConcurrentWriteError, Location, locate
from cvm.store.schema import arrow_schema, conform, empty_frame, polars_schema
from cvm.store.sweep import sweep_staging

if TYPE_CHECKING:
    import duckdb

__all__ = ["LOCK", "MANIFEST", "OfflineStore", "StoreError", "Transaction"]
# Rows per Parquet row group: DuckDB's own default. DuckDB reads row groups in parallel, so a part written
# with pyarrow's default (one group per million rows) is scanned by one thread.
ROW_GROUP_ROWS = 122_880
#: Seconds a part replaced by a commit stays readable for readers of the previous manifest (0: deleted at once).
RETAIN_SECONDS = 600.0


class StoreError(ConflictError, RuntimeError):
    """The offline store is missing, locked or inconsistent."""


def _empty_manifest() -> dict[str, Any]:
    return {"version": 0, "tables": {name: [] for name in TABLES}, "batches": {}, "retired": {}}


@dataclass
class Transaction:
    """Pending changes to the offline store; see :meth:`OfflineStore.transaction`."""

    store: OfflineStore
    manifest: dict[str, Any]
    written: list[str] = field(default_factory=list)  # store-relative paths of the new parts
    dropped: list[str] = field(default_factory=list)

    def _write_part(self, table: TableSchema, frame: pl.DataFrame, partition: str | None = None) -> str:
        folder = table.name if partition is None else f"{table.name}/{table.partition_by}={partition}"
        rel = f"{folder}/part-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}.parquet"
        location = self.store.location
        arrow = conform(frame, table).to_arrow().cast(arrow_schema(table))
        import pyarrow.parquet as pq

        self.written.append(rel)
        if not location.local:  # one PUT: the object exists whole or not at all
            pq.write_table(arrow, location.path(rel), filesystem=location.fs, compression="zstd",
                           row_group_size=ROW_GROUP_ROWS)  # fmt: skip
            return rel
        path = Path(location.path(rel))
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(arrow, path, compression="zstd", row_group_size=ROW_GROUP_ROWS)
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
        return rel

    def _parts(self, table: str) -> list[str]:
        parts: list[str] = self.manifest["tables"].setdefault(table, [])
        return parts

    def _drop(self, table: str, keep: Callable[[str], bool]) -> list[str]:
        parts = self._parts(table)
        gone = [p for p in parts if not keep(p)]
        self.dropped.extend(gone)
        self.manifest["tables"][table] = [p for p in parts if keep(p)]
        return gone

    def _relayout(self, schema: TableSchema) -> None:
        """Move parts written before ``schema`` was partitioned into their partitions' folders (once)."""
        prefix = f"{schema.name}/{schema.partition_by}="
        legacy = self._drop(schema.name, lambda p: p.startswith(prefix))
        if legacy:
            self.append(schema.name, self.store.read_parts(schema, legacy))

    def append(self, table: str, frame: pl.DataFrame) -> None:
        """Add ``frame`` as new parts of ``table`` (one per partition it touches, on a partitioned table)."""
        if frame.height == 0:
            return
        schema = table_schema(table)
        if schema.partition_by is not None:
            self._relayout(schema)
        for value, rows in _by_partition(schema, frame):
            self._parts(table).append(self._write_part(schema, rows, value))

    def adopt(self, table: str, folder: str) -> None:
        """Add the Parquet files another engine (Spark) wrote under ``folder`` as parts of ``table``."""
        rels = [rel for rel in self.store.location.listing(folder, ".parquet") if "/" not in rel[len(folder) + 1 :]]
        self.written.extend(rels)
        self._parts(table).extend(rels)

    @staticmethod
    def partition_text(value: object) -> str:
        """The folder name of a partition value."""
        return _partition_text(value)

    def drop_partition(self, table: str, value: object) -> None:
        """Remove one partition of a partitioned ``table``; :meth:`append` then writes its new rows."""
        schema = _partitioned(table)
        self._relayout(schema)
        prefix = f"{table}/{schema.partition_by}={_partition_text(value)}/"
        self._drop(table, lambda p: not p.startswith(prefix))

    @staticmethod
    def check_partition(table: str, value: object, frame: pl.DataFrame) -> None:
        """Refuse rows of ``frame`` that do not belong to the partition ``value`` of ``table``."""
        column = str(_partitioned(table).partition_by)
        values = {_partition_text(v) for v in frame[column].unique().to_list()} if frame.height else set()
        if values - {_partition_text(value)}:
            raise ValueError(f"{table}: rows outside the partition {column}={_partition_text(value)}")

    def overwrite_partition(self, table: str, value: object, frame: pl.DataFrame) -> None:
        """Replace the partition ``value`` of ``table`` by ``frame`` (whose rows must all belong to it)."""
        self.check_partition(table, value, frame)
        self.drop_partition(table, value)
        self.append(table, frame)

    def replace(self, table: str, frame: pl.DataFrame) -> None:
        """Replace all of ``table`` by ``frame``."""
        self._drop(table, lambda _: False)
        self.append(table, frame)

    def upsert(self, table: str, frame: pl.DataFrame) -> None:
        """Replace the stored rows of ``table`` that share a natural key with ``frame``, add the rest.

        On a partitioned table only the partitions that ``frame`` touches are read and rewritten.
        """
        schema = table_schema(table)
        keys = list(schema.key)
        if schema.partition_by is None:
            stored = self.store.read(table)
            kept = stored.join(frame.select(keys), on=keys, how="anti")
            self.replace(table, pl.concat([kept, conform(frame, schema)], how="vertical_relaxed"))
            return
        self._relayout(schema)
        for value, rows in _by_partition(schema, conform(frame, schema)):
            prefix = f"{table}/{schema.partition_by}={value}/"
            stored = self.store.read_parts(schema, [p for p in self._parts(table) if p.startswith(prefix)])
            kept = stored.join(rows.select(keys), on=keys, how="anti")
            self.overwrite_partition(table, value, pl.concat([kept, rows], how="vertical_relaxed"))

    def roll_back(self) -> None:
        """Delete the parts this transaction wrote (it will not commit)."""
        for rel in self.written:
            self.store.location.delete(rel)

    def record_batch(self, batch_id: str, info: dict[str, Any]) -> None:
        """Remember a committed batch, so that the same content is a no-op next time."""
        self.manifest["batches"][batch_id] = info


class OfflineStore:
    """Parquet files per table under ``root`` (a folder or an ``s3://`` URL), queried with DuckDB or Polars."""

    capabilities = frozenset({"sql", "atomic_batches", "rewrite", "partition_overwrite"})

    def __init__(
        self, root: Path | str | Location, retain_seconds: float = RETAIN_SECONDS, scratch: Path | None = None
    ) -> None:
        self.location = root if isinstance(root, Location) else locate(root)
        self.retain_seconds = retain_seconds
        self._scratch = scratch

    @property
    def url(self) -> str:
        """Where the store is: its folder, or its ``s3://`` URL."""
        return self.location.url

    @property
    def root(self) -> Path:
        """The store's local folder; an object store has none (:class:`StoreError` names the store)."""
        if not self.location.local:
            raise StoreError(f"the offline store {self.url} is an object store: this operation needs a local folder")
        return Path(self.location.base)

    @property
    def scratch(self) -> Path:
        """A local folder for the store's staging files and caches: the store itself when it is local."""
        if self.location.local:
            return self.root
        if self._scratch is None:
            digest = hashlib.sha256(self.url.encode()).hexdigest()[:12]
            self._scratch = Path(tempfile.gettempdir()) / f"cvm-scratch-{os.getuid()}-{digest}"
        self._scratch.mkdir(parents=True, exist_ok=True)  # its users create their folders inside it
        return self._scratch

    def create(self) -> None:
        """Create the folders and an empty manifest (idempotent)."""
        if not self.location.local:
            if commit.read(self.location) is None:
                with suppress(ConcurrentWriteError):  # another process created it meanwhile
                    commit.write(self.location, _empty_manifest(), None)
            return
        self.root.mkdir(parents=True, exist_ok=True)
        for name in TABLES:
            (self.root / name).mkdir(exist_ok=True)
        if not (self.root / MANIFEST).exists():
            commit.write(self.location, _empty_manifest(), None)

    def stamp(self) -> tuple[int, ...]:
        """Changes whenever the manifest is committed again (locally without reading it: its inode and time)."""
        if not self.location.local:  # an object's time has whole seconds: its version, read, is exact
            return (0, int(self.manifest()["version"]) if self.exists() else 0, 0)
        try:
            st = os.stat(self.root / MANIFEST)
        except FileNotFoundError:
            return (0, 0, 0)
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def exists(self) -> bool:
        return self.location.exists(MANIFEST)

    def manifest(self) -> dict[str, Any]:
        """Return the committed manifest."""
        return self._versioned_manifest()[0]

    def _versioned_manifest(self) -> tuple[dict[str, Any], str | None]:
        """The committed manifest and its version token (its ETag on an object store, else None)."""
        got = commit.read(self.location)
        if got is None:
            raise StoreError(f"no offline store at {self.url} (run `cvm init`)")
        data, token = got
        for name in TABLES:
            data["tables"].setdefault(name, [])
        data.setdefault("retired", {})
        return data, token

    def _expired(self, manifest: dict[str, Any]) -> list[str]:
        """The retired parts of ``manifest`` past the retention (to delete and forget in the next manifest)."""
        return [rel for rel, at in manifest["retired"].items() if time.time() - float(at) >= self.retain_seconds]

    def _sweep(self, manifest: dict[str, Any], expired: list[str]) -> None:
        """Delete files no committed manifest lists (left by a crashed write) and the ``expired`` retired parts.

        A folder another engine wrote (``spark-*``) goes with its last listed part, with the checksum and marker
        files Spark leaves in it. On an object store, only after a commit (see :meth:`transaction`).
        """
        listed = {p for parts in manifest["tables"].values() for p in parts} | set(manifest["retired"])
        listed -= set(expired)
        if self.location.local:
            commit.sweep_folder(self.root, list(TABLES), listed)
            return
        for rel in expired:
            self.location.delete(rel)
        commit.sweep_objects(self.location, list(TABLES), listed, self.retain_seconds)

    @contextmanager
    def transaction(self, retain: bool = True) -> Iterator[Transaction]:
        """Open an exclusive write; it commits atomically when the block ends without error.

        With ``retain=False`` the parts it replaces are deleted at the commit, without the retention for
        readers (an erasure: the data must not outlive the commit). On an object store a write that another
        writer's commit overtook commits nothing (:class:`~cvm.store.fs.ConcurrentWriteError`).
        """
        with commit.writer_lock(self.location):
            manifest, token = self._versioned_manifest()  # the commit is conditional on this version, on S3
            expired = self._expired(manifest)
            if self.location.local:  # under the lock: no other write is in progress
                self._sweep(manifest, expired)
            sweep_staging(self.scratch, self.retain_seconds)  # the staging folders of killed runs
            tx = Transaction(self, json.loads(json.dumps(manifest)))
            for rel in expired:
                del tx.manifest["retired"][rel]
            try:
                yield tx
            except BaseException:
                tx.roll_back()
                raise
            if not tx.written and not tx.dropped and tx.manifest == manifest:
                return
            tx.manifest["version"] = manifest["version"] + 1
            tx.manifest["committed_at"] = datetime.now(UTC).isoformat()
            gone: list[str] = []
            if retain and self.retain_seconds > 0:  # readers of the previous manifest may still be reading them
                tx.manifest["retired"].update(dict.fromkeys(tx.dropped, time.time()))
            else:  # and every older retired part: no earlier copy outlives an erasure either
                gone = [*tx.dropped, *tx.manifest["retired"]]
                tx.manifest["retired"] = {}
            try:
                commit.write(self.location, tx.manifest, token)
            except ConcurrentWriteError:  # surely not committed (any other failure may have been: left to sweeps)
                tx.roll_back()
                raise
            for rel in gone:
                self.location.delete(rel)
            if not self.location.local:
                # After the commit: a write that began before it can no longer commit (its If-Match fails), so
                # deleting its unlisted parts cannot break it; one begun since wrote its parts too recently.
                self._sweep(tx.manifest, expired)

    def files(self, table: str, partition: object | None = None) -> list[Path]:
        """Committed Parquet files of ``table`` (of one partition, when given), on a local store."""
        return [self.root / rel for rel in self.parts(table, partition)]

    def parts(self, table: str, partition: object | None = None) -> list[str]:
        """Store-relative paths of the committed Parquet files of ``table`` (of one partition, when given)."""
        parts: list[str] = self.manifest()["tables"].get(table, [])
        if partition is not None:
            prefix = f"{table}/{_partitioned(table).partition_by}={_partition_text(partition)}/"
            parts = [p for p in parts if p.startswith(prefix)]
        else:
            table_schema(table)
        return parts

    def uris(self, table: str, partition: object | None = None) -> list[str]:
        """:meth:`parts` as paths or URLs that DuckDB and Polars read (``s3://`` on an object store)."""
        return [self.location.uri(rel) for rel in self.parts(table, partition)]

    def arrow_files(self, table: str, partition: object | None = None) -> tuple[Any, list[str]]:
        """The pyarrow filesystem and the paths in it of :meth:`parts` (for ``pyarrow.dataset``)."""
        return self.location.fs, [self.location.path(rel) for rel in self.parts(table, partition)]

    def partitions(self, table: str) -> list[str]:
        """The committed partition values of a partitioned ``table``, in order (``[]`` when empty).

        Parts written before the table was partitioned are not counted until its next write moves them.
        """
        prefix = f"{table}/{_partitioned(table).partition_by}="
        parts = self.manifest()["tables"].get(table, [])
        return sorted({p[len(prefix) :].split("/", 1)[0] for p in parts if p.startswith(prefix)})

    def read(self, table: str, columns: list[str] | None = None, partition: object | None = None) -> pl.DataFrame:
        """Read a whole table (or one partition of it) into Polars (typed, possibly empty)."""
        scan = self.scan(table, partition)
        return (scan.select(columns) if columns else scan).collect()

    def scan(self, table: str, partition: object | None = None) -> pl.LazyFrame:
        """Scan a table (or one partition of it) lazily with Polars.

        A column added to a table's schema after some parts were written reads as null in those parts.
        """
        return self._scan(table_schema(table), self.parts(table, partition))

    def _scan(self, schema: TableSchema, rels: list[str]) -> pl.LazyFrame:
        if not rels:
            return empty_frame(schema).lazy()
        return pl.scan_parquet(
            [self.location.uri(rel) for rel in rels],
            schema=polars_schema(schema),
            missing_columns="insert",
            extra_columns="ignore",
            hive_partitioning=False,
            storage_options=self.location.storage_options(),
        )

    def read_parts(self, schema: TableSchema, rels: list[str]) -> pl.DataFrame:
        """The rows of the parts ``rels`` of a table (committed or not)."""
        return self._scan(schema, rels).collect()

    def count(self, table: str) -> int:
        return int(self.scan(table).select(pl.len()).collect().item())

    def connect(self) -> duckdb.DuckDBPyConnection:
        """Open an in-memory DuckDB connection with one view per table."""
        import duckdb  # loaded by the queries that need it, not by every command that opens the store

        con = duckdb.connect()
        if not self.location.local:  # DuckDB reads s3:// through the store's own filesystem
            con.register_filesystem(self.location.fsspec())
        for name in TABLES:
            files = self.uris(name)
            if files:
                listed = "[" + ", ".join(_sql_literal(f) for f in files) + "]"
                con.execute(
                    f"CREATE VIEW {name} AS SELECT * FROM read_parquet({listed}, union_by_name = true, "
                    "hive_partitioning = false)"
                )
            else:
                # typed and empty, in the catalog (a registered Arrow table would be invisible to cursors)
                con.execute(f"CREATE VIEW {name} AS {_empty_select(table_schema(name))}")
        return con


def _partitioned(table: str) -> TableSchema:
    schema = table_schema(table)
    if schema.partition_by is None:
        raise ValueError(f"the offline table {table!r} is not partitioned")
    return schema


def _partition_text(value: object) -> str:
    """The folder name of a partition value: ISO dates (a datetime counts by its date)."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    if not text or "/" in text or text.startswith("."):
        raise ValueError(f"invalid partition value {value!r}")
    return text


def _by_partition(schema: TableSchema, frame: pl.DataFrame) -> Iterator[tuple[str | None, pl.DataFrame]]:
    """Split ``frame`` by the table's partition column (the whole frame for an unpartitioned table)."""
    column = schema.partition_by
    if column is None:
        yield None, frame
        return
    if frame[column].null_count():
        raise ValueError(f"{schema.name}: {column} is empty in {frame[column].null_count()} row(s)")
    for (value,), rows in sorted(frame.partition_by(column, as_dict=True).items(), key=lambda kv: str(kv[0][0])):
        yield _partition_text(value), rows


_DUCKDB_TYPES = {
    "string": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMPTZ",
}


def _empty_select(schema: TableSchema) -> str:
    """A query of no rows with the table's columns and types (names from the contracts, not user input)."""
    cols = ", ".join(f'CAST(NULL AS {_DUCKDB_TYPES[c.dtype]}) AS "{c.name}"' for c in schema.columns)
    return f"SELECT {cols} WHERE false"


def _sql_literal(text: str) -> str:
    """Quote a path we wrote ourselves as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"
