"""``cvm policy``: what a decision policy would have earned, estimated from the logged decisions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from cvm.cli.console import console
from cvm.cli.errors import handled, open_engine
from cvm.cli.language import LangOption, chosen
from cvm.cli.options import JsonFlag, Workspace
from cvm.i18n import _, use_locale
from cvm.i18n.formats import money, num

app = typer.Typer(
    help="Off-policy evaluation: the incremental margin a decision policy would have earned, from the decision log.",
    no_args_is_help=True,
)


class Target(StrEnum):
    """The policies ``cvm policy evaluate`` can estimate."""

    incremental = "incremental"
    propensity = "propensity"
    current = "current"


class Baseline(StrEnum):
    """The policies ``cvm policy evaluate --versus`` can measure against."""

    none = "none"
    propensity = "propensity"
    incremental = "incremental"
    current = "current"


ESTIMATORS = {"ips": "IPS", "snips": "SNIPS", "dr": "DR"}


class Reward(StrEnum):
    """What an off-policy evaluation counts as each decision's reward."""

    components = "components"
    margin = "margin"


OutcomeOption = Annotated[
    Reward | None,
    typer.Option(
        "--outcome",
        help="The reward: the realised margin, or the outcome's events valued per customer (components: far less "
        "noise; assumes actions change margin only through those events). Default: margin.",
    ),
]


def _ci(est: Mapping[str, float | None]) -> str:
    return f"{money(est['ci_low'])} … {money(est['ci_high'])}"


def _policy_label(name: str) -> str:
    labels = {"none": _("no action"), "propensity": _("propensity"), "incremental": _("incremental"),
              "current": _("current configuration")}  # fmt: skip
    return labels.get(name, name)


def _true(value: float | None) -> str:
    return money(value) + " " + _("(SIMULATED)") if value is not None else "–"


@app.command("evaluate")
def evaluate(
    policy: Annotated[Target, typer.Option("--policy", help="The policy to evaluate.")] = Target.incremental,
    bootstrap: Annotated[
        int, typer.Option(min=0, max=100_000, help="Also give customer-bootstrap intervals from this many resamples.")
    ] = 0,
    outcome: OutcomeOption = None,
    versus: Annotated[
        Baseline | None,
        typer.Option(help="Also estimate the difference against this policy, paired on the same decisions."),
    ] = None,
    workspace: Workspace = Path("."),
    json_out: JsonFlag = False,
    lang: LangOption = None,
) -> None:
    """Estimate a policy's incremental margin per 1,000 eligible customers with IPS, SNIPS and doubly robust."""
    engine = open_engine(workspace)
    with handled(), use_locale(chosen(lang, engine.settings)):
        data = engine.policy.evaluate(
            policy.value, bootstrap, outcome=outcome.value if outcome else None, versus=versus.value if versus else None
        )
        if json_out:
            console.json(data)
            return
        print_evaluation(data)


def print_evaluation(data: Mapping[str, Any]) -> None:
    """One policy's estimates as a table, in the current language."""
    title = _("Policy %(name)s: margin per 1,000 eligible customers (95%% intervals)") % {
        "name": _policy_label(data["name"])
    }
    console.table(
        title,
        [_("estimator"), _("incremental margin"), _("interval (95%)"), _("margin"), _("interval (95%)")],
        ([label, money(data["incremental"][m]["value"]), _ci(data["incremental"][m]), money(data["value"][m]["value"]),
          _ci(data["value"][m])] for m, label in ESTIMATORS.items()),
    )  # fmt: skip
    if data.get("bootstrap"):
        console.table(
            _("Incremental margin: customer-bootstrap intervals"),
            [_("estimator"), _("incremental margin"), _("interval (95%)")],
            ([ESTIMATORS[m], money(e["value"]), _ci(e)] for m, e in data["bootstrap"].items()),
        )
    console.print(_("Expected contacts per 1,000 eligible customers: %(n)s") % {"n": num(data["contacts"])})
    console.print(_("Effective sample size: %(n)s of %(total)s decisions")
                  % {"n": num(data["effective_sample_size"]), "total": num(data["decisions"])})  # fmt: skip
    if data.get("true_value") is not None:
        console.print(_("True incremental margin: %(value)s") % {"value": _true(data["true_value"])})
    if data.get("versus"):
        print_versus([data["versus"]])
    print_reward(data)
    for note in data.get("notes", []):
        console.note(note)


@app.command("compare")
def compare(
    outcome: OutcomeOption = None, workspace: Workspace = Path("."), json_out: JsonFlag = False, lang: LangOption = None
) -> None:
    """No action, propensity, incremental and the current configuration side by side, per 1,000 eligible customers."""
    from cvm.experiments.ope_report import compare_json

    engine = open_engine(workspace)
    with handled(), use_locale(chosen(lang, engine.settings)):
        data = engine.policy.compare(outcome=outcome.value if outcome else None)
        if json_out:
            console.json(compare_json(data))
            return
        print_comparison(data)


