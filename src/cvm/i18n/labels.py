"""The domain's vocabularies: codes (``too_expensive``, ``at_risk``, ``sell``) and their labels in each language.

Templates (the ``label`` filter), the HTML report and the CLI reports all show codes through
:func:`label`, so one word is translated once. The English label is the catalog's message id; the
vocabulary's name is its gettext context, because one English word can need two translations
(the stage *new* is « nouveau », the movement *new* is « nouveaux »).
"""

from __future__ import annotations

from cvm.i18n import gettext, pgettext


def NP_(context: str, message: str) -> str:  # noqa: N802 (gettext convention: mark only, with a context)
    """Mark ``message`` in ``context`` for extraction; it is translated when shown."""
    return message


VOCABULARIES: dict[str, dict[str, str]] = {
    "period": {
        "month": NP_("period", "month"),
        "quarter": NP_("period", "quarter"),
        "year": NP_("period", "year"),
        "M": NP_("period", "month"),
        "Q": NP_("period", "quarter"),
        "Y": NP_("period", "year"),
    },
    "movement": {
        "start": NP_("movement", "start"),
        "new": NP_("movement", "new"),
        "expansion": NP_("movement", "expansion"),
        "reactivation": NP_("movement", "reactivation"),
        "contraction": NP_("movement", "contraction"),
        "churned": NP_("movement", "churned"),
        "end": NP_("movement", "end"),
    },
    "stage": {
        "new": NP_("stage", "new"),
        "welcome": NP_("stage", "welcome"),
        "qualification": NP_("stage", "qualification"),
        "won_back": NP_("stage", "won back"),
        "active": NP_("stage", "active"),
        "at_risk": NP_("stage", "at risk"),
        "lapsed": NP_("stage", "lapsed"),
        "(none)": NP_("stage", "(none)"),
    },
    "segment": {
        "vip": NP_("segment", "VIP"),
        "seg_vip": NP_("segment", "VIP"),
    },
    "grade": {
        "low": NP_("grade", "low"),
        "medium": NP_("grade", "medium"),
        "high": NP_("grade", "high"),
    },
    "channel": {
        "email": NP_("channel", "e-mail"),
        "sms": NP_("channel", "SMS"),
        "phone": NP_("channel", "phone"),
        "visit": NP_("channel", "visit"),
        "mail": NP_("channel", "letter"),
        "crm_task": NP_("channel", "CRM task"),
        "direct": NP_("channel", "direct"),
        "distribution": NP_("channel", "distribution"),
    },
    "churn_reason": {
        "too_expensive": NP_("churn_reason", "too expensive"),
        "switched_service": NP_("churn_reason", "switched to another provider"),
        "low_quality": NP_("churn_reason", "poor quality"),
        "customer_service": NP_("churn_reason", "customer service"),
        "missing_features": NP_("churn_reason", "missing features"),
        "unused": NP_("churn_reason", "not used"),
        "too_complex": NP_("churn_reason", "too complex"),
        "other": NP_("churn_reason", "other"),
        "payment_failed": NP_("churn_reason", "payment failed"),
        "payment_disputed": NP_("churn_reason", "payment disputed"),
        "voluntary": NP_("churn_reason", "voluntary"),
        "involuntary": NP_("churn_reason", "involuntary"),
        "unknown": NP_("churn_reason", "no reason given"),
    },
    "objective": {
        "inform": NP_("objective", "inform"),
        "sell": NP_("objective", "sell"),
        "give": NP_("objective", "give"),
        "ask": NP_("objective", "ask"),
        "propose": NP_("objective", "propose"),
        "end": NP_("objective", "end the relationship"),
    },
    "status": {
        "pending": NP_("status", "pending"),
        "deferred": NP_("status", "deferred"),
        "sent": NP_("status", "sent"),
        "delivered": NP_("status", "delivered"),
        "dead": NP_("status", "dead"),
        "awaiting_confirmation": NP_("status", "awaiting confirmation"),
        "rejected": NP_("status", "rejected"),
        "in_flight": NP_("status", "in flight"),
        "failed": NP_("status", "failed"),
        "running": NP_("status", "running"),
        "stopped": NP_("status", "stopped"),
        "finished": NP_("status", "finished"),
    },
    "held_back": {
        "consent": NP_("held_back", "no consent"),
        "cap": NP_("held_back", "contact cap reached"),
        "quiet_hours": NP_("held_back", "quiet hours"),
        "suppression": NP_("held_back", "suppression rule"),
        "holdout": NP_("held_back", "holdout group"),
        "cooldown": NP_("held_back", "cooldown"),
        "arbitration": NP_("held_back", "another action worth more"),
        "min_value": NP_("held_back", "below the minimum value"),
        "not_eligible": NP_("held_back", "not eligible"),
        "expired": NP_("held_back", "expired"),
        "fatigue": NP_("held_back", "contact fatigue"),
        "explore": NP_("held_back", "exploration drew another action"),
        "credit": NP_("held_back", "below the credit cut-off"),
        "early_warning": NP_("held_back", "early-warning list"),
        "other": NP_("held_back", "other reason"),
    },
    "segment_kind": {
        "stage": NP_("segment_kind", "life-cycle stage"),
        "matrix": NP_("segment_kind", "value × risk"),
        "vip": NP_("segment_kind", "VIP"),
        "named": NP_("segment_kind", "named segment"),
    },
    "event": {
        "acquired": NP_("event", "acquired"),
        "transaction": NP_("event", "purchase"),
        "refund": NP_("event", "refund"),
        "contact": NP_("event", "contact"),
        "complaint": NP_("event", "complaint"),
        "invoice_due": NP_("event", "invoice due"),
        "payment": NP_("event", "payment"),
        "survey": NP_("event", "survey"),
        "subscription_started": NP_("event", "subscription started"),
        "subscription_ended": NP_("event", "subscription ended"),
        "rating": NP_("event", "rating"),
        "action_delivered": NP_("event", "action delivered"),
        "pilot": NP_("event", "pilot"),
    },
    "outcome": {
        "revenue": NP_("outcome", "revenue"),
        "margin": NP_("outcome", "margin"),
        "retention": NP_("outcome", "retention"),
        "conversion": NP_("outcome", "conversion"),
        "nps": NP_("outcome", "NPS"),
    },
    "decision": {
        "keep testing": NP_("decision", "keep testing"),
        "roll out": NP_("decision", "roll out"),
        "stop": NP_("decision", "stop"),
    },
    "score": {
        "clv": NP_("score", "Customer lifetime value"),
        "p_alive": NP_("score", "Probability alive"),
        "exp_purchases_12m": NP_("score", "Expected purchases, next 12 months"),
        "revenue_hist": NP_("score", "Revenue to date"),
        "margin_hist": NP_("score", "Margin to date"),
        "margin_12m": NP_("score", "Gross margin, last 12 months"),
        "cost_to_serve_12m": NP_("score", "Cost to serve, last 12 months"),
        "net_margin_12m": NP_("score", "Net margin, last 12 months"),
        "net_clv": NP_("score", "Lifetime value net of the cost to serve"),
        "churn": NP_("score", "Churn risk"),
        "default": NP_("score", "Payment default risk"),
        "default_points": NP_("score", "Credit score points"),
        "growth": NP_("score", "Growth potential"),
        "value": NP_("score", "Value"),
    },
    "report": {
        "growth": NP_("report", "Growth accounting"),
        "voc": NP_("report", "Voice of the customer"),
        "churn": NP_("report", "Churn reasons"),
        "silent-churn": NP_("report", "Silent churn"),
        "cohorts": NP_("report", "Cohorts"),
        "migration": NP_("report", "Segment migration"),
        "scores": NP_("report", "Score distribution"),
    },
    "table": {
        "growth": NP_("table", "revenue bridge"),
        "hunting_farming": NP_("table", "hunting vs farming"),
        "voc": NP_("table", "NPS"),
        "cohorts": NP_("table", "cohorts"),
        "reasons": NP_("table", "top reasons"),
        "by_type": NP_("table", "by reason type"),
        "by_period": NP_("table", "per period"),
        "overall": NP_("table", "overall"),
        "histogram": NP_("table", "histogram"),
        "grades": NP_("table", "grades"),
        "matrix": NP_("table", "moves"),
        "customers": NP_("table", "customers"),
        "revenue_retention": NP_("table", "revenue retention"),
        "customer_retention": NP_("table", "customer retention"),
        "revenue": NP_("table", "revenue"),
    },
    "field": {
        "customer_id": NP_("field", "Customer ID"),
        "kind": NP_("field", "Kind"),
        "region": NP_("field", "Region"),
        "sector": NP_("field", "Sector"),
        "channel": NP_("field", "Acquisition channel"),
        "timezone": NP_("field", "Time zone"),
        "consent_email": NP_("field", "E-mail consent"),
        "consent_sms": NP_("field", "SMS consent"),
        "consent_phone": NP_("field", "Phone consent"),
        "consent_mail": NP_("field", "Postal mail consent"),
        "acquired_at": NP_("field", "Customer since"),
        "name": NP_("field", "Name"),
        "email": NP_("field", "E-mail"),
        "phone": NP_("field", "Phone"),
        "birth_date": NP_("field", "Date of birth"),
        "language": NP_("field", "Language"),
        "revenue": NP_("field", "Revenue"),
        "margin": NP_("field", "Margin"),
        "transactions": NP_("field", "Transactions"),
        "first_purchase": NP_("field", "First purchase"),
        "last_purchase": NP_("field", "Last purchase"),
        "open_overdue_amount": NP_("field", "Overdue amount"),
        "open_overdue_invoices": NP_("field", "Overdue invoices"),
        "complaints": NP_("field", "Complaints"),
        "last_nps": NP_("field", "Last NPS"),
        "rating": NP_("field", "Rating"),
        "mrr": NP_("field", "MRR"),
    },
}


def label(code: object, vocabulary: str | None = None) -> str:
    """The label of ``code`` in ``vocabulary`` (``score:grade`` pairs too), in the current language.

    A code outside the vocabulary (a region's name, say) is shown as it is (a field's name with spaces);
    without a vocabulary, the first vocabulary knowing the code is used.

    Examples
    --------
    >>> label("too_expensive", "churn_reason"), label("Brussels", "region"), label("churn:high", "segment")
    ('too expensive', 'Brussels', 'Churn risk: high')
    """
    text = "" if code is None else str(code)
    if vocabulary == "segment" and ":" in text:
        score, _, grade = text.partition(":")
        return gettext("%(score)s: %(grade)s") % {"score": label(score, "score"), "grade": label(grade, "grade")}
    names = [vocabulary] if vocabulary else list(VOCABULARIES)
    for name in names:
        message = VOCABULARIES.get(name or "", {}).get(text)
        if message is not None:
            return pgettext(name or "", message)
    return text.replace("_", " ") if vocabulary == "field" else text
