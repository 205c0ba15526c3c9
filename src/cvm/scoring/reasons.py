"""Reason codes as sentences people can read, in the current language, with the customer's values.

The ``scores`` table keeps the codes (``dpd_mean_365d;sector;current_dpd``, or valued phrases such as
``MRR 120;tenure 14m``); the API and ``--json`` keep them too. :func:`sentences` turns each code into a
sentence: ``dpd_mean_365d`` with the customer's value 34 becomes "paid on average 34 days late over the
last year" / « paie en moyenne avec 34 jours de retard sur l'année écoulée » / "betaalt gemiddeld 34
dagen te laat over het afgelopen jaar". A code without a value says what it is about; an unknown code
is shown as it is.

Imports from a sibling stage: :mod:`cvm.features.build`, so that a reason's value is the feature the
model scored, built by the same definition.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import duckdb
import polars as pl

from cvm.contracts import DATA_TABLES
from cvm.features.build import build_features
from cvm.i18n import N_, _
from cvm.i18n.formats import day, finite, money, num, pct
from cvm.i18n.labels import VOCABULARIES, label

AMOUNTS = {
    "revenue_total", "revenue_365d", "revenue_90d", "revenue_prev_90d", "revenue_trend_90d", "margin_365d",
    "avg_purchase", "mrr", "mrr_change_90d", "open_overdue_amount",
}  # fmt: skip
SHARES = {"late_share_365d", "late_share_90d"}
ONE_DECIMAL = {"purchases_per_year", "nps_mean"}
CODED = {"channel": "channel"}

#: One sentence per feature of :data:`cvm.features.sql.FEATURES`; ``%(value)s`` is the customer's value.
FEATURES: dict[str, str] = {
    "kind": N_("is a %(value)s customer"),
    "region": N_("is in region %(value)s"),
    "sector": N_("works in the %(value)s sector"),
    "channel": N_("came in through the %(value)s channel"),
    "tenure_days": N_("has been a customer for %(value)s days"),
    "purchases_total": N_("made %(value)s purchases in all"),
    "purchases_365d": N_("made %(value)s purchases over the last year"),
    "purchases_90d": N_("made %(value)s purchases over the last 90 days"),
    "revenue_total": N_("brought in %(value)s in all"),
    "revenue_365d": N_("brought in %(value)s over the last year"),
    "revenue_90d": N_("brought in %(value)s over the last 90 days"),
    "revenue_prev_90d": N_("brought in %(value)s in the 90 days before the last 90"),
    "revenue_trend_90d": N_("revenue of the last 90 days changed by %(value)s against the 90 days before"),
    "margin_365d": N_("left a margin of %(value)s over the last year"),
    "refunds_365d": N_("had %(value)s refunds over the last year"),
    "avg_purchase": N_("spends %(value)s per purchase on average"),
    "recency_days": N_("last bought %(value)s days ago"),
    "mean_gap_days": N_("buys every %(value)s days on average"),
    "purchases_per_year": N_("buys %(value)s times a year"),
    "active_subscriptions": N_("has %(value)s active subscriptions"),
    "mrr": N_("pays %(value)s a month in subscriptions"),
    "mrr_change_90d": N_("monthly subscription revenue changed by %(value)s over the last 90 days"),
    "subscription_tenure_days": N_("first subscribed %(value)s days ago"),
    "subscriptions_started_365d": N_("started %(value)s subscriptions over the last year"),
    "subscriptions_ended_365d": N_("ended %(value)s subscriptions over the last year"),
    "invoices_365d": N_("had %(value)s invoices due over the last year"),
    "dpd_mean_365d": N_("paid on average %(value)s days late over the last year"),
    "dpd_max_365d": N_("paid up to %(value)s days late over the last year"),
    "dpd_max_90d": N_("paid up to %(value)s days late over the last 90 days"),
    "dpd_max_ever": N_("once paid %(value)s days late"),
    "late_share_365d": N_("paid %(value)s of the invoices late over the last year"),
    "late_share_90d": N_("paid %(value)s of the invoices late over the last 90 days"),
    "open_overdue_amount": N_("owes %(value)s in overdue invoices"),
    "open_overdue_invoices": N_("has %(value)s overdue invoices"),
    "current_dpd": N_("has an invoice %(value)s days overdue"),
    "contacts_90d": N_("was in contact %(value)s times over the last 90 days"),
    "contacts_365d": N_("was in contact %(value)s times over the last year"),
    "inbound_contacts_90d": N_("contacted us %(value)s times over the last 90 days"),
    "complaints_90d": N_("complained %(value)s times over the last 90 days"),
    "complaints_365d": N_("complained %(value)s times over the last year"),
    "cancellation_requests_90d": N_("asked to cancel %(value)s times over the last 90 days"),
    "payment_reminders_90d": N_("received %(value)s payment reminders over the last 90 days"),
    "sales_visits_365d": N_("had %(value)s sales visits over the last year"),
    "open_tickets": N_("has %(value)s open service requests"),
    "days_since_last_contact": N_("was last in contact %(value)s days ago"),
    "nps_last": N_("gave %(value)s out of 10 in the last survey"),
    "nps_previous": N_("gave %(value)s out of 10 in the survey before"),
    "nps_trend": N_("survey answer changed by %(value)s points"),
    "nps_mean": N_("gives %(value)s out of 10 on average in surveys"),
    "surveys": N_("answered %(value)s surveys"),
    "days_since_last_survey": N_("last answered a survey %(value)s days ago"),
    "rating_score": N_("has an external credit rating of %(value)s out of 100"),
    "rating_score_6m_ago": N_("had an external credit rating of %(value)s six months ago"),
    "rating_change_6m": N_("external credit rating changed by %(value)s points in six months"),
    "rating_min_365d": N_("had an external credit rating as low as %(value)s over the last year"),
    "days_since_last_rating": N_("was last rated %(value)s days ago"),
}
_NO_INVOICE_YEAR = N_("no invoice was due over the last year")
_NO_INVOICE_90D = N_("no invoice was due over the last 90 days")
_NO_SURVEY = N_("never answered a survey")
_NO_RATING = N_("has no external credit rating")
_NO_PURCHASE = N_("no purchase yet")
#: What an empty feature means (the feature query leaves these null when there is nothing to measure).
MISSING: dict[str, str] = {
    "dpd_mean_365d": _NO_INVOICE_YEAR,
    "dpd_max_365d": _NO_INVOICE_YEAR,
    "late_share_365d": _NO_INVOICE_YEAR,
    "dpd_max_90d": _NO_INVOICE_90D,
    "late_share_90d": _NO_INVOICE_90D,
    "dpd_max_ever": N_("never had an invoice due"),
    "recency_days": _NO_PURCHASE,
    "avg_purchase": _NO_PURCHASE,
    "mean_gap_days": N_("bought fewer than twice"),
    "days_since_last_contact": N_("never in contact"),
    "nps_last": _NO_SURVEY,
    "nps_mean": _NO_SURVEY,
    "days_since_last_survey": _NO_SURVEY,
    "nps_previous": N_("answered at most one survey"),
    "nps_trend": N_("answered at most one survey"),
    "rating_score": _NO_RATING,
    "rating_min_365d": _NO_RATING,
    "days_since_last_rating": _NO_RATING,
    "rating_score_6m_ago": N_("had no external credit rating six months ago"),
    "rating_change_6m": N_("had no external credit rating six months ago"),
    "subscription_tenure_days": N_("never subscribed"),
}
#: Said of a feature code when the customer's value is not at hand.
ABOUT = N_("because of: %(what)s")

Fmt = Callable[[str], str]
#: Valued phrases written by the value and life-cycle scores (cvm.scoring.rows, cvm.scoring.assembly).
PHRASES: list[tuple[re.Pattern[str], str, Fmt]] = [
    (re.compile(r"no purchase yet"), N_("no purchase yet"), str),
    (re.compile(r"no adverse factor"), N_("nothing weighs against this customer"), str),
    (re.compile(r"margin not recorded"), N_("margin not recorded"), str),
    (re.compile(r"live contract"), N_("has a live contract"), str),
    (re.compile(r"contract"), N_("has a live contract"), str),
    (re.compile(r"no subscription"), N_("has no subscription"), str),
    (re.compile(r"holds (?P<v>.+)"), N_("already holds %(value)s"), str),
    (re.compile(r"(?P<v>-?\d+) purchases"), N_("made %(value)s purchases in all"), lambda v: num(v)),
    (re.compile(r"last (?P<v>\d{4}-\d{2}-\d{2})"), N_("last bought on %(value)s"), lambda v: day(v)),
    (re.compile(r"margin ratio (?P<v>-?\d+)%"), N_("margin of %(value)s of revenue"), lambda v: pct(float(v) / 100, 0)),
    (re.compile(r"frequency (?P<v>\d+)"), N_("bought again %(value)s times"), lambda v: num(v)),
    (re.compile(r"recency (?P<v>\d+)d"), N_("last repeat purchase %(value)s days after the first"), lambda v: num(v)),
    (re.compile(r"age (?P<v>\d+)d"), N_("first bought %(value)s days ago"), lambda v: num(v)),
    (re.compile(r"tenure (?P<v>\d+)m"), N_("customer for %(value)s months"), lambda v: num(v)),
    (re.compile(r"last purchase (?P<v>\d+)d ago"), N_("last bought %(value)s days ago"), lambda v: num(v)),
    (re.compile(r"MRR (?P<v>-?\d+)"), N_("pays %(value)s a month in subscriptions"), lambda v: money(v)),
    (re.compile(r"one-off (?P<v>-?\d+)"), N_("one-off purchases worth %(value)s expected"), lambda v: money(v)),
    (re.compile(r"exp purchases (?P<v>[\d.]+)"), N_("expected to buy %(value)s times in the next 12 months"),
     lambda v: num(v, 1)),
    (re.compile(r"exp spend (?P<v>-?\d+)"), N_("expected to spend %(value)s per purchase"), lambda v: money(v)),
    (re.compile(r"p_alive (?P<v>[\d.]+)"), N_("%(value)s likely to still be a customer"), lambda v: pct(v, 0)),
    # the cost to serve and net value (cvm.scoring.cost_to_serve)
    (re.compile(r"last 365 days"), N_("over the last 12 months"), str),
    (re.compile(r"no cost to serve"), N_("cost nothing to serve over the last 12 months"), str),
    (re.compile(r"contacts (?P<v>\d+)"), N_("was in contact %(value)s times over the last 12 months"), num),
    (re.compile(r"contact cost (?P<v>-?[\d.]+)"), N_("contacts cost %(value)s"), lambda v: money(v, 2)),
    (re.compile(r"complaints (?P<v>\d+)"), N_("complained %(value)s times over the last 12 months"), num),
    (re.compile(r"complaint cost (?P<v>-?[\d.]+)"), N_("handling complaints cost %(value)s"), lambda v: money(v, 2)),
    (re.compile(r"reminders (?P<v>\d+)"), N_("received %(value)s payment reminders over the last 12 months"), num),
    (re.compile(r"reminder cost (?P<v>-?[\d.]+)"), N_("payment reminders cost %(value)s"), lambda v: money(v, 2)),
    (re.compile(r"late payments (?P<v>\d+)"), N_("paid %(value)s invoices late over the last 12 months"), num),
    (re.compile(r"late payment cost (?P<v>-?[\d.]+)"), N_("late payments cost %(value)s"), lambda v: money(v, 2)),
    (re.compile(r"bad debt (?P<v>-?[\d.]+)"), N_("unpaid invoices lost %(value)s"), lambda v: money(v, 2)),
    (re.compile(r"gross margin 12m (?P<v>-?[\d.]+)"), N_("gross margin of %(value)s over the last 12 months"),
     lambda v: money(v, 2)),
    (re.compile(r"cost to serve (?P<v>-?[\d.]+)"), N_("cost %(value)s to serve over the last 12 months"),
     lambda v: money(v, 2)),
    (re.compile(r"gross clv (?P<v>-?[\d.]+)"), N_("gross lifetime value of %(value)s"), lambda v: money(v, 2)),
    (re.compile(r"expected cost to serve (?P<v>-?[\d.]+)"),
     N_("expected to cost %(value)s to serve over the value horizon"), lambda v: money(v, 2)),
]  # fmt: skip


#: Phrases with several values: the early warning's (cvm.risk.early_warning).
DROPS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"points (?P<before>-?\d+)->(?P<now>-?\d+) since (?P<since>\d{4}-\d{2}-\d{2})"),
     N_("credit score fell from %(before)s to %(now)s points since %(since)s")),
    (re.compile(r"grade (?P<before>\w+)->(?P<now>\w+)"), N_("risk grade went from %(before)s to %(now)s")),
]  # fmt: skip


def _drop(code: str) -> str | None:
    for pattern, message in DROPS:
        found = pattern.fullmatch(code)
        if found is None:
            continue
        parts = found.groupdict()
        if "since" in parts:
            return _(message) % {"before": num(parts["before"]), "now": num(parts["now"]), "since": day(parts["since"])}
        return _(message) % {"before": label(parts["before"], "grade"), "now": label(parts["now"], "grade")}
    return None


def _value(feature: str, value: Any) -> str | None:
    if feature in CODED:
        return None if value is None else label(value, CODED[feature])
    if isinstance(value, str):
        return value
    number = finite(value)
    if number is None:
        return None
    if feature in AMOUNTS:
        return money(number)
    if feature in SHARES:
        return pct(number, 0)
    return num(number, 1 if feature in ONE_DECIMAL else 0)


def sentence(code: str, values: Mapping[str, Any] | None = None) -> str:
    """One reason code as a sentence in the current language (see the module docstring)."""
    code = code.strip()
    if code in FEATURES:
        shown = _value(code, (values or {}).get(code))
        if shown is None and values is not None and code in MISSING:
            return _(MISSING[code])
        if shown is None:
            return _(ABOUT) % {"what": label(code, "field") if code in VOCABULARIES["field"] else code}
        return _(FEATURES[code]) % {"value": shown}
    if code.startswith("holds_"):
        product = code.removeprefix("holds_")
        held = (values or {}).get(code)
        if held is None:
            return _(ABOUT) % {"what": product}
        return (_("already holds %(value)s") if held else _("does not hold %(value)s")) % {"value": product}
    dropped = _drop(code)
    if dropped is not None:
        return dropped
    for pattern, message, fmt in PHRASES:
        found = pattern.fullmatch(code)
        if found:
            return _(message) % {"value": fmt(found.group("v"))} if "v" in pattern.groupindex else _(message)
    return code


def sentences(reasons: str | None, values: Mapping[str, Any] | None = None) -> list[str]:
    """Each ``;``-separated code of ``reasons`` as a sentence, in order."""
    return [sentence(c, values) for c in (reasons or "").split(";") if c.strip()]


def reasons_text(reasons: str | None, values: Mapping[str, Any] | None = None) -> str:
    """:func:`sentences` as one line: ``paid on average 34 days late over the last year; ...``."""
    return "; ".join(sentences(reasons, values))


def needs_values(scores: list[dict[str, Any]]) -> bool:
    """Whether any reason of ``scores`` names a feature (and so needs the customer's feature values)."""
    codes = {c.strip() for row in scores for c in (row.get("reasons") or "").split(";")}
    return any(c in FEATURES or c.startswith("holds_") for c in codes)


def explain_scores(scores: list[dict[str, Any]], values: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """``scores`` rows plus ``reasons_text`` (current language) and ``reason_values``; ``reasons`` kept.

    ``reason_values`` holds the customer's value of each feature a reason names, so that a page can say
    the reasons again in its reader's language (:func:`row_text`).
    """
    out = []
    for row in scores:
        codes = [c.strip() for c in (row.get("reasons") or "").split(";")]
        used = {c: _jsonable(values[c]) for c in codes if values is not None and c in values}
        out.append({**row, "reasons_text": reasons_text(row.get("reasons"), values), "reason_values": used})
    return out


def row_text(row: Mapping[str, Any]) -> str:
    """The reasons of a row of :func:`explain_scores` in the current language (the dashboard's filter)."""
    values = row.get("reason_values")
    return reasons_text(row.get("reasons"), values if isinstance(values, Mapping) else None)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def feature_values(rows: Mapping[str, pl.DataFrame], as_of: date) -> dict[str, Any]:
    """The features of one customer as of ``as_of``, from its hub rows (what its reason codes refer to).

    ``rows`` holds the customer's rows of each hub table (:func:`cvm.customers.profile.customer_rows`);
    the feature query runs on them alone, so this costs milliseconds whatever the size of the hub.
    """
    con = duckdb.connect()
    try:
        for name in DATA_TABLES:
            if name in rows:
                con.register(name, rows[name].to_arrow())
        frame = build_features(con, as_of)
    finally:
        con.close()
    return frame.row(0, named=True) if frame.height else {}
