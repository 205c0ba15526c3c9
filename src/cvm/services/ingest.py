"""Ingestion: files, data frames or a database query into the offline store, and the quarantine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeAlias

import pandas as pd
import polars as pl
import pyarrow as pa

from cvm.contracts import table_schema
from cvm.errors import BadValueError
from cvm.ingest.batch import BatchResult, file_digest, frame_digest, ingest_batch
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
        """Validate and store one batch of ``table`` from files or a data frame."""
        table_schema(table)
        options = options or ReadOptions()
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
        """Ingest the result of ``query`` on the database at ``url`` (a CRM or ERP)."""
        table_schema(table)
        options = options or ReadOptions()
        raw = read_sql(url, query, options)
        digests = [frame_digest(raw.frame.drop("__line__"))]
        return self._store(table, [raw], digests, options, upsert, max_reject_ratio, actor=actor)

    def quarantine(self, table: str | None = None, batch_id: str | None = None, limit: int = 100) -> pl.DataFrame:
        """Rejected cells, newest batch first, optionally for one table or batch."""
        scan = self.ws.offline.scan("quarantine")
        if table:
            scan = scan.filter(pl.col("table") == table)
        if batch_id:
            scan = scan.filter(pl.col("batch_id") == batch_id)
        return scan.sort(["ingested_at", "line"], descending=[True, False]).head(limit).collect()

    def _rules(self, options: ReadOptions) -> Rules:
        s = self.ws.settings.ingest
        return Rules(
            now=datetime.now(UTC),
            future_tolerance_days=s.future_tolerance_days,
            timezone=s.timezone,
            decimal=options.decimal,
            date_format=options.date_format,
            customer_id_pattern=s.customer_id_pattern,
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
        opts = {k: v for k, v in asdict(options).items() if v is not None and k != "format"}
        return ingest_batch(
            self.ws.offline,
            table,
            raws,
            digests,
            self._rules(options),
            upsert=upsert,
            max_reject_ratio=ratio,
            options={k: str(v) for k, v in opts.items()},
        )
