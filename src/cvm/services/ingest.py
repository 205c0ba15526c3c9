"""Ingestion: files, data frames or a database query into the offline store, and the quarantine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeAlias

import pandas as pd
import polars as pl
import pyarrow as pa
import sqlalchemy as sa

from cvm.contracts import table_schema
from cvm.errors import BadValueError
from cvm.events.export import EventExport, export_events
from cvm.hub import inbox
from cvm.ingest import quarantine
from cvm.ingest.batch import BatchResult, file_digest, frame_digest, ingest_batch, retry_batch
from cvm.ingest.mapping import with_source
from cvm.ingest.readers import RawTable, ReadOptions, read_frame, read_source, read_sql
from cvm.ingest.validate import Rules
from cvm.services.workspace import Audit, Workspace, audited

Source: TypeAlias = str | Path | Sequence[str | Path] | pd.DataFrame | pl.DataFrame | pa.Table


def _ingested(result: BatchResult, call: Mapping[str, Any]) -> Audit | None:
    if result.status == "unchanged":
        return None
    detail = {
        "batch_id": result.batch_id,
        "read": result.read,
        "rejected": result.rejected,
        "sources": list(result.sources),
    }
    if result.retry_of:
        detail["retry_of"] = result.retry_of
    return Audit(f"ingest.{result.status}", call["table"], result.accepted, detail)


class IngestService:
    """Validate and store batches of the data tables; read back what was rejected."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def ingest(
        self,
        table: str,
        source: Source,
        *,
        options: ReadOptions | None = None,
        upsert: bool = False,
        max_reject_ratio: float | None = None,
        actor: str | None = None,
    ) -> BatchResult:
        """Validate and store one batch of ``table`` from files or a data frame.

        Files follow the table's saved mapping (``sources:`` in cvm.yaml), ``options`` winning over it;
        a data frame (the API's rows, Python callers) has the hub's column names already.
        """
        table_schema(table)
        frame = isinstance(source, pd.DataFrame | pl.DataFrame | pa.Table)
        options = with_source(options, None if frame else self.ws.settings.sources.table(table))
        raws, digests = self._read(source, options)
        return self._store(table, raws, digests, options, upsert, max_reject_ratio, actor=actor)

    __call__ = ingest  # ``engine.ingest(table, source)``, as the README shows

    def ingest_sql(
        self,
        table: str,
        url: str,
        query: str,
        *,
        options: ReadOptions | None = None,
        upsert: bool = False,
        max_reject_ratio: float | None = None,
        actor: str | None = None,
    ) -> BatchResult:
        """Ingest the result of ``query`` on the database at ``url`` (a CRM or ERP) with the table's saved mapping."""
        table_schema(table)
        options = with_source(options, self.ws.settings.sources.table(table))  # options win over cvm.yaml
        raw = read_sql(url, query, options)
        digests = [frame_digest(raw.frame.drop("__line__"))]
        return self._store(table, [raw], digests, options, upsert, max_reject_ratio, actor=actor)

    def ingest_frame(
        self,
        table: str,
        frame: pl.DataFrame,
        name: str,
        *,
        upsert: bool = False,
        max_reject_ratio: float | None = None,
        actor: str | None = None,
    ) -> BatchResult:
        """Ingest an in-memory frame as one batch whose source is ``name`` (``events``: the events export)."""
        raw = read_frame(frame, name)
        digests = [frame_digest(raw.frame.drop("__line__"))]
        return self._store(table, [raw], digests, ReadOptions(), upsert, max_reject_ratio, actor=actor)

    def export_events(self, actor: str | None = None) -> EventExport:
        """Write the events accepted since the last run into the hub tables, once each (:mod:`cvm.events.export`)."""

        def record(conn: sa.Connection, report: EventExport) -> None:
            if report.events:
                entry = Audit("events.export", "events", report.events, report.detail())
                self.ws.write_audit(actor, entry, conn)

        return export_events(self.ws.offline, self.ws.online, partial(self.ingest_frame, actor=actor), record)

    def quarantine(
        self, table: str | None = None, batch_id: str | None = None, limit: int = 100, status: str | None = None
    ) -> pl.DataFrame:
        """Rejected cells with their status (refused, rejected, resolved), newest batch first."""
        scan = self.ws.offline.scan("quarantine").with_columns(pl.col("status").fill_null("rejected"))
        if table:
            scan = scan.filter(pl.col("table") == table)
        if batch_id:
            scan = scan.filter(pl.col("batch_id") == batch_id)
        if status:
            scan = scan.filter(pl.col("status") == status)
        return scan.sort(["ingested_at", "line"], descending=[True, False]).head(limit).collect()

    def retry_archived(self, actor: str | None = None) -> list[BatchResult]:
        """Retry the archived inbox files whose rows wait for their customer (``cvm run`` after new customers).

        Only content already committed is retried, with the inbox's read options; the rows that load
        form a batch of their own (:func:`cvm.ingest.batch.retry_batch`), audited like any other.
        """
        waiting = (
            quarantine.stored(self.ws.offline)
            .filter((pl.col("status") == "rejected") & pl.col("reason").str.starts_with("unknown customer"))
            .select("table", "source")
            .unique()
            .sort("table", "source")
        )
        done = []
        for table, source in waiting.iter_rows():
            path = inbox.archived(self.ws.root, table, source)
            if path is not None and (result := self._retry(table, path, actor=actor)) is not None:
                done.append(result)
        return done

    @audited(lambda result, call: _ingested(result, call) if result is not None else None)
    def _retry(self, table: str, path: Path, *, actor: str | None = None) -> BatchResult | None:
        options = with_source(None, self.ws.settings.sources.table(table))  # as the inbox read it
        raws, digests = self._read(path, options)
        return retry_batch(self.ws.offline, table, raws, digests, self._rules(options), options=self._options(options))

    def _rules(self, options: ReadOptions) -> Rules:
        s = self.ws.settings.ingest
        return Rules(
            now=datetime.now(UTC),
            future_tolerance_days=s.future_tolerance_days,
            timezone=s.timezone,
            decimal=options.decimal,
            date_format=options.date_format,
            customer_id_pattern=s.customer_id_pattern,
            values=options.values,
        )

    @staticmethod
    def _read(source: Source, options: ReadOptions) -> tuple[list[RawTable], list[str]]:
        if isinstance(source, pd.DataFrame | pl.DataFrame | pa.Table):
            raw = read_frame(source, options=options)
            return [raw], [frame_digest(raw.frame.drop("__line__"))]
        paths = [source] if isinstance(source, str | Path) else list(source)
        if not paths:
            raise BadValueError("nothing to ingest: no source given")
        raws = [read_source(p, options) for p in paths]
        return raws, [file_digest(Path(p)) for p in paths]

    @audited(_ingested)
    def _store(
        self,
        table: str,
        raws: list[RawTable],
        digests: list[str],
        options: ReadOptions,
        upsert: bool,
        max_reject_ratio: float | None,
        *,
        actor: str | None = None,
    ) -> BatchResult:
        ratio = self.ws.settings.ingest.max_reject_ratio if max_reject_ratio is None else max_reject_ratio
        return ingest_batch(
            self.ws.offline,
            table,
            raws,
            digests,
            self._rules(options),
            upsert=upsert,
            max_reject_ratio=ratio,
            options=self._options(options),
        )

    @staticmethod
    def _options(options: ReadOptions) -> dict[str, str]:
        """The read options that make part of a batch's id."""
        return {k: str(v) for k, v in asdict(options).items() if v is not None and k != "format"}
