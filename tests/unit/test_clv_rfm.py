"""RFM summaries against lifetimes (the reference implementation) on CDNOW."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

from cvm.features.rfm import (
    RfmSpec,
    activity_by_period,
    calibration_and_holdout,
    rfm_summary,
    summary_sql,
    to_spark_sql,
)
from cvm.reporting import clv_plots as plotting

with warnings.catch_warnings():
    # lifetimes 0.11 sets pandas' `mode.chained_assignment`, deprecated since pandas 3, when imported.
    warnings.simplefilter("ignore", pd.errors.Pandas4Warning)
    from lifetimes.datasets import load_dataset
    from lifetimes.utils import calibration_and_holdout_data, summary_data_from_transaction_data

# Counts and durations are exact; monetary means differ only in float summation order.
RTOL = 1e-12


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    df = load_dataset("CDNOW_sample.txt", header=None, sep=r"\s+")
    df.columns = ["customer_id", "order_id", "date", "qty", "amount"]
    df["date"] = pd.to_datetime(df["date"].astype(str), format="%Y%m%d")
    return df[["customer_id", "date", "amount"]]


def _lifetimes(df: pd.DataFrame, **kw: object) -> pd.DataFrame:
    return summary_data_from_transaction_data(df, "customer_id", "date", **kw)


@pytest.mark.parametrize("freq", ["D", "W"])
@pytest.mark.parametrize("end", [None, "1998-03-04 13:00"])
def test_rfm_summary_equals_lifetimes_on_cdnow(cdnow: pd.DataFrame, freq: str, end: str | None) -> None:
    expected = _lifetimes(cdnow, monetary_value_col="amount", freq=freq, observation_period_end=end)
    got = rfm_summary(cdnow, "customer_id", "date", "amount", observation_period_end=end, freq=freq)  # type: ignore[arg-type]
    assert len(got) == 2357  # the cohort all bought first in the first quarter of 1997
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=RTOL)
    pd.testing.assert_frame_equal(
        got[["frequency", "recency", "T"]], expected[["frequency", "recency", "T"]], check_exact=True
    )


def test_rfm_summary_without_monetary_and_with_multiplier(cdnow: pd.DataFrame) -> None:
    expected = _lifetimes(cdnow, freq="h", freq_multiplier=24)
    got = rfm_summary(cdnow, "customer_id", "date", freq="h", freq_multiplier=24)
    assert list(got.columns) == ["frequency", "recency", "T"]
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


@pytest.mark.parametrize("freq", ["D", "W"])
def test_calibration_and_holdout_equals_lifetimes(cdnow: pd.DataFrame, freq: str) -> None:
    kw = {"calibration_period_end": "1997-09-30", "observation_period_end": "1998-06-30", "freq": freq}
    expected = calibration_and_holdout_data(cdnow, "customer_id", "date", monetary_value_col="amount", **kw)
    got = calibration_and_holdout(cdnow, "customer_id", "date", monetary_value_col="amount", **kw)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=RTOL)
    assert got["duration_holdout"].iloc[0] == (273.0 if freq == "D" else 39.0)


def test_same_day_purchases_count_once_and_add_up() -> None:
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b"],
            "ts": pd.to_datetime(
                ["2024-01-01 09:00", "2024-01-03 10:00", "2024-01-03 18:00", "2024-01-09 00:00", "2024-01-05 12:00"]
            ),
            "amount": [100.0, 10.0, 30.0, 60.0, 5.0],
        }
    )
    got = rfm_summary(tx, monetary_value_col="amount", observation_period_end="2024-01-10")
    assert got.loc["a"].tolist() == [2.0, 8.0, 9.0, 50.0]  # (10 + 30 + 60) / 2 repeat days
    assert got.loc["b"].tolist() == [0.0, 0.0, 5.0, 0.0]
    weekly = rfm_summary(tx, monetary_value_col="amount", observation_period_end="2024-01-10", freq="W")
    assert weekly.loc["a"].tolist() == [1.0, 1.0, 1.0, 60.0]  # 1 Jan 2024 is a Monday


def test_inputs_polars_parquet_csv_and_timezones(cdnow: pd.DataFrame, tmp_path: Path) -> None:
    expected = rfm_summary(cdnow, "customer_id", "date", "amount")
    pl.from_pandas(cdnow).write_parquet(tmp_path / "t.parquet")
    cdnow.to_csv(tmp_path / "t.csv", index=False)
    for source in (pl.from_pandas(cdnow), tmp_path / "t.parquet", str(tmp_path / "t.csv"), [tmp_path / "t.parquet"]):
        pd.testing.assert_frame_equal(rfm_summary(source, "customer_id", "date", "amount"), expected)
    # Midnight in Amsterdam is the evening before in UTC: every purchase moves one day back.
    aware = cdnow.assign(date=cdnow["date"].dt.tz_localize("Europe/Amsterdam"))
    day_before = cdnow.assign(date=cdnow["date"] - pd.Timedelta(days=1))
    pd.testing.assert_frame_equal(
        rfm_summary(aware, "customer_id", "date", "amount", observation_period_end="1998-06-30"),
        rfm_summary(day_before, "customer_id", "date", "amount", observation_period_end="1998-06-30"),
    )


def test_missing_column_bad_freq_and_no_holdout_are_clear_errors(cdnow: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="lack the column\\(s\\) when"):
        rfm_summary(cdnow, "customer_id", "when")
    with pytest.raises(ValueError, match="freq must be one of"):
        rfm_summary(cdnow, "customer_id", "date", freq="Q")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no holdout period"):
        calibration_and_holdout(cdnow, "customer_id", "date", calibration_period_end="1998-06-30")


def test_monthly_periods_count_calendar_months() -> None:
    tx = pd.DataFrame(
        {
            "customer_id": [1, 1, 1],
            "ts": pd.to_datetime(["2024-01-31", "2024-02-01", "2024-02-20"]),
            "amount": [1.0] * 3,
        }
    )
    got = rfm_summary(tx, freq="M", observation_period_end="2024-06-15")
    assert got.loc[1].tolist() == [1.0, 1.0, 5.0]


def test_the_same_sql_transpiles_to_spark() -> None:
    sql = to_spark_sql(summary_sql(RfmSpec(monetary_value_col="amount", freq="W"), "tx", "2024-01-01"))
    assert "DATE_TRUNC('WEEK'" in sql
    assert "`customer_id`" in sql


# -- plots ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted(cdnow: pd.DataFrame) -> tuple[Any, pd.DataFrame]:
    from cvm.models.clv import BetaGeo

    rfm = rfm_summary(cdnow, "customer_id", "date", freq="W")
    return BetaGeo().fit(rfm["frequency"], rfm["recency"], rfm["T"]), rfm


def test_matrices_hold_the_model_predictions(fitted: tuple[Any, pd.DataFrame]) -> None:
    model, rfm = fitted
    max_f, max_t = plotting.matrix_bounds(rfm)
    assert (max_f, max_t) == (int(rfm["frequency"].max()), 78)
    fig = plotting.frequency_recency_matrix(model, max_f, max_t, t=39)
    z = np.asarray(fig.data[0].z)
    assert z.shape == (max_f + 1, max_t + 1)
    assert z[2, 30] == pytest.approx(float(model.expected_purchases(39, 2, 30, 78)))
    assert z[5, 78] > z[5, 10]  # a recent buyer is worth more than one who stopped buying long ago
    alive = np.asarray(plotting.probability_alive_matrix(model, max_f, max_t, T=78).data[0].z)
    assert alive.shape == z.shape
    assert np.all(alive[0] == 1.0)
    assert alive[10, 5] < 0.2 < alive[10, 77]


def test_calibration_vs_holdout_groups_by_calibration_frequency(cdnow: pd.DataFrame) -> None:
    from cvm.models.clv import BetaGeo

    cal = calibration_and_holdout(cdnow, "customer_id", "date", "1997-09-30", "1998-06-30", freq="W")
    model = BetaGeo().fit(cal["frequency_cal"], cal["recency_cal"], cal["T_cal"])
    data = plotting.calibration_vs_holdout_data(model, cal, n=7)
    assert list(data.index) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert data.loc[0.0, "actual"] == pytest.approx(cal.loc[cal["frequency_cal"] == 0, "frequency_holdout"].mean())
    assert data["customers"].sum() < len(cal)
    twos = cal[cal["frequency_cal"] == 2]
    expected = model.expected_purchases(39, twos["frequency_cal"], twos["recency_cal"], twos["T_cal"]).mean()
    assert data.loc[2.0, "predicted"] == pytest.approx(expected)
    assert data["predicted"].is_monotonic_increasing
    assert np.corrcoef(data["predicted"], data["actual"])[0, 1] > 0.95
    fig = plotting.calibration_vs_holdout(model, cal)
    assert [t.name for t in fig.data] == ["actual", "model"]


def test_tracking_counts_repeat_periods_and_expected_is_close(
    cdnow: pd.DataFrame, fitted: tuple[Any, pd.DataFrame]
) -> None:
    model, rfm = fitted
    activity = activity_by_period(cdnow, "customer_id", "date", freq="W")
    assert activity["first_purchases"].sum() == len(rfm)
    assert activity["repeat_purchases"].sum() == rfm["frequency"].sum()
    data = plotting.tracking_data(model, activity, "W")
    assert len(data) == 79  # the weeks from 30 Dec 1996 to 29 Jun 1998, both included
    assert data["actual_cumulative"].iloc[-1] == rfm["frequency"].sum()
    assert np.all(np.diff(data["expected_cumulative"]) >= 0)
    assert np.allclose(data["expected"].cumsum(), data["expected_cumulative"])
    assert data["expected_cumulative"].iloc[-1] / data["actual_cumulative"].iloc[-1] == pytest.approx(1.0, abs=0.05)
    fig = plotting.tracking_cumulative(data)
    assert list(fig.data[0].y) == list(data["actual_cumulative"])
    assert len(plotting.tracking_incremental(data).data) == 2


def test_write_figures_html_and_png(fitted: tuple[Any, pd.DataFrame], tmp_path: Path) -> None:
    model, _ = fitted
    figs = {"p_alive": plotting.probability_alive_matrix(model, 5, 10)}
    html_only = plotting.write_figures(figs, tmp_path / "html", png=False)
    assert [p.name for p in html_only.files] == ["p_alive.html"]
    assert (tmp_path / "html" / "plotly.min.js").exists()
    pytest.importorskip("kaleido")
    written = plotting.write_figures(figs, tmp_path / "both")
    assert written.png_error is None
    assert (tmp_path / "both" / "p_alive.png").read_bytes()[:4] == b"\x89PNG"
