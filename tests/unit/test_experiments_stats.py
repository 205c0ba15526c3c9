"""Pilot statistics: Welch on the relative lift, SRM, CUPED, sequential intervals, chance to win, adjustments."""

from __future__ import annotations

import doctest
import importlib
import math

import numpy as np
import pytest
from scipy import stats as st

from cvm.experiments.bayes import bayes_chance_to_win, beta_chance_to_win
from cvm.experiments.cuped import cuped
from cvm.experiments.sequential import halfwidth, rho, sequential_ci
from cvm.experiments.srm import srm_check
from cvm.experiments.stats import (
    adjust,
    benjamini_hochberg,
    holm,
    sample_size,
    welch_arrays,
    welch_lift,
    welch_many,
)


@pytest.mark.parametrize("module", ["assign", "stats", "cuped", "sequential", "srm", "bayes", "uplift", "simulate"])
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"cvm.experiments.{module}"))
    assert result.failed == 0
    assert result.attempted > 0


# -- Welch ------------------------------------------------------------------------------------------------
def test_welch_difference_matches_scipy() -> None:
    rng = np.random.default_rng(11)
    a, b = rng.normal(10, 2, 50), rng.gamma(2.0, 5.5, 70)
    r = welch_arrays(a, b)
    ref = st.ttest_ind(b, a, equal_var=False)
    assert r.diff == pytest.approx(b.mean() - a.mean())
    assert r.diff_p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert r.df == pytest.approx(ref.df, rel=1e-10)
    crit = st.t.ppf(0.975, ref.df)
    se = math.sqrt(a.var(ddof=1) / 50 + b.var(ddof=1) / 70)
    assert (r.diff_ci_low, r.diff_ci_high) == pytest.approx((r.diff - crit * se, r.diff + crit * se))


def test_welch_relative_lift_by_hand() -> None:
    # control mean 20, var 25, n 400; treatment mean 22, var 36, n 500
    r = welch_lift(20.0, 25.0, 400, 22.0, 36.0, 500)
    var_lift = 36 / (500 * 20**2) + 25 * 22**2 / (400 * 20**4)  # σB²/(nB·μA²) + σA²·μB²/(nA·μA⁴)
    df = (25 / 400 + 36 / 500) ** 2 / ((25 / 400) ** 2 / 399 + (36 / 500) ** 2 / 499)
    assert r.lift == pytest.approx(0.1)
    assert r.se_lift == pytest.approx(math.sqrt(var_lift))
    assert var_lift == pytest.approx(0.0003690625)
    assert r.df == pytest.approx(df)
    half = st.t.ppf(0.975, df) * math.sqrt(var_lift)
    assert (r.ci_low, r.ci_high) == pytest.approx((0.1 - half, 0.1 + half))
    assert r.p_value == pytest.approx(2 * st.t.sf(0.1 / math.sqrt(var_lift), df))
    assert r.to_dict()["lift"] == pytest.approx(0.1)


def test_welch_edge_cases() -> None:
    r = welch_lift(0.0, 1.0, 10, 1.0, 1.0, 10)
    assert math.isnan(r.lift)
    assert r.to_dict()["lift"] is None
    assert r.diff == 1.0
    assert welch_lift(5.0, 0.0, 10, 5.0, 0.0, 10).diff_p_value == 1.0
    with pytest.raises(ValueError, match="two customers"):
        welch_lift(1.0, 1.0, 1, 1.0, 1.0, 10)
    many = welch_many([20.0, 10.0], [25.0, 4.0], [400, 100], [22.0, 11.0], [36.0, 4.0], [500, 100])
    assert many["lift"] == pytest.approx([0.1, 0.1])


# -- SRM --------------------------------------------------------------------------------------------------
def test_srm_reference_check() -> None:
    r = srm_check([5000, 5200], [0.5, 0.5])
    assert round(r.chi2, 4) == 3.9216
    assert round(r.p_value, 4) == 0.0477
    assert r.mismatch is False
    bad = srm_check([5000, 5400], [1, 1])
    assert bad.mismatch
    assert bad.p_value < 0.001
    three = srm_check([2000, 1000, 1000], [2, 1, 1])
    assert three.chi2 == 0.0
    assert three.expected == (2000.0, 1000.0, 1000.0)
    with pytest.raises(ValueError, match="one weight per arm"):
        srm_check([1, 2, 3], [1, 1])


