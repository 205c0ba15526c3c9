"""Parameter recovery on data simulated from known parameters (seeded), and analytic gradients."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cvm.models.clv import BetaGeo, BetaGeoBetaBinom, GammaGamma, ModifiedBetaGeo, ParetoNBD, ShiftedBetaGeometric
from cvm.models.clv.bgnbd import _BGData
from cvm.models.clv.purchase import RFTData

N = 20_000
Z = 3.0  # each estimate within 3 standard errors of the truth


def simulate_bgnbd(
    rng: np.random.Generator, n: int, r: float, alpha: float, a: float, b: float, modified: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BG/NBD (or MBG/NBD) customers observed for T ~ U(26, 52) weeks, times rounded to days."""
    age = np.round(rng.uniform(26, 52, n) * 7) / 7
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    arrivals = rng.poisson(lam * age)  # repeat purchases of a customer who never drops out
    # Repeat purchases made before dropping out: BG/NBD drops out after one of them, MBG/NBD possibly at the first.
    lifetime_purchases = rng.geometric(p) - (1 if modified else 0)
    x = np.minimum(arrivals, lifetime_purchases)
    # The x-th of `arrivals` uniform arrival times on (0, T].
    tx = np.where(x > 0, age * rng.beta(np.maximum(x, 1), arrivals - x + 1), 0.0)
    return x.astype(float), np.round(tx * 7) / 7, age


