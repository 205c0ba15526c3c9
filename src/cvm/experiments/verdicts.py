"""A pilot's recommendation as codes and values, and its reason as a sentence in English or the reader's language.

The report keeps the verdict as data: ``code`` (``primary_gain``, ``no_difference_yet``, ...) and
``values`` (the lift, its interval, the p-value, the net value) next to ``decision``, ``arm`` and the
secondary ``harms``. The English ``reason`` (``--json``, the API, saved reports) is said once when the
report is built (:func:`english`); the CLI, the dashboard and the HTML report say it again in their
reader's language (:func:`reason_text`) from the same data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cvm.i18n import N_, gettext
from cvm.i18n.formats import money, num, pct, pvalue
from cvm.i18n.labels import label

MESSAGES: dict[str, str] = {
    "srm_mismatch": N_("sample-ratio mismatch (p %(p)s): the assignment is broken or leaks; fix it first"),
    "too_few_mature": N_("too few customers completed the %(window)s-day window (%(done)s)"),
    "primary_harm": N_("%(arm)s lowers %(outcome)s: %(interval)s"),
    "primary_gain": N_("%(arm)s raises %(outcome)s by %(interval)s"),
    "primary_gain_net": N_(
        "%(arm)s raises %(outcome)s by %(interval)s; net incremental margin %(net)s after %(cost)s of action costs"
    ),
    "costs_not_covered": N_("even at the top of its interval the incremental margin does not pay the costs"),
    "no_difference_yet": N_(
        "no significant difference in %(outcome)s yet: %(interval)s; detecting it at 80%% power needs about "
        "%(need)s customers per arm"
    ),
    "no_difference_tiny": N_(
        "no significant difference in %(outcome)s yet: %(interval)s; detecting it at 80%% power needs an "
        "unmeasurably small effect"
    ),
}
INTERVAL = N_("%(lift)s (95%% CI %(low)s to %(high)s, p %(p)s)")
HARM = N_("%(arm)s lowers %(outcome)s by %(lift)s (p %(p)s)")
HARMS = N_("Significant harm on a secondary outcome: %(harms)s")
CAUTION = N_("weigh it before rolling out")


@dataclass(frozen=True)
class _Voice:
    """How one audience says numbers and codes: the English reason as it always read, or the reader's language."""

    say: Callable[[str], str]
    lift: Callable[[Any], str]
    p: Callable[[Any], str]  # with its relation: "= 0.049", "< 0,001"
    count: Callable[[Any], str]
    money: Callable[[Any], str]
    outcome: Callable[[str], str]


def _en_lift(x: Any) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f}%"


def _en_p(x: Any) -> str:
    return "= n/a" if x is None else f"= {x:.2g}"


def p_relation(x: Any) -> str:
    """A p-value with its relation in the current language: ``= 0,049``, ``< 0,001``."""
    text = pvalue(x)
    return text if text.startswith("<") else "= " + text


def _en_count(x: Any) -> str:
    return f"{x:,.0f}"


def _local_lift(x: Any) -> str:
    text = pct(x)
    return "+" + text if x is not None and math.isfinite(float(x)) and x > 0 else text


ENGLISH = _Voice(say=lambda m: m, lift=_en_lift, p=_en_p, count=_en_count, money=_en_count, outcome=str)
LOCAL = _Voice(
    say=gettext, lift=_local_lift, p=p_relation, count=num, money=money, outcome=lambda o: label(o, "outcome")
)


def _interval(v: Mapping[str, Any], voice: _Voice) -> str:
    return voice.say(INTERVAL) % {"lift": voice.lift(v.get("lift")), "low": voice.lift(v.get("ci_low")),
                                  "high": voice.lift(v.get("ci_high")), "p": voice.p(v.get("p_value"))}  # fmt: skip


def _sentence(code: str, v: Mapping[str, Any], voice: _Voice) -> str:
    args: dict[str, str] = {}
    if "lift" in v:
        args["interval"] = _interval(v, voice)
    if "outcome" in v:
        args["outcome"] = voice.outcome(str(v["outcome"]))
    if "arm" in v:
        args["arm"] = str(v["arm"])
    if code == "srm_mismatch":
        args["p"] = voice.p(v.get("p_value"))
    elif code == "too_few_mature":
        args["window"] = str(v["window_days"])
        args["done"] = ", ".join(f"{a}: {n}" for a, n in sorted(dict(v["mature"]).items()))
    elif code == "primary_gain_net":
        args |= {"net": voice.money(v["net"]), "cost": voice.money(v["cost"])}
    elif code == "no_difference_yet":
        args["need"] = voice.count(math.ceil(float(v["need"])))
    return voice.say(MESSAGES[code]) % args


def _harms(verdict: Mapping[str, Any], voice: _Voice) -> str:
    found = verdict.get("harms") or []
    if not found:
        return ""
    named = "; ".join(voice.say(HARM) % {"arm": h["arm"], "outcome": voice.outcome(str(h["outcome"])),
                                         "lift": voice.lift(h["lift"]), "p": voice.p(h["p_value"])}
                      for h in found)  # fmt: skip
    text = voice.say(HARMS) % {"harms": named}
    return text + (": " + voice.say(CAUTION) if verdict.get("decision") == "roll out" else "")


def english(verdict: Mapping[str, Any]) -> str:
    """The reason of ``verdict`` (``code``, ``values``, ``harms``) in English, as ``--json`` and the API show it."""
    main = _sentence(str(verdict["code"]), verdict.get("values") or {}, ENGLISH)
    harms = _harms(verdict, ENGLISH)
    return f"{main}. {harms}" if harms else main


def reason_text(verdict: Mapping[str, Any], with_harms: bool = True) -> str:
    """The reason of a recommendation in the current language (its English ``reason`` when it has no ``code``).

    ``with_harms=False`` leaves out the secondary harms (a page that lists them on their own). A report
    saved before the recommendation kept its code says its reason as it was written.
    """
    code = verdict.get("code")
    if not isinstance(code, str) or code not in MESSAGES:
        return str(verdict.get("reason", ""))
    main = _sentence(code, verdict.get("values") or {}, LOCAL)
    harms = _harms(verdict, LOCAL) if with_harms else ""
    return f"{main}. {harms}" if harms else main
