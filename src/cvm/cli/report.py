"""Rendering of the reports that several commands print."""

from __future__ import annotations

from cvm.cli.console import console
from cvm.engine import RunReport
from cvm.hub.summary import HubSummary


def print_summary(summary: HubSummary) -> None:
    console.table(
        f"Customer data hub as of {summary.as_of}",
        ["table", "rows", "batches", "quarantined rows"],
        ([t.table, t.rows, t.batches, t.quarantined] for t in summary.tables),
    )
    console.table(
        "Customer base",
        ["customers", "active (12 m)", "revenue 12 m", "margin 12 m", "MRR"],
        [[summary.customers, summary.active_customers, summary.revenue_12m, summary.margin_12m, summary.mrr]],
    )


def print_run(report: RunReport, json_out: bool) -> None:
    if json_out:
        console.json(report.to_dict())
        return
    if report.batches:
        console.table(
            "Ingested from the inbox",
            ["table", "source", "status", "read", "accepted", "rejected"],
            ([b.table, ", ".join(b.sources), b.status, b.read, b.accepted, b.rejected] for b in report.batches),
        )
    print_summary(report.summary)
