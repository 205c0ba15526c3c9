"""The commented ``segments`` and ``plans`` sections of the ``cvm.yaml`` that ``cvm init`` writes."""

from __future__ import annotations

from typing import Any

import yaml

from cvm.config.plans import PlansConfig, SegmentsConfig
from cvm.config.uplift import render_uplift

_SEGMENTS = """
segments:
  # Life-cycle stages, in order: the first whose condition holds wins; a customer matching none
  # is in fallback_stage. Conditions use the expression language (SQL-like: and, or, not, =, <>,
  # <, in (...), between, like, is null, coalesce, abs, least, greatest, lower, upper, length)
  # over the attribute columns (an unknown name is refused at load with the list of known ones).
{lifecycle}
  fallback_stage: {fallback_stage}
  # VIP: high margin, growth potential and financially healthy (flag column seg_vip).
  vip: {vip}
  # The score behind value and value_grade (VIP and the value x risk matrix): clv (gross of the cost to
  # serve), or net_clv to rank customers by their CLV net of the cost to serve (docs/net-margin.md).
  value_score: {value_score}
  # The value x risk matrix: segments value_risk:<value grade>/<risk grade>.
  value_column: {value_column}
  risk_column: {risk_column}
  # Named segments; each gets a flag column seg_<name> that plans can use. Example:
  #   definitions:
  #     b2b_north:
  #       when: "kind = 'B2B' and region like 'N%'"
  #       description: Northern businesses
  definitions: {{}}
  # Scores read from the scores table: columns <score> and <score>_grade (margin_12m, cost_to_serve_12m,
  # net_margin_12m and net_clv are always read: the built-in unprofitable plan names them).
  scores: {scores}
  # Extra columns from the stored features of the same date (docs/tables.md, table features) and their kind:
  # a feature (number or string, e.g. {{dpd_max_365d: number}}), or holds_<product> (bool or number).
  columns: {{}}
  # A purchase after a gap longer than this counts as a reactivation (stage won_back).
  reactivation_gap_days: {reactivation_gap_days}
  # Regular buyers: at least min_orders purchase days, gaps with a coefficient of variation below max_cv.
  regular_buyer: {{min_orders: {min_orders}, max_cv: {max_cv}}}
"""

