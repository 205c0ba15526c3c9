"""Reports computed from a workspace's offline store, as :class:`Report` objects with ``to_dict()``.

Each builder reads the hub tables lazily with Polars, restricts them to the customers a
:class:`~cvm.reporting.filters.ReportFilter` selects, and calls the pure functions of this package;
the CLI, the API and the dashboard all go through :func:`build_report`.
"""

from __future__ import annotations

import calendar
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from cvm.errors import BadValueError
from cvm.reporting import churn as ch
from cvm.reporting import persisted
from cvm.reporting.availability import REASON_FIGURES, SILENT_FIGURES, missing, silent_unavailable, without
from cvm.reporting.churn_sql import between_sql, cells_sql, data_end_sql, events_sql, flags_sql
from cvm.reporting.cohorts import cohorts_table, mark_partial_cells, partial_cohorts
from cvm.reporting.definitions import definition
from cvm.reporting.distributions import grade_table, histogram_table, names_of
from cvm.reporting.filters import ReportFilter, segment_sql
from cvm.reporting.growth import bridge_table, growth_from_bridge, hunting_from_bridge
from cvm.reporting.migration import (
    ACTIVITY_STATES,
    GRADES,
    activity_states_sql,
    grade_states_sql,
    matrix_table,
    stage_states_sql,
)
from cvm.reporting.periods import PeriodCode, complete_expr, final_day, period_code
from cvm.reporting.queries import NET_SCHEMA, Runner, mrr_net_sql, net_sql, net_table, on_backend, run_local
from cvm.reporting.rates import add_rates
from cvm.reporting.shared import shared_net
from cvm.reporting.voice import voc_table
from cvm.store import OfflineStore
from cvm.store.backend import DuckDBBackend, OfflineBackend

KINDS = ("growth", "voc", "cohorts", "migration", "churn", "silent-churn", "scores")
SOURCES = ("transactions", "mrr")
MIN_SAMPLE = 30  # answers below which a survey figure carries a warning (reporting.min_sample)


def jsonable(value: Any) -> Any:
    """Plain JSON value: Decimal to float (exact to the cent as printed), dates to ISO, NaN to None."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return f"{value.days}d"
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows of ``frame`` as JSON-ready dicts."""
    return [jsonable(row) for row in frame.to_dicts()]