# -- multiple testing -------------------------------------------------------------------------------------
def test_holm_and_benjamini_hochberg_by_hand() -> None:
    p = [0.01, 0.04, 0.03, 0.005, float("nan")]
    # Holm: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04 -> running max
    assert holm(p)[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # BH: 0.04*4/4, 0.03*4/3, 0.01*4/2, 0.005*4/1 -> 0.04, 0.04, 0.02, 0.02 (running min from the top)
    assert benjamini_hochberg(p)[:4] == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert math.isnan(holm(p)[4])
    assert math.isnan(benjamini_hochberg(p)[4])
    assert adjust([0.2], "holm") == [0.2]
    with pytest.raises(ValueError, match="holm or bh"):
        adjust([0.1], "bonferroni")


def test_sample_size_formula() -> None:
    n = sample_size(1.0, 1.0, 0.1)
    assert n == pytest.approx((st.norm.ppf(0.975) + st.norm.ppf(0.8)) ** 2 * 2 / 0.01)
    assert math.isinf(sample_size(1.0, 1.0, 0.0))


# -- CUPED ------------------------------------------------------------------------------------------------
def _correlated(n: int, rho_: float, effect: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(50, 10, n)
    noise = rng.normal(0, 10, n)
    arm = np.where(rng.random(n) < 0.5, "b", "a")
    y = 50 + rho_ * (x - 50) + math.sqrt(1 - rho_**2) * noise + np.where(arm == "b", effect, 0.0)
    return y, x, arm


def test_cuped_formulas_by_hand() -> None:
    y = np.array([3.0, 5.0, 4.0, 8.0, 6.0, 9.0])
    x = np.array([1.0, 2.0, 2.0, 4.0, 3.0, 5.0])
    arm = np.array(["a", "a", "a", "b", "b", "b"])
    r = cuped(y, x, arm)
    theta = np.cov(y, x, ddof=1)[0, 1] / np.var(x, ddof=1)
    assert r.theta == pytest.approx(theta)
    for name in ("a", "b"):
        ya, xa = y[arm == name], x[arm == name]
        var = ya.var(ddof=1) + theta**2 * xa.var(ddof=1) - 2 * theta * np.cov(ya, xa, ddof=1)[0, 1]
        assert r.arms[name].var == pytest.approx(var)
        assert r.arms[name].mean == pytest.approx(ya.mean() - theta * (xa.mean() - x.mean()))
    # differences equal those of the reference form Ȳ − θX̄
    ref = [y[arm == k].mean() - theta * x[arm == k].mean() for k in ("a", "b")]
    assert r.arms["b"].mean - r.arms["a"].mean == pytest.approx(ref[1] - ref[0])


@pytest.mark.parametrize("rho_", [0.6, 0.8])
def test_cuped_cuts_variance_by_at_least_30_percent_when_correlation_is_high(rho_: float) -> None:
    y, x, arm = _correlated(20_000, rho_, 1.0, seed=3)
    r = cuped(y, x, arm, control="a")
    assert r.correlation >= rho_ - 0.02
    assert r.variance_reduction >= 0.30
    assert r.variance_reduction == pytest.approx(rho_**2, abs=0.03)
    raw = welch_arrays(y[arm == "a"], y[arm == "b"])
    adj = welch_lift(*(getattr(r.arms["a"], k) for k in ("mean", "var", "n")),
                     *(getattr(r.arms["b"], k) for k in ("mean", "var", "n")))  # fmt: skip
    assert adj.se_diff < raw.se_diff * math.sqrt(0.7)
    assert adj.diff_ci_low < 1.0 < adj.diff_ci_high


def test_cuped_does_nothing_without_correlation() -> None:
    y, _x, arm = _correlated(20_000, 0.0, 0.0, seed=4)
    r = cuped(y, np.random.default_rng(5).normal(size=y.size), arm)
    assert abs(r.variance_reduction) < 0.01


# -- sequential -------------------------------------------------------------------------------------------
def test_sequential_halfwidth_by_hand() -> None:
    alpha, tuning = 0.05, 5000.0
    r = math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning)
    assert rho(alpha, tuning) == pytest.approx(r)
    n, var = 1000.0, 0.004  # variance of the estimate
    s2 = var * n
    hw = math.sqrt(s2) * math.sqrt(2 * (n * r**2 + 1) / (n**2 * r**2) * math.log(math.sqrt(n * r**2 + 1) / alpha))
    assert halfwidth(var, n, alpha, tuning) == pytest.approx(hw)
    ci = sequential_ci(0.2, var, n)
    assert (ci.ci_low, ci.ci_high) == pytest.approx((0.2 - hw, 0.2 + hw))
    assert hw > 1.96 * math.sqrt(var)  # wider than the fixed-horizon interval
    evalue = math.exp(r**2 * n * (0.2**2 / var) / (2 * (n * r**2 + 1))) / math.sqrt(n * r**2 + 1)
    assert ci.p_value == pytest.approx(min(1.0, 1 / evalue))
    assert sequential_ci(0.0, var, n).p_value == 1.0


# -- chance to win ----------------------------------------------------------------------------------------
def test_normal_chance_to_win() -> None:
    r = bayes_chance_to_win(10.0, 4.0, 100, 10.5, 4.0, 100)
    assert r.chance_to_win == pytest.approx(st.norm.cdf(0.5 / math.sqrt(0.08)))
    assert r.ci_low == pytest.approx(0.5 - 1.959964 * math.sqrt(0.08), rel=1e-5)


def test_beta_chance_to_win_matches_numerical_integration() -> None:
    r = beta_chance_to_win(40, 200, 55, 200)
    a, b = st.beta(41, 161), st.beta(56, 146)
    grid = np.linspace(0, 1, 200_001)
    numeric = np.trapezoid(b.pdf(grid) * a.cdf(grid), grid)
    assert r.chance_to_win == pytest.approx(numeric, abs=1e-6)
    assert beta_chance_to_win(55, 200, 40, 200).chance_to_win == pytest.approx(1 - numeric, abs=1e-6)
