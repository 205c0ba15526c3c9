"""CLV models against published values (CDNOW, donations, FH 2007 cohorts) and against lifetimes' formulas."""

from __future__ import annotations

import importlib.resources
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cvm.models.clv import (
    BetaGeo,
    BetaGeoBetaBinom,
    GammaGamma,
    ModifiedBetaGeo,
    ParetoNBD,
    ShiftedBetaGeometric,
    clv,
)

with warnings.catch_warnings():
    # lifetimes 0.11 sets pandas' `mode.chained_assignment`, deprecated since pandas 3, when imported.
    warnings.simplefilter("ignore")
    import lifetimes

PARAM_RTOL = 0.005  # published parameters are reproduced within 0.5%
PRED_RTOL = 1e-6  # predictions equal lifetimes' given the same parameters


def _dataset(name: str) -> pd.DataFrame:
    with importlib.resources.as_file(importlib.resources.files("lifetimes") / "datasets" / name) as path:
        return pd.read_csv(path)


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    df = _dataset("cdnow_customers_summary_with_transactions.csv")
    df.columns = pd.Index(["customer_id", "frequency", "recency", "T", "monetary_value"])
    return df.set_index("customer_id")


@pytest.fixture(scope="module")
def bgnbd(cdnow: pd.DataFrame) -> BetaGeo:
    return BetaGeo().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


@pytest.fixture(scope="module")
def pareto(cdnow: pd.DataFrame) -> ParetoNBD:
    return ParetoNBD().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


@pytest.fixture(scope="module")
def mbgnbd(cdnow: pd.DataFrame) -> ModifiedBetaGeo:
    return ModifiedBetaGeo().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


@pytest.fixture(scope="module")
def gamma_gamma(cdnow: pd.DataFrame) -> GammaGamma:
    with pytest.warns(UserWarning, match="excluded 1411 of 2357 rows: 1411 with frequency 0"):
        return GammaGamma().fit(cdnow["frequency"], cdnow["monetary_value"])


@pytest.fixture(scope="module")
def donations() -> pd.DataFrame:
    return _dataset("donations.csv")


@pytest.fixture(scope="module")
def bgbb(donations: pd.DataFrame) -> BetaGeoBetaBinom:
    return BetaGeoBetaBinom().fit(
        donations["frequency"], donations["recency"], donations["periods"], donations["weights"]
    )


def _assert_params(model: Any, published: dict[str, float]) -> None:
    assert model.converged_, model.convergence_
    for name, value in published.items():
        assert model.params_[name] == pytest.approx(value, rel=PARAM_RTOL), name


def _assert_ll(model: Any, published: float, decimals: int) -> None:
    """The published LL is rounded to ``decimals``: ours may not fall below its rounding interval minus 0.01."""
    half_unit = 0.5 * 10.0**-decimals
    assert model.log_likelihood_ >= published - half_unit - 0.01
    assert model.log_likelihood_ <= published + half_unit  # a higher LL would mean a different likelihood


