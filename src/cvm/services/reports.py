"""Reports: the hub summary, the reporting package's reports (data and HTML), and what the dashboard filters on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from cvm.hub.summary import HubSummary, hub_summary
from cvm.reporting import Report, ReportFilter, build_report, persisted
from cvm.reporting.reports import Inputs
from cvm.services.workspace import Workspace


class ReportService:
    """Compute reports over the offline store; tell when its data last changed."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def summary(self) -> HubSummary:
        """Rows per data table, date ranges and the latest batches."""
        return hub_summary(self.ws.offline)

    def report(self, kind: str, period: str = "M", filters: ReportFilter | None = None, **options: Any) -> Report:
        """Compute a report (growth, voc, cohorts, migration, churn, silent-churn, scores); see cvm.reporting."""
        if kind == "voc":
            options.setdefault("min_sample", self.ws.settings.reporting.min_sample)
        return build_report(self.ws.offline, kind, period=period, filters=filters, backend=self.ws.backend, **options)

    def report_html(self, out: Path, period: str = "M", filters: ReportFilter | None = None, **options: Any) -> Path:
        """Write the self-contained HTML report (Plotly embedded, no network needed) to ``out``."""
        options.setdefault("min_sample", self.ws.settings.reporting.min_sample)
        from cvm.reporting.html import write_html  # plotly: only for the HTML report

        return write_html(self.ws.offline, out, period=period, filters=filters, backend=self.ws.backend, **options)

    def persist(self) -> list[str]:
        """Save the default view's net-revenue tables for the current data (:mod:`cvm.reporting.persisted`)."""
        store = self.ws.offline
        inputs = Inputs(store, backend=self.ws.backend)
        return persisted.persist(store.scratch, store.manifest(), lambda src, code: inputs.compute_net(src, code, None))

    @property
    def data_folder(self) -> str:
        """The offline store's folder, or its ``s3://`` URL."""
        return self.ws.offline.url

    def data_version(self) -> int:
        """The offline store's commit counter: it changes on every committed write (a cache key)."""
        return int(self.ws.offline.manifest().get("version", 0))

    def attribute_values(self, attributes: tuple[str, ...]) -> dict[str, list[str]]:
        """The distinct values of each customer attribute in the current data, sorted."""
        found = self.ws.offline.scan("customers").select(
            pl.col(a).drop_nulls().unique().sort().implode() for a in attributes
        )
        row = found.collect()
        return {a: [str(v) for v in row[a][0]] for a in attributes}

    def score_grades(self) -> list[tuple[str, str]]:
        """The distinct (score, grade) pairs stored, for the dashboard's segment filter.

        Here rather than on the scoring service, whose models (scikit-learn, pandas) take seconds to
        import: the dashboard's first page needs only these pairs.
        """
        found = self.ws.offline.scan("scores").select("score", "grade").drop_nulls().unique().collect()
        return [(str(s), str(g)) for s, g in found.iter_rows()]
