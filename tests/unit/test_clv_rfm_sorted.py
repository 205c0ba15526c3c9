"""The sort-based daily RFM summary (``cvm.features.rfm_sorted``) equals the SQL definition bit for bit.

Each log is summarised twice: by :func:`cvm.features.rfm.rfm_arrays` (which takes the sorted path where it
applies) and by running :func:`cvm.features.rfm.summary_sql` on DuckDB directly. Ids, dtypes and every float
must be identical, on logs with what the definition has to handle: several purchases a day, purchases after the
end (dropped) and later on the end day (kept), null ids, times and amounts, negative and zero amounts, negative
and 32-bit ids, time zones, a period multiplier. Where the sorted path does not apply (string ids, weekly
periods, ids too far apart, sums that could overflow) the SQL runs, with the same result.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from cvm.features import rfm_sorted
from cvm.features.rfm import RfmSpec, rfm_arrays, summary_sql

END = "2024-06-30"


def _log(seed: int, n_customers: int = 3_000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    counts = 1 + rng.poisson(rng.gamma(0.6, 4.0, n_customers))
    cid = np.repeat(rng.permutation(n_customers) * 7 - 5_000, counts)  # sparse, partly negative ids
    first = rng.integers(0, 200 * 86_400, n_customers)
    spread = rng.integers(0, 260 * 86_400, cid.size) * (rng.random(cid.size) < 0.8)  # some on the first day
    ts = np.datetime64("2024-01-01", "s") + (np.repeat(first, counts) + spread).astype("timedelta64[s]")
    amount = np.round(rng.gamma(2.0, 15.0, cid.size) - 3.0, 2)  # a few negative (returns)
    amount[rng.random(cid.size) < 0.02] = 0.0
    frame = pd.DataFrame({"customer_id": cid, "ts": ts.astype("datetime64[ns]"), "amount": amount})
    frame.loc[rng.random(cid.size) < 0.01, "amount"] = np.nan
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # not in any order


def _sql(frame: pd.DataFrame, spec: RfmSpec, end: str) -> dict[str, Any]:
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("log", frame)
        return dict(con.sql(summary_sql(spec, "log", end)).fetchnumpy())
    finally:
        con.close()


def _assert_same(got: dict[str, Any], expected: dict[str, Any], id_col: str = "customer_id") -> None:
    columns = [c for c in expected if c != "cid"]  # the SQL gives zero spends when there is no amount column
    assert list(got) == [id_col, *(columns if "monetary_value" in got else columns[:-1])]
    np.testing.assert_array_equal(got[id_col], np.asarray(expected["cid"]))
    assert got[id_col].dtype == np.asarray(expected["cid"]).dtype
    for column in list(got)[1:]:
        x, y = got[column], np.asarray(expected[column], dtype=np.float64)
        assert x.dtype == np.float64
        assert np.array_equal(x.view(np.int64), y.view(np.int64)), column  # the same bits


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("end", [END, "2024-06-30 08:30", "2024-03-01"])
def test_sorted_summary_equals_the_sql_bit_for_bit(seed: int, end: str) -> None:
    frame = _log(seed)
    spec = RfmSpec(monetary_value_col="amount")
    got = rfm_arrays(frame, monetary_value_col="amount", observation_period_end=end)
    _assert_same(got, _sql(frame, spec, end))
    assert got["frequency"].max() >= 3  # repeat buyers, some with several purchases a day
    assert (frame["amount"] < 0).any()


def test_nulls_small_ids_multiplier_and_no_amounts() -> None:
    frame = _log(5, 500)
    frame["customer_id"] = frame["customer_id"].astype(np.int32)
    frame.loc[frame.index[:7], "ts"] = pd.NaT
    frame = frame.astype({"customer_id": "Int32"})
    frame.loc[frame.index[7:12], "customer_id"] = pd.NA
    for kwargs in ({"monetary_value_col": "amount", "freq_multiplier": 7}, {"freq_multiplier": 2.5}, {}):
        spec = RfmSpec(**kwargs)  # type: ignore[arg-type]
        got = rfm_arrays(frame, observation_period_end=END, **kwargs)  # type: ignore[arg-type]
        _assert_same(got, _sql(frame, spec, END))


def test_time_zones_are_taken_in_utc() -> None:
    frame = _log(6, 400)
    frame["ts"] = frame["ts"].dt.tz_localize("UTC").dt.tz_convert("America/New_York")
    spec = RfmSpec(monetary_value_col="amount")
    _assert_same(rfm_arrays(frame, monetary_value_col="amount", observation_period_end=END), _sql(frame, spec, END))


def test_the_sql_runs_where_the_sorted_path_does_not_apply() -> None:
    frame = _log(7, 400)
    spec = RfmSpec(monetary_value_col="amount")
    logs = {
        "ids x days beyond 62 bits": frame.assign(customer_id=frame["customer_id"] * 2**40),
        "sums of micro-units beyond 2^53": frame.assign(amount=frame["amount"] * 1e8),
        "sums of micro-units that could overflow": frame.assign(amount=frame["amount"] * 1e9),
        "string ids": frame.assign(customer_id="c" + frame["customer_id"].astype(str)),
    }
    for log in logs.values():
        _assert_same(rfm_arrays(log, monetary_value_col="amount", observation_period_end=END), _sql(log, spec, END))
    weekly = RfmSpec(monetary_value_col="amount", freq="W")
    got = rfm_arrays(frame, monetary_value_col="amount", observation_period_end=END, freq="W")
    _assert_same(got, _sql(frame, weekly, END))


def test_the_sorted_path_declines_what_it_cannot_sum_exactly() -> None:
    def aggregate(ids: list[int], amounts: list[int]) -> dict[str, Any] | None:  # fresh arrays: it overwrites them
        return rfm_sorted._aggregate(np.array(ids), np.array([10, 11, 10]), np.array(amounts), 20, 1.0)

    assert aggregate([1, 1, 2], [1, 2, 3]) is not None
    assert aggregate([1, 1, 2], [1, 2**62, 3]) is None  # the sum could overflow
    assert aggregate([1, 1, 2], [1, 2**53 + 1, 3]) is None  # not exact as a float
    assert aggregate([2**61, 2**61, 2**62], [1, 2, 3]) is None  # keys beyond 62 bits


def _sorted_path(frame: pd.DataFrame, end: str = END) -> dict[str, Any] | None:
    """What :func:`rfm_sorted.summary` gives on ``frame`` (None: it declines and the SQL would run)."""
    from cvm.features.rfm import _connect, _source, _ts_literal

    spec = RfmSpec(monetary_value_col="amount")
    con, relation = _connect(frame, spec)
    try:
        return rfm_sorted.summary(con, spec, relation, _source(spec, relation), _ts_literal(end))
    finally:
        con.close()


@pytest.mark.parametrize("unit", ["ns", "us", "ms", "s"])
@pytest.mark.parametrize("ids", ["int64", "int32", "uint32", "offset copies"])
def test_the_sorted_path_takes_the_logs_of_the_clv_bench(unit: str, ids: str) -> None:
    """Every timestamp resolution and the integer id layouts of ``bench/clv.py``'s logs (CDNOW copies are
    ``k * 100000 + c``) take the sorted path, with the SQL's bits: none of them falls back to the SQL."""
    frame = _log(8, 1_000)
    frame["ts"] = frame["ts"].astype(f"datetime64[{unit}]")
    cid = frame["customer_id"].to_numpy()
    if ids == "offset copies":
        frame["customer_id"] = (cid % 43) * 100_000 + (cid - cid.min()) // 7  # 43 copies of CDNOW-like ids
    elif ids != "int64":
        frame["customer_id"] = (cid - cid.min()).astype(ids)
    got = _sorted_path(frame)
    assert got is not None
    expected = _sql(frame, RfmSpec(monetary_value_col="amount"), END)
    _assert_same({"customer_id": got.pop("cid"), **got}, expected)


def test_dates_before_1970_and_one_purchase_a_day() -> None:
    """Negative day numbers, and a log with no two purchases of a customer on one day (no period to merge)."""
    frame = _log(9, 800)
    frame["ts"] = frame["ts"] - np.timedelta64(60 * 365, "D")
    end = "1964-06-30"
    spec = RfmSpec(monetary_value_col="amount")
    _assert_same(rfm_arrays(frame, monetary_value_col="amount", observation_period_end=end), _sql(frame, spec, end))
    daily = frame.assign(day=frame["ts"].dt.floor("D")).drop_duplicates(["customer_id", "day"]).drop(columns="day")
    assert _sorted_path(daily, end) is not None
    _assert_same(rfm_arrays(daily, monetary_value_col="amount", observation_period_end=end), _sql(daily, spec, end))
