"""Parameters of the demo company: catalogue, prices and the latent-trait distributions.

Rates are per year unless the name says otherwise; the simulation converts them to per day.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from cvm.contracts.tables import INVOLUNTARY_REASONS, VOLUNTARY_REASONS

TIERS = ("basic", "plus", "premium")
ADDON = "support"
SUBSCRIPTION_PRODUCTS = (*TIERS, ADDON)
ONE_OFF_PRODUCTS = ("hardware", "supplies", "services", "training")
REASONS = VOLUNTARY_REASONS + INVOLUNTARY_REASONS
REGIONS = ("North", "South", "East", "West", "Central")
B2B_SECTORS = ("retail", "manufacturing", "services", "construction", "healthcare", "hospitality")
B2C_SECTOR = "consumer"
SECTORS = (*B2B_SECTORS, B2C_SECTOR)
TIMEZONES = ("Europe/Amsterdam", "Europe/Paris", "Europe/London")
PHONE_PREFIXES = ("+31 6 ", "+33 6 ", "+44 75")
CHANNELS = ("direct", "distribution")
RATING_SOURCES = ("creditsafe", "graydon")
GRADES = ("D", "C", "CC", "CCC", "B", "BB", "BBB", "A", "AA", "AAA")


@dataclass(frozen=True)
class KindParams:
    """Latent-trait distributions of one customer kind (B2B or B2C).

    Purchases follow BG/NBD (Fader, Hardie & Lee 2005): rate ``lambda ~ Gamma(r, alpha)`` per day,
    dropout after each repeat purchase with ``p ~ Beta(a, b)``. Spend follows Gamma-Gamma
    (Fader, Hardie & Lee 2005b): ``amount ~ Gamma(spend_p, nu)``, ``nu ~ Gamma(spend_q, spend_gamma)``.
    """

    purchase_r: float
    purchase_alpha_days: float
    dropout_a: float
    dropout_b: float
    spend_p: float
    spend_q: float
    spend_gamma: float
    regular_share: float
    cadence_days: tuple[int, ...]
    pd_base: float
    due_days: int
    subscribed_at_acquisition: float
    subscribe_rate: float
    tier_mix: tuple[float, float, float]
    prices: tuple[float, float, float, float]
    direct_share: float
    contact_rate: float
    one_off_mix: tuple[float, float, float, float]
    rated_share: float


B2B = KindParams(
    purchase_r=1.2,
    purchase_alpha_days=1.2 / (5.0 / 365.25),
    dropout_a=0.6,
    dropout_b=9.0,
    spend_p=4.0,
    spend_q=3.0,
    spend_gamma=300.0,
    regular_share=0.12,
    cadence_days=(7, 14, 30, 30, 60, 90),
    pd_base=0.05,
    due_days=30,
    subscribed_at_acquisition=0.45,
    subscribe_rate=0.35,
    tier_mix=(0.35, 0.40, 0.25),
    prices=(49.0, 99.0, 199.0, 29.0),
    direct_share=0.6,
    contact_rate=2.0,
    one_off_mix=(0.30, 0.45, 0.15, 0.10),
    rated_share=1.0,
)

B2C = KindParams(
    purchase_r=0.8,
    purchase_alpha_days=0.8 / (2.0 / 365.25),
    dropout_a=1.0,
    dropout_b=6.0,
    spend_p=4.0,
    spend_q=3.0,
    spend_gamma=40.0,
    regular_share=0.03,
    cadence_days=(14, 30, 30, 60, 90),
    pd_base=0.03,
    due_days=14,
    subscribed_at_acquisition=0.20,
    subscribe_rate=0.15,
    tier_mix=(0.55, 0.30, 0.15),
    prices=(19.0, 39.0, 69.0, 9.0),
    direct_share=0.35,
    contact_rate=0.8,
    one_off_mix=(0.35, 0.50, 0.10, 0.05),
    rated_share=0.15,
)


@dataclass(frozen=True)
class DemoParams:
    """All parameters of the demo company; written to ``ground_truth/meta.json``."""

    b2b_share: float = 0.25
    growth: float = 1.0
    b2b: KindParams = B2B
    b2c: KindParams = B2C
    satisfaction_dropout_corr: float = 0.7
    sector_pd_shift: dict[str, float] = field(
        default_factory=lambda: {"construction": 0.4, "hospitality": 0.5, "healthcare": -0.3}
    )
    credit_pd_slope: float = 1.1
    default_lag_days: tuple[float, float] = (60.0, 120.0)
    margin_rate: tuple[float, float] = (0.20, 0.45)
    refund_share: float = 0.03
    upgrade_rate: float = 0.25
    downgrade_rate: float = 0.10
    addon_rate: float = 0.15
    addon_cancel_rate: float = 0.25
    propensity_days: int = 90
    silent_share_subscriber: float = 0.2
    silent_share_other: float = 0.55
    silent_window_days: int = 180
    sales_visit_rate_direct: float = 2.0
    sales_visit_rate_distribution: float = 0.5
    survey_rate: float = 0.5
    pre_churn_nps_drop: float = 1.5
    pre_churn_days: int = 120
    rating_interval_days: tuple[int, int] = (120, 180)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return asdict(self)
