"""Configuration of the uplift models (``plans.uplift``): horizon, randomised-data minimum, held-out share.

The uplift models learn each action's incremental margin against no action from the logged decisions
(:mod:`cvm.scoring.uplift`); these settings say over which horizon the margin is counted, how much
randomised data a model needs before it may decide anything, and how the held-out logs that measure it
(Qini, uplift at k) are taken.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cvm.rules import ExpressionError, compile_rule

UpliftOutcome = Literal["components", "margin"]
Event = Literal["converted", "churned", "defaulted", "complained", "unsubscribed"]
"""What the uplift models learn: the outcome's events valued per customer, or the realised margin."""

EVENTS = ("converted", "churned", "defaulted", "complained", "unsubscribed")
"""The binary events of a decision's outcome (``decision_outcomes``) whose change the ``components`` models learn."""

DEFAULT_FEATURES = (
    "value",
    "margin_hist",
    "exp_purchases_12m",
    "p_alive",
    "days_since_last_purchase",
    "orders",
    "nps",
    "complaints_90d",
    "churn",
    "default",
    "tenure_days",
    "contacts_90d",
)
"""Value, recency, frequency, satisfaction, risk, tenure and recent contact pressure: who responds, who is a sure
thing and who a sleeping dog (an engaged customer with low satisfaction)."""


def _number(text: str | float | None) -> str | None:
    """Syntax and whitelist of a value expression (its columns are checked against the catalogue at load)."""
    if text is None:
        return None
    text = str(text)
    try:
        compile_rule(text, None, "number")
    except ExpressionError as exc:
        raise ValueError(str(exc)) from None
    return text


class EventValues(BaseModel):
    """Money value of each outcome event for one customer, an expression over the customer's attributes.

    ``null`` takes the value from the settings named in its description (one number for everybody).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    converted: str | None = Field(
        default="coalesce(margin_hist / orders, 0)",
        description="A conversion: the margin of one order (the customer's historic margin per order).",
    )
    churned: str | None = Field(
        default="-coalesce(exp_purchases_12m * margin_hist / orders, 0)",
        description="A churn: minus the margin lost (the purchases expected over 12 months x margin per order).",
    )
    defaulted: str | None = Field(
        default="0",
        description="A default. 0 by default: the incremental arbitration already subtracts the expected credit "
        "loss (PD x exposure x LGD), so counting it here too would charge it twice; null: -plans.credit.exposure x "
        "plans.credit.lgd.",
    )
    complained: str | None = Field(
        default="0",
        description="A complaint. 0 by default: the fatigue cost of the arbitration prices contact pressure; "
        "null: -scoring.cost_to_serve.complaint.",
    )
    unsubscribed: str | None = Field(
        default="0",
        description="An unsubscribe. 0 by default, as a complaint; null: -plans.fatigue.loss.email (the email "
        "reach lost).",
    )

    _check = field_validator(*EVENTS, mode="before")(lambda v: _number(v))


class UpliftConfig(BaseModel):
    """Uplift models per action, trained by ``cvm run`` and ``cvm train --uplift`` from the decision log."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    horizon_days: int = Field(
        default=90, ge=7, le=730, description="Margin after a decision is counted over this many days."
    )
    min_randomised: int = Field(
        default=500,
        ge=10,
        description="Fewest randomised decisions (the action's and no action's, horizon elapsed) an action's "
        "model needs; below it no uplift is written and the propensity policy decides.",
    )
    holdout_share: float = Field(
        default=0.3, gt=0.0, lt=1.0, description="The latest share of those decisions held out to measure Qini."
    )
    top_fraction: float = Field(default=0.1, gt=0.0, le=1.0, description="The k of the reported uplift at k.")
    n_estimators: int = Field(default=200, ge=10, le=5000, description="Boosting rounds of each LightGBM model.")
    min_propensity: float = Field(
        default=0.01, gt=0.0, lt=1.0, description="Floor of the logged probabilities in the DR pseudo-outcome."
    )
    outcome: UpliftOutcome = Field(
        default="components",
        description="components: learn each action's change of every outcome event (conversion, churn, default, "
        "complaint, unsubscribe) and value it per customer with `values`; margin: learn its change of the "
        "realised margin over the horizon (noisy: a decision's margin varies far more than any action moves it).",
    )
    values: EventValues = Field(
        default_factory=EventValues,
        description="Per-customer money value of each outcome event (components outcome only).",
    )
    effect_n_estimators: int | None = Field(
        default=30,
        ge=1,
        le=5000,
        description="Boosting rounds of each effect model (the DR-learner's final regression of the pseudo-outcome) "
        "of the components outcome; null: n_estimators.",
    )
    effect_num_leaves: int | None = Field(
        default=3, ge=2, le=1024, description="Leaves per tree of each effect model (components); null: 15."
    )
    effect_min_leaf: int | None = Field(
        default=400,
        ge=1,
        description="Fewest decisions in a leaf of an effect model (components); with fewer training decisions the "
        "effect is one average; null: 20.",
    )
    shrink_effects: bool = Field(
        default=True,
        description="Each effect model keeps its differences between customers only as far as they hold out: its "
        "cross-fitted predictions' slope on the pseudo-outcomes, in [0, 1], scales them around the action's "
        "average (components); false: the effect model as fitted.",
    )
    pessimism: float = Field(
        default=1.0,
        ge=0.0,
        le=5.0,
        description="The uplift written is a lower bound: sum of change x value minus pessimism x the standard "
        "error of that sum (each event's change known to its action's standard error), so an action learnt from "
        "few decisions is trusted least where a wrong guess costs most (components); 0: the estimate itself.",
    )
    pool_by: Literal["channel", "none"] = Field(
        default="channel",
        description="channel: the actions of one channel share the effect models of pooled_events (one model on "
        "their stacked decisions, the action a feature), so an action with few randomised decisions learns who "
        "its effect falls on from its channel's; none: one effect model per action (components).",
    )
    pooled_events: list[Event] = Field(
        default_factory=lambda: list[Event](["churned"]),
        description="The events whose effect models are pooled by pool_by (components).",
    )
    features: list[str] = Field(
        default_factory=lambda: list(DEFAULT_FEATURES),
        min_length=1,
        description="Numeric attributes the uplift models learn from; the decision log records each one as it was "
        "at decision time (the record's context), and the models are trained on those logged values only.",
    )


