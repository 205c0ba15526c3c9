"""The per-customer feature columns: name, type and meaning, in the order the feature query returns them.

The one list behind both the feature definitions (:mod:`cvm.features.sql` documents and checks its
output against it) and the persisted ``features`` table (:data:`cvm.contracts.tables.FEATURES_TABLE`),
which adds ``customer_id``, ``as_of`` and :data:`PRODUCTS_HELD`. This module imports nothing.
"""

from __future__ import annotations

from typing import Literal

FeatureType = Literal["string", "int", "float"]

#: ``(name, type, meaning)`` of every feature column besides ``customer_id``, ``as_of`` and ``holds_<product>``.
FEATURE_COLUMNS: tuple[tuple[str, FeatureType, str], ...] = (
    ("kind", "string", "B2B or B2C"),
    ("region", "string", "region"),
    ("sector", "string", "sector"),
    ("channel", "string", "acquisition channel (direct, distribution)"),
    ("tenure_days", "int", "days from acquisition to as_of"),
    ("purchases_total", "int", "purchases (positive transactions) before as_of"),
    ("purchases_365d", "int", "purchases in the 365 days before as_of"),
    ("purchases_90d", "int", "purchases in the 90 days before as_of"),
    ("revenue_total", "float", "net transaction amount before as_of (refunds subtract)"),
    ("revenue_365d", "float", "net amount in the last 365 days"),
    ("revenue_90d", "float", "net amount in the last 90 days"),
    ("revenue_prev_90d", "float", "net amount 180 to 90 days before as_of"),
    ("revenue_trend_90d", "float", "revenue_90d minus revenue_prev_90d"),
    ("margin_365d", "float", "margin in the last 365 days"),
    ("refunds_365d", "int", "refunds (negative transactions) in the last 365 days"),
    ("avg_purchase", "float", "mean purchase amount"),
    ("recency_days", "int", "days since the last purchase (null without any)"),
    ("mean_gap_days", "float", "mean days between purchases (null with fewer than two)"),
    ("purchases_per_year", "float", "purchases per year of tenure (tenure at least 30 days)"),
    ("active_subscriptions", "int", "subscriptions active at as_of"),
    ("mrr", "float", "monthly recurring revenue of the active subscriptions"),
    ("mrr_change_90d", "float", "mrr minus the mrr of the subscriptions active 90 days earlier"),
    ("subscription_tenure_days", "int", "days since the first subscription started"),
    ("subscriptions_started_365d", "int", "subscriptions started in the last 365 days"),
    ("subscriptions_ended_365d", "int", "subscriptions ended in the last 365 days"),
    ("invoices_365d", "int", "invoices due in the last 365 days"),
    ("dpd_mean_365d", "float", "mean days past due of the invoices due in the last 365 days"),
    ("dpd_max_365d", "int", "worst days past due reached in the last 365 days (open invoices count up to as_of)"),
    ("dpd_max_90d", "int", "worst days past due reached in the last 90 days"),
    ("dpd_max_ever", "int", "worst days past due ever reached"),
    ("late_share_365d", "float", "share of the invoices due in the last 365 days paid late or still open"),
    ("late_share_90d", "float", "share of the invoices due in the last 90 days paid late or still open"),
    ("open_overdue_amount", "float", "amount of invoices past due and unpaid at as_of"),
    ("open_overdue_invoices", "int", "invoices past due and unpaid at as_of"),
    ("current_dpd", "int", "days past due of the oldest unpaid invoice (0 when none)"),
    ("contacts_90d", "int", "contacts in the last 90 days"),
    ("contacts_365d", "int", "contacts in the last 365 days"),
    ("inbound_contacts_90d", "int", "inbound contacts in the last 90 days"),
    ("complaints_90d", "int", "complaints in the last 90 days"),
    ("complaints_365d", "int", "complaints in the last 365 days"),
    ("cancellation_requests_90d", "int", "cancellation requests in the last 90 days"),
    ("payment_reminders_90d", "int", "payment reminders in the last 90 days"),
    ("sales_visits_365d", "int", "sales visits in the last 365 days"),
    ("open_tickets", "int", "inbound contacts of the last 365 days whose outcome is open"),
    ("days_since_last_contact", "int", "days since the last contact (null without any)"),
    ("nps_last", "int", "last NPS answer (0-10)"),
    ("nps_previous", "int", "the NPS answer before the last"),
    ("nps_trend", "int", "nps_last minus nps_previous"),
    ("nps_mean", "float", "mean NPS answer"),
    ("surveys", "int", "survey answers before as_of"),
    ("days_since_last_survey", "int", "days since the last survey answer"),
    ("rating_score", "float", "latest external rating score (0-100, higher is safer)"),
    ("rating_score_6m_ago", "float", "latest rating score at least 182 days before as_of"),
    ("rating_change_6m", "float", "rating_score minus rating_score_6m_ago"),
    ("rating_min_365d", "float", "lowest rating score in the last 365 days"),
    ("days_since_last_rating", "int", "days since the latest rating"),
)

#: The persisted column that stands for the ``holds_<product>`` flags, whose set changes with the products sold:
#: the slugs (:func:`cvm.features.sql.product_slug`) of the products of the active subscriptions, sorted, joined
#: by ``;`` (empty when none).
PRODUCTS_HELD = "products_held"
#: Prefix of the per-product flag columns of the feature query (``holds_<slug>``).
HOLDS_PREFIX = "holds_"
