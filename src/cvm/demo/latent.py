"""Per-customer latent traits: the hidden truth that drives every table of the demo company."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cvm.demo.arrays import BoolArray, FloatArray, IntArray, Window, logit, sigmoid
from cvm.demo.params import B2B_SECTORS, REGIONS, SECTORS, TIMEZONES, DemoParams, KindParams


@dataclass(frozen=True)
class Population:
    """Customers' observable profile codes and hidden traits, one array element per customer.

    Times are float days since the window start; rates are per day.
    """

    b2b: BoolArray
    acquired: FloatArray
    region: IntArray
    sector: IntArray
    direct: BoolArray
    timezone: IntArray
    satisfaction: FloatArray
    credit: FloatArray
    purchase_rate: FloatArray
    dropout: FloatArray
    regular: BoolArray
    cadence: FloatArray
    spend_nu: FloatArray
    spend_p: FloatArray
    margin_rate: FloatArray
    default_probability: FloatArray
    seats: IntArray
    discount: FloatArray

    @property
    def n(self) -> int:
        """Number of customers."""
        return int(self.b2b.size)

    @property
    def spend_scale(self) -> FloatArray:
        """Expected amount of one purchase (``p / nu``)."""
        return self.spend_p / self.spend_nu

    @property
    def default_hazard(self) -> FloatArray:
        """Default intensity per day implied by the 12-month default probability."""
        return -np.log1p(-self.default_probability) / 365.25

    @property
    def churn_rate(self) -> FloatArray:
        """Churn intensity per day: BG/NBD dropout (``lambda * p``) plus default."""
        return self.purchase_rate * self.dropout + self.default_hazard


def per_kind(params: DemoParams, b2b: BoolArray, name: str) -> FloatArray:
    """Per-customer value of a :class:`KindParams` field."""
    return np.where(b2b, float(getattr(params.b2b, name)), float(getattr(params.b2c, name)))


def kind_params(params: DemoParams, is_b2b: bool) -> KindParams:
    """The parameters of one kind."""
    return params.b2b if is_b2b else params.b2c


def draw_population(n: int, params: DemoParams, window: Window, rng: np.random.Generator) -> Population:
    """Draw ``n`` customers' profiles and latent traits."""
    b2b = rng.random(n) < params.b2b_share
    u = rng.random(n)
    acquired = window.horizon * np.log1p(u * np.expm1(params.growth)) / params.growth
    sector = np.where(b2b, rng.integers(0, len(B2B_SECTORS), n), SECTORS.index("consumer"))
    dropout = rng.beta(per_kind(params, b2b, "dropout_a"), per_kind(params, b2b, "dropout_b"))
    regular, cadence, rate = _purchase_rates(n, params, b2b, rng)
    spend_p = per_kind(params, b2b, "spend_p")
    spend_nu = rng.gamma(per_kind(params, b2b, "spend_q"), 1.0 / per_kind(params, b2b, "spend_gamma"))
    credit = rng.standard_normal(n)
    lo, hi = params.margin_rate
    return Population(
        b2b=b2b,
        acquired=acquired,
        region=rng.integers(0, len(REGIONS), n),
        sector=sector.astype(np.int64),
        direct=rng.random(n) < per_kind(params, b2b, "direct_share"),
        timezone=rng.choice(len(TIMEZONES), size=n, p=[0.5, 0.25, 0.25]).astype(np.int64),
        satisfaction=_satisfaction(dropout, params.satisfaction_dropout_corr, rng),
        credit=credit,
        purchase_rate=rate,
        dropout=dropout,
        regular=regular,
        cadence=cadence,
        spend_nu=spend_nu,
        spend_p=spend_p,
        margin_rate=rng.uniform(lo, hi, n),
        default_probability=_default_probability(params, b2b, sector, credit),
        seats=np.where(b2b, 1 + rng.poisson(3.0 * spend_p / spend_nu / 600.0), 1).astype(np.int64),
        discount=np.where(b2b, np.round(rng.uniform(0.0, 0.2, n), 2), 0.0),
    )


def _purchase_rates(
    n: int, params: DemoParams, b2b: BoolArray, rng: np.random.Generator
) -> tuple[BoolArray, FloatArray, FloatArray]:
    """Regular-cadence flag, cadence in days (NaN when Poisson) and purchase rate per day."""
    shape = per_kind(params, b2b, "purchase_r")
    rate = rng.gamma(shape, 1.0 / per_kind(params, b2b, "purchase_alpha_days"))
    regular = rng.random(n) < per_kind(params, b2b, "regular_share")
    cadence = np.full(n, np.nan)
    for is_b2b in (True, False):
        rows = regular & (b2b == is_b2b)
        cadence[rows] = rng.choice(kind_params(params, is_b2b).cadence_days, size=int(rows.sum()))
    rate = np.where(regular, 1.0 / np.nan_to_num(cadence, nan=1.0), rate)
    return regular, cadence, rate


def _satisfaction(dropout: FloatArray, corr: float, rng: np.random.Generator) -> FloatArray:
    """Standard-normal satisfaction, negatively correlated with the log-odds of dropout."""
    lp = np.log(dropout / (1.0 - dropout))
    z = (lp - lp.mean()) / max(float(lp.std()), 1e-9)
    return np.asarray(-corr * z + np.sqrt(1.0 - corr**2) * rng.standard_normal(dropout.size))


def _default_probability(params: DemoParams, b2b: BoolArray, sector: IntArray, credit: FloatArray) -> FloatArray:
    """True 12-month probability of going 60+ days past due."""
    base = np.where(b2b, logit(params.b2b.pd_base), logit(params.b2c.pd_base))
    shift = np.zeros(len(SECTORS))
    for name, value in params.sector_pd_shift.items():
        shift[SECTORS.index(name)] = value
    return sigmoid(base + shift[sector] + params.credit_pd_slope * credit)