def simulate_pareto(
    rng: np.random.Generator, n: int, r: float, alpha: float, s: float, beta: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    age = np.round(rng.uniform(26, 52, n) * 7) / 7
    lam, mu = rng.gamma(r, 1 / alpha, n), rng.gamma(s, 1 / beta, n)
    active = np.minimum(rng.exponential(1 / mu), age)
    x = rng.poisson(lam * active)
    tx = np.where(x > 0, active * rng.beta(np.maximum(x, 1), 1), 0.0)
    return x.astype(float), np.round(tx * 7) / 7, age


def simulate_bgbb(
    rng: np.random.Generator, n: int, alpha: float, beta: float, gamma: float, delta: float, periods: int = 8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p, theta = rng.beta(alpha, beta, n), rng.beta(gamma, delta, n)
    alive = np.minimum(rng.geometric(theta) - 1, periods)  # opportunities survived
    opportunity = np.arange(1, periods + 1)
    buys = (rng.random((n, periods)) < p[:, None]) & (opportunity[None, :] <= alive[:, None])
    x = buys.sum(axis=1)
    tx = np.max(np.where(buys, opportunity[None, :], 0), axis=1)
    return x.astype(float), tx.astype(float), np.full(n, float(periods))


def simulate_spend(rng: np.random.Generator, n: int, p: float, q: float, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    nu = rng.gamma(q, 1 / gamma, n)
    x = 1 + rng.poisson(2.0, n)
    mean_spend = rng.gamma(p * x, 1 / (x * nu))
    return x.astype(float), mean_spend


def _assert_recovered(model: Any, truth: dict[str, float]) -> None:
    assert model.converged_, model.convergence_
    for name, value in truth.items():
        se = model.standard_errors_[name]
        assert np.isfinite(se)
        assert se > 0
        assert abs(model.params_[name] - value) <= Z * se, (name, model.params_[name], value, se)
        lower, upper = model.summary().loc[name, ["lower 95%", "upper 95%"]]
        assert lower < model.params_[name] < upper


@pytest.mark.parametrize("seed", [1, 2])
def test_bgnbd_recovers_simulated_parameters(seed: int) -> None:
    truth = {"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 3.0}
    x, tx, age = simulate_bgnbd(np.random.default_rng(seed), N, **truth)
    _assert_recovered(BetaGeo().fit(x, tx, age), truth)


def test_mbgnbd_recovers_simulated_parameters() -> None:
    truth = {"r": 0.6, "alpha": 4.0, "a": 0.9, "b": 2.0}
    x, tx, age = simulate_bgnbd(np.random.default_rng(3), N, **truth, modified=True)
    _assert_recovered(ModifiedBetaGeo().fit(x, tx, age), truth)


def test_pareto_recovers_simulated_parameters() -> None:
    truth = {"r": 0.6, "alpha": 8.0, "s": 0.8, "beta": 15.0}
    x, tx, age = simulate_pareto(np.random.default_rng(4), N, **truth)
    _assert_recovered(ParetoNBD().fit(x, tx, age), truth)


def test_bgbb_recovers_simulated_parameters() -> None:
    truth = {"alpha": 1.2, "beta": 0.8, "gamma": 0.7, "delta": 2.5}
    x, tx, n = simulate_bgbb(np.random.default_rng(5), N, **truth)
    _assert_recovered(BetaGeoBetaBinom().fit(x, tx, n), truth)


def test_gamma_gamma_recovers_simulated_parameters() -> None:
    truth = {"p": 6.0, "q": 4.0, "gamma": 15.0}
    x, m = simulate_spend(np.random.default_rng(6), N, **truth)
    _assert_recovered(GammaGamma().fit(x, m), truth)


def test_sbg_recovers_simulated_parameters() -> None:
    rng = np.random.default_rng(7)
    truth = {"alpha": 0.7, "beta": 1.2}
    lifetime = rng.geometric(rng.beta(0.7, 1.2, N))
    churned = lifetime <= 10
    _assert_recovered(ShiftedBetaGeometric().fit(np.minimum(lifetime, 10), churned), truth)


def test_weights_equal_repeated_rows() -> None:
    x, tx, age = simulate_bgnbd(np.random.default_rng(8), 3000, 0.5, 5.0, 0.8, 3.0)
    counts = np.random.default_rng(9).integers(1, 4, 3000)
    weighted = BetaGeo().fit(x, tx, age, weights=counts)
    repeated = BetaGeo().fit(np.repeat(x, counts), np.repeat(tx, counts), np.repeat(age, counts))
    assert weighted.params_ == pytest.approx(repeated.params_, rel=1e-6)
    assert weighted.log_likelihood_ == pytest.approx(repeated.log_likelihood_, rel=1e-10)
    assert weighted.n_customers_ == counts.sum()


# ---------------------------------------------------------------- analytic gradients
def _numeric_gradient(func: Any, phi: np.ndarray, h: float = 1e-6) -> np.ndarray:
    grad = np.empty_like(phi)
    for j in range(len(phi)):
        e = np.zeros_like(phi)
        e[j] = h
        grad[j] = (func(phi + e)[0] - func(phi - e)[0]) / (2 * h)
    return grad


@pytest.mark.parametrize("model", [BetaGeo(), ModifiedBetaGeo(), ParetoNBD()], ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("phi", [[-1.0, 1.5, -0.3, 1.0], [0.5, 2.5, 1.0, 0.2], [-2.0, 0.5, 0.7, 3.0]])
def test_purchase_model_gradients_match_finite_differences(model: Any, phi: list[float]) -> None:
    x, tx, age = simulate_bgnbd(np.random.default_rng(10), 500, 0.5, 5.0, 0.8, 3.0)
    d = RFTData.build(x, tx, age, np.ones_like(x))
    data = d if isinstance(model, ParetoNBD) else _BGData.build(d, model.shift)
    func = lambda p: model._negative_log_likelihood(p, data)  # noqa: E731
    point = np.array(phi)
    np.testing.assert_allclose(func(point)[1], _numeric_gradient(func, point), rtol=1e-5, atol=1e-4)


def test_bgbb_gamma_gamma_and_sbg_gradients_match_finite_differences() -> None:
    from cvm.models.clv import bgbb, gamma_gamma, sbg

    x, tx, n = simulate_bgbb(np.random.default_rng(11), 300, 1.2, 0.8, 0.7, 2.5)
    w = np.ones_like(x)
    xs, m = simulate_spend(np.random.default_rng(12), 300, 6.0, 4.0, 15.0)
    spend = gamma_gamma._SpendData.build(xs, m, np.ones_like(xs))
    tenure = np.arange(1.0, 11.0)
    churned = (tenure < 10).astype(float)
    cases = [
        (lambda p: bgbb._negative_log_likelihood(p, x, tx, n, w), np.array([0.2, -0.3, -0.4, 0.9])),
        (spend.negative_log_likelihood, np.array([1.5, 1.2, 2.8])),
        (
            lambda p: sbg.ShiftedBetaGeometric._negative_log_likelihood(p, tenure, churned, w[:10]),
            np.array([-0.3, 0.4]),
        ),
    ]
    for func, point in cases:
        np.testing.assert_allclose(func(point)[1], _numeric_gradient(func, point), rtol=1e-5, atol=1e-4)
