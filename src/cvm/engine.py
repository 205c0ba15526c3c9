"""The facade that the CLI, the API and the web pages call.

It opens a workspace (configuration plus stores) and composes the stages; the
work itself lives in the stage packages.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeAlias

import pandas as pd
import polars as pl
import pyarrow as pa
import sqlalchemy as sa

from cvm import access, customers
from cvm.config import CONFIG_FILE, ConfigError, Settings, load_settings, render_template
from cvm.contracts import table_schema
from cvm.customers.erase import Erasure
from cvm.hub import inbox
from cvm.hub.summary import HubSummary, hub_summary
from cvm.ingest.batch import BatchResult, file_digest, frame_digest, ingest_batch
from cvm.ingest.readers import RawTable, ReadOptions, read_frame, read_source, read_sql
from cvm.ingest.validate import Rules
from cvm.store import OfflineStore, OnlineStore
from cvm.store.tables import audit_log

Source: TypeAlias = str | Path | Sequence[str | Path] | pd.DataFrame | pl.DataFrame | pa.Table


@dataclass(frozen=True)
class RunReport:
    """What ``cvm run`` did: the batches it ingested and the state of the hub after."""

    batches: list[BatchResult]
    summary: HubSummary

    @property
    def ok(self) -> bool:
        return all(b.ok for b in self.batches)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "batches": [{**b.summary(), "status": b.status} for b in self.batches],
            "summary": self.summary.to_dict(),
        }


class WorkspaceError(RuntimeError):
    """The folder is not an initialised CVM workspace."""


def default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


class Engine:
    """One workspace: its settings, offline store and online store."""

    def __init__(self, workspace: Path, settings: Settings | None = None) -> None:
        self.workspace = Path(workspace).resolve()
        self.settings = settings or load_settings(self.workspace)
        self.offline = OfflineStore(self.workspace / self.settings.store.offline_path)
        self._online: OnlineStore | None = None

    # -- set-up -----------------------------------------------------------------
    @classmethod
    def init(cls, workspace: Path) -> Engine:
        """Create (or complete) a workspace: ``cvm.yaml``, offline folders, online schema."""
        workspace = Path(workspace)
        workspace.mkdir(parents=True, exist_ok=True)
        if not (workspace / CONFIG_FILE).exists():
            (workspace / CONFIG_FILE).write_text(render_template(), encoding="utf-8")
        engine = cls(workspace)
        engine.offline.create()
        engine.online.migrate()
        inbox.create_inbox(engine.workspace)
        engine._audit(default_actor(), "workspace.init", str(engine.workspace), None)
        return engine

    @classmethod
    def open(cls, workspace: Path) -> Engine:
        """Open an initialised workspace, or raise :class:`WorkspaceError`."""
        if not (Path(workspace) / CONFIG_FILE).exists():
            raise WorkspaceError(f"{workspace} is not a CVM workspace (no {CONFIG_FILE}); run `cvm init {workspace}`")
        engine = cls(workspace)
        if not engine.offline.exists():
            raise WorkspaceError(f"{workspace}: the offline store is missing; run `cvm init {workspace}`")
        return engine

    @property
    def online(self) -> OnlineStore:
        if self._online is None:
            url = self.settings.store.online_url or f"sqlite:///{self.workspace / 'online.db'}"
            self._online = OnlineStore(url)
        return self._online

    def close(self) -> None:
        if self._online is not None:
            self._online.dispose()

    def _audit(self, actor: str, action: str, target: str | None, rows: int | None, **detail: Any) -> None:
        with self.online.begin() as conn:
            self.online.audit(conn, actor=actor, action=action, target=target, rows=rows, detail=detail or None)

    # -- ingestion --------------------------------------------------------------
    def _rules(self, options: ReadOptions) -> Rules:
        s = self.settings.ingest
        return Rules(
            now=datetime.now(UTC),
            future_tolerance_days=s.future_tolerance_days,
            timezone=s.timezone,
            decimal=options.decimal,
            date_format=options.date_format,
        )

    def _read(self, source: Source, options: ReadOptions) -> tuple[list[RawTable], list[str]]:
        if isinstance(source, pd.DataFrame | pl.DataFrame | pa.Table):
            raw = read_frame(source, options=options)
            return [raw], [frame_digest(raw.frame.drop("__line__"))]
        paths = [source] if isinstance(source, str | Path) else list(source)
        if not paths:
            raise ValueError("nothing to ingest: no source given")
        raws = [read_source(p, options) for p in paths]
        return raws, [file_digest(Path(p)) for p in paths]

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
        return self._ingest(table, raws, digests, options, upsert, max_reject_ratio, actor)

    def ingest_sql(self, table: str, url: str, query: str, **kw: Any) -> BatchResult:
        """Ingest the result of ``query`` on the database at ``url`` (a CRM or ERP)."""
        table_schema(table)
        options = kw.pop("options", None) or ReadOptions()
        raw = read_sql(url, query, options)
        return self._ingest(
            table,
            [raw],
            [frame_digest(raw.frame.drop("__line__"))],
            options,
            kw.get("upsert", False),
            kw.get("max_reject_ratio"),
            kw.get("actor"),
        )

    def _ingest(
        self,
        table: str,
        raws: list[RawTable],
        digests: list[str],
        options: ReadOptions,
        upsert: bool,
        max_reject_ratio: float | None,
        actor: str | None,
    ) -> BatchResult:
        ratio = self.settings.ingest.max_reject_ratio if max_reject_ratio is None else max_reject_ratio
        opts = {k: v for k, v in asdict(options).items() if v is not None and k != "format"}
        result = ingest_batch(
            self.offline,
            table,
            raws,
            digests,
            self._rules(options),
            upsert=upsert,
            max_reject_ratio=ratio,
            options={k: str(v) for k, v in opts.items()},
        )
        if result.status != "unchanged":
            self._audit(
                actor or default_actor(),
                f"ingest.{result.status}",
                table,
                result.accepted,
                batch_id=result.batch_id,
                read=result.read,
                rejected=result.rejected,
                sources=list(result.sources),
            )
        return result

    def quarantine(self, table: str | None = None, batch_id: str | None = None, limit: int = 100) -> pl.DataFrame:
        """Rejected cells, newest batch first, optionally for one table or batch."""
        scan = self.offline.scan("quarantine")
        if table:
            scan = scan.filter(pl.col("table") == table)
        if batch_id:
            scan = scan.filter(pl.col("batch_id") == batch_id)
        return scan.sort(["ingested_at", "line"], descending=[True, False]).head(limit).collect()

    # -- customer 360 -------------------------------------------------------------
    def customer(self, customer_id: str) -> dict[str, Any]:
        return customers.customer_profile(self.offline, customer_id)

    def timeline(self, customer_id: str) -> list[dict[str, Any]]:
        return customers.timeline(self.offline, customer_id)

    def customers(self, limit: int = 50, offset: int = 0, q: str | None = None) -> tuple[list[dict[str, Any]], int]:
        return customers.list_customers(self.offline, limit=limit, offset=offset, q=q)

    def erase(self, customer_id: str, actor: str | None = None) -> Erasure:
        """Erase a customer's personal data everywhere; the audit keeps only a hash of the id."""
        erasure = customers.erase_customer(self.offline, customer_id)
        self._audit(actor or default_actor(), "customer.erase", erasure.subject, erasure.total, tables=erasure.rows)
        self.online.vacuum()
        return erasure

    # -- access -------------------------------------------------------------------
    def create_key(self, role: str, label: str | None = None, actor: str | None = None) -> tuple[access.ApiKey, str]:
        with self.online.begin() as conn:
            key, secret = access.create_key(conn, role, label)
            self.online.audit(
                conn, actor=actor or default_actor(), action="key.create", target=key.id, rows=1, detail={"role": role}
            )
        return key, secret

    def list_keys(self) -> list[access.ApiKey]:
        with self.online.begin() as conn:
            return access.list_keys(conn)

    def revoke_key(self, key_id: str, actor: str | None = None) -> access.ApiKey:
        with self.online.begin() as conn:
            key = access.revoke_key(conn, key_id)
            self.online.audit(conn, actor=actor or default_actor(), action="key.revoke", target=key_id, rows=1)
        return key

    def authenticate(self, presented: str) -> access.ApiKey | None:
        with self.online.begin() as conn:
            return access.authenticate(conn, presented)

    def audit_entries(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.online.begin() as conn:
            rows = conn.execute(sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit))
            return [dict(r._mapping) for r in rows]

    # -- the main job ---------------------------------------------------------------
    def summary(self) -> HubSummary:
        return hub_summary(self.offline)

    def run(self, actor: str | None = None) -> RunReport:
        """The main job: ingest the inbox, then summarise the hub (later stages extend it)."""
        self.online.migrate()
        batches: list[BatchResult] = []

        def ingest_one(table: str, path: Path) -> bool:
            result = self.ingest(table, path, actor=actor)
            batches.append(result)
            return result.ok

        inbox.drain(self.workspace, ingest_one)
        return RunReport(batches=batches, summary=self.summary())


__all__ = ["ConfigError", "Engine", "RunReport", "WorkspaceError"]