# ---------------------------------------------------------------- published values
def test_bgnbd_reproduces_fhl_2005_on_cdnow(bgnbd: BetaGeo) -> None:
    _assert_params(bgnbd, {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
    _assert_ll(bgnbd, -9582.4, decimals=1)
    assert bgnbd.n_customers_ == 2357


def test_bgnbd_conditional_prediction_from_reference(bgnbd: BetaGeo) -> None:
    assert float(bgnbd.expected_purchases(39, 2, 30.43, 38.86)) == pytest.approx(1.226, abs=5e-4)


def test_pareto_reproduces_published_on_cdnow(pareto: ParetoNBD) -> None:
    _assert_params(pareto, {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669})
    _assert_ll(pareto, -9595.0, decimals=1)


def test_mbgnbd_reproduces_btydplus_on_cdnow(mbgnbd: ModifiedBetaGeo) -> None:
    _assert_params(mbgnbd, {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614})


def test_gamma_gamma_reproduces_fhl_2005(gamma_gamma: GammaGamma) -> None:
    _assert_params(gamma_gamma, {"p": 6.25, "q": 3.74, "gamma": 15.44})
    _assert_ll(gamma_gamma, -4055.92, decimals=2)
    assert gamma_gamma.n_customers_ == 946
    assert gamma_gamma.n_excluded_ == 1411


def test_bgbb_reproduces_fhs_2010_on_donations(bgbb: BetaGeoBetaBinom) -> None:
    _assert_params(bgbb, {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783})
    _assert_ll(bgbb, -33225.6, decimals=1)  # FHS (2010), section 3
    assert bgbb.n_customers_ == 11104


REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]


@pytest.mark.parametrize(
    ("counts", "alpha", "beta"), [(REGULAR, 0.704, 1.182), (HIGH_END, 0.668, 3.806)], ids=["regular", "high_end"]
)
def test_sbg_reproduces_fh_2007_cohorts(counts: list[int], alpha: float, beta: float) -> None:
    model = ShiftedBetaGeometric().fit_survival(counts)
    _assert_params(model, {"alpha": alpha, "beta": beta})
    t = np.arange(13)
    # The survival curve of the published MLE, S(t) = Π_{i=1..t} (β+i-1)/(α+β+i-1), projected to year 13 ...
    published = np.cumprod(np.r_[1.0, (beta + t[1:] - 1) / (alpha + beta + t[1:] - 1)])
    np.testing.assert_allclose(model.survival(t), published, atol=1e-3)
    # ... and the observed survival, which the model tracks within 2 percentage points (FH 2007, Figure 3).
    np.testing.assert_allclose(model.survival(t[:8]), np.array(counts) / 1000, atol=0.02)


def test_sbg_individual_fit_equals_cohort_fit() -> None:
    cohort = ShiftedBetaGeometric().fit_survival(REGULAR)
    lost = -np.diff(REGULAR)
    tenure = np.concatenate([np.repeat(np.arange(1, 8), lost), np.full(REGULAR[-1], 7)])
    churned = np.concatenate([np.ones(lost.sum(), bool), np.zeros(REGULAR[-1], bool)])
    individual = ShiftedBetaGeometric().fit(tenure, churned)
    assert individual.params_ == pytest.approx(cohort.params_, rel=1e-6)
    assert individual.log_likelihood_ == pytest.approx(cohort.log_likelihood_, rel=1e-9)


def test_sbg_predictions_follow_their_definitions() -> None:
    model = ShiftedBetaGeometric().fit_survival(HIGH_END)
    t = np.arange(1, 30)
    s = model.survival(np.arange(0, 30))
    np.testing.assert_allclose(model.retention_rate(t), s[1:] / s[:-1], rtol=1e-12)
    np.testing.assert_allclose(model.churn_probability(t), s[:-1] - s[1:], rtol=1e-10)
    # DERL against its defining sum (FH 2010): Σ_{t≥n} S(t)/S(n-1) / (1+d)^(t-n).
    horizon = np.arange(0, 4000)
    for n in (1, 4):
        ratio = model.survival(n - 1 + 1 + horizon) / model.survival(n - 1)
        expected = np.sum(ratio / 1.1**horizon)
        assert float(model.discounted_expected_residual_lifetime(n, 0.1)) == pytest.approx(expected, rel=1e-9)
    alpha, beta = model.params_["alpha"], model.params_["beta"]
    assert alpha < 1
    assert np.isinf(model.expected_remaining_lifetime(3))
    assert beta > 0


def test_sbg_expected_remaining_lifetime_is_undiscounted_derl() -> None:
    t = np.arange(1, 12)
    counts = 10_000 * np.cumprod(np.r_[1.0, (10.0 + t - 1) / (3.0 + 10.0 + t - 1)])  # alpha=3, beta=10
    model = ShiftedBetaGeometric().fit_survival(counts)
    assert model.params_ == pytest.approx({"alpha": 3.0, "beta": 10.0}, rel=1e-4)
    assert float(model.expected_remaining_lifetime(3)) == pytest.approx(
        float(model.discounted_expected_residual_lifetime(3, 1e-9)), rel=1e-6
    )


# ---------------------------------------------------------------- equality with lifetimes
def _lifetimes_model(cls: Any, params: dict[str, float]) -> Any:
    fitter = cls()
    fitter.params_ = pd.Series(params)
    fitter.predict = getattr(fitter, "conditional_expected_number_of_purchases_up_to_time", None)
    return fitter


def _quiet(func: Callable[..., Any], *args: Any) -> Any:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return func(*args)


def _grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, tx = np.meshgrid(np.arange(0, 40, 3.0), np.linspace(0, 38, 7))
    x, tx = np.r_[x.ravel(), 200, 500, 2000], np.r_[tx.ravel(), 38.0, 5.0, 38.8]  # with heavy buyers
    tx = np.where(x == 0, 0.0, tx)
    return x, tx, np.full_like(x, 38.86)


@pytest.mark.parametrize(
    ("fixture", "peer", "rename"),
    [
        ("bgnbd", lifetimes.BetaGeoFitter, {}),
        ("mbgnbd", lifetimes.ModifiedBetaGeoFitter, {}),
        ("pareto", lifetimes.ParetoNBDFitter, {}),
    ],
)
def test_continuous_predictions_equal_lifetimes(
    fixture: str, peer: Any, rename: dict[str, str], cdnow: pd.DataFrame, request: pytest.FixtureRequest
) -> None:
    model = request.getfixturevalue(fixture)
    ref = _lifetimes_model(peer, model.params_)
    for x, tx, age in [(cdnow["frequency"].to_numpy(), cdnow["recency"].to_numpy(), cdnow["T"].to_numpy()), _grid()]:
        for t in (1.0, 39.0, 520.0):
            want = _quiet(ref.conditional_expected_number_of_purchases_up_to_time, t, x, tx, age)
            got = model.expected_purchases(t, x, tx, age)
            assert np.isfinite(got).all()
            # lifetimes' MBG/NBD overflows (NaN) for the heaviest buyers; ours uses Euler's transformation.
            peer_ok = np.isfinite(want)
            assert peer_ok[: len(cdnow) if len(x) == len(cdnow) else -3].all()
            np.testing.assert_allclose(got[peer_ok], want[peer_ok], rtol=PRED_RTOL)
        want = _quiet(ref.conditional_probability_alive, x, tx, age)
        np.testing.assert_allclose(model.probability_alive(x, tx, age), want, rtol=PRED_RTOL)
    t = np.array([0.5, 1.0, 10.0, 39.0, 78.0, 1000.0])
    want = _quiet(ref.expected_number_of_purchases_up_to_time, t)
    np.testing.assert_allclose(model.expected_purchases_new_customer(t), want, rtol=PRED_RTOL)


def test_bgbb_predictions_equal_lifetimes(bgbb: BetaGeoBetaBinom, donations: pd.DataFrame) -> None:
    ref = _lifetimes_model(lifetimes.BetaGeoBetaBinomFitter, bgbb.params_)
    x, tx, n = (donations[c].to_numpy() for c in ("frequency", "recency", "periods"))
    for m in (1, 5, 20):
        want = _quiet(ref.conditional_expected_number_of_purchases_up_to_time, m, x, tx, n)
        np.testing.assert_allclose(bgbb.expected_purchases(m, x, tx, n), want, rtol=PRED_RTOL)
    for m in (0, 1, 5):
        want = _quiet(ref.conditional_probability_alive, m, x, tx, n)
        np.testing.assert_allclose(bgbb.probability_alive(x, tx, n, n_future=m), want, rtol=PRED_RTOL)


def test_bgbb_new_customer_expectation_equals_lifetimes_distribution(
    bgbb: BetaGeoBetaBinom, donations: pd.DataFrame
) -> None:
    """lifetimes gives P(X(n) = x) for the observed x; all of 0..6 occur in the donations data."""
    ref = _lifetimes_model(lifetimes.BetaGeoBetaBinomFitter, bgbb.params_)
    ref.data = pd.DataFrame({"frequency": donations["frequency"], "weights": donations["weights"]})
    dist = _quiet(ref.expected_number_of_transactions_in_first_n_periods, 6)["model"]
    expected = float((dist.index.to_numpy() * dist.to_numpy()).sum() / dist.sum())
    assert float(bgbb.expected_purchases_new_customer(6)) == pytest.approx(expected, rel=PRED_RTOL)


def test_gamma_gamma_and_clv_equal_lifetimes(gamma_gamma: GammaGamma, bgnbd: BetaGeo, cdnow: pd.DataFrame) -> None:
    p, q, gamma = gamma_gamma.params_.values()
    ref_gg = _lifetimes_model(lifetimes.GammaGammaFitter, {"p": p, "q": q, "v": gamma})
    buyers = cdnow[cdnow["frequency"] > 0]
    want = _quiet(ref_gg.conditional_expected_average_profit, buyers["frequency"], buyers["monetary_value"])
    got = gamma_gamma.expected_spend(buyers["frequency"], buyers["monetary_value"])
    np.testing.assert_allclose(got, want, rtol=PRED_RTOL)
    ref_bg = _lifetimes_model(lifetimes.BetaGeoFitter, bgnbd.params_)
    args = (buyers["frequency"], buyers["recency"], buyers["T"], buyers["monetary_value"])
    for horizon, rate in ((12, 0.01), (36, 0.05), (1, 0.0)):
        want = _quiet(ref_gg.customer_lifetime_value, ref_bg, *args, horizon, rate, "W")
        got = clv(bgnbd, gamma_gamma, *args, horizon=horizon, discount_rate=rate, freq="W")
        assert isinstance(got, pd.Series)
        assert got.index.equals(buyers.index)
        np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=PRED_RTOL)


