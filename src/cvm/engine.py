"""The facade that the CLI, the API and the web pages call.

:meth:`Engine.open` (or :meth:`Engine.init`) opens a workspace (configuration plus stores) and
exposes one service per domain, all built on that one :class:`~cvm.services.Workspace`:

========== ============================================================== ===========================
attribute  what                                                           module
========== ============================================================== ===========================
ingest     files, frames and queries into the offline store; quarantine   :mod:`cvm.services.ingest`
customers  the 360 view, timeline, list, erasure                          :mod:`cvm.services.customers`
scoring    score, train, models, monitor, risk cut-off and views          :mod:`cvm.services.scoring`
plans      segments, plan batch, act, events, next best action            :mod:`cvm.services.plans`
delivery   outbox worker, action requests                                 :mod:`cvm.services.delivery`
pilots     pilots and their reports                                       :mod:`cvm.services.pilots`
policy     off-policy evaluation of target policies on the decision log   :mod:`cvm.services.policy`
reports    hub summary, reports, HTML report                              :mod:`cvm.services.reports`
access     API keys, audit log                                            :mod:`cvm.services.access`
========== ============================================================== ===========================

``engine.ingest`` is also callable, as the README shows: ``Engine.open(path).ingest("transactions", frame)``.
The work itself lives in the stage packages; the services compose them and audit what they change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cvm.config import CONFIG_FILE, ConfigError, Settings, render_template
from cvm.errors import CvmError
from cvm.lazy import lazy_attribute
from cvm.services.workspace import Workspace, default_actor

if TYPE_CHECKING:  # the services are imported when first used: a short command loads only what it needs
    from cvm.hub.summary import HubSummary
    from cvm.ingest.batch import BatchResult
    from cvm.scoring import ScoreReport
    from cvm.services import (
        AccessService,
        CustomerService,
        DeliveryService,
        IngestService,
        PilotService,
        PlansService,
        PolicyService,
        ReportService,
        ScoringService,
        Source,
    )
    from cvm.store import OfflineStore, OnlineStore


@dataclass(frozen=True)
class RunReport:
    """What ``cvm run`` did: the batches it ingested and the state of the hub after."""

    batches: list[BatchResult]
    summary: HubSummary
    scores: ScoreReport | None = None
    cycle: dict[str, Any] | None = None
    uplift: dict[str, Any] | None = None
    backend: str = "duckdb"  # the offline backend that ran the batch (store.offline)

    @property
    def ok(self) -> bool:
        return all(b.ok for b in self.batches)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "batches": [{**b.summary(), **b.explain()} for b in self.batches],
            "summary": self.summary.to_dict(),
            "scores": self.scores.to_dict() if self.scores else None,
            "cycle": self.cycle,
            "uplift": self.uplift,
            "backend": self.backend,
        }


class WorkspaceError(CvmError, RuntimeError):
    """The folder is not an initialised CVM workspace."""


class Engine:
    """One workspace and its services (see the module docstring); each service is built when first used."""

    def __init__(self, workspace: Path, settings: Settings | None = None) -> None:
        self.ws = Workspace(workspace, settings)

    @cached_property
    def ingest(self) -> IngestService:
        """Files, frames and queries into the offline store; callable as its ``ingest`` method."""
        from cvm.services.ingest import IngestService

        return IngestService(self.ws)

    @cached_property
    def customers(self) -> CustomerService:
        from cvm.services.customers import CustomerService

        return CustomerService(self.ws)

    @cached_property
    def scoring(self) -> ScoringService:
        from cvm.services.scoring import ScoringService

        return ScoringService(self.ws)

    @cached_property
    def delivery(self) -> DeliveryService:
        from cvm.services.delivery import DeliveryService

        return DeliveryService(self.ws)

    @cached_property
    def plans(self) -> PlansService:
        from cvm.services.plans import PlansService

        return PlansService(self.ws, self.delivery)

    @cached_property
    def pilots(self) -> PilotService:
        from cvm.services.pilots import PilotService

        return PilotService(self.ws)

    @cached_property
    def policy(self) -> PolicyService:
        from cvm.services.policy import PolicyService

        return PolicyService(self.ws)

    @cached_property
    def reports(self) -> ReportService:
        from cvm.services.reports import ReportService

        return ReportService(self.ws)

    @cached_property
    def access(self) -> AccessService:
        from cvm.services.access import AccessService

        return AccessService(self.ws)

    @classmethod
    def init(cls, workspace: Path) -> Engine:
        """Create (or complete) a workspace: ``cvm.yaml``, offline folders, online schema."""
        from cvm.hub import inbox
        from cvm.store import private

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
        with engine.ws.unit(default_actor()) as unit:
            unit.record("workspace.init", str(engine.workspace))
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

    def close(self) -> None:
        self.ws.close()

    @property
    def workspace(self) -> Path:
        """The workspace folder."""
        return self.ws.root

    @property
    def settings(self) -> Settings:
        """The workspace's settings (reloaded when a command changes ``cvm.yaml``)."""
        return self.ws.settings

    @property
    def offline(self) -> OfflineStore:
        """The offline store, for the stages and tests; adapters use the services (tests/unit/test_layering.py)."""
        return self.ws.offline

    @property
    def online(self) -> OnlineStore:
        """The online store, for the stages and tests; adapters use the services (tests/unit/test_layering.py)."""
        return self.ws.online

    def run(self, actor: str | None = None) -> RunReport:
        """The main job: ingest the inbox, score, learn uplift from the decision log, then segment, decide and
        deliver (:meth:`PlansService.act`)."""
        from cvm.hub import inbox
        from cvm.ingest.batch import unreadable
        from cvm.ingest.readers import SourceError
        from cvm.scoring import ScoreReport, ScoringError

        self.online.migrate()
        batches: list[BatchResult] = []

        def ingest_one(table: str, path: Path) -> bool:
            try:
                result = self.ingest(table, path, actor=actor)
            except SourceError as exc:  # one unreadable file is refused with its reason; the run goes on
                result = unreadable(table, str(path), exc)
            batches.append(result)
            return result.ok

        inbox.drain(self.workspace, ingest_one)
        batches += self.ingest.export_events(actor=actor).batches  # events of POST /events, once each
        if any(b.table == "customers" and b.accepted and b.status in ("committed", "retried") for b in batches):
            batches += self.ingest.retry_archived(actor=actor)  # rows that waited for these customers
        try:
            scores = self.scoring.score(actor=actor)
        except ScoringError as exc:
            scores = ScoreReport(as_of=datetime.now(UTC).date(), skipped=str(exc), backend=self.scoring.backend)
        uplift = self.scoring.uplift(actor=actor)  # log -> outcomes -> train if enough -> gate -> uplift_* scores
        cycle = self.plans.act(actor=actor)
        self.reports.persist()  # the dashboard's first page after `cvm serve` reads it instead of every transaction
        summary = self.reports.summary()
        backend = self.scoring.backend
        return RunReport(batches=batches, summary=summary, scores=scores, cycle=cycle, uplift=uplift, backend=backend)


def __getattr__(name: str) -> Any:
    """``cvm.engine.Source`` and ``ScoreReport``, imported when asked for (they load their stages)."""
    return lazy_attribute(__name__, {"Source": "cvm.services.ingest", "ScoreReport": "cvm.scoring"}, name)


__all__ = ["ConfigError", "Engine", "RunReport", "ScoreReport", "Source", "WorkspaceError"]
