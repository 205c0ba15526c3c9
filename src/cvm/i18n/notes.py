"""The reports' warning sentences in the reader's language.

A report's summary keeps its warnings in English (``--json`` and the API show them as they are, and
the dashboard caches one report for every language); the CLI, the dashboard and the HTML report show
them through :func:`note_text`, which recognises each sentence and says it again in the current
language with its values formatted there. A sentence it does not know is shown as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from cvm.i18n import N_, gettext
from cvm.i18n.formats import day, num, pct

Fmt = Callable[[str], str]


def _share(text: str) -> str:
    """``20`` (a percentage as written in English) in the current language: ``20 %``."""
    return pct(float(text) / 100, 0)


def _signed(text: str) -> str:
    return num(text, 2, signed=True)


NOTES: list[tuple[re.Pattern[str], str, dict[str, Fmt]]] = [
    (
        re.compile(
            r"NPS for (?P<segment>.+) rests on (?P<n>\d+) answers \(fewer than (?P<min>\d+)\): not a reliable figure"
        ),
        N_("NPS for %(segment)s rests on %(n)s answers (fewer than %(min)s): not a reliable figure"),
        {"n": num, "min": num},
    ),
    (
        re.compile(r"NPS rests on (?P<n>\d+) answers \(fewer than (?P<min>\d+)\): not a reliable figure"),
        N_("NPS rests on %(n)s answers (fewer than %(min)s): not a reliable figure"),
        {"n": num, "min": num},
    ),
    (
        re.compile(r"(?P<n>\d+) of (?P<total>\d+) period rows rest on fewer than (?P<min>\d+) answers"),
        N_("%(n)s of %(total)s period rows rest on fewer than %(min)s answers"),
        {"n": num, "total": num, "min": num},
    ),
    (
        re.compile(
            r"Right-censored after (?P<since>\d{4}-\d{2}-\d{2}): a customer without a contract counts as churned only "
            r"(?P<days>\d+) days after its last purchase, so later periods are undercounted\."
        ),
        N_(
            "Right-censored after %(since)s: a customer without a contract counts as churned only %(days)s days "
            "after its last purchase, so later periods are undercounted."
        ),
        {"since": day, "days": num},
    ),
    (  # the demo's retrospective pilot (cvm.experiments.retro)
        re.compile(
            r"SIMULATED: the demo's history contains no CVM action\. The targeting and the assignment \(bucket hash\) "
            r"are real, on the demo data as of (?P<since>\d{4}-\d{2}-\d{2}); retention, revenue and margin over the "
            r"next (?P<days>\d+) days are drawn from the ground truth \(simulate\.py\) for both arms, the call cutting "
            r"the churn hazard of at-risk customers \(true monthly hazard ≥ (?P<hazard>\d+)%\) by (?P<cut>\d+)%; "
            r"conversion and NPS are the recorded history \(the simulated call does not change them\)\."
        ),
        N_(
            "SIMULATED: the demo's history contains no CVM action. The targeting and the assignment (bucket hash) "
            "are real, on the demo data as of %(since)s; retention, revenue and margin over the next %(days)s days "
            "are drawn from the ground truth (simulate.py) for both arms, the call cutting the churn hazard of "
            "at-risk customers (true monthly hazard ≥ %(hazard)s) by %(cut)s; conversion and NPS are the recorded "
            "history (the simulated call does not change them)."
        ),
        {"since": day, "days": num, "hazard": _share, "cut": _share},
    ),
    (
        re.compile(
            r"True effect by construction on these customers: retention (?P<points>[+-]?\d+\.\d+) points "
            r"\((?P<lift>[+-]?\d+\.\d+)%\), revenue (?P<revenue>[+-]?\d+\.\d+) per customer "
            r"\((?P<revenue_lift>[+-]?\d+\.\d+)%\)\."
        ),
        N_(
            "True effect by construction on these customers: retention %(points)s points (%(lift)s%%), "
            "revenue %(revenue)s per customer (%(revenue_lift)s%%)."
        ),
        {"points": _signed, "lift": _signed, "revenue": _signed, "revenue_lift": _signed},
    ),
    (
        re.compile(r"Win-back call to lapsing buyers \(last purchase 45–365 days ago\), against a 50% holdout\."),
        N_("Win-back call to lapsing buyers (last purchase 45–365 days ago), against a 50%% holdout."),
        {},
    ),
]


def note_text(text: str) -> str:
    """``text`` (a report's English warning) in the current language, or as it is when it is not known.

    Examples
    --------
    >>> note_text("3 of 12 period rows rest on fewer than 30 answers")
    '3 of 12 period rows rest on fewer than 30 answers'
    >>> note_text("something else")
    'something else'
    """
    for pattern, message, formats in NOTES:
        found = pattern.fullmatch(text.strip())
        if found:
            values = {k: formats.get(k, str)(v) for k, v in found.groupdict().items()}
            return gettext(message) % values
    return text
