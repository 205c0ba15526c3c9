"""The CLV pipeline on logs CVM did not generate: microsecond timestamps, replicated CDNOW, and fits on counts."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from cvm.features.rfm import rfm_counts, rfm_summary
from cvm.models.clv import BetaGeo, GammaGamma, clv

BENCH = Path(__file__).resolve().parents[2] / "bench" / "clv_logs.py"


@pytest.fixture(scope="module")
def logs() -> ModuleType:
    return _bench("clv_logs")


def _pipeline(transactions: pd.DataFrame | Path, end: str) -> tuple[pd.DataFrame, dict[str, float], np.ndarray]:
    s = rfm_summary(transactions, monetary_value_col="amount", observation_period_end=end)
    f, r, t, m = (s[c].to_numpy() for c in ("frequency", "recency", "T", "monetary_value"))
    bg = BetaGeo().fit(f, r, t)
    rep = (f > 0) & (m > 0)
    gg = GammaGamma().fit(f[rep], m[rep])
    value = clv(bg, gg, f, r, t, m, horizon=12, discount_rate=0.01, freq="D")
    predictions = np.column_stack([bg.expected_purchases(365.0, f, r, t), bg.probability_alive(f, r, t), value])
    return s, {**bg.params_, **gg.params_}, predictions


def test_microsecond_and_nanosecond_logs_give_identical_rfm_and_predictions(logs: ModuleType, tmp_path: Path) -> None:
    ns = logs.replicated_cdnow(4000, seed=5)
    us = logs.replicated_cdnow(4000, seed=5, ts_unit="us")
    assert ns["ts"].dtype == np.dtype("datetime64[ns]")
    assert us["ts"].dtype == np.dtype("datetime64[us]")
    ns.to_parquet(tmp_path / "ns.parquet")
    us.to_parquet(tmp_path / "us.parquet")
    runs = [_pipeline(src, logs.CDNOW_END) for src in (ns, us, tmp_path / "ns.parquet", tmp_path / "us.parquet")]
    first_rfm, first_params, first_pred = runs[0]
    assert len(first_rfm) == 4000
    for rfm, params, pred in runs[1:]:
        pd.testing.assert_frame_equal(rfm, first_rfm, check_exact=True)
        assert params == first_params
        np.testing.assert_array_equal(pred, first_pred)


def test_replicated_cdnow_is_deterministic_and_keeps_each_original_summary(logs: ModuleType) -> None:
    n_original = 23_570
    n = 2 * n_original + 1000  # the original, one jittered copy and part of a third
    log = logs.replicated_cdnow(n, seed=7)
    pd.testing.assert_frame_equal(log, logs.replicated_cdnow(n, seed=7))
    assert not log.equals(logs.replicated_cdnow(n, seed=8))
    assert log["ts"].is_monotonic_increasing  # a time-ordered log, customers spread over it
    end = logs.CDNOW_END
    original = rfm_summary(logs.cdnow_master(), monetary_value_col="amount", observation_period_end=end)
    assert len(original) == n_original
    copies = rfm_summary(log, monetary_value_col="amount", observation_period_end=end)
    assert len(copies) == n
    source = original.loc[copies.index % logs.ID_STRIDE]
    for col in ("frequency", "recency", "monetary_value"):
        np.testing.assert_array_equal(copies[col].to_numpy(), source[col].to_numpy())
    jitter = copies["T"].to_numpy() - source["T"].to_numpy()  # a copy starts `jitter` days earlier
    copy = copies.index.to_numpy() // logs.ID_STRIDE
    assert set(np.unique(copy)) == {0, 1, 2}
    assert (jitter[copy == 0] == 0).all()  # copy 0 is the original
    assert jitter.min() >= 0
    assert jitter.max() <= logs.JITTER_DAYS
    assert np.unique(jitter[copy > 0]).size > 100


def test_rfm_counts_are_the_distinct_summary_rows(logs: ModuleType) -> None:
    log = logs.replicated_cdnow(6000, seed=2)
    s = rfm_summary(log, monetary_value_col="amount", observation_period_end=logs.CDNOW_END, freq="W")
    c = rfm_counts(log, monetary_value_col="amount", observation_period_end=logs.CDNOW_END, freq="W")
    rft = s.groupby(["frequency", "recency", "T"]).size().rename("customers").reset_index()
    pd.testing.assert_frame_equal(c.rft, rft, check_dtype=False)
    assert c.customers == len(s) == 6000
    rep = s[(s["frequency"] > 0) & (s["monetary_value"] > 0)]
    spend = rep.groupby(["frequency", "monetary_value"]).size().rename("customers").reset_index()
    assert c.spend is not None
    pd.testing.assert_frame_equal(c.spend, spend, check_dtype=False)


def _bench(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCH.with_name(f"{name}.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows_and_counts(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The bench's simulated customers, one row each, and their distinct rows with counts in a random order."""
    bench = _bench("clv")
    rows = rfm_summary(bench.simulate(n, seed), monetary_value_col="amount", observation_period_end=bench.sim_end())
    rows = rows.sample(frac=1.0, random_state=seed)  # no particular order
    counts = rows.groupby(["frequency", "recency", "T", "monetary_value"]).size().rename("customers").reset_index()
    return rows, counts.sample(frac=1.0, random_state=seed)


@pytest.mark.parametrize("n", [3000, 100_000])
def test_fits_on_counts_equal_fits_on_customer_rows(n: int) -> None:
    rows, counts = _rows_and_counts(n, seed=11)
    rft = counts.groupby(["frequency", "recency", "T"])["customers"].sum().reset_index()
    assert (len(rft) > 40_000) == (n > 10_000)  # the large case fits a subsample first
    by_row = BetaGeo().fit(rows["frequency"], rows["recency"], rows["T"])
    by_count = BetaGeo().fit(rft["frequency"], rft["recency"], rft["T"], weights=rft["customers"])
    for k, v in by_row.params_.items():
        assert by_count.params_[k] == pytest.approx(v, rel=1e-9, abs=0)
    assert by_count.log_likelihood_ == pytest.approx(by_row.log_likelihood_, rel=1e-12)
    assert by_count.n_customers_ == by_row.n_customers_ == n
    rep = rows[(rows["frequency"] > 0) & (rows["monetary_value"] > 0)]
    spend = counts[(counts["frequency"] > 0) & (counts["monetary_value"] > 0)]
    gg_row = GammaGamma().fit(rep["frequency"], rep["monetary_value"])
    gg_count = GammaGamma().fit(spend["frequency"], spend["monetary_value"], weights=spend["customers"])
    for k, v in gg_row.params_.items():
        assert gg_count.params_[k] == pytest.approx(v, rel=1e-9, abs=0)
