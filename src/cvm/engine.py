"""The facade that the CLI, the API and the web pages call.

It opens a workspace (configuration plus stores) and composes the stages; the
work itself lives in the stage packages.
"""

from __future__ import annotations

import getpass
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeAlias

import pandas as pd
import polars as pl
import pyarrow as pa
import sqlalchemy as sa

from cvm import access, customers, delivery
from cvm.config import CONFIG_FILE, ConfigError, Settings, load_settings, render_template
from cvm.contracts import table_schema
from cvm.customers.erase import Erasure
from cvm.customers.events import contact_history_frame
from cvm.events import EventIngestor, IngestReport, OfflineSnapshot, Rescorer
from cvm.hub import inbox
from cvm.hub.summary import HubSummary, hub_summary
from cvm.ingest.batch import BatchResult, file_digest, frame_digest, ingest_batch
from cvm.ingest.readers import RawTable, ReadOptions, read_frame, read_source, read_sql
from cvm.ingest.validate import Rules
from cvm.reporting import Report, ReportFilter, build_report
from cvm.scoring import ScoreReport, ScoringError
from cvm.store import OfflineStore, OnlineStore, private
from cvm.store.tables import audit_log, customer_online

Source: TypeAlias = str | Path | Sequence[str | Path] | pd.DataFrame | pl.DataFrame | pa.Table


