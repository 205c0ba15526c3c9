"""``cvm report``: growth accounting, voice of the customer, churn, cohorts, migration, HTML."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cvm.cli.console import console
from cvm.cli.errors import handled, open_engine
from cvm.cli.language import LangOption, chosen
from cvm.cli.options import JsonFlag, Workspace
from cvm.i18n import N_, Lang, _, use_locale
from cvm.i18n.formats import num, pct
from cvm.i18n.labels import VOCABULARIES, label
from cvm.i18n.notes import note_text

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
    "period": N_("period"),
    "start": N_("start"),
    "new": N_("new"),
    "end": N_("end"),
    "churned": N_("churned"),
    "reactivation": N_("react."),
    "contraction": N_("contr."),
    "expansion": N_("expan."),
    "customers_active": N_("active"),
    "customers_churned": N_("lost"),
    "quick_ratio": N_("QR"),
    "grr": N_("GRR"),
    "nrr": N_("NRR"),
    "segment": N_("segment"),
    "responses": N_("responses"),
    "pct_promoters": N_("%P"),
    "pct_detractors": N_("%D"),
    "nps": N_("NPS"),
    "pct_would_recommend": N_("% would"),
    "pct_did_recommend": N_("% did"),
    "reason": N_("reason"),
    "customers": N_("customers"),
    "revenue_lost": N_("revenue lost"),
    "share": N_("share"),
    "cohort": N_("cohort"),
    "grade": N_("grade"),
    "periods": N_("periods"),
    "first": N_("first"),
    "last": N_("last"),
    "silent": N_("silent"),
    "share_customers": N_("share of customers"),
    "silent_revenue_lost": N_("silent revenue lost"),
    "share_revenue": N_("share of revenue"),
    "voluntary": N_("voluntary"),
    "involuntary": N_("involuntary"),
    "unknown": N_("no reason"),
    "available": N_("available"),
    "rank": N_("rank"),
    "reason_type": N_("reason type"),
    "mrr_lost": N_("MRR lost"),
    "period_start": N_("period start"),
    "hunting": N_("hunting"),
    "farming": N_("farming"),
    "hunting_share": N_("hunting share"),
    "promoters": N_("promoters"),
    "passives": N_("passives"),
    "detractors": N_("detractors"),
    "pct_passives": N_("% passives"),
    "would_recommend_answers": N_("would-recommend answers"),
    "did_recommend_answers": N_("did-recommend answers"),
    "from_segment": N_("from"),
    "bin": N_("bin"),
    "lower": N_("from"),
    "upper": N_("to"),
    "tail": N_("catch-all"),
    "mean_value": N_("mean value"),
    "censored_from": N_("right-censored from"),
    "complete_through": N_("complete through"),
}
# Columns whose values are codes of a vocabulary of cvm.i18n.labels.
CODED = {
    "reason": "churn_reason",
    "reason_type": "churn_reason",
    "grade": "grade",
    "from": "stage",
    "to": "stage",
    "from_segment": "stage",
    "available": "score",
}


def column_label(column: str, vocabulary: str | None = None) -> str:
    """The short heading of a column in the current language (the code itself when it has none).

    ``vocabulary`` names the codes a pivoted table has as columns (the stages of a migration matrix).
    """
    if vocabulary and column in VOCABULARIES.get(vocabulary, {}):
        return label(column, vocabulary)
    return _(LABELS[column]) if column in LABELS else label(column, vocabulary)


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
        return pct(value)
    if isinstance(value, Decimal | float):
        return num(value, 2)
    if isinstance(value, int) and not isinstance(value, bool):
        return num(value)
    if isinstance(value, str) and column in CODED:
        return label(value, CODED[column])
    if isinstance(value, list):
        return ", ".join(label(v, CODED.get(column)) for v in value)
    return value


def _label(row: dict[str, Any]) -> object:
    """A period's label, marked when the period is still running or its churns are not all known yet."""
    flags = ((N_("partial"), row.get("partial")), (N_("right-censored"), row.get("censored")))
    marks = [_(m) for m, flag in flags if flag]
    return f"{row['period']} ({', '.join(marks)})" if marks else row["period"]


def _print_frame(title: str, frame: pl.DataFrame, columns: list[str] | None = None) -> None:
    hidden = {"complete", "partial", "censored", "small_sample"}
    cols = [c for c in (columns or frame.columns) if c in frame.columns and c not in hidden]
    thin = "small_sample" in frame.columns and bool(frame["small_sample"].any())
    console.table(
        title,
        [column_label(c, "stage" if "from_segment" in cols else None) for c in cols] + ([_("note")] if thin else []),
        (
            [_label(row) if c == "period" else _cell(c, row[c]) for c in cols]
            + ([_("few answers") if row["small_sample"] else ""] if thin else [])
            for row in frame.iter_rows(named=True)
        ),
    )


NOTES = ("partial", "warnings", "censoring", "not_available")


@dataclass(frozen=True)
class Shown:
    """A report and the language to print it in."""

    report: Report
    lang: Lang


