"""``cvm report``: growth accounting, voice of the customer, churn, cohorts, migration, HTML."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cvm.cli.console import console
from cvm.cli.errors import handled, open_engine
from cvm.cli.options import JsonFlag, Workspace

if TYPE_CHECKING:
    import polars as pl

    from cvm.reporting import Report, ReportFilter

app = typer.Typer(
    help="Reports from the hub: growth accounting and rates, voice of the customer, churn reasons, silent "
    "churn, cohorts, segment migration, score distributions, and one self-contained HTML file.",
    no_args_is_help=True,
)

Period = Annotated[str, typer.Option("--period", "-p", help="month, quarter or year (M, Q, Y).")]
Source = Annotated[str, typer.Option(help="transactions (invoices and refunds) or mrr (subscriptions' MRR).")]
Kind = Annotated[list[str] | None, typer.Option(help="Only these kinds: B2B, B2C (repeatable or a,b).")]
Channel = Annotated[list[str] | None, typer.Option(help="Only these channels: direct, distribution.")]
Region = Annotated[list[str] | None, typer.Option(help="Only these regions.")]
Sector = Annotated[list[str] | None, typer.Option(help="Only these sectors.")]
Segment = Annotated[
    str | None, typer.Option(help="Only a score grade, e.g. value:high (the latest CLV grade is high).")
]
DATE = ["%Y-%m-%d"]
AsOf = Annotated[
    datetime | None,
    typer.Option("--as-of", formats=DATE, help="Date of the report (default: the last date in the data)."),
]
Inactivity = Annotated[
    int, typer.Option(min=1, help="Days without a purchase after which a customer with no contract has churned.")
]

PERCENT = {
    "grr",
    "nrr",
    "customer_churn_rate",
    "gross_revenue_churn",
    "net_revenue_churn",
    "share",
    "share_customers",
    "share_revenue",
    "hunting_share",
    "customer_retention",
    "revenue_retention",
}
SHOWN = {
    "growth": [
        "period",
        "start",
        "new",
        "expansion",
        "reactivation",
        "contraction",
        "churned",
        "end",
        "customers_active",
        "customers_churned",
        "grr",
        "nrr",
        "quick_ratio",
    ],
    "voc": [
        "period",
        "segment",
        "responses",
        "pct_promoters",
        "pct_detractors",
        "nps",
        "pct_would_recommend",
        "pct_did_recommend",
    ],
}


LABELS = {
    "reactivation": "react.",
    "contraction": "contr.",
    "expansion": "expan.",
    "customers_active": "active",
    "customers_churned": "lost",
    "quick_ratio": "QR",
    "grr": "GRR",
    "nrr": "NRR",
    "pct_promoters": "%P",
    "pct_detractors": "%D",
    "nps": "NPS",
    "pct_would_recommend": "% would",
    "pct_did_recommend": "% did",
}


def _filter(
    kind: list[str] | None,
    channel: list[str] | None,
    region: list[str] | None,
    sector: list[str] | None,
    segment: str | None,
) -> ReportFilter:
    from cvm.reporting import ReportFilter

    with handled():
        return ReportFilter(kind=kind, channel=channel, region=region, sector=sector, segment=segment)
    raise AssertionError("unreachable")  # pragma: no cover


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def _window(text: str | None) -> int | timedelta | None:
    if text is None:
        return None
    raw = text.strip().lower()
    try:
        return timedelta(days=int(raw[:-1])) if raw.endswith("d") else int(raw)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give a number of periods (3) or of days (90d)") from None


def _cell(column: str, value: Any) -> object:
    if value is None:
        return None
    if column in PERCENT and isinstance(value, float):
        return f"{100 * value:.1f}%"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return value


def _print_frame(title: str, frame: pl.DataFrame, columns: list[str] | None = None) -> None:
    cols = [c for c in (columns or frame.columns) if c in frame.columns]
    console.table(
        title,
        [LABELS.get(c, c) for c in cols],
        ([_cell(c, row[c]) for c in cols] for row in frame.select(cols).iter_rows(named=True)),
    )


def show(report: Report, json_out: bool, tables: dict[str, pl.DataFrame] | None = None) -> None:
    """Print ``report`` as JSON (``to_dict()``) or as tables (``tables`` overrides what is shown)."""
    if json_out:
        console.json(report.to_dict())
        return
    for name, frame in (tables or report.tables).items():
        _print_frame(f"{report.title}: {name}", frame, SHOWN.get(name))
    for key, value in report.summary.items():
        if not isinstance(value, dict):
            console.print(f"{key}: {_cell(key, value) if value is not None else '–'}")
    filters = report.parameters.get("filters")
    if filters:
        console.note(f"filtered: {filters}")


def _run(workspace: Path, kind: str, period: str, filters: ReportFilter, **options: Any) -> Report:
    engine = open_engine(workspace)
    with handled():
        return engine.reports.report(kind, period, filters, **options)
    raise AssertionError("unreachable")  # pragma: no cover


@app.command()
def growth(
    period: Period = "month",
    source: Source = "transactions",
    reactivation_window: Annotated[
        str | None, typer.Option(help="A return after more than N periods (3) or days (90d) counts as new.")
    ] = None,
    nrr_with_reactivation: Annotated[bool, typer.Option(help="Count reactivation in NRR.")] = False,
    new_periods: Annotated[int, typer.Option(min=1, help="Periods a customer counts as hunting revenue.")] = 1,
    as_of: AsOf = None,
    kind: Kind = None,
    channel: Channel = None,
    region: Region = None,
    sector: Sector = None,
    segment: Segment = None,
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """Revenue bridge per period: start + new + expansion + reactivation - contraction - churned = end.

    Exact to the cent, with customer counts, GRR, NRR, quick ratio, churn rates and hunting vs farming.
    """
    report = _run(
        workspace,
        "growth",
        period,
        _filter(kind, channel, region, sector, segment),
        source=source,
        reactivation_window=_window(reactivation_window),
        include_reactivation=nrr_with_reactivation,
        new_periods=new_periods,
        as_of=_day(as_of),
    )
    show(report, json_out)


@app.command("voc")
def voc_(
    period: Period = "month",
    by: Annotated[
        str | None, typer.Option(help="Split by kind, channel, region, sector, value_grade or grade:SCORE.")
    ] = None,
    kind: Kind = None,
    channel: Channel = None,
    region: Region = None,
    sector: Sector = None,
    segment: Segment = None,
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """Voice of the customer: NPS (promoters 9-10 minus detractors 0-6), % would and % did recommend."""
    report = _run(workspace, "voc", period, _filter(kind, channel, region, sector, segment), by=by)
    show(report, json_out)


@app.command()
def cohorts(
    period: Period = "month",
    source: Source = "transactions",
    value: Annotated[
        str, typer.Option(help="Table shown: revenue_retention, customer_retention, revenue or customers.")
    ] = "revenue_retention",
    as_of: AsOf = None,
    kind: Kind = None,
    channel: Channel = None,
    region: Region = None,
    sector: Sector = None,
    segment: Segment = None,
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """Cohorts by first period with revenue: cell k = revenue (customers) in period k / in the first period."""
    filters = _filter(kind, channel, region, sector, segment)
    report = _run(workspace, "cohorts", period, filters, source=source, as_of=_day(as_of))
    from cvm.reporting import cohort_matrix

    with handled():
        matrix = cohort_matrix(report.tables["cohorts"], value)
    show(report, json_out, {value: matrix.rename(lambda c: c if c == "cohort" else f"k{c}")})


@app.command()
def migration(
    period: Period = "month",
    states: Annotated[str, typer.Option(help="activity, value_grade or grade:SCORE.")] = "activity",
    date_from: Annotated[
        datetime | None, typer.Option("--from", formats=DATE, help="From (default: one period before --to).")
    ] = None,
    date_to: Annotated[
        datetime | None, typer.Option("--to", formats=DATE, help="To (default: the last date in the data).")
    ] = None,
    kind: Kind = None,
    channel: Channel = None,
    region: Region = None,
    sector: Sector = None,
    segment: Segment = None,
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """Matrix of customers moving between states (activity: new, active, at_risk, lapsed; or a grade)."""
    filters = _filter(kind, channel, region, sector, segment)
    report = _run(
        workspace, "migration", period, filters, states=states, date_from=_day(date_from), date_to=_day(date_to)
    )
    from cvm.reporting import migration_pivot

    show(report, json_out, {"customers": migration_pivot(report.tables["matrix"])})


@app.command()
def churn(
    period: Period = "month",
    top: Annotated[int, typer.Option(min=1, help="How many reasons to list.")] = 5,
    since: Annotated[datetime | None, typer.Option(formats=DATE, help="Only churns on or after this date.")] = None,
    until: Annotated[datetime | None, typer.Option(formats=DATE, help="Only churns on or before this date.")] = None,
    inactivity_days: Inactivity = 365,
    as_of: AsOf = None,
    kind: Kind = None,
    channel: Channel = None,
    region: Region = None,
    sector: Sector = None,
    segment: Segment = None,
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """Top churn reasons (subscriptions' end_reason), voluntary vs involuntary, and churn per period."""
    report = _run(
        workspace,
        "churn",
        period,
        _filter(kind, channel, region, sector, segment),
        as_of=_day(as_of),
        inactivity_days=inactivity_days,
        since=_day(since),
        until=_day(until),
        top=top,
    )
    show(report, json_out)


@app.command("silent-churn")
def silent_churn(
    period: Period = "month",
    lookback_days: Annotated[int, typer.Option(min=0, help="Days before the churn searched for contacts.")] = 180,
    since: Annotated[datetime | None, typer.Option(formats=DATE, help="Only churns on or after this date.")] = None,
    until: Annotated[datetime | None, typer.Option(formats=DATE, help="Only churns on or before this date.")] = None,
    inactivity_days: Inactivity = 365,
    as_of: AsOf = None,
    kind: Kind = None,
    channel: Channel = None,
    region: Region = None,
    sector: Sector = None,
    segment: Segment = None,
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """Churned customers (and revenue) lost without any contact, complaint or cancellation request before."""
    report = _run(
        workspace,
        "silent-churn",
        period,
        _filter(kind, channel, region, sector, segment),
        as_of=_day(as_of),
        inactivity_days=inactivity_days,
        lookback_days=lookback_days,
        since=_day(since),
        until=_day(until),
    )
    show(report, json_out)


@app.command()
def scores(
    score: Annotated[str, typer.Option(help="Score name in the scores table (clv, churn, ...).")] = "clv",
    bins: Annotated[int, typer.Option(min=1, max=500, help="Histogram bins.")] = 20,
    as_of: AsOf = None,
    kind: Kind = None,
    channel: Channel = None,
    region: Region = None,
    sector: Sector = None,
    segment: Segment = None,
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """Distribution of the latest value of a score (histogram) and customers per grade."""
    filters = _filter(kind, channel, region, sector, segment)
    show(_run(workspace, "scores", "M", filters, score=score, bins=bins, as_of=_day(as_of)), json_out)


@app.command("html")
def html_(
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")],
    period: Period = "month",
    source: Source = "transactions",
    as_of: AsOf = None,
    kind: Kind = None,
    channel: Channel = None,
    region: Region = None,
    sector: Sector = None,
    segment: Segment = None,
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
) -> None:
    """Write one self-contained HTML file (Plotly embedded, opens offline) with every report's charts."""
    engine = open_engine(workspace)
    filters = _filter(kind, channel, region, sector, segment)
    with handled():
        path = engine.reports.report_html(out, period, filters, source=source, as_of=_day(as_of))
    size = path.stat().st_size
    if json_out:
        console.json({"out": str(path), "bytes": size})
    else:
        console.print(f"Wrote {path} ({size / 1e6:.1f} MB): open it in a browser, no network needed.")