def print_comparison(data: Mapping[str, Any]) -> None:
    """The policies side by side, in the current language."""
    truth = any(p["true_value"] is not None for p in data["policies"])
    columns = [_("policy"), _("incremental margin (DR)"), _("interval (95%)"), "IPS", "SNIPS", _("contacts")]
    rows = []
    for p in data["policies"]:
        inc = p["incremental"]
        row = [_policy_label(p["name"]), money(inc["dr"]["value"]), _ci(inc["dr"]), money(inc["ips"]["value"]),
               money(inc["snips"]["value"]), num(p["contacts"])]  # fmt: skip
        rows.append([*row, _true(p["true_value"])] if truth else row)
    console.table(
        _("Policies compared: incremental margin versus no action per 1,000 eligible customers"),
        [*columns, _("true value")] if truth else columns,
        rows,
    )
    print_versus(data.get("versus", []))
    print_reward(data)
    for note in data.get("notes", []):
        console.note(note)


def print_versus(pairs: Sequence[Mapping[str, Any]]) -> None:
    """Paired differences between two policies on the same decisions, with what they allow one to conclude."""
    if not pairs:
        return
    truth = any(p["true_value"] is not None for p in pairs)
    columns = [_("policy"), _("against"), _("difference (DR)"), _("interval (95%)"), "IPS", _("contacts")]
    rows = []
    for p in pairs:
        est = p["estimate"]
        row = [_policy_label(p["name"]), _policy_label(p["versus"]), money(est["dr"]["value"]), _ci(est["dr"]),
               money(est["ips"]["value"]), num(p["contacts"], signed=True)]  # fmt: skip
        rows.append([*row, _true(p["true_value"])] if truth else row)
    console.table(
        _("Paired on the same decisions: difference in incremental margin per 1,000 eligible customers"),
        [*columns, _("true difference")] if truth else columns,
        rows,
    )
    for p in pairs:
        console.print(_verdict(p))


def print_verdicts(pairs: Sequence[Mapping[str, Any]]) -> None:
    """One paired difference per reward (:meth:`~cvm.services.policy.PolicyService.verdicts`), in one short table."""
    if not pairs:
        return
    first = pairs[0]
    title = _(
        "Policies compared on the logged decisions: %(name)s against %(versus)s, per 1,000 eligible customers"
    ) % {
        "name": _policy_label(first["name"]),
        "versus": _policy_label(first["versus"]),
    }
    rewards = {"margin": _("realised margin"), "components": _("valued events")}
    verdicts = {"more": _("earns more"), "less": _("earns less"), "unsure": _("cannot tell yet")}
    truth = any(p["true_value"] is not None for p in pairs)
    rows = []
    for p in pairs:
        dr = p["estimate"]["dr"]
        row = [rewards.get(p["outcome"], p["outcome"]), money(dr["value"]), _ci(dr), verdicts[p["verdict"]],
               num(p["contacts"], signed=True)]  # fmt: skip
        rows.append([*row, _true(p["true_value"])] if truth else row)
    columns = [_("reward"), _("difference (DR)"), _("interval (95%)"), _("verdict"), _("contacts")]
    console.table(title, [*columns, _("true difference")] if truth else columns, rows)
    console.note(_("cvm policy compare [--outcome components] has the details and how far to trust each reward."))


def _verdict(pair: Mapping[str, Any]) -> str:
    names = {"name": _policy_label(pair["name"]), "versus": _policy_label(pair["versus"])}
    if pair["verdict"] == "more":
        return _("%(name)s earns more than %(versus)s: the 95%% interval of the difference is above zero.") % names
    if pair["verdict"] == "less":
        return _("%(name)s earns less than %(versus)s: the 95%% interval of the difference is below zero.") % names
    text = _("%(name)s against %(versus)s: the log cannot tell yet (the 95%% interval includes zero).") % names
    if pair.get("decisions_needed"):
        text += " " + _("At the estimated difference, about %(n)s evaluable decisions would tell them apart.") % {
            "n": num(pair["decisions_needed"])
        }
    return text


def print_reward(data: Mapping[str, Any]) -> None:
    """Which reward the estimates count (``--outcome``)."""
    if data.get("outcome") == "components":
        console.note(_("Reward: the outcome's events (conversion, churn, default, complaint), valued per customer."))
        console.note(
            _(
                "Its intervals are narrower than the margin's, and its verdict only as right as the events' values "
                "(plans.uplift.values): check a verdict with --outcome margin."
            )
        )
    elif data.get("outcome") == "margin":
        console.note(_("Reward: the realised margin over the horizon."))