_PLANS = """
plans:
  # The contact policy applies to every plan.
  policy:
    # Most contacts in any rolling day / week (7 days) / month (30 days), over all channels and per channel.
{caps}
    # crm_task (work for the sales team) does not count towards the "all" caps.
    exempt_from_total: {exempt}
    # No contact in these hours and days, in the customer's time zone: actions wait for the next allowed time.
    quiet_hours: {{start: "{q_start}", end: "{q_end}", days: {q_days}, channels: {q_channels}}}
    # Channels that need an explicit opt-in. An opt-out is never overridden, whatever this says.
    consent_required: {consent}
    # Hold back steps with these objectives or channels while the condition holds.
{suppress}
    # Cost of one contact per channel (the "cost" in expected value = propensity x value x margin - cost).
    channel_cost: {cost}
    # Actions worth less than this are not sent; at most max_actions per customer per decision.
    min_expected_value: {min_ev}
    max_actions: {max_actions}
    timezone: {timezone}
  # What the allocator ranks on: propensity (propensity x value x margin - cost) or incremental
  # (uplift - cost - fatigue cost - expected credit loss). The uplift of a step is its `uplift:` expression
  # or the attribute uplift_<action> (the uplift models' score); a step without one falls back to its
  # propensity value and its reason says so. Caps, consent and quiet hours stay hard limits.
  arbitration: {arbitration}
  # Credit risk: a step with `extends_credit: true` (optional `exposure:` expression and `lgd:`) carries
  # PD x exposure x LGD and needs cutoff points or more (null: risk.acceptance.cutoff); customers on the
  # early-warning list get no sell / propose / credit step (per step: on_early_warning: send | skip) and
  # the built-in payment_terms plan proposes adapted payment terms instead.
  credit: {credit}
  # Contact pressure: the fatigue model prices the n-th contact in window_days per channel as the chance
  # it makes the customer unsubscribe, complain or withdraw consent x the value lost (loss).
  fatigue: {fatigue}
  # Plans. The built-in welcome, qualification, contact, payment_terms and unprofitable plans are always
  # defined (unprofitable: customers whose net_clv < 0 are moved to self-service, discounts stop, a repricing
  # is proposed, and a contract is flagged for non-renewal by a step with objective end, which waits for
  # `cvm actions confirm ID`; CVM never ends a relationship on its own). Override any of their keys here,
  # or disable one with `enabled: false`. Triggers: event (event: transaction,
  # payment_late, payment_received, contact, complaint, survey_answer, subscription_started,
  # subscription_ended; optional where: on the event's properties), condition (when:), new_customer,
  # score_crossing (score:, above: or below:), segment_enter / segment_leave (segment:), anniversary,
  # renewal_due, inactivity, birthday, next_order_due (days:). Steps are due `day` days after enrolment.
  # Example:
  #   definitions:
  #     welcome:
  #       enabled: false
  #     renewal:
  #       description: Contract renewal due within 30 days
  #       trigger: {{type: renewal_due, days: 30}}
  #       reentry_days: 300
  #       steps:
  #         - {{name: remind, day: 0, objective: inform, channel: email, content: renewal_reminder}}
  #         - name: call
  #           day: 10
  #           objective: propose
  #           channel: crm_task
  #           eligibility: "value_grade = 'high' and not open_complaint"
  #           propensity: "0.3"
  #           value: "coalesce(mrr, 0) * 12"
  #           margin: "0.6"
  #           cooldown_days: 7
  #           priority: 5
  definitions: {{}}
"""


def _flow(data: Any) -> str:
    text = yaml.safe_dump(data, default_flow_style=True, width=10_000, sort_keys=False).strip()
    return text.removesuffix("...").strip()


def _block(key: str, data: dict[str, Any], indent: int) -> str:
    pad = " " * indent
    lines = [f"{pad}{key}:"]
    lines += [f"{pad}  {k}: {_flow(v)}" for k, v in data.items()]
    return "\n".join(lines)


def render_section(segments: SegmentsConfig, plans: PlansConfig) -> str:
    """The commented YAML of the two sections, with the values of ``segments`` and ``plans``."""
    p = plans.policy
    q = p.quiet_hours
    caps = {k: {n: c for n, _d, c in v.windows()} for k, v in p.caps.items()}
    suppress = {k: v.model_dump(exclude_defaults=True) for k, v in p.suppress.items()}
    seg = _SEGMENTS.format(
        lifecycle=_block("lifecycle", dict(segments.lifecycle), 2),
        fallback_stage=segments.fallback_stage,
        vip=_flow(segments.vip),
        value_score=segments.value_score,
        value_column=segments.value_column,
        risk_column=segments.risk_column,
        scores=_flow(list(segments.scores)),
        reactivation_gap_days=segments.reactivation_gap_days,
        min_orders=segments.regular_buyer.min_orders,
        max_cv=segments.regular_buyer.max_cv,
    )
    pl = _PLANS.format(
        caps=_block("caps", caps, 4),
        exempt=_flow(list(p.exempt_from_total)),
        q_start=q.start.strftime("%H:%M"),
        q_end=q.end.strftime("%H:%M"),
        q_days=_flow(list(q.days)),
        q_channels=_flow(list(q.channels)),
        consent=_flow(dict(p.consent_required)),
        suppress=_block("suppress", suppress, 4),
        cost=_flow(dict(p.channel_cost)),
        min_ev=p.min_expected_value,
        max_actions=p.max_actions,
        timezone=p.timezone,
        arbitration=plans.arbitration,
        credit=_flow(plans.credit.model_dump()),
        fatigue=_flow(plans.fatigue.model_dump()),
    )
    return seg + pl + render_uplift(plans.uplift)
