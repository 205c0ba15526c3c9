"""Built-in defaults of segments, plans and the contact policy (plain data, validated by :mod:`cvm.config.plans`).

``BASE_ATTRIBUTES`` is the contract between the expression language and the
segment stage: :mod:`cvm.segments.attributes` computes exactly these columns for
every customer as of a date (a test checks it), and expressions may name them.
"""

from __future__ import annotations

from typing import Any, Literal

_K = Literal["number", "string", "bool"]

BASE_ATTRIBUTES: dict[str, _K] = {
    # profile
    "customer_id": "string",
    "kind": "string",
    "region": "string",
    "sector": "string",
    "channel": "string",
    "timezone": "string",
    "consent_email": "bool",
    "consent_sms": "bool",
    "consent_phone": "bool",
    "consent_mail": "bool",
    # time since and until
    "tenure_days": "number",
    "days_to_anniversary": "number",
    "days_to_birthday": "number",
    # purchases
    "orders": "number",
    "revenue": "number",
    "margin": "number",
    "days_since_first_purchase": "number",
    "days_since_last_purchase": "number",
    "days_since_reactivation": "number",
    "mean_gap_days": "number",
    "purchase_cv": "number",
    "is_regular_buyer": "bool",
    "days_to_next_order": "number",
    # contracts
    "mrr": "number",
    "active_subscriptions": "number",
    "days_to_renewal": "number",
    "days_since_subscription_end": "number",
    "days_inactive": "number",
    # payments, service, voice of the customer
    "late_payments": "number",
    "days_past_due": "number",
    "open_complaint": "bool",
    "complaints_90d": "number",
    "contacts_90d": "number",
    "nps": "number",
    "days_since_survey": "number",
    # value and risk shorthands (from the scores)
    "value": "number",
    "value_grade": "string",
    "risk_grade": "string",
}

#: Gross and net margin of the last 12 months, the cost to serve and the net CLV (cvm.scoring.cost_to_serve):
#: always read, whatever ``segments.scores`` lists, so the built-in ``unprofitable`` plan can name them.
NET_VALUE_SCORES: tuple[str, ...] = ("margin_12m", "cost_to_serve_12m", "net_margin_12m", "net_clv")

SCORES: tuple[str, ...] = (
    "clv",
    "p_alive",
    "exp_purchases_12m",
    "revenue_hist",
    "margin_hist",
    "churn",
    "default",
    "default_points",
    "early_warning",
    "growth",
    *NET_VALUE_SCORES,
)

LIFECYCLE: dict[str, str] = {
    "new": "tenure_days < 7",
    "welcome": "tenure_days < 30",
    "qualification": "tenure_days < 90",
    "won_back": "days_since_reactivation < 90",
    "lapsed": "days_inactive >= 365",
    "at_risk": "days_inactive >= 120 or churn_grade = 'high' or risk_grade = 'high'",
}

# value_grade is the grade of segments.value_score: clv by default, net_clv to rank VIPs by net value.
VIP = (
    "value_grade = 'high' and coalesce(growth_grade, 'medium') <> 'low' "
    "and coalesce(default_grade, 'low') = 'low' and coalesce(days_past_due, 0) < 30"
)

CAPS: dict[str, dict[str, int]] = {
    "all": {"day": 1, "week": 3, "month": 8},
    "email": {"day": 1, "week": 2, "month": 6},
    "sms": {"day": 1, "week": 1, "month": 2},
    "phone": {"day": 1, "week": 1, "month": 2},
    "visit": {"week": 1, "month": 1},
    "mail": {"week": 1, "month": 2},
}

CONSENT_REQUIRED: dict[str, bool] = {
    "email": True,
    "sms": True,
    "phone": True,
    "mail": False,
    "visit": False,
    "crm_task": False,
}

CHANNEL_COST: dict[str, float] = {
    "email": 0.01,
    "sms": 0.05,
    "mail": 1.0,
    "phone": 4.0,
    "crm_task": 5.0,
    "visit": 60.0,
}

FATIGUE_LOSS: dict[str, float] = {
    "email": 20.0,
    "sms": 20.0,
    "phone": 40.0,
    "mail": 10.0,
    "visit": 60.0,
    "crm_task": 0.0,
}
"""Value lost with the channel when a contact triggers an unsubscribe, complaint or consent withdrawal."""

SUPPRESS: dict[str, dict[str, Any]] = {
    "open_complaint": {
        "when": "open_complaint",
        "objectives": ["sell", "propose"],
        "reason": "no selling while a complaint is open",
    },
    "payment_overdue": {
        "when": "coalesce(days_past_due, 0) >= 30",
        "objectives": ["sell"],
        "reason": "no selling while an invoice is 30+ days overdue",
    },
}

