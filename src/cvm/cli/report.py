"""Rendering of the reports that several commands print."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cvm.cli.console import console
from cvm.cli.refusals import print_refusals
from cvm.cli.score import print_scores
from cvm.experiments.verdicts import p_relation, reason_text
from cvm.i18n import Lang, _, current, use_locale
from cvm.i18n.formats import money, num, pct
from cvm.i18n.labels import label
from cvm.i18n.notes import note_text

if TYPE_CHECKING:
    from cvm.engine import RunReport
    from cvm.hub.summary import HubSummary


def print_summary(summary: HubSummary) -> None:
    console.table(
        _("Customer data hub as of %(day)s") % {"day": summary.as_of},
        [_("table"), _("rows"), _("batches"), _("quarantined rows")],
        ([t.table, num(t.rows), num(t.batches), num(t.quarantined)] for t in summary.tables),
    )
    console.table(
        _("Customer base"),
        [_("customers"), _("active (12 m)"), _("revenue 12 m"), _("margin 12 m"), _("MRR")],
        [
            [
                num(summary.customers),
                num(summary.active_customers),
                money(summary.revenue_12m),
                money(summary.margin_12m),
                money(summary.mrr),
            ]
        ],
    )


def print_run(report: RunReport, json_out: bool, lang: Lang | None = None) -> None:
    """What `cvm run` did: JSON, or tables in ``lang`` (``reporting.locale`` of the workspace)."""
    if json_out:
        console.json(report.to_dict())
        return
    with use_locale(lang or current()):
        _print_run(report)


def _print_run(report: RunReport) -> None:
    if report.batches:
        console.table(
            _("Ingested from the inbox"),
            [_("table"), _("source"), _("status"), _("read"), _("accepted"), _("rejected")],
            ([b.table, ", ".join(b.sources), b.status, b.read, b.accepted, b.rejected] for b in report.batches),
        )
        print_refusals(report.batches)
    print_summary(report.summary)
    if report.scores is not None:
        print_scores(report.scores)
    if report.uplift is not None:
        console.print(report.uplift["message"])
    if report.cycle is not None:
        print_cycle(report.cycle)


def print_cycle(cycle: dict[str, Any]) -> None:
    """Segments, plans and delivery of one `cvm run`."""
    from cvm.reporting.actions import held_by_kind

    held = ", ".join(f"{label(k, 'held_back')} {num(n)}" for k, n in held_by_kind(cycle["reasons"])) or _("none")
    sent = cycle["delivery"]
    console.table(
        _("Plans and delivery"),
        [_("candidates"), _("actions enqueued"), _("held back"), _("delivered"), _("retrying"), _("dead")],
        [
            [
                num(cycle["candidates"]),
                num(cycle["enqueued"]),
                num(cycle["suppressed"]),
                num(sent["delivered"]),
                num(sent["retried"]),
                num(sent["dead"]),
            ]
        ],
    )
    console.note(
        _("held back by: %(reasons)s; `cvm actions status` shows the outbox, `cvm worker` delivers the rest")
        % {"reasons": held}
    )


def print_pilot_summary(pilot: dict[str, Any], lang: Lang | None = None) -> None:
    """Three lines on a finished pilot, in ``lang``; ``cvm pilot report NAME`` has the whole report."""
    with use_locale(lang or current()):
        _print_pilot_summary(pilot)


def _print_pilot_summary(pilot: dict[str, Any]) -> None:
    arms = ", ".join(f"{a['arm']} {num(a['assigned'])}" for a in pilot["arms"])
    primary = next((o for o in pilot["outcomes"] if o["outcome"] == pilot["primary"]), None)
    shown: dict[str, Any] = (primary.get("cuped") or primary) if primary is not None else {}
    lift, lo, hi = shown.get("lift"), shown.get("ci_low"), shown.get("ci_high")
    simulated = " [yellow](" + _("simulated effect") + ")[/yellow]" if pilot.get("simulated") else ""
    head = _("Pilot %(name)s%(simulated)s: %(arms)s; SRM p %(p)s.")
    console.print(head % {"name": f"[bold]{pilot['name']}[/bold]", "simulated": simulated, "arms": arms,
                          "p": p_relation(pilot["srm"]["p_value"])})  # fmt: skip
    if lift is not None and lo is not None and hi is not None:
        line = _("%(outcome)s lift %(lift)s (95%% CI %(low)s to %(high)s, CUPED).")
        said = {"outcome": label(pilot["primary"], "outcome"), "lift": pct(lift, 2), "low": pct(lo, 2),
                "high": pct(hi, 2)}  # fmt: skip
        console.print("  " + line % said)
    for note in pilot.get("notes", [])[1:]:
        console.print(f"  {note_text(note)}")
    rec = pilot["recommendation"]
    line = _("Recommendation: %(decision)s: %(reason)s. Details: %(command)s")
    said = {"decision": label(rec["decision"], "decision"), "reason": reason_text(rec),
            "command": f"cvm pilot report {pilot['name']}"}  # fmt: skip
    console.print("  " + line % said)