def test_clv_margin_array_output_and_plain_spend(gamma_gamma: GammaGamma, bgnbd: BetaGeo) -> None:
    x, tx, age, m = np.array([0, 2, 7]), np.array([0, 30.43, 37.0]), np.full(3, 38.86), np.array([0, 22.35, 41.0])
    base = clv(bgnbd, gamma_gamma, x, tx, age, m, horizon=12, discount_rate=0.01, freq="W")
    assert isinstance(base, np.ndarray)
    assert base.shape == (3,)
    assert (base > 0).all()
    half = clv(bgnbd, gamma_gamma, x, tx, age, m, horizon=12, discount_rate=0.01, freq="W", margin=0.5)
    np.testing.assert_allclose(half, 0.5 * base, rtol=1e-12)
    plain = clv(bgnbd, None, x, tx, age, m, horizon=12, discount_rate=0.0, periods_per_month=4.345)
    np.testing.assert_allclose(plain, m * bgnbd.expected_purchases(12 * 4.345, x, tx, age), rtol=1e-9)
    with pytest.raises(ValueError, match="freq"):
        clv(bgnbd, gamma_gamma, x, tx, age, m, freq="fortnight")


def test_gamma_gamma_spend_without_history_is_the_population_mean(gamma_gamma: GammaGamma) -> None:
    p, q, gamma = gamma_gamma.params_.values()
    got = gamma_gamma.expected_spend([0, 3, 3, 0], [np.nan, 0.0, -5.0, 12.0])
    np.testing.assert_allclose(got, p * gamma / (q - 1), rtol=1e-12)