PLANS: dict[str, dict[str, Any]] = {
    "welcome": {
        "description": "New customers: inform on day 0, ask for preferences on day 7, propose on day 30.",
        "trigger": {"type": "new_customer", "days": 7},
        "steps": [
            {
                "name": "inform",
                "day": 0,
                "objective": "inform",
                "channel": "email",
                "content": "welcome",
                "propensity": "0.5",
                "value": "5",
                "priority": 10,
            },
            {
                "name": "ask",
                "day": 7,
                "objective": "ask",
                "channel": "email",
                "content": "preferences_survey",
                "propensity": "0.3",
                "value": "5",
                "priority": 5,
            },
            {
                "name": "propose",
                "day": 30,
                "objective": "propose",
                "channel": "email",
                "offer": "starter_offer",
                "propensity": "0.05",
                "value": "coalesce(value, 100)",
                "cooldown_days": 3,
            },
        ],
    },
    "qualification": {
        "description": "Learn what the customer needs while they qualify: ask, a call for businesses, then propose.",
        "trigger": {"type": "condition", "when": "stage = 'qualification'"},
        "steps": [
            {
                "name": "ask_needs",
                "day": 0,
                "objective": "ask",
                "channel": "email",
                "content": "needs_survey",
                "propensity": "0.2",
                "value": "10",
            },
            {
                "name": "call",
                "day": 14,
                "objective": "ask",
                "channel": "crm_task",
                "content": "qualification_call",
                "eligibility": "kind = 'B2B'",
                "propensity": "0.3",
                "value": "coalesce(value, 200) * 0.2",
            },
            {
                "name": "propose",
                "day": 30,
                "objective": "propose",
                "channel": "email",
                "offer": "needs_based_offer",
                "propensity": "0.08",
                "value": "coalesce(value, 100)",
                "cooldown_days": 7,
            },
        ],
    },
    "unprofitable": {
        "description": "Customers whose CLV net of the cost to serve is negative: move them to self-service, "
        "stop discounts, reprice; flagging a contract for non-renewal waits for a person's confirmation.",
        "trigger": {"type": "condition", "when": "net_clv < 0"},
        "exit": "coalesce(net_clv, 0) >= 0",
        "reentry_days": 180,
        "steps": [
            {
                "name": "self_service",
                "day": 0,
                "objective": "inform",
                "channel": "email",
                "content": "self_service_channels",
                "propensity": "0.3",
                "value": "coalesce(cost_to_serve_12m, 0) * 0.5",
            },
            {
                "name": "stop_discounts",
                "day": 0,
                "objective": "inform",
                "channel": "crm_task",
                "content": "stop_discounts",
                "kind": "service",
                "propensity": "1",
                "value": "greatest(-coalesce(net_clv, 0), 0) * 0.1",
            },
            {
                "name": "reprice",
                "day": 30,
                "objective": "propose",
                "channel": "crm_task",
                "content": "reprice_review",
                "propensity": "0.3",
                "value": "greatest(-coalesce(net_clv, 0), 0)",
                "cooldown_days": 14,
            },
            {
                "name": "non_renewal",
                "day": 60,
                "objective": "end",
                "channel": "crm_task",
                "content": "flag_for_non_renewal",
                "eligibility": "active_subscriptions > 0 and coalesce(net_clv, 0) < 0",
                "kind": "service",
                "propensity": "1",
                "value": "greatest(-coalesce(net_clv, 0), 0)",
            },
        ],
    },
    "contact": {
        "description": "Regular contact with valuable customers, every quarter: inform, meet VIPs, cross-sell.",
        "trigger": {"type": "condition", "when": "value_grade in ('high', 'medium') and stage <> 'lapsed'"},
        "exit": "stage = 'lapsed'",
        "reentry_days": 90,
        "steps": [
            {
                "name": "news",
                "day": 0,
                "objective": "inform",
                "channel": "email",
                "content": "quarterly_news",
                "propensity": "0.1",
                "value": "10",
            },
            {
                "name": "account_review",
                "day": 20,
                "objective": "ask",
                "channel": "crm_task",
                "content": "account_review",
                "eligibility": "seg_vip",
                "propensity": "0.2",
                "value": "coalesce(value, 0) * 0.1",
            },
            {
                "name": "cross_sell",
                "day": 45,
                "objective": "sell",
                "channel": "email",
                "offer": "cross_sell",
                "eligibility": "coalesce(p_alive, 1) >= 0.5",
                "propensity": "coalesce(exp_purchases_12m, 1) / 20",
                "value": "coalesce(value, 100) / greatest(coalesce(exp_purchases_12m, 1), 1)",
                "cooldown_days": 14,
            },
        ],
    },
    "payment_terms": {
        "description": "Customers on the early-warning list: propose adapted payment terms instead of selling.",
        "trigger": {"type": "condition", "when": "early_warning is not null"},
        "reentry_days": 90,
        "steps": [
            {
                "name": "adapt_terms",
                "day": 0,
                "objective": "propose",
                "channel": "crm_task",
                "content": "payment_terms",
                "kind": "service",
                "on_early_warning": "send",
                "propensity": "0.3",
                "value": "coalesce(value, 100) * 0.2",
                "priority": 20,
            },
        ],
    },
}