@dataclass(frozen=True)
class RunReport:
    """What ``cvm run`` did: the batches it ingested and the state of the hub after."""

    batches: list[BatchResult]
    summary: HubSummary
    scores: ScoreReport | None = None
    cycle: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return all(b.ok for b in self.batches)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "batches": [{**b.summary(), "status": b.status} for b in self.batches],
            "summary": self.summary.to_dict(),
            "scores": self.scores.to_dict() if self.scores else None,
            "cycle": self.cycle,
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
        private.restrict_umask()  # workspace files 0600, folders 0700 (see cvm.store.private)
        self.workspace = Path(workspace).resolve()
        private.secure_root(self.workspace)
        self.settings = settings or load_settings(self.workspace)
        self.offline = OfflineStore(self.workspace / self.settings.store.offline_path)
        self._online: OnlineStore | None = None
        self._events: EventIngestor | None = None
        self.rescore_hook: Rescorer | None = None  # scoring sets it: re-score one customer on each event

    # -- set-up -----------------------------------------------------------------
    @classmethod
    def init(cls, workspace: Path) -> Engine:
        """Create (or complete) a workspace: ``cvm.yaml``, offline folders, online schema."""
        workspace = Path(workspace)
        private.restrict_umask()
        workspace.mkdir(parents=True, exist_ok=True)
        if not (workspace / CONFIG_FILE).exists():
            (workspace / CONFIG_FILE).write_text(render_template(), encoding="utf-8")
        engine = cls(workspace)
        engine.offline.create()
        engine.online.migrate()
        inbox.create_inbox(engine.workspace)
        private.secure_tree(engine.workspace)  # also repairs a workspace made by an older version
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
            customer_id_pattern=s.customer_id_pattern,
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
        return customers.customer_profile(self.offline, customer_id, online=self._online_rows(customer_id))

    def timeline(self, customer_id: str) -> list[dict[str, Any]]:
        return customers.timeline(self.offline, customer_id, online=self._online_rows(customer_id))

    def _online_rows(self, customer_id: str) -> dict[str, pl.DataFrame]:
        """The customer's delivered contacts and pilot arms, for the 360 timeline (none before the migrations)."""
        try:
            with self.online.begin() as conn:
                rows = delivery.contact_history_rows(conn, customer_id)
        except sa.exc.DBAPIError:  # an older online store without contact_history
            return {}
        return {"contact_history": contact_history_frame(rows), **self._pilot_rows(customer_id)}

    def _pilot_rows(self, customer_id: str) -> dict[str, pl.DataFrame]:
        from cvm.customers.events import assignments_frame
        from cvm.experiments import records

        try:
            with self.online.begin() as conn:
                return {"assignments": assignments_frame(records.for_customer(conn, customer_id))}
        except sa.exc.DBAPIError:  # an online store without the assignments table (before migration 0003)
            return {}

    def customers(self, limit: int = 50, offset: int = 0, q: str | None = None) -> tuple[list[dict[str, Any]], int]:
        return customers.list_customers(self.offline, limit=limit, offset=offset, q=q)

    def erase(self, customer_id: str, actor: str | None = None) -> Erasure:
        """Erase a customer's personal data everywhere (stores and files); the audit keeps a keyed token of the id."""
        from cvm.customers.erase_everywhere import erase_everywhere

        erasure = erase_everywhere(self, customer_id)
        self._audit(actor or default_actor(), "customer.erase", erasure.subject, erasure.total, tables=erasure.rows)
        self.online.vacuum()
        return erasure

    # -- real-time events and delivery ------------------------------------------
    @property
    def events(self) -> EventIngestor:
        """Real-time ingestion, bound to the plans configuration (tests may replace ``decide`` and ``rank``)."""
        if self._events is None:
            from cvm.plans.decide import decide, rank

            plans, pilots = self.settings.plans, self.settings.experiments
            snapshot = OfflineSnapshot(self.offline, self._attribute_base)
            self._events = EventIngestor(
                self.online,
                snapshot,
                self.settings,
                partial(decide, plans, experiments=pilots),
                partial(rank, plans, experiments=pilots),
            )
        self._events.rescore = self.rescore_hook
        return self._events

    def _attribute_base(self, as_of: date) -> pl.DataFrame:
        """The attributes and segment columns that plans read, per customer as of ``as_of`` (as in the batch)."""
        from cvm.plans.batch import needed_columns
        from cvm.segments import segment_base

        con = self.offline.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            segment_base(con, self.settings.segments, as_of)
            frame: pl.DataFrame = con.sql("SELECT * FROM segmented").pl()
        finally:
            con.close()
        needed = needed_columns(self.settings.plans) | {"customer_id", "timezone"}
        return frame.select([c for c in frame.columns if c in needed or c.startswith("consent_")])

    def ingest_events(self, events: Sequence[Any], source: str = "") -> IngestReport:
        """Validate, store and act on events, each in one transaction with its effects (ids unique per source)."""
        return self.events.ingest(events, source)

    def next_best_action(self, customer_id: str) -> list[Any]:
        """The eligible actions for one customer now, ranked, with why each was chosen or not."""
        ranked = self.events.next_best_action(customer_id)
        if ranked is None:
            raise customers.UnknownCustomerError(customer_id)
        return ranked

    def worker(self, concurrency: int | None = None) -> delivery.Worker:
        """A worker that delivers this workspace's outbox (files of this run go to ``delivery.export_dir``)."""
        s = self.settings.delivery
        s = s if concurrency is None else s.model_copy(update={"concurrency": concurrency})
        run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
        return delivery.Worker(self.online, delivery.build_router(s, self.workspace, run_id), s)

    def actions(self, status: str | None = None, customer_id: str | None = None, limit: int = 100) -> list[Any]:
        with self.online.begin() as conn:
            return delivery.list_requests(conn, status=status, customer_id=customer_id, limit=limit)

    def actions_status(self) -> dict[str, Any]:
        with self.online.begin() as conn:
            return delivery.status_counts(conn, datetime.now(UTC))

    def retry_action(self, request_id: int, actor: str | None = None) -> dict[str, Any]:
        """Send a dead action again, with a fresh attempt budget."""
        with delivery.write_transaction(self.online) as conn:
            row = delivery.retry_request(conn, request_id, datetime.now(UTC))
            self.online.audit(conn, actor=actor or default_actor(), action="action.retry", target=str(request_id))
        return row

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
        with self.online.read() as conn:  # a read, and at most one update (of the last use)
            return access.authenticate(conn, presented)

    def audit_entries(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.online.begin() as conn:
            rows = conn.execute(sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit))
            return [dict(r._mapping) for r in rows]

    # -- the main job ---------------------------------------------------------------
    def summary(self) -> HubSummary:
        return hub_summary(self.offline)

    # -- scoring ------------------------------------------------------------------
    def score(self, as_of: date | None = None, actor: str | None = None) -> ScoreReport:
        """Score every customer as of ``as_of`` (default today, UTC); re-scoring a date replaces it.

        Value scores always; life-cycle scores (churn, default, propensity) and early-warning flags
        when trained champions exist, else a note says they were skipped.
        """
        from cvm.scoring.value import write_value_scores

        as_of = as_of or datetime.now(UTC).date()
        report = write_value_scores(self.offline, self.settings.scoring, as_of)
        models = {m["role"]: m["version"] for m in report.models}
        self._audit(actor or default_actor(), "score.value", "scores", report.rows, as_of=str(as_of), models=models)
        return replace(report, notes=[*report.notes, *self._score_lifecycle(as_of, actor)])

    def _score_lifecycle(self, as_of: date, actor: str | None) -> list[str]:
        """Life-cycle scores of the champions, then the early-warning flags; notes for the report."""
        from cvm.risk import write_early_warning
        from cvm.scoring.lifecycle import write_lifecycle_scores

        info = write_lifecycle_scores(self.offline, self.workspace, self.settings, as_of)
        if "skipped" in info:
            return [f"life-cycle scores skipped: {info['skipped']}"]
        flagged = (
            write_early_warning(self.offline, self.settings.risk, as_of).height if "default" in info["models"] else 0
        )
        who, rows = actor or default_actor(), info["rows"] + flagged
        self._audit(who, "score.lifecycle", "scores", rows, as_of=str(as_of), models=info["models"], flagged=flagged)
        models = ", ".join(info["models"].values())
        note = f"life-cycle scores: {info['rows']:,} rows for {info['customers']:,} customers ({models})"
        return [f"{note}; early warning: {flagged:,} customers"]

    # -- life-cycle models and risk appetite --------------------------------------------
    def train(self, as_of: date | None = None, actor: str | None = None) -> Any:
        """Train churn, default and propensity models on the data before ``as_of`` and register them."""
        from cvm.scoring.lifecycle import train

        report = train(self.offline, self.workspace, self.settings, as_of)
        tags = [f"{m['name']}-{m['version']}" for m in report.models]
        self._audit(actor or default_actor(), "models.train", "models", len(tags), versions=tags, notes=report.notes)
        return report

    def champions(self) -> list[str]:
        """Names of the life-cycle models that have a champion in this workspace's registry."""
        from cvm.scoring.registry import ModelRegistry

        return sorted(ModelRegistry(self.workspace).champions())

    def promote(self, name: str, version: str, force: bool = False, actor: str | None = None) -> Any:
        """Make a challenger the champion after comparing both on the latest labelled window."""
        from cvm.scoring.lifecycle import compare
        from cvm.scoring.registry import ModelRegistry

        registry = ModelRegistry(self.workspace)
        entry, current = registry.get(name, version), registry.champion(name)
        comparison = compare(self.offline, self.settings, current, entry) if current and current != entry else None
        promoted = registry.promote(name, version, force=force, comparison=comparison)
        self._audit(actor or default_actor(), "models.promote", promoted.tag, 1, force=force, comparison=comparison)
        return promoted

    def monitor(self, as_of: date | None = None) -> Any:
        """PSI and AUC checks of the champions (see :mod:`cvm.scoring.monitor`)."""
        from cvm.scoring.monitor import monitor

        return monitor(self.offline, self.workspace, self.settings, as_of)

    def set_cutoff(self, cutoff: float | None, actor: str | None = None) -> Path:
        """Write the acceptance cut-off into cvm.yaml and reload the settings."""
        from cvm.risk import apply_cutoff

        path = apply_cutoff(self.workspace, cutoff)
        self.settings = load_settings(self.workspace)
        self._audit(actor or default_actor(), "risk.cutoff", str(path), 1, cutoff=cutoff)
        return path

    # -- segments and plans -----------------------------------------------------------
    def refresh_segments(self, as_of: date | None = None, actor: str | None = None) -> Any:
        """Segment every customer as of ``as_of`` (default today, UTC) and store the membership history."""
        from cvm.segments import refresh_segments

        as_of = as_of or datetime.now(UTC).date()
        report = refresh_segments(self.offline, self.settings.segments, as_of)
        self._audit_refresh(report, as_of, actor)
        return report

    def _audit_refresh(self, report: Any, as_of: date, actor: str | None) -> None:
        rows = sum(report.counts.values())
        self._audit(actor or default_actor(), "segments.refresh", "segment_membership", rows, as_of=str(as_of))

    def segments(self) -> tuple[list[dict[str, Any]], date | None]:
        """Every configured segment with its size at the latest refresh, and that refresh's date."""
        from cvm.segments.catalog import list_segments

        return list_segments(self.offline, self.settings.segments)

    def segment(self, name: str, limit: int = 20) -> dict[str, Any]:
        """One segment: definition, SQL, size over time and members at the latest refresh."""
        from cvm.segments.catalog import describe_segment

        return describe_segment(self.offline, self.settings.segments, name, limit)

    def plan_batch(
        self,
        as_of: date | None = None,
        now: datetime | None = None,
        plan_states: Any = None,
        contacts: Any = None,
        workers: int | None = None,
    ) -> Any:
        """Decide for the whole base as of ``as_of``: SQL selects the candidates, ``decide`` runs per candidate.

        ``plan_states`` (customer id → plan state) default to the online profiles; ``contacts`` (customer id →
        sent or planned contacts) default to the outbox plus the hub's outbound contacts of the last 30 days.
        Segment entries and exits since the last stored refresh are passed as events. Nothing is written:
        the caller enqueues the actions and saves the plan states (see :mod:`cvm.delivery`).
        """
        return self._segment_and_plan(as_of, now, plan_states, contacts, workers)[1]

    def _segment_and_plan(
        self,
        as_of: date | None,
        now: datetime | None,
        plan_states: Any = None,
        contacts: Any = None,
        workers: int | None = None,
        *,
        store_segments: bool = False,
        actor: str | None = None,
    ) -> tuple[Any, Any]:
        """Segment the base and decide on the same store connection; with ``store_segments`` the membership
        is also stored, as :meth:`refresh_segments` does (one segmentation instead of two)."""
        from cvm.plans.batch import offline_contacts, run_batch, transition_events
        from cvm.segments.refresh import compute_membership, write_membership

        as_of = as_of or datetime.now(UTC).date()
        now = now or datetime.now(UTC)
        if plan_states is None:
            with self.online.begin() as conn:
                rows = conn.execute(sa.select(customer_online.c.customer_id, customer_online.c.plan_state))
                plan_states = {cid: dict(ps) for cid, ps in rows if ps}
        if contacts is None:
            hub = offline_contacts(self.offline.read("contacts"), now)
            contacts = partial(self._contacts, hub, now)
        con = self.offline.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            report, members = compute_membership(con, self.settings.segments, as_of)
            if store_segments:
                started = time.perf_counter()
                write_membership(self.offline, as_of, members)
                report.seconds["write"] = round(time.perf_counter() - started, 3)
                self._audit_refresh(report, as_of, actor)
            events = transition_events(report.transitions, now)
            batch = run_batch(
                con, self.settings.plans, now, "segmented", plan_states, contacts, events, workers,
                self.settings.experiments,
            )  # fmt: skip
            return report, batch
        finally:
            con.close()

    def _contacts(self, hub: dict[str, list[Any]], now: datetime, ids: Sequence[str]) -> dict[str, list[Any]]:
        """Contacts of ``ids`` for caps: the hub's outbound ones and the outbox's sent or planned ones."""
        since = now - timedelta(days=self.settings.events.contact_lookback_days)
        out = {cid: list(hub.get(cid, [])) for cid in ids}
        with self.online.begin() as conn:
            for i in range(0, len(ids), 10_000):
                for cid, planned in delivery.planned_contacts(conn, ids[i : i + 10_000], since).items():
                    out[cid] = sorted(out[cid] + planned)
        return out

    def record_assignments(self, decisions: Sequence[tuple[str, Any]]) -> int:
        """Persist the new pilot assignments of a batch's decisions; rows inserted (existing ones never change)."""
        from cvm.experiments import records

        with self.online.begin() as conn:
            return records.record(conn, [a for _cid, d in decisions for a in d.assignments])

    # -- pilots ---------------------------------------------------------------------
    def pilots(self) -> list[dict[str, Any]]:
        """Configured pilots with their arm sizes, then finished ones with their verdict."""
        from cvm.experiments import service

        return service.list_pilots(self.workspace, self.online, self.settings)

    def pilot_report(self, name: str) -> dict[str, Any]:
        """A pilot's report: arms, SRM, lifts per outcome and segment, incremental value, recommendation."""
        from cvm.experiments import service

        return service.report(self.workspace, self.offline, self.online, self.settings, name)

    def create_pilot(self, name: str, pilot: dict[str, Any], actor: str | None = None) -> dict[str, Any]:
        """Add a pilot to ``cvm.yaml`` (validated, comments kept) and use it from now on."""
        from cvm.experiments import service

        self.settings = service.create_pilot(self.workspace, name, pilot)
        self._events = None
        self._audit(actor or default_actor(), "pilot.create", name, None, plan=pilot.get("plan"))
        return self.settings.experiments.pilots[name].model_dump(mode="json")

    def demo_pilot(self, truth: Path, actor: str | None = None) -> dict[str, Any]:
        """The demo's retrospective win-back pilot, its effect simulated from ``truth`` (ground truth)."""
        from cvm.experiments import service

        report = service.run_demo_pilot(self.workspace, self.offline, self.online, self.settings, Path(truth))
        self._audit(actor or default_actor(), "pilot.demo", report["name"], sum(a["assigned"] for a in report["arms"]))
        return report

    # -- reporting ------------------------------------------------------------------
    def report(self, kind: str, period: str = "M", filters: ReportFilter | None = None, **options: Any) -> Report:
        """Compute a report (growth, voc, cohorts, migration, churn, silent-churn, scores); see cvm.reporting."""
        return build_report(self.offline, kind, period=period, filters=filters, **options)

    def report_html(self, out: Path, period: str = "M", filters: ReportFilter | None = None, **options: Any) -> Path:
        """Write the self-contained HTML report (Plotly embedded, no network needed) to ``out``."""
        from cvm.reporting.html import write_html

        return write_html(self.offline, out, period=period, filters=filters, **options)

    def run(self, actor: str | None = None) -> RunReport:
        """The main job: ingest the inbox, score, then summarise the hub (later stages extend it)."""
        self.online.migrate()
        batches: list[BatchResult] = []

        def ingest_one(table: str, path: Path) -> bool:
            result = self.ingest(table, path, actor=actor)
            batches.append(result)
            return result.ok

        inbox.drain(self.workspace, ingest_one)
        try:
            scores = self.score(actor=actor)
        except ScoringError as exc:
            scores = ScoreReport(as_of=datetime.now(UTC).date(), skipped=str(exc))
        cycle = self.act(actor=actor)
        return RunReport(batches=batches, summary=self.summary(), scores=scores, cycle=cycle)

    def act(self, now: datetime | None = None, actor: str | None = None) -> dict[str, Any]:
        """Segments, plans, outbox and delivery for the whole base: the decision half of ``cvm run``."""
        from cvm.jobs.cycle import persist_decisions

        now = now or datetime.now(UTC)
        segments, batch = self._segment_and_plan(now.date(), now, store_segments=True, actor=actor)
        persisted = persist_decisions(self.online, batch.decisions, now)
        self._audit(actor or default_actor(), "plans.batch", None, persisted.enqueued, **persisted.to_dict())
        worker = self.worker()
        try:
            stats = worker.run(once=True, max_seconds=self.settings.delivery.run_seconds)
        finally:
            worker.close()
        delivered = {k: getattr(stats, k) for k in ("claimed", "delivered", "retried", "dead")}
        return {
            "segments": dict(segments.counts),
            "candidates": batch.candidates,
            **persisted.to_dict(),
            "delivery": delivered,
        }


__all__ = ["ConfigError", "Engine", "RunReport", "ScoreReport", "WorkspaceError"]