def test_predictions_on_many_rows_use_unique_rows_and_agree(bgnbd: BetaGeo, pareto: ParetoNBD) -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 5, 60_000).astype(float)
    age = rng.integers(30, 40, 60_000).astype(float)
    tx = np.where(x > 0, np.floor(age * rng.random(60_000)), 0.0)
    for model in (bgnbd, pareto):
        many = model.expected_purchases(10.0, x, tx, age)
        few = np.array([model.expected_purchases(10.0, x[i], tx[i], age[i]) for i in range(0, 60_000, 997)])
        np.testing.assert_allclose(many[::997], few, rtol=1e-13)


def test_log_likelihood_definition_versus_lifetimes(
    bgnbd: BetaGeo, gamma_gamma: GammaGamma, cdnow: pd.DataFrame
) -> None:
    """lifetimes reports the mean NLL, and for BG/NBD on time rescaled by s = 1 / max(T): each of a customer's
    x purchase times then has a density s times smaller, so LL(ours, weeks) = -n NLL(lifetimes) + Σx log s."""
    x, tx, age = cdnow["frequency"], cdnow["recency"], cdnow["T"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = lifetimes.BetaGeoFitter().fit(x, tx, age)
        ref_gg = lifetimes.GammaGammaFitter().fit(x[x > 0], cdnow["monetary_value"][x > 0])
    scale = 1.0 / age.max()
    assert bgnbd.log_likelihood_ == pytest.approx(
        -len(x) * ref._negative_log_likelihood_ + x.sum() * np.log(scale), abs=1e-3
    )
    assert bgnbd.log_likelihood_ >= -len(x) * ref._negative_log_likelihood_ + x.sum() * np.log(scale) - 1e-6
    assert gamma_gamma.log_likelihood_ == pytest.approx(-946 * ref_gg._negative_log_likelihood_, abs=1e-3)
