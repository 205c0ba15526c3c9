"""One self-contained HTML report: Plotly's JavaScript is embedded once, nothing is fetched.

The page holds the growth waterfall (with a menu over every period), movements, trend, rates,
hunting vs farming, voice of the customer, churn reasons, silent churn, cohorts and, when the
``scores`` table has them, the CLV distribution. The figures come from the same reports as
``cvm report ... --json``.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, date, datetime
from pathlib import Path

import plotly.graph_objects as go  # type: ignore[import-untyped, unused-ignore]
import plotly.io as pio  # type: ignore[import-untyped, unused-ignore]

from cvm.i18n import N_, _, current
from cvm.i18n.formats import chart_locale, money, num, pct
from cvm.i18n.labels import label
from cvm.i18n.notes import note_text
from cvm.reporting import figures
from cvm.reporting.definitions import definition_html
from cvm.reporting.filters import ReportFilter
from cvm.reporting.reports import (
    MIN_SAMPLE,
    Inputs,
    Report,
    churn_report,
    cohorts_report,
    growth_report,
    scores_report,
    silent_churn_report,
    voc_report,
)
from cvm.store import OfflineStore
from cvm.store.backend import OfflineBackend

DEFINITIONS = N_("Definitions")
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;color:#222}
h1{margin-bottom:.2rem} .meta{color:#666;margin-top:0} section{margin:2rem 0}
.kpis{display:flex;flex-wrap:wrap;gap:1rem} .kpi{border:1px solid #ddd;border-radius:8px;padding:.6rem 1rem}
.kpi b{display:block;font-size:1.3rem} details{color:#333;font-size:.92rem;line-height:1.5}
details h3{font-size:1rem;margin:.8rem 0 .3rem} details h4{font-size:.95rem;margin:.8rem 0 .3rem}
.notice{background:#fffaeb;border:1px solid #fedf89;color:#5a3300;border-radius:6px;padding:.45rem .75rem}
"""


def _kpi(label: str, text: str) -> str:
    return f'<div class="kpi"><b>{html.escape(text)}</b>{html.escape(label)}</div>'


def _kpis(growth: Report, voc: Report, silent: Report) -> str:
    latest = growth.summary.get("latest_complete") or {}
    items = [
        _kpi(_("revenue %(period)s") % {"period": latest.get("period", "")}, money(latest.get("end"), 2)),
        _kpi(_("active customers"), num(latest.get("customers_active"))),
        _kpi(_("NRR"), pct(latest.get("nrr"))),
        _kpi(_("GRR"), pct(latest.get("grr"))),
        _kpi(_("quick ratio"), num(latest.get("quick_ratio"), 2)),
        _kpi(_("NPS (all time)"), num(voc.summary.get("nps"), 1)),
        _kpi(_("silent churn share"), pct(silent.summary.get("share_customers"))),
    ]
    return '<div class="kpis">' + "".join(items) + "</div>"


def _plotly_js() -> str:
    """Plotly's JavaScript, then the month and day names of the report's language (CLDR) registered with it."""
    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped, unused-ignore]

    scripts = [f'<script type="text/javascript">{get_plotlyjs()}</script>']
    if current().language != "en":  # Plotly knows English already
        names = json.dumps(chart_locale(), ensure_ascii=False).replace("</", "<\\/")
        scripts.append(f'<script type="text/javascript">Plotly.register({names});</script>')
    return "".join(scripts)


class _Page:
    """Collects sections; the first figure carries Plotly's JavaScript, the others reuse it."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self._js = True
        self._defined: set[str] = set()

    def figure(self, fig: go.Figure) -> None:
        if self._js:
            self.parts.append(_plotly_js())
            self._js = False
        config: dict[str, object] = {"displaylogo": False}
        if current().language != "en":  # month names on date axes in the report's language (registered once)
            config["locale"] = current().language
        div = pio.to_html(fig, include_plotlyjs=False, full_html=False, config=config)
        self.parts.append(f"<div>{div}</div>")

    def section(self, title: str, report: Report, *figs: go.Figure, notes: tuple[str, ...] = ()) -> None:
        """A titled section: notes (warnings), figures, then the report's definitions (once per report)."""
        self.parts.append(f"<section><h2>{html.escape(title)}</h2>")
        if report.summary.get("not_available"):
            what = _("Not available: %(why)s.") % {"why": report.summary["not_available"]}
            self.parts.append(f'<p class="meta">{html.escape(what)}</p>')
        self.parts.extend(f'<p class="notice">{html.escape(note_text(n))}</p>' for n in notes if n)
        for fig in figs:
            self.figure(fig)
        if report.kind not in self._defined:
            self._defined.add(report.kind)
            body = definition_html(report.kind, current().language)
            self.parts.append(f"<details><summary>{html.escape(_(DEFINITIONS))}</summary>{body}</details>")
        self.parts.append("</section>")


