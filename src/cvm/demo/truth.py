"""Ground truth: every customer's hidden traits and what really happened, plus run metadata."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from cvm.demo.arrays import DAYS_PER_MONTH, BoolArray, FloatArray, Window, date_array, strings
from cvm.demo.latent import Population
from cvm.demo.lifecycle import Lifecycle
from cvm.demo.params import ONE_OFF_PRODUCTS, REASONS, SUBSCRIPTION_PRODUCTS, TIERS, DemoParams
from cvm.demo.subscriptions import Events, Rates

DEFINITIONS = {
    "churn_hazard": "true monthly churn probability while active: 1 - exp(-30.44 * (purchase_rate * dropout_p "
    "+ default_hazard)); BG/NBD dropout plus default, the default cut-off lag ignored",
    "default_probability": "true probability of going 60+ days past due within 12 months while active",
    "propensity_<product>": "true probability of adopting the product within propensity_days after `end`, "
    "given the state at `end`: r_k / (R + mu) * (1 - exp(-days * (R + mu))), the next subscription event "
    "competing with churn; 0 for churned customers and products already held",
    "purchase_rate": "BG/NBD lambda, purchases per day (1 / cadence_days for regular buyers)",
    "dropout_p": "BG/NBD p: probability of dropping out after each repeat purchase",
    "spend_p, spend_nu": "Gamma-Gamma: amount ~ Gamma(shape spend_p, rate spend_nu); spend_scale = p / nu",
    "silent_churn": "voluntary churn with no contact of any kind in the silent_window_days before churned_at "
    "and never a complaint or cancellation request",
    "churned_at": "date the relationship ended: last purchase before BG/NBD dropout, or the cut-off "
    "60-120 days after a default; subscriptions end on this date with churn_reason",
    "defaulted_at": "date from which invoices go unpaid (80%) or are paid 60+ days late",
}


def truth_columns(
    pop: Population,
    life: Lifecycle,
    rates: Rates,
    events: Events,
    silent: BoolArray,
    propensity: dict[str, FloatArray],
    customer_id: pa.Array,
    window: Window,
) -> dict[str, pa.Array]:
    """Columns of ``ground_truth/customers_truth.parquet``."""
    churned, defaulted = life.churned, life.defaulted
    cols: dict[str, Any] = {
        "customer_id": customer_id,
        "kind": strings(("B2C", "B2B"), pop.b2b.astype(np.int64)),
        "churn_hazard": 1.0 - np.exp(-DAYS_PER_MONTH * pop.churn_rate),
        "default_probability": pop.default_probability,
        **propensity,
        "purchase_rate": pop.purchase_rate,
        "dropout_p": pop.dropout,
        "regular_buyer": pop.regular,
        "cadence_days": pa.array(np.nan_to_num(pop.cadence), mask=~pop.regular),
        "spend_p": pop.spend_p,
        "spend_nu": pop.spend_nu,
        "spend_scale": pop.spend_scale,
        "margin_rate": pop.margin_rate,
        "satisfaction": pop.satisfaction,
        "credit_latent": pop.credit,
        "default_hazard": pop.default_hazard,
        "seats": pop.seats,
        "discount": pop.discount,
        "subscribe_rate": rates.subscribe,
        "upgrade_rate": rates.up,
        "downgrade_rate": rates.down,
        "support_rate": rates.addon_on,
        "support_cancel_rate": rates.addon_off,
        "alive": ~churned,
        "churned_at": date_array(window, life.churn_at, mask=~churned),
        "churn_reason": strings(REASONS, np.maximum(life.reason, 0), mask=~churned),
        "involuntary_churn": life.involuntary,
        "silent_churn": silent,
        "defaulted": defaulted,
        "defaulted_at": date_array(window, life.default_at, mask=~defaulted),
        "tier_at_end": strings(TIERS, np.maximum(events.tier - 1, 0), mask=(events.tier == 0) | churned),
        "support_at_end": events.addon & ~churned,
    }
    return {k: v if isinstance(v, pa.Array) else pa.array(v) for k, v in cols.items()}


def meta(
    customers: int, seed: int, window: Window, years: int, params: DemoParams, rows: dict[str, int]
) -> dict[str, Any]:
    """Run metadata for ``ground_truth/meta.json``."""
    return {
        "generator": "cvm.demo",
        "seed": seed,
        "customers": customers,
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "years": years,
        "products": {"subscription": list(SUBSCRIPTION_PRODUCTS), "one_off": list(ONE_OFF_PRODUCTS)},
        "rows": rows,
        "parameters": params.to_dict(),
        "definitions": DEFINITIONS,
    }
