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
reports    hub summary, reports, HTML report                              :mod:`cvm.services.reports`
access     API keys, audit log                                            :mod:`cvm.services.access`
========== ============================================================== ===========================

``engine.ingest`` is also callable, as the README shows: ``Engine.open(path).ingest("transactions", frame)``.
The work itself lives in the stage packages; the services compose them and audit what they change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cvm.config import CONFIG_FILE, ConfigError, Settings, render_template
from cvm.errors import CvmError
from cvm.hub import inbox
from cvm.hub.summary import HubSummary
from cvm.ingest.batch import BatchResult
from cvm.scoring import ScoreReport, ScoringError
from cvm.services import (
    AccessService,
    CustomerService,
    DeliveryService,
    IngestService,
    PilotService,
    PlansService,
    ReportService,
    ScoringService,
    Source,
    Workspace,
    default_actor,
)
from cvm.store import OfflineStore, OnlineStore, private


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


class WorkspaceError(CvmError, RuntimeError):
    """The folder is not an initialised CVM workspace."""


class Ingest(IngestService):
    """:class:`~cvm.services.IngestService`, callable as its :meth:`ingest` (``engine.ingest(table, source)``)."""

    __call__ = IngestService.ingest


class Engine:
    """One workspace and its services (see the module docstring)."""

    def __init__(self, workspace: Path, settings: Settings | None = None) -> None:
        self.ws = Workspace(workspace, settings)
        self.ingest = Ingest(self.ws)
        self.customers = CustomerService(self.ws)
        self.scoring = ScoringService(self.ws)
        self.delivery = DeliveryService(self.ws)
        self.plans = PlansService(self.ws, self.delivery)
        self.pilots = PilotService(self.ws)
        self.reports = ReportService(self.ws)
        self.access = AccessService(self.ws)

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
        """The main job: ingest the inbox, score, then segment, decide and deliver (:meth:`PlansService.act`)."""
        self.online.migrate()
        batches: list[BatchResult] = []

        def ingest_one(table: str, path: Path) -> bool:
            result = self.ingest(table, path, actor=actor)
            batches.append(result)
            return result.ok

        inbox.drain(self.workspace, ingest_one)
        try:
            scores = self.scoring.score(actor=actor)
        except ScoringError as exc:
            scores = ScoreReport(as_of=datetime.now(UTC).date(), skipped=str(exc))
        cycle = self.plans.act(actor=actor)
        return RunReport(batches=batches, summary=self.reports.summary(), scores=scores, cycle=cycle)


__all__ = ["ConfigError", "Engine", "RunReport", "ScoreReport", "Source", "WorkspaceError"]