@dataclass(frozen=True)
class Report:
    """One computed report: its parameters, tables (Polars frames), summary figures and definitions."""

    kind: str
    title: str
    parameters: dict[str, Any]
    tables: dict[str, pl.DataFrame]
    summary: dict[str, Any] = field(default_factory=dict)
    definitions: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, the same as ``cvm report KIND --json`` prints."""
        return {
            "kind": self.kind,
            "title": self.title,
            "parameters": jsonable(self.parameters),
            "summary": jsonable(self.summary),
            "tables": {name: records(frame) for name, frame in self.tables.items()},
            "definitions": self.definitions,
        }


class Inputs:
    """The hub tables of one store, restricted to the customers of a filter."""

    def __init__(
        self, store: OfflineStore, filters: ReportFilter | None = None, backend: OfflineBackend | None = None
    ) -> None:
        self.store = store
        self.backend = backend or DuckDBBackend(store)
        self.run = on_backend(self.backend)
        self.filters = filters or ReportFilter()
        self.ids = self.filters.sql()  # the selected customers' query, for the reports' own queries
        self._end: date | None = None

    def data_end(self) -> date | None:
        """The last date in the (unfiltered) data: the default ``as_of`` of every report."""
        if self._end is None:
            self._end = ch.end_of(self.run(data_end_sql()))
        return self._end

    def net(self, source: str, code: PeriodCode, as_of: date | None) -> pl.DataFrame:
        """Net cents per (customer, period) up to ``as_of``, sorted (:func:`cvm.reporting.queries.net_sql`).

        Computed once per store version and view for every report that needs it (:mod:`cvm.reporting.shared`).
        """
        manifest = self.store.manifest()
        files = json.dumps(manifest["tables"], sort_keys=True, default=str)  # the data read, exactly
        key = (self.store.url, files, self.filters, source, code, as_of)
        return shared_net(key, lambda: self._saved_or_net(manifest, source, code, as_of))

    def _saved_or_net(
        self, manifest: dict[str, Any], source: str, code: PeriodCode, as_of: date | None
    ) -> pl.DataFrame:
        """The table ``cvm run`` saved for exactly these data files (no filter), else :meth:`compute_net`."""
        if self.filters.empty:
            saved = persisted.load(self.store.scratch, persisted.digest(manifest, source, code, as_of))
            if saved is not None:
                return saved
        return self.compute_net(source, code, as_of)

    def net_sql(self, source: str, code: PeriodCode, as_of: date | None) -> str | None:
        """The query of net cents per (customer, period) up to ``as_of``; None for MRR without any data."""
        if source == "mrr":
            end = as_of or self.data_end()
            return None if end is None else mrr_net_sql(code, end, self.ids)
        if source == "transactions":
            return net_sql(code, as_of, self.ids)
        raise BadValueError(f"unknown source {source!r}; use {' or '.join(SOURCES)}")

    def compute_net(self, source: str, code: PeriodCode, as_of: date | None) -> pl.DataFrame:
        """Net cents per (customer, period), computed from the hub tables by the offline backend."""
        sql = self.net_sql(source, code, as_of)
        return pl.DataFrame(schema=NET_SCHEMA) if sql is None else net_table(self.run, sql)

    def net_relation(self, source: str, code: PeriodCode, as_of: date | None) -> tuple[Runner, str]:
        """Where the bridge and cohort queries run, and the net relation they read there.

        In this process (DuckDB) they read the net table kept per store version (:meth:`net`), which the
        growth, hunting and cohort views share; on a cluster (Spark) the net query is part of their query,
        so only the per-period rows reach this process.
        """
        sql = self.net_sql(source, code, as_of)
        if isinstance(self.backend, DuckDBBackend) or sql is None:
            net = self.net(source, code, as_of)
            return (lambda query: run_local(query, {"net_cents": net})), "SELECT customer, p, net FROM net_cents"
        return self.run, sql


def mark_partial(table: pl.DataFrame, code: PeriodCode, through: date) -> pl.DataFrame:
    """Add ``complete`` and ``partial`` (its negation) per period, by the one rule of :func:`final_day`."""
    if "period_start" not in table.columns:
        return table
    done = complete_expr(pl.col("period_start"), code, through)
    return table.with_columns(complete=done, partial=~done)


def growth_report(
    inputs: Inputs,
    period: str = "M",
    source: str = "transactions",
    reactivation_window: int | timedelta | None = None,
    include_reactivation: bool = False,
    new_periods: int = 1,
    as_of: date | None = None,
) -> Report:
    """Growth accounting with rates per period, and hunting vs farming.

    ``complete`` marks the periods that end on or before :func:`~cvm.reporting.periods.final_day` (the
    end of the data, before today), ``partial`` the others; the summary's ``latest_complete`` is the
    last complete one, the one to quote, and ``partial`` names the partial period, if any.
    """
    code = period_code(period)
    net = inputs.net_relation(source, code, as_of)
    end = as_of or inputs.data_end()
    through = final_day(end)
    cents = bridge_table(*net, code, reactivation_window, new_periods)
    table = add_rates(growth_from_bridge(cents, code), include_reactivation)
    table = mark_partial(table, code, through)
    split = mark_partial(hunting_from_bridge(cents, code), code, through)
    summary: dict[str, Any] = {"periods": table.height, "complete_through": through}
    done = table.filter(pl.col("complete"))
    if table.height:
        summary |= {"first": table["period"][0], "last": table["period"][-1]}
    if done.height:
        summary["latest_complete"] = done.row(-1, named=True)
    summary["partial"] = table.filter(pl.col("partial"))["period"].to_list()
    params = {
        "period": code,
        "source": source,
        "reactivation_window": reactivation_window,
        "include_reactivation": include_reactivation,
        "new_periods": new_periods,
        "as_of": end,
    }
    return Report(
        kind="growth",
        title=f"Growth accounting ({source}, per {code})",
        parameters=params | {"filters": inputs.filters.to_dict()},
        tables={"growth": table, "hunting_farming": split},
        summary=summary,
        definitions=definition("growth"),
    )


def small_sample(table: pl.DataFrame, min_sample: int) -> pl.DataFrame:
    """Flag the rows measured on fewer than ``min_sample`` answers (``small_sample``): quote them with care.

    No answer at all is not a small sample but a missing input (``not_available``).
    """
    return table.with_columns(small_sample=(pl.col("responses") > 0) & (pl.col("responses") < min_sample))


def voc_report(inputs: Inputs, period: str = "M", by: str | None = None, min_sample: int = MIN_SAMPLE) -> Report:
    """NPS, would recommend and did recommend by period (and segment), and over all time.

    Rows on fewer than ``min_sample`` answers carry ``small_sample``; the summary's ``warnings`` say so.
    """
    code = period_code(period)
    segments = segment_sql(by) if by else None
    overall = small_sample(voc_table(inputs.run, None, segments, inputs.ids), min_sample)
    per = small_sample(voc_table(inputs.run, code, segments, inputs.ids), min_sample)
    per = mark_partial(per, code, final_day(inputs.data_end()))
    keys = ("responses", "nps", "pct_would_recommend", "pct_did_recommend")
    summary: dict[str, Any] = {k: overall[k][0] for k in keys} if by is None and overall.height else {}
    if reason := missing(inputs.run, "surveys"):
        summary = without(summary, keys, reason)
    summary["warnings"] = sample_warnings(overall, per, min_sample)
    return Report(
        kind="voc",
        title=f"Voice of the customer per {code}" + (f" by {by}" if by else ""),
        parameters={"period": code, "by": by, "min_sample": min_sample, "filters": inputs.filters.to_dict()},
        tables={"voc": per, "overall": overall},
        summary=summary,
        definitions=definition("voc"),
    )


def sample_warnings(overall: pl.DataFrame, per: pl.DataFrame, min_sample: int) -> list[str]:
    """Sentences naming the figures measured on too few answers."""
    out: list[str] = []
    for row in overall.filter(pl.col("small_sample")).to_dicts():
        where = f" for {row['segment']}" if "segment" in row else ""
        out.append(f"NPS{where} rests on {row['responses']} answers (fewer than {min_sample}): not a reliable figure")
    thin = per.filter(pl.col("small_sample"))
    if thin.height:
        out.append(f"{thin.height} of {per.height} period rows rest on fewer than {min_sample} answers")
    return out


def cohorts_report(
    inputs: Inputs, period: str = "M", source: str = "transactions", as_of: date | None = None
) -> Report:
    """Revenue and customer retention by cohort of first revenue; ``partial`` marks the cells not yet complete."""
    code = period_code(period)
    through = final_day(as_of or inputs.data_end())
    table = mark_partial_cells(cohorts_table(*inputs.net_relation(source, code, as_of), code), code, through)
    return Report(
        kind="cohorts",
        title=f"Cohorts by first {dict(M='month', Q='quarter', Y='year')[code]} with revenue ({source})",
        parameters={
            "period": code,
            "source": source,
            "as_of": as_of or inputs.data_end(),
            "filters": inputs.filters.to_dict(),
        },
        tables={"cohorts": table},
        summary={
            "cohorts": table["cohort"].n_unique() if table.height else 0,
            "complete_through": through,
            "partial": partial_cohorts(table),
        },
        definitions=definition("cohorts"),
    )


def months_back(day: date, months: int) -> date:
    """``day`` moved back ``months`` calendar months, clamped to the end of a shorter month."""
    year, month0 = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month0 + 1, min(day.day, calendar.monthrange(year, month0 + 1)[1]))


def migration_report(
    inputs: Inputs,
    period: str = "M",
    states: str = "stage",
    date_from: date | None = None,
    date_to: date | None = None,
) -> Report:
    """Migration matrix of a per-customer state between two dates (default: the last period)."""
    code = period_code(period)
    date_to = date_to or inputs.data_end() or date.today()
    date_from = date_from or months_back(date_to, {"M": 1, "Q": 3, "Y": 12}[code])
    order: tuple[str, ...]
    if states == "activity":
        rows, order = activity_states_sql([date_from, date_to], ids=inputs.ids), ACTIVITY_STATES
    elif states == "stage":
        rows, order = stage_states_sql(inputs.ids), ()
    elif states == "value_grade" or states.startswith("grade:"):
        rows = grade_states_sql("clv" if states == "value_grade" else states[6:], inputs.ids)
        order = GRADES
    else:
        raise BadValueError(f"unknown states {states!r}; use stage, activity, value_grade or grade:SCORE")
    matrix = matrix_table(inputs.run, rows, date_from, date_to, order)
    summary: dict[str, Any] = {"customers": int(matrix["customers"].sum()) if matrix.height else 0}
    needs = {"activity": "transactions", "stage": "segment_membership"}.get(states, "scores")
    if reason := missing(inputs.run, needs):
        summary["not_available"] = reason
    return Report(
        kind="migration",
        title=f"Migration of {states} from {date_from} to {date_to}",
        parameters={
            "period": code,
            "states": states,
            "from": date_from,
            "to": date_to,
            "filters": inputs.filters.to_dict(),
        },
        tables={"matrix": matrix},
        summary=summary,
        definitions=definition("migration"),
    )


def churn_cells(
    inputs: Inputs,
    code: PeriodCode,
    as_of: date,
    inactivity_days: int,
    since: date | None,
    until: date | None,
    silent: tuple[int, tuple[str, ...]] | None = None,
) -> pl.DataFrame:
    """Churned customers and their money per (period, reason, reason type), or per (period, silent).

    ``silent`` is ``(lookback_days, loud_topics)``; the backend aggregates (:mod:`cvm.reporting.churn_sql`).
    """
    rows = between_sql(events_sql(as_of, inactivity_days, inputs.ids), since, until)
    keys: tuple[str, ...] = ("reason", "reason_type")
    if silent is not None:
        rows, keys = flags_sql(rows, silent[0], silent[1], None), ("silent",)
    return ch.cells(inputs.run(cells_sql(rows, code, keys)), keys)


def mark_censored(table: pl.DataFrame, code: PeriodCode, as_of: date | None, inactivity_days: int) -> pl.DataFrame:
    """Flag the periods whose inactivity churns are not all known yet (``censored``).

    A customer without a contract counts as churned at its last purchase only once ``inactivity_days``
    have passed, so periods ending after ``as_of - inactivity_days`` are undercounted (right-censored).
    """
    if as_of is None or "period_start" not in table.columns:
        return table.with_columns(censored=pl.lit(False))
    return table.with_columns(
        censored=~complete_expr(pl.col("period_start"), code, censored_from(as_of, inactivity_days))
    )


def censored_from(as_of: date, inactivity_days: int) -> date:
    """The last day whose inactivity churns are all known (``as_of - inactivity_days``)."""
    return as_of - timedelta(days=inactivity_days)


def censoring_note(as_of: date | None, inactivity_days: int) -> str:
    """The sentence every churn chart and JSON report carries."""
    if as_of is None:
        return ""
    since = censored_from(as_of, inactivity_days)
    return (
        f"Right-censored after {since.isoformat()}: a customer without a contract counts as churned only "
        f"{inactivity_days} days after its last purchase, so later periods are undercounted."
    )


def churn_report(
    inputs: Inputs,
    period: str = "M",
    as_of: date | None = None,
    inactivity_days: int = 365,
    since: date | None = None,
    until: date | None = None,
    top: int = 5,
) -> Report:
    """Top churn reasons, churn by reason type and churn per period."""
    code = period_code(period)
    as_of = as_of or inputs.data_end()
    if as_of is None:
        events = ch.cells(pl.DataFrame(), ("reason", "reason_type"))
    else:
        events = churn_cells(inputs, code, as_of, inactivity_days, since, until)
    by_type = ch.churn_by_type(events)
    churned = int(events["customers"].sum())
    summary = {"churned": churned, **{r["reason_type"]: r["customers"] for r in by_type.to_dicts()}}
    if reason := missing(inputs.run, "subscriptions"):
        summary = without(summary, REASON_FIGURES, reason)
    return Report(
        kind="churn",
        title="Churn reasons",
        parameters={
            "period": code,
            "as_of": as_of,
            "inactivity_days": inactivity_days,
            "since": since,
            "until": until,
            "top": top,
            "filters": inputs.filters.to_dict(),
        },
        tables={
            "reasons": ch.churn_reasons(events, top),
            "by_type": by_type,
            "by_period": mark_censored(ch.churn_by_period(events, code), code, as_of, inactivity_days),
        },
        summary=summary
        | {
            "censored_from": censored_from(as_of, inactivity_days) if as_of else None,
            "censoring": censoring_note(as_of, inactivity_days),
        },
        definitions=definition("churn"),
    )


def silent_churn_report(
    inputs: Inputs,
    period: str = "M",
    as_of: date | None = None,
    inactivity_days: int = 365,
    lookback_days: int = 180,
    since: date | None = None,
    until: date | None = None,
) -> Report:
    """Customers and revenue lost without any contact, complaint or cancellation request beforehand."""
    code = period_code(period)
    as_of = as_of or inputs.data_end()
    if as_of is None:
        flags = ch.cells(pl.DataFrame(), ("silent",))
    else:
        flags = churn_cells(inputs, code, as_of, inactivity_days, since, until, (lookback_days, ch.LOUD_TOPICS))
    by_period, summary = ch.silent_by_period(flags, code), ch.silent_summary(flags)
    if reason := missing(inputs.run, "contacts"):  # no contact at all would read as 100% silent
        by_period, summary = silent_unavailable(by_period), without(summary, SILENT_FIGURES, reason)
    return Report(
        kind="silent-churn",
        title=f"Silent churn (no contact in the {lookback_days} days before)",
        parameters={
            "period": code,
            "as_of": as_of,
            "inactivity_days": inactivity_days,
            "lookback_days": lookback_days,
            "since": since,
            "until": until,
            "filters": inputs.filters.to_dict(),
        },
        tables={"by_period": mark_censored(by_period, code, as_of, inactivity_days)},
        summary=summary
        | {
            "censored_from": censored_from(as_of, inactivity_days) if as_of else None,
            "censoring": censoring_note(as_of, inactivity_days),
        },
        definitions=definition("churn"),
    )


def scores_report(
    inputs: Inputs, period: str = "M", score: str = "clv", bins: int = 20, as_of: date | None = None
) -> Report:
    """Histogram and grade counts of the latest value of a score (CLV by default)."""
    grades = grade_table(inputs.run, score, as_of, inputs.ids)
    summary = {"customers": int(grades["customers"].sum()) if grades.height else 0, "available": names_of(inputs.run)}
    if reason := missing(inputs.run, "scores"):
        summary["not_available"] = reason
    return Report(
        kind="scores",
        title=f"Distribution of the {score} score",
        parameters={
            "period": period_code(period),
            "score": score,
            "bins": bins,
            "as_of": as_of,
            "filters": inputs.filters.to_dict(),
        },
        tables={"histogram": histogram_table(inputs.run, score, bins, as_of, ids=inputs.ids), "grades": grades},
        summary=summary,
        definitions=definition("scores"),
    )


BUILDERS: dict[str, Callable[..., Report]] = {
    "growth": growth_report,
    "voc": voc_report,
    "cohorts": cohorts_report,
    "migration": migration_report,
    "churn": churn_report,
    "silent-churn": silent_churn_report,
    "scores": scores_report,
}


def build_report(
    store: OfflineStore,
    kind: str,
    period: str = "M",
    filters: ReportFilter | None = None,
    backend: OfflineBackend | None = None,
    **options: Any,
) -> Report:
    """Compute the report ``kind`` (one of :data:`KINDS`) from ``store`` on ``backend`` (DuckDB by default).

    ``options`` go to its builder.
    """
    try:
        builder = BUILDERS[kind]
    except KeyError:
        raise BadValueError(f"unknown report {kind!r}; reports: {', '.join(KINDS)}") from None
    return builder(Inputs(store, filters, backend), period, **options)