_TEMPLATE = """  # Uplift models per action (each action against no action), learnt from the logged randomised
  # decisions by `cvm run` and `cvm train --uplift`: the margin of the horizon_days after a decision, net of
  # the contact's cost. An action needs min_randomised randomised decisions with an elapsed horizon, and a
  # positive Qini on the latest holdout_share of them (also reported: uplift at top_fraction); until then no
  # uplift_<action> attribute is written and the propensity policy decides for it.
  uplift:
    horizon_days: {u.horizon_days}
    min_randomised: {u.min_randomised}
    holdout_share: {u.holdout_share}
    top_fraction: {u.top_fraction}
    n_estimators: {u.n_estimators}
    min_propensity: {u.min_propensity}
    # The effect models (the final stage, fitted on noisy pseudo-outcomes) of the components outcome: few
    # shallow trees on large leaves, so that an effect is learnt only where many decisions show it.
    effect_n_estimators: {u.effect_n_estimators}
    effect_num_leaves: {u.effect_num_leaves}
    effect_min_leaf: {u.effect_min_leaf}
    # channel: the actions of one channel share the effect models of pooled_events (their decisions stacked,
    # the action a feature), so a rarely randomised call learns from its channel's; none: one model per action.
    pool_by: {u.pool_by}
    pooled_events: [{pooled}]
    # Keep an effect model's differences between customers only as far as they hold out on other folds.
    shrink_effects: {shrink}
    # The uplift written is its estimate minus pessimism x its standard error (a lower bound; 0: the estimate).
    pessimism: {u.pessimism}
    # Attributes the models learn from, logged with every decision as they were at decision time.
    features: [{features}]
    # components: learn each action's change of the outcome's events (conversion, churn, default, complaint,
    # unsubscribe) and value them per customer with the expressions below (uplift = sum of change x value);
    # margin: learn the change of the realised margin itself (far noisier). docs/uplift.md explains the defaults.
    outcome: {u.outcome}
    values:
{values}"""


def render_uplift(cfg: UpliftConfig) -> str:
    """The commented ``plans.uplift`` block of the ``cvm.yaml`` template."""
    lines = []
    for event in EVENTS:
        text = getattr(cfg.values, event)
        doc = EventValues.model_fields[event].description or ""
        shown = "null" if text is None else f'"{text}"'
        lines += [f"      # {doc}", f"      {event}: {shown}"]
    return _TEMPLATE.format(
        u=cfg,
        features=", ".join(cfg.features),
        pooled=", ".join(cfg.pooled_events),
        shrink=str(cfg.shrink_effects).lower(),
        values="\n".join(lines) + "\n",
    )
