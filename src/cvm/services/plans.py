"""Plans: segments, the plan batch, the decision half of ``cvm run``, and the real-time path (events, NBA)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import polars as pl
import sqlalchemy as sa

from cvm import customers, delivery
from cvm.config import Settings
from cvm.contracts.decisions import RankedAction
from cvm.contracts.events import EventIn
from cvm.contracts.learned import Learned
from cvm.delivery.outbox import all_planned_contacts
from cvm.events import EventIngestor, IngestReport, OfflineSnapshot
from cvm.jobs.cycle import iter_plan_states, plan_states
from cvm.jobs.plan_load import Loaded
from cvm.jobs.plan_load import run as partition_run
from cvm.plans import decide, rank
from cvm.plans.batch import (
    Contact,
    ContactsFn,
    PlanBatch,
    offline_contacts,
    run_batch,
    transition_events,
)
from cvm.plans.columns import needed_columns
from cvm.plans.learned_file import learned_stamp, load_learned, refit_fatigue
from cvm.segments import SegmentReport, compute_membership, refresh_segments, segment_base
from cvm.segments.catalog import describe_segment, list_segments, overview
from cvm.segments.refresh import release, write_members
from cvm.services.delivery import DeliveryService
from cvm.services.features import features_for_segments
from cvm.services.learned import refresh_learned
from cvm.services.plan_base import segment_for_plans
from cvm.services.workspace import Audit, Workspace, audited
from cvm.store import decision_log


def _refreshed(report: SegmentReport, _call: Mapping[str, Any]) -> Audit:
    return Audit("segments.refresh", "segment_membership", sum(report.counts.values()), {"as_of": str(report.as_of)})


class PlansService:
    """Segment the base, decide for it in batch or per event, and rank the next best actions."""

    def __init__(self, ws: Workspace, deliveries: DeliveryService) -> None:
        self.ws = ws
        self.deliveries = deliveries
        self._events: tuple[Settings, EventIngestor, Learned] | None = None
        self._learned: tuple[tuple[int, ...], Settings, Learned] | None = None

    # -- segments -----------------------------------------------------------------------
    @audited(_refreshed)
    def refresh_segments(self, as_of: date | None = None, actor: str | None = None) -> SegmentReport:
        """Segment every customer as of ``as_of`` (default today, UTC) and store the membership history."""
        as_of = as_of or datetime.now(UTC).date()
        features_for_segments(self.ws, as_of)
        return refresh_segments(self.ws.offline, self.ws.settings.segments, as_of, self.ws.backend)

    def segments(self) -> tuple[list[dict[str, Any]], date | None]:
        """Every configured segment with its size at the latest refresh, and that refresh's date."""
        return list_segments(self.ws.offline, self.ws.settings.segments)

    def segments_overview(self, points: int = 6) -> dict[str, Any]:
        """Every segment: definition as written in cvm.yaml, size now and at the last ``points`` refreshes."""
        return overview(self.ws.offline, self.ws.settings.segments, points)

    def segment(self, name: str, limit: int = 20) -> dict[str, Any]:
        """One segment: definition, SQL, size over time and members at the latest refresh."""
        return describe_segment(self.ws.offline, self.ws.settings.segments, name, limit)

    # -- the batch ----------------------------------------------------------------------
    def plan_batch(
        self,
        as_of: date | None = None,
        now: datetime | None = None,
        plan_states: Mapping[str, Mapping[str, Any]] | None = None,
        contacts: Mapping[str, Sequence[Contact]] | ContactsFn | None = None,
        workers: int | None = None,
    ) -> PlanBatch:
        """Decide for the whole base as of ``as_of``: SQL selects the candidates, ``decide`` runs per candidate.

        ``plan_states`` (customer id → plan state) default to the online profiles; ``contacts`` (customer id →
        sent or planned contacts) default to the outbox plus the hub's outbound contacts of the last 30 days.
        Segment entries and exits since the last stored refresh are passed as events. Nothing is written:
        the caller enqueues the actions and saves the plan states (see :mod:`cvm.delivery`).
        """
        return self._segment_and_plan(as_of, now, plan_states, contacts, workers)[1]

    def act(self, now: datetime | None = None, actor: str | None = None) -> dict[str, Any]:
        """Segments, plans, outbox and delivery for the whole base: the decision half of ``cvm run``."""
        now = now or datetime.now(UTC)
        if self.ws.settings.plans.arbitration == "incremental":  # priced contact pressure, learned afresh (issue 18)
            refit_fatigue(self.ws.root, self.ws.backend, self.ws.settings.plans)
        refresh_learned(self.ws, now)  # Thompson posteriors and the uplift version, read by both paths
        segments, loaded = self._segment_and_load(now, actor)
        persisted = loaded.to_dict()
        with self.ws.unit(actor) as unit:
            unit.record("plans.batch", None, persisted["enqueued"], **persisted, backend=self.ws.backend.name)
        exported = decision_log.export(self.ws.offline, self.ws.online)  # for training (docs/decision-log.md)
        worker = self.deliveries.worker()
        try:
            stats = worker.run(once=True, max_seconds=self.ws.settings.delivery.run_seconds)
        finally:
            worker.close()
        delivered = {k: getattr(stats, k) for k in ("claimed", "delivered", "retried", "dead")}
        return {
            "segments": dict(segments.counts),
            "candidates": loaded.candidates,
            **persisted,
            "delivery": delivered,
            "decisions_exported": exported,
        }

    def _segment_and_plan(
        self,
        as_of: date | None,
        now: datetime | None,
        states: Mapping[str, Mapping[str, Any]] | None = None,
        contacts: Mapping[str, Sequence[Contact]] | ContactsFn | None = None,
        workers: int | None = None,
        *,
        store_segments: bool = False,
        actor: str | None = None,
    ) -> tuple[SegmentReport, PlanBatch]:
        """Segment the base and decide on the same store connection; with ``store_segments`` the membership
        is also stored, as :meth:`refresh_segments` does (one segmentation instead of two)."""
        as_of = as_of or datetime.now(UTC).date()
        now = now or datetime.now(UTC)
        states = plan_states(self.ws.online) if states is None else states
        if contacts is None:
            contacts = partial(self._contacts, offline_contacts(self.ws.offline.scan("contacts"), now), now)
        features_for_segments(self.ws, as_of)
        con = self.ws.offline.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            report = compute_membership(con, self.ws.settings.segments, as_of)
            if store_segments:
                with self.ws.unit(actor) as unit:
                    started = time.perf_counter()
                    write_members(self.ws.offline, con, as_of)
                    report.seconds["write"] = round(time.perf_counter() - started, 3)
                    unit.entry = _refreshed(report, {})
            events = transition_events(report.transitions, now)
            plans, pilots = self.ws.settings.plans, self.ws.settings.experiments
            batch = run_batch(
                con, plans, now, "segmented", states, contacts, events, workers, pilots, learned=self.learned()
            )
            return report, batch
        finally:
            con.close()

    def _segment_and_load(self, now: datetime, actor: str | None) -> tuple[SegmentReport, Loaded]:
        """Segment the base (stored) and decide per batch or Spark partition, each batch loaded into the
        online store in one transaction (:mod:`cvm.plans.partitioned`)."""
        states = iter_plan_states(self.ws.online)  # staged a part at a time
        since = now - timedelta(days=self.ws.settings.events.contact_lookback_days)
        with self.ws.online.begin() as conn:
            planned = all_planned_contacts(conn, since)
        con = self.ws.offline.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            report, store_members, view = segment_for_plans(self.ws.backend, con, self.ws.settings.segments, now.date())
            with self.ws.unit(actor) as unit:
                started = time.perf_counter()
                store_members()
                report.seconds["write"] = round(time.perf_counter() - started, 3)
                unit.entry = _refreshed(report, {})
            events = transition_events(report.transitions, now)
            plans, pilots, url = self.ws.settings.plans, self.ws.settings.experiments, self.ws.online.url
            loaded = partition_run(
                self.ws.backend, con, config=plans, now=now, online_url=url, states=states, contacts=planned,
                events=events, experiments=pilots, learned=self.learned(), segmented_view=view,
            )  # fmt: skip
            return report, loaded
        finally:
            release(self.ws.backend)
            con.close()

    def _contacts(self, hub: dict[str, list[Contact]], now: datetime, ids: Sequence[str]) -> dict[str, list[Contact]]:
        """Contacts of ``ids`` for caps: the hub's outbound ones and the outbox's sent or planned ones."""
        since = now - timedelta(days=self.ws.settings.events.contact_lookback_days)
        out = {cid: list(hub.get(cid, [])) for cid in ids}
        with self.ws.online.begin() as conn:
            for i in range(0, len(ids), 10_000):
                for cid, planned in delivery.planned_contacts(conn, ids[i : i + 10_000], since).items():
                    out[cid] = sorted(out[cid] + planned)
        return out

    # -- the real-time path ---------------------------------------------------------------
    @property
    def events(self) -> EventIngestor:
        """Real-time ingestion, bound to the plans configuration (tests may replace ``decide`` and ``rank``).

        Built again when the settings change (a pilot created, say), so it always decides with the current ones.
        """
        settings, learned = self.ws.settings, self.learned()
        if self._events is None or self._events[0] is not settings or self._events[2] is not learned:
            snapshot = OfflineSnapshot(self.ws.offline, self._attribute_base)
            plans, pilots = settings.plans, settings.experiments
            ingestor = EventIngestor(
                self.ws.online,
                snapshot,
                settings,
                partial(decide, plans, experiments=pilots, learned=learned, path="realtime"),
                partial(rank, plans, experiments=pilots, learned=learned),
            )
            self._events = (settings, ingestor, learned)
        return self._events[1]

    def learned(self) -> Learned:
        """What decisions read of the models (fatigue curves, variant posteriors, model versions); reloaded when a
        stored file or the settings change."""
        settings, stamp = self.ws.settings, learned_stamp(self.ws.root)
        if self._learned is None or self._learned[0] != stamp or self._learned[1] is not settings:
            self._learned = (stamp, settings, load_learned(self.ws.root, settings.plans))
        return self._learned[2]

    def ingest_events(self, events: Sequence[Any], source: str = "", actor: str | None = None) -> IngestReport:
        """Validate, store and act on events, each in one transaction with its effects (ids unique per source).

        The accepted events of each transaction are one ``events.ingest`` entry of the audit log, in it.
        """
        return self.events.ingest(events, source, audit=partial(self._audit_events, actor, source))

    def _audit_events(self, actor: str | None, source: str, conn: sa.Connection, accepted: Sequence[EventIn]) -> None:
        """``events.ingest``: the events one transaction accepted (rows) and their count per type, in it."""
        types = dict(sorted(Counter(e.type for e in accepted).items()))
        detail = {"source": source, "sources": sorted({e.source for e in accepted}), "types": types}
        entry = Audit("events.ingest", "events", len(accepted), detail)
        self.ws.write_audit(actor[:64] if actor else None, entry, conn)  # audit_log.actor holds 64 characters

    def next_best_action(self, customer_id: str) -> list[RankedAction]:
        """The eligible actions for one customer now, ranked, with why each was chosen or not."""
        ranked = self.events.next_best_action(customer_id)
        if ranked is None:
            raise customers.UnknownCustomerError(customer_id)
        return ranked

    def _attribute_base(self, as_of: date) -> pl.DataFrame:
        """The attributes and segment columns that plans read, per customer as of ``as_of`` (as in the batch)."""
        features_for_segments(self.ws, as_of)
        con = self.ws.offline.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            segment_base(con, self.ws.settings.segments, as_of)
            frame: pl.DataFrame = con.sql("SELECT * FROM segmented").pl()
        finally:
            con.close()
        needed = needed_columns(self.ws.settings.plans, self.learned()) | {"customer_id", "timezone"}
        return frame.select([c for c in frame.columns if c in needed or c.startswith("consent_")])
