"""Rendering of the reports that several commands print."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cvm.cli.console import console
from cvm.cli.score import print_scores

if TYPE_CHECKING:
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
    if report.scores is not None:
        print_scores(report.scores)
    if report.cycle is not None:
        print_cycle(report.cycle)


def print_cycle(cycle: dict[str, Any]) -> None:
    """Segments, plans and delivery of one `cvm run`."""
    held = ", ".join(f"{reason} {n:,}" for reason, n in cycle["reasons"].items()) or "none"
    sent = cycle["delivery"]
    console.table(
        "Plans and delivery",
        ["candidates", "actions enqueued", "held back", "delivered", "retrying", "dead"],
        [
            [
                cycle["candidates"],
                cycle["enqueued"],
                cycle["suppressed"],
                sent["delivered"],
                sent["retried"],
                sent["dead"],
            ]
        ],
    )
    console.note(f"held back by: {held}; `cvm actions status` shows the outbox, `cvm worker` delivers the rest")


def print_pilot_summary(pilot: dict[str, Any]) -> None:
    """Three lines on a finished pilot; ``cvm pilot report NAME`` has the whole report."""
    arms = ", ".join(f"{a['arm']} {a['assigned']:,}" for a in pilot["arms"])
    primary = next((o for o in pilot["outcomes"] if o["outcome"] == pilot["primary"]), None)
    shown: dict[str, Any] = (primary.get("cuped") or primary) if primary is not None else {}
    lift, lo, hi = shown.get("lift"), shown.get("ci_low"), shown.get("ci_high")
    label = " [yellow](simulated effect)[/yellow]" if pilot.get("simulated") else ""
    console.print(f"Pilot [bold]{pilot['name']}[/bold]{label}: {arms}; SRM p = {pilot['srm']['p_value']:.3g}.")
    if lift is not None and lo is not None and hi is not None:
        interval = f"95% CI {100 * lo:+.2f}% to {100 * hi:+.2f}%"
        console.print(f"  {pilot['primary']} lift {100 * lift:+.2f}% ({interval}, CUPED).")
    for note in pilot.get("notes", [])[1:]:
        console.print(f"  {note}")
    rec = pilot["recommendation"]
    console.print(f"  Recommendation: {rec['decision']}: {rec['reason']}. Details: cvm pilot report {pilot['name']}")