def html_report(
    store: OfflineStore,
    period: str = "M",
    filters: ReportFilter | None = None,
    source: str = "transactions",
    as_of: date | None = None,
    min_sample: int = MIN_SAMPLE,
    backend: OfflineBackend | None = None,
) -> str:
    """The whole report as one HTML string (several MB: Plotly's JavaScript is inside)."""
    inputs = Inputs(store, filters, backend)
    growth = growth_report(inputs, period, source=source, as_of=as_of)
    voc = voc_report(inputs, period, min_sample=min_sample)
    churn = churn_report(inputs, period, as_of=as_of)
    silent = silent_churn_report(inputs, period, as_of=as_of)
    cohorts = cohorts_report(inputs, period, source=source, as_of=as_of)
    scores = scores_report(inputs, period, as_of=as_of)
    page = _Page()
    g = growth.tables["growth"]
    partial = growth.summary.get("partial") or []
    note = (
        _("%(periods)s is partial (data through %(through)s): shaded in the charts, not a full period.")
        % {"periods": ", ".join(partial), "through": growth.summary.get("complete_through")}
        if partial
        else ""
    )
    page.section(
        label("growth", "report"), growth, figures.waterfall_figure(g), figures.movements_figure(g), notes=(note,)
    )
    page.section(_("Trend and rates"), growth, figures.trend_figure(g), figures.rates_figure(g))
    page.section(_("Hunting vs farming"), growth, figures.hunting_farming_figure(growth.tables["hunting_farming"]))
    page.section(
        label("voc", "report"),
        voc,
        figures.voc_figure(voc.tables["voc"]),
        notes=tuple(voc.summary.get("warnings", [])),
    )
    page.section(
        label("churn", "report"),
        churn,
        figures.churn_reasons_figure(churn.tables["reasons"]),
        figures.churn_period_figure(churn.tables["by_period"]),
        notes=(churn.summary.get("censoring", ""),),
    )
    page.section(
        label("silent-churn", "report"),
        silent,
        figures.silent_churn_figure(silent.tables["by_period"]),
        notes=(silent.summary.get("censoring", ""),),
    )
    page.section(label("cohorts", "report"), cohorts, figures.cohort_heatmap(cohorts.tables["cohorts"]))
    if scores.tables["histogram"].height:
        page.section(
            _("Customer value"), scores, figures.histogram_figure(scores.tables["histogram"], _("CLV distribution"))
        )
    scope = ", ".join(f"{k}={v}" for k, v in (filters or ReportFilter()).to_dict().items()) or _("all customers")
    made = datetime.now(UTC).isoformat(timespec="seconds")
    title = html.escape(_("CVM report"))
    head = (
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{_CSS}</style>"
    )
    every = _("per %(period)s") % {"period": label(growth.parameters["period"], "period")}
    source_label = _("Transactions") if source == "transactions" else _("Recurring (MRR)")
    when = _("made %(when)s") % {"when": made}
    meta = html.escape(f"{scope} · {every} · {source_label} · {when}")
    body = f'<h1>{title}</h1><p class="meta">{meta}</p>' + _kpis(growth, voc, silent) + "".join(page.parts)
    lang = html.escape(current().tag)
    return f'<!DOCTYPE html><html lang="{lang}"><head>{head}</head><body>{body}</body></html>'


def write_html(
    store: OfflineStore,
    out: Path,
    period: str = "M",
    filters: ReportFilter | None = None,
    source: str = "transactions",
    as_of: date | None = None,
    min_sample: int = MIN_SAMPLE,
    backend: OfflineBackend | None = None,
) -> Path:
    """Write :func:`html_report` to ``out`` (parent folders created); return the path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html_report(store, period, filters, source, as_of, min_sample, backend), encoding="utf-8")
    return out