def show(shown: Shown, json_out: bool, tables: dict[str, pl.DataFrame] | None = None) -> None:
    """Print the report as JSON (``to_dict()``, codes as they are) or as tables in its language."""
    report = shown.report
    if json_out:
        console.json(report.to_dict())
        return
    with use_locale(shown.lang):
        for name, frame in (tables or report.tables).items():
            every = label(report.parameters.get("period"), "period")
            title = _("%(report)s (%(period)s): %(table)s") % {
                "report": label(report.kind, "report"),
                "period": every,
                "table": label(name, "table"),
            }
            _print_frame(title, frame, SHOWN.get(name))
        for key, value in report.summary.items():
            if not isinstance(value, dict) and key not in NOTES:
                text = _cell(key, value) if value is not None else "–"
                console.print(_("%(name)s: %(value)s") % {"name": column_label(key), "value": text})
        _notes(report)


def _notes(report: Report) -> None:
    """What the reader must know before trusting the figures: missing inputs, partial periods, thin samples."""
    summary = report.summary
    if summary.get("not_available"):
        what = {"report": label(report.kind, "report"), "why": summary["not_available"]}
        console.warn(_("%(report)s: not available: %(why)s") % what)
    if summary.get("partial"):
        periods = {"periods": ", ".join(summary["partial"]), "through": summary.get("complete_through")}
        console.warn(_("%(periods)s is partial (data through %(through)s): not a full period") % periods)
    for text in [*summary.get("warnings", []), summary.get("censoring")]:
        if text:
            console.warn(note_text(text))
    filters = report.parameters.get("filters")
    if filters:
        console.note(_("filtered: %(filters)s") % {"filters": filters})


def _run(workspace: Path, kind: str, period: str, filters: ReportFilter, lang: str | None, **options: Any) -> Shown:
    engine = open_engine(workspace)
    language = chosen(lang, engine.settings)
    with handled():
        return Shown(engine.reports.report(kind, period, filters, **options), language)
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
    lang: LangOption = None,
) -> None:
    """Revenue bridge per period: start + new + expansion + reactivation - contraction - churned = end.

    Exact to the cent, with customer counts, GRR, NRR, quick ratio, churn rates and hunting vs farming.
    """
    report = _run(
        workspace,
        "growth",
        period,
        _filter(kind, channel, region, sector, segment),
        lang,
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
    lang: LangOption = None,
) -> None:
    """Voice of the customer: NPS (promoters 9-10 minus detractors 0-6), % would and % did recommend."""
    report = _run(workspace, "voc", period, _filter(kind, channel, region, sector, segment), lang, by=by)
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
    lang: LangOption = None,
) -> None:
    """Cohorts by first period with revenue: cell k = revenue (customers) in period k / in the first period."""
    filters = _filter(kind, channel, region, sector, segment)
    report = _run(workspace, "cohorts", period, filters, lang, source=source, as_of=_day(as_of))
    from cvm.reporting import cohort_matrix

    with handled():
        matrix = cohort_matrix(report.report.tables["cohorts"], value)
    show(report, json_out, {value: matrix.rename(lambda c: c if c == "cohort" else f"k{c}")})


@app.command()
def migration(
    period: Period = "month",
    states: Annotated[
        str,
        typer.Option(
            help="stage (the life-cycle stages of cvm.yaml, stored by each refresh: the default), activity "
            "(a purchase-recency view with its own 90/180-day states), value_grade or grade:SCORE."
        ),
    ] = "stage",
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
    lang: LangOption = None,
) -> None:
    """Matrix of customers moving between states: the life-cycle stages of cvm.yaml by default, or a grade."""
    filters = _filter(kind, channel, region, sector, segment)
    report = _run(
        workspace, "migration", period, filters, lang, states=states, date_from=_day(date_from), date_to=_day(date_to)
    )
    from cvm.reporting import migration_pivot

    show(report, json_out, {"customers": migration_pivot(report.report.tables["matrix"])})


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
    lang: LangOption = None,
) -> None:
    """Top churn reasons (subscriptions' end_reason), voluntary vs involuntary, and churn per period."""
    report = _run(
        workspace,
        "churn",
        period,
        _filter(kind, channel, region, sector, segment),
        lang,
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
    lang: LangOption = None,
) -> None:
    """Churned customers (and revenue) lost without any contact, complaint or cancellation request before."""
    report = _run(
        workspace,
        "silent-churn",
        period,
        _filter(kind, channel, region, sector, segment),
        lang,
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
    lang: LangOption = None,
) -> None:
    """Distribution of the latest value of a score (histogram) and customers per grade."""
    filters = _filter(kind, channel, region, sector, segment)
    show(_run(workspace, "scores", "M", filters, lang, score=score, bins=bins, as_of=_day(as_of)), json_out)


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
    lang: LangOption = None,
) -> None:
    """Write one self-contained HTML file (Plotly embedded, opens offline) with every report's charts."""
    engine = open_engine(workspace)
    filters = _filter(kind, channel, region, sector, segment)
    language = chosen(lang, engine.settings)
    with handled(), use_locale(language):
        path = engine.reports.report_html(out, period, filters, source=source, as_of=_day(as_of))
    size = path.stat().st_size
    if json_out:
        console.json({"out": str(path), "bytes": size, "lang": language.tag})
    else:
        with use_locale(language):
            console.print(
                _("Wrote %(path)s (%(size)s MB): open it in a browser, no network needed.")
                % {"path": path, "size": num(size / 1e6, 1)}
            )
