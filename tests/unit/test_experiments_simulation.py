"""Validation by simulation on the demo company's ground truth, with treatment effects known by construction.

The plan: a retention call that cuts the churn hazard of at-risk customers (true monthly hazard ≥ 5%) by 20%
(:mod:`cvm.experiments.simulate`). Everything is vectorised over experiments × customers and seeded.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from cvm.demo import generate
from cvm.experiments.cuped import cuped
from cvm.experiments.sequential import halfwidth
from cvm.experiments.simulate import Effect, Population, draw, save_probability, simulate_experiments, true_effects
from cvm.experiments.stats import welch_many
from cvm.experiments.uplift import TwoModelUplift, qini_coefficient, uplift_at_k

EFFECT = Effect(hazard_cut=0.2, at_risk=0.05)


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Population:
    out = tmp_path_factory.mktemp("truth")
    generate(3_000, 7, out)
    return Population.from_truth(out / "ground_truth" / "customers_truth.parquet")


def test_true_effects_in_closed_form(population: Population) -> None:
    te = true_effects(population, EFFECT, 90)
    kappa = -np.log1p(-population.hazard) / 30.44
    treated = np.where(population.hazard >= 0.05, 0.8 * kappa, kappa)
    assert te.control["retention"] == pytest.approx(np.exp(-90 * kappa).mean())
    assert te.treated["retention"] == pytest.approx(np.exp(-90 * treated).mean())
    assert te.diff("retention") > 0
    assert te.diff("revenue") > 0
    assert true_effects(population, Effect(0.2, at_risk=2.0), 90).diff("retention") == 0.0  # nobody at risk
    # a churner is saved with probability (S^(1−cut) − S) / (1 − S), and only when at risk
    s = np.exp(-kappa * 90)
    expected = np.where(population.hazard >= 0.05, (s**0.8 - s) / (1 - s), 0.0)
    assert save_probability(population.hazard, EFFECT, 90.0) == pytest.approx(expected)


def test_nominal_95_percent_intervals_cover_the_true_effect(population: Population) -> None:
    started = time.perf_counter()
    sim = simulate_experiments(population, experiments=1_000, customers=4_000, effect=EFFECT, seed=0)
    covered = {}
    for outcome in ("retention", "revenue", "margin"):
        w = welch_many(*sim.moments(outcome))
        covered[outcome, "diff"] = np.mean((w["diff_ci_low"] <= sim.truth.diff(outcome))
                                           & (sim.truth.diff(outcome) <= w["diff_ci_high"]))  # fmt: skip
        covered[outcome, "lift"] = np.mean((w["ci_low"] <= sim.truth.lift(outcome))
                                           & (sim.truth.lift(outcome) <= w["ci_high"]))  # fmt: skip
    assert time.perf_counter() - started < 30  # 1,000 experiments of 4,000 customers in seconds
    assert 0.94 <= covered["retention", "diff"] <= 0.96, covered
    assert 0.94 <= covered["retention", "lift"] <= 0.96, covered
    # revenue and margin are heavy-tailed (Gamma–Gamma spend): still close to nominal
    for key in [k for k in covered if k[0] != "retention"]:
        assert 0.93 <= covered[key] <= 0.975, covered


def test_a_biased_interval_is_caught(population: Population) -> None:
    """The coverage check can fail: a 90% interval passed off as 95% covers about 90%."""
    sim = simulate_experiments(population, experiments=1_000, customers=4_000, effect=EFFECT, seed=1)
    w = welch_many(*sim.moments("retention"), alpha=0.10)
    cover = np.mean(
        (w["diff_ci_low"] <= sim.truth.diff("retention")) & (sim.truth.diff("retention") <= w["diff_ci_high"])
    )
    assert not 0.94 <= cover <= 0.96


def test_cuped_cuts_the_variance_of_revenue_on_the_demo_company(population: Population) -> None:
    sim = simulate_experiments(population, experiments=1, customers=200_000, effect=EFFECT, seed=2)
    y, x = sim.outcomes["revenue"][0], sim.outcomes["pre_revenue"][0]
    arm = np.where(sim.treated[0], "call", "control")
    r = cuped(y, x, arm, control="control")
    assert r.correlation >= 0.6
    assert r.variance_reduction >= 0.30


def _daily(population: Population, experiments: int, days: int, per_day: int, seed: int) -> dict[str, np.ndarray]:
    """Cumulative moments per experiment and day of the retention outcome, arms of ``per_day`` customers a day."""
    rng = np.random.default_rng(seed)
    out = {}
    for arm, treated in (("a", False), ("b", True)):
        index = rng.integers(0, population.n, size=(experiments, days, per_day))
        y = draw(population, index, np.full(index.shape, treated), EFFECT, 90.0, rng)["retention"]
        n = per_day * np.arange(1, days + 1, dtype=float)
        s = np.cumsum(y.sum(axis=2), axis=1)
        ss = np.cumsum((y * y).sum(axis=2), axis=1)
        mean = s / n
        out[f"mean_{arm}"], out[f"var_{arm}"], out[f"n_{arm}"] = mean, (ss - n * mean * mean) / (n - 1), n
    return out


def test_sequential_intervals_keep_coverage_under_daily_peeking(population: Population) -> None:
    truth = true_effects(population, EFFECT, 90).diff("retention")
    m = _daily(population, experiments=1_000, days=28, per_day=100, seed=3)
    diff = m["mean_b"] - m["mean_a"]
    var = m["var_a"] / m["n_a"] + m["var_b"] / m["n_b"]
    hw = halfwidth(var, m["n_a"] + m["n_b"])
    always = np.all(np.abs(diff - truth) <= hw, axis=1).mean()
    assert always >= 0.95
    # the fixed-horizon interval, looked at every day, does not hold its 95%
    peeked = np.all(np.abs(diff - truth) <= 1.96 * np.sqrt(var), axis=1).mean()
    assert peeked < 0.93
    assert np.mean(np.abs(diff[:, -1] - truth) <= 1.96 * np.sqrt(var[:, -1])) > 0.93  # one look is fine


def test_the_uplift_model_ranks_the_truly_responsive_segment_first(population: Population) -> None:
    rng = np.random.default_rng(5)

    def sample(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        index = rng.integers(0, population.n, n)
        treated = rng.random(n) < 0.5
        y = draw(population, index, treated, EFFECT, 180.0, rng)["retention"]
        noisy_risk = np.log(population.hazard[index]) + rng.normal(0, 0.25, n)  # an imperfect churn score
        spend = population.spend_p[index] / population.spend_nu[index]
        x = np.c_[noisy_risk, np.log(population.rate[index]), np.log(spend)]
        return x, y, treated, population.hazard[index] >= EFFECT.at_risk

    x, y, t, _ = sample(60_000)
    model = TwoModelUplift("logistic").fit(x, y, t)
    xt, yt, tt, responsive = sample(20_000)
    score = model.predict(xt)
    top = np.argsort(-score, kind="stable")[: int(responsive.sum())]
    assert responsive[top].mean() > 0.7 > 3 * responsive.mean()
    assert score[responsive].mean() > 5 * abs(score[~responsive].mean())
    assert uplift_at_k(yt, tt, score, 0.2) > 2 * uplift_at_k(yt, tt, score, 1.0)
    assert qini_coefficient(yt, tt, score) > qini_coefficient(yt, tt, rng.random(score.size))


def test_simulation_is_reproducible(population: Population, tmp_path: Path) -> None:
    a = simulate_experiments(population, experiments=5, customers=100, seed=9)
    b = simulate_experiments(population, experiments=5, customers=100, seed=9)
    assert np.array_equal(a.outcomes["revenue"], b.outcomes["revenue"])
    assert np.array_equal(a.treated, b.treated)
