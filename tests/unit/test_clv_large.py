"""The large-data paths of the CLV fits: subsample presolve, threaded likelihood, forward-difference Hessian.

Each is checked against the plain path on the same data: the same optimum, likelihood and standard errors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cvm.models.clv import BetaGeo, GammaGamma, ModifiedBetaGeo, _data, base, clv, purchase
from cvm.models.clv.bgnbd import _BGData
from cvm.models.clv.purchase import RFTData, check_rft
from tests.unit.test_clv_simulated import simulate_spend

N_LARGE = 400_000  # over 200k distinct (x, t_x, T) rows: above the presolve threshold


@pytest.fixture(scope="module")
def large() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BG/NBD customers observed for 30 to 730 whole days (as in a two-year log)."""
    rng = np.random.default_rng(11)
    age = rng.integers(30, 731, N_LARGE).astype(float)
    lam, p = rng.gamma(0.5, 1 / 30.0, N_LARGE), rng.beta(0.8, 2.5, N_LARGE)
    arrivals = rng.poisson(lam * age)
    x = np.minimum(arrivals, rng.geometric(p))
    tx = np.where(x > 0, np.floor(age * rng.beta(np.maximum(x, 1), arrivals - x + 1)), 0.0)
    return x.astype(float), tx, age


def _plain(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fit without the large-data shortcuts: no presolve, central-difference Hessian, one thread."""
    monkeypatch.setattr(purchase, "thin", lambda *a, **k: None)
    monkeypatch.setattr("cvm.models.clv.gamma_gamma.thin", lambda *a, **k: None)
    monkeypatch.setattr(base, "FORWARD_HESSIAN_ROWS", 10**12)
    monkeypatch.setattr(_data, "SLICE_ROWS", 10**12)


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo])
def test_large_fit_equals_the_plain_fit(cls: Any, large: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = cls().fit(*large)
    assert fast.training_["n_unique_rows"] > 4 * _data.PRESOLVE_ROWS  # the presolve path was taken
    assert fast.converged_
    with monkeypatch.context() as m:
        _plain(m)
        plain = cls().fit(*large)
    assert plain.converged_
    assert plain.convergence_.evaluations > fast.convergence_.evaluations  # the presolve saves evaluations
    for name, value in plain.params_.items():
        assert fast.params_[name] == pytest.approx(value, rel=1e-6)
        assert fast.standard_errors_[name] == pytest.approx(plain.standard_errors_[name], rel=1e-4)
    assert fast.log_likelihood_ == pytest.approx(plain.log_likelihood_, abs=1e-6)


def test_gamma_gamma_large_fit_equals_the_plain_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    x, m = simulate_spend(np.random.default_rng(5), 300_000, 6.0, 4.0, 15.0)
    fast = GammaGamma().fit(x, m)
    assert fast.training_["n_unique_rows"] > 4 * _data.PRESOLVE_ROWS
    with monkeypatch.context() as mp:
        _plain(mp)
        plain = GammaGamma().fit(x, m)
    for name, value in plain.params_.items():
        assert fast.params_[name] == pytest.approx(value, rel=1e-6)
        assert fast.standard_errors_[name] == pytest.approx(plain.standard_errors_[name], rel=1e-4)


def test_threaded_likelihood_equals_one_slice(large: Any) -> None:
    d = RFTData.build(*check_rft(*large, None))
    threaded = _BGData.build(d, 0)
    assert len(threaded.slices) == min(_data._threads(), len(threaded.x) // _data.SLICE_ROWS)
    single = _BGData(**{**threaded.__dict__, "slices": [slice(0, len(threaded.x))]})
    phi = np.log([0.6, 12.0, 0.7, 2.0])
    v1, g1 = BetaGeo()._negative_log_likelihood(phi, threaded)
    v2, g2 = BetaGeo()._negative_log_likelihood(phi, single)
    assert v1 == pytest.approx(v2, rel=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-10)


def test_threads_see_the_callers_floating_point_settings() -> None:
    def divide(rows: slice) -> float:
        return float(np.sum(np.ones(rows.stop - rows.start) / 0.0))

    slices = [slice(0, 10), slice(10, 20)]
    with np.errstate(divide="ignore"):
        assert _data.map_slices(divide, slices) == [np.inf, np.inf]
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
        _data.map_slices(divide, slices)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unique_rows_agree_with_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 5_000
    small = rng.integers(0, 20, n).astype(float)  # dense key path
    wide = rng.integers(0, 10**9, n).astype(float) * 3  # hashed whole numbers
    spend = np.round(rng.gamma(2.0, 10.0, n), 1)  # factorized floats
    for columns in ([small], [small, small[::-1].copy()], [small, wide], [small, spend], [spend, wide, small]):
        uniq, group = _data.unique_rows(columns)
        stacked = np.column_stack(columns)
        np.testing.assert_array_equal(np.column_stack(uniq)[group], stacked)  # every row maps to itself
        assert len(uniq[0]) == len(np.unique(stacked, axis=0))  # and the rows are distinct


def test_distinct_values_of_one_column_dense_and_hashed() -> None:
    for column in (np.array([3.0, 5, 3, 9, 5]), np.array([1e12, 3.0, 1e12]), np.array([0.5, 0.25, 0.5])):
        (values,), index = _data.unique_rows([column])
        np.testing.assert_array_equal(values[index], column)
        assert sorted(values) == sorted(set(column))


def test_clv_factorised_sum_equals_cumulative_differences(large: Any) -> None:
    x, tx, age = (a[:50_000] for a in large)
    model = BetaGeo().fit(x, tx, age)
    spend = GammaGamma()
    spend.params_ = {"p": 6.0, "q": 4.0, "gamma": 15.0}
    m = np.where(x > 0, 20.0 + x, 0.0)
    months = np.arange(13, dtype=float)
    cumulative = model.cumulative_purchases(months * 30, x, tx, age)
    discount = 1.01 ** -months[1:]
    expected = spend.expected_spend(x, m) * np.sum(discount[:, None] * np.diff(cumulative, axis=0), axis=0)
    np.testing.assert_allclose(clv(model, spend, x, tx, age, m, horizon=12, discount_rate=0.01), expected, rtol=1e-12)
