"""RFM summaries of a transaction log, as one SQL definition for DuckDB and Spark.

The statistics follow the conventions of lifetimes' ``summary_data_from_transaction_data``
and ``calibration_and_holdout_data`` exactly (Fader, Hardie & Lee 2005):

- timestamps become periods (``freq`` D: day, W: week starting Monday, h: hour,
  M: calendar month); several purchases in one period count once and their amounts add up;
- ``frequency`` is the number of *repeat* periods (periods with a purchase, minus the first);
- ``recency`` is the time from the first to the last period, ``T`` from the first period to
  the period of ``observation_period_end``, both in ``freq`` units divided by ``freq_multiplier``;
- ``monetary_value`` is the mean of the per-period sums of the repeat periods (0 without any);
- purchases in the period of ``observation_period_end`` count, even later on that day.

The SQL is written once in DuckDB's dialect; :func:`rfm_summary_spark` runs it on Spark after
transpiling it with sqlglot. Timezone-aware timestamps are taken in UTC. Amounts are summed
exactly as decimals rounded to 6 places (below 10^12 per row), so results are reproducible bit
for bit. lifetimes has no ``M`` (modern pandas refuses month timedeltas); here M counts whole
calendar months.

Examples
--------
>>> import pandas as pd
>>> tx = pd.DataFrame({"customer_id": [1, 1, 1, 2], "ts": pd.to_datetime(
...     ["2024-01-01", "2024-01-01", "2024-01-11", "2024-01-05"]), "amount": [5.0, 5.0, 20.0, 7.0]})
>>> summary = rfm_summary(tx, monetary_value_col="amount", observation_period_end="2024-01-31")
>>> summary.loc[1].tolist(), summary.loc[2].tolist()  # frequency, recency, T, monetary_value
([1.0, 10.0, 30.0, 20.0], [0.0, 0.0, 26.0, 0.0])
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, cast

import duckdb
import numpy as np
import numpy.typing as npt

from cvm.dialect import to_spark_sql
from cvm.errors import BadValueError
from cvm.features import rfm_sorted

if TYPE_CHECKING:  # pandas and polars are imported only where a frame is made or given (~0.2 s each to import)
    import pandas as pd
    import polars as pl

Freq: TypeAlias = Literal["D", "W", "h", "M"]
TransactionsInput: TypeAlias = "pd.DataFrame | pl.DataFrame | str | Path | Sequence[str | Path]"
TimeLike: TypeAlias = "str | date | datetime | pd.Timestamp"

# freq -> (DATE_TRUNC unit, DATE_DIFF unit, divisor that turns the difference into freq units)
_FREQS: dict[str, tuple[str, str, int]] = {
    "D": ("day", "day", 1),
    "W": ("week", "day", 7),
    "h": ("hour", "hour", 1),
    "M": ("month", "month", 1),
}
SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")
CALIBRATION_COLUMNS = (
    "frequency_cal",
    "recency_cal",
    "T_cal",
    "monetary_value_cal",
    "frequency_holdout",
    "monetary_value_holdout",
    "duration_holdout",
)
_INPUT = "cvm_rfm_input"
# Amounts are summed as exact decimals (to the micro-unit), so that sums do not depend on how the
# engine splits the work between threads: the same data always gives the same bits.
MONEY = "DECIMAL(18, 6)"


@dataclass(frozen=True)
class RfmSpec:
    """Which columns hold what, and the period unit."""

    customer_id_col: str = "customer_id"
    datetime_col: str = "ts"
    monetary_value_col: str | None = None
    freq: str = "D"
    freq_multiplier: float = 1

    def __post_init__(self) -> None:
        if self.freq not in _FREQS:
            raise BadValueError(f"freq must be one of {', '.join(_FREQS)}, got {self.freq!r}")
        if not self.freq_multiplier > 0:
            raise BadValueError(f"freq_multiplier must be positive, got {self.freq_multiplier!r}")

    @property
    def columns(self) -> list[str]:
        cols = [self.customer_id_col, self.datetime_col]
        return [*cols, self.monetary_value_col] if self.monetary_value_col else cols


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _timestamp(value: TimeLike) -> datetime:
    """``value`` as a naive UTC timestamp; pandas reads only what the standard library cannot (its import is slow)."""
    ts: datetime | None = None
    if type(value) is datetime:
        ts = value
    elif isinstance(value, date) and not isinstance(value, datetime):
        ts = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value.strip())
        except ValueError:
            ts = None
    if ts is None:  # a pandas Timestamp (nanoseconds), another format, a NumPy datetime64
        import pandas as pd

        stamp = pd.Timestamp(value)
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        return cast(datetime, stamp)
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo is not None else ts


def _ts_literal(value: TimeLike) -> str:
    return f"TIMESTAMP '{_timestamp(value).isoformat(sep=' ')}'"


def _source(spec: RfmSpec, relation: str) -> str:
    amount = f"CAST({_ident(spec.monetary_value_col)} AS {MONEY})" if spec.monetary_value_col else f"CAST(0 AS {MONEY})"
    cid, ts = _ident(spec.customer_id_col), _ident(spec.datetime_col)
    return (
        f"SELECT {cid} AS cid, CAST({ts} AS TIMESTAMP) AS ts, COALESCE({amount}, CAST(0 AS {MONEY})) AS amount "
        f"FROM {relation} WHERE {cid} IS NOT NULL AND {ts} IS NOT NULL"
    )


def _period(spec: RfmSpec, ts: str) -> str:
    """The start of the period holding ``ts``; days are plain dates (cheaper than truncated timestamps)."""
    if spec.freq == "D":
        return f"CAST({ts} AS DATE)"
    return f"DATE_TRUNC('{_FREQS[spec.freq][0]}', {ts})"


def _diff(spec: RfmSpec, start: str, end: str) -> str:
    _, unit, div = _FREQS[spec.freq]
    return f"CAST(DATE_DIFF('{unit}', {start}, {end}) AS DOUBLE) / {div * spec.freq_multiplier!r}"


def _summary_body(spec: RfmSpec, source: str, end: str, suffix: str = "") -> str:
    """SELECT of the per-customer summary from the CTE ``source`` up to the period of ``end``."""
    end_p = _period(spec, end)
    # The first period's amount is subtracted exactly (decimals), which avoids a window function.
    return f"""
SELECT cid,
       CAST(COUNT(*) - 1 AS DOUBLE) AS frequency{suffix},
       {_diff(spec, "MIN(p)", "MAX(p)")} AS recency{suffix},
       {_diff(spec, "MIN(p)", end_p)} AS T{suffix},
       COALESCE(CAST(SUM(amount) - ARG_MIN(amount, p) AS DOUBLE) / NULLIF(COUNT(*) - 1, 0), 0.0)
         AS monetary_value{suffix}
FROM (
  SELECT cid, {_period(spec, "ts")} AS p, SUM(amount) AS amount
  FROM {source}
  WHERE {_period(spec, "ts")} <= {end_p}
  GROUP BY cid, {_period(spec, "ts")}
) AS periods
GROUP BY cid"""


def summary_sql(spec: RfmSpec, relation: str, end: TimeLike) -> str:
    """DuckDB SQL of :func:`rfm_summary` over ``relation`` (a table or view name)."""
    body = _summary_body(spec, "src", _ts_literal(end))
    return f"WITH src AS ({_source(spec, relation)})\nSELECT * FROM ({body}) AS s ORDER BY cid"


def calibration_sql(spec: RfmSpec, relation: str, calibration_end: TimeLike, observation_end: TimeLike) -> str:
    """DuckDB SQL of :func:`calibration_and_holdout` over ``relation``."""
    cal, obs = _ts_literal(calibration_end), _ts_literal(observation_end)
    body = _summary_body(spec, "cal_src", cal, suffix="_cal")
    duration = _diff(spec, _period(spec, cal), _period(spec, obs))
    return f"""WITH src AS ({_source(spec, relation)}),
cal_src AS (SELECT * FROM src WHERE ts <= {cal}),
cal AS ({body}),
holdout AS (
  SELECT cid, CAST(COUNT(DISTINCT {_period(spec, "ts")}) AS DOUBLE) AS frequency_holdout,
         CAST(SUM(amount) AS DOUBLE) / COUNT(*) AS monetary_value_holdout
  FROM src WHERE ts > {cal} AND ts <= {obs} GROUP BY cid
)
SELECT cal.*, COALESCE(h.frequency_holdout, 0.0) AS frequency_holdout,
       COALESCE(h.monetary_value_holdout, 0.0) AS monetary_value_holdout,
       {duration} AS duration_holdout
FROM cal LEFT JOIN holdout AS h ON cal.cid = h.cid
ORDER BY cal.cid"""


def counts_sql(spec: RfmSpec, relation: str, end: TimeLike, what: Literal["rft", "spend"]) -> str:
    """DuckDB SQL of the sufficient statistics of the BTYD fits: distinct summary rows with customer counts.

    ``rft``: distinct (frequency, recency, T) with ``customers``, all that BG/NBD, MBG/NBD and Pareto/NBD
    need (Fader, Hardie & Lee 2005: the likelihood of a customer depends on (x, t_x, T) only).
    ``spend``: distinct (frequency, monetary_value) of the repeat buyers with a positive mean spend, the
    support of the Gamma-Gamma fit (its likelihood is not additive in m, so m stays a grouping column).
    """
    cols = "frequency, recency, T" if what == "rft" else "frequency, monetary_value"
    where = "" if what == "rft" else "WHERE frequency > 0 AND monetary_value > 0"
    body = _summary_body(spec, "src", _ts_literal(end))
    return f"""WITH src AS ({_source(spec, relation)}),
s AS ({body})
SELECT {cols}, COUNT(*) AS customers FROM s {where} GROUP BY {cols} ORDER BY {cols}"""


def activity_sql(spec: RfmSpec, relation: str, end: TimeLike | None = None) -> str:
    """DuckDB SQL of :func:`activity_by_period`."""
    p = _period(spec, "ts")
    where = f"WHERE {p} <= {_period(spec, _ts_literal(end))}" if end is not None else ""
    return f"""WITH src AS ({_source(spec, relation)}),
periods AS (SELECT DISTINCT cid, {p} AS p FROM src {where}),
marked AS (SELECT p, CASE WHEN p = MIN(p) OVER (PARTITION BY cid) THEN 1 ELSE 0 END AS is_first FROM periods)
SELECT CAST(p AS TIMESTAMP) AS period, SUM(is_first) AS first_purchases, SUM(1 - is_first) AS repeat_purchases
FROM marked GROUP BY p ORDER BY p"""


# -- DuckDB ---------------------------------------------------------------------------
def _relation(con: duckdb.DuckDBPyConnection, transactions: TransactionsInput) -> str:
    frames = [m.DataFrame for m in (sys.modules.get("pandas"), sys.modules.get("polars")) if m is not None]
    if frames and isinstance(transactions, tuple(frames)):  # a frame implies that its library is imported
        con.register(_INPUT, transactions)
        return _INPUT
    files = cast("str | Path | Sequence[str | Path]", transactions)
    paths = [files] if isinstance(files, str | Path) else list(files)
    if not paths:
        raise BadValueError("no transaction files given")
    quoted = ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths)
    suffixes = {Path(p).suffix.lower() for p in paths}
    if suffixes <= {".parquet", ".pq"}:
        return f"read_parquet([{quoted}])"
    if suffixes <= {".csv", ".txt", ".gz"}:
        return f"read_csv_auto([{quoted}])"
    raise BadValueError(f"transactions must be Parquet or CSV files, got {sorted(suffixes)}")


def _connect(transactions: TransactionsInput, spec: RfmSpec) -> tuple[duckdb.DuckDBPyConnection, str]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # a long summary must not draw on the caller's terminal
    relation = _relation(con, transactions)
    present = set(con.sql(f"SELECT * FROM {relation} LIMIT 0").columns)
    missing = [c for c in spec.columns if c not in present]
    if missing:
        con.close()
        raise BadValueError(f"transactions lack the column(s) {', '.join(missing)}; found {', '.join(sorted(present))}")
    return con, relation


def _max_ts(con: duckdb.DuckDBPyConnection, spec: RfmSpec, relation: str) -> datetime:
    value = con.sql(f"SELECT MAX(ts) FROM ({_source(spec, relation)})").fetchall()
    if not value or value[0][0] is None:
        raise BadValueError("no transactions to summarise")
    return _timestamp(value[0][0])


def _query(
    transactions: TransactionsInput,
    spec: RfmSpec,
    end: TimeLike | None,
    sql: Callable[[str, TimeLike | None], str],
    *,
    default_end: bool = True,
) -> dict[str, npt.NDArray[Any]]:
    """Run ``sql(relation, end)`` on ``transactions`` in a private DuckDB connection; columns as arrays.

    ``end`` defaults to the last transaction when ``default_end`` is set.
    """
    con, relation = _connect(transactions, spec)
    try:
        if end is None and default_end:
            end = _max_ts(con, spec, relation)
        return dict(con.sql(sql(relation, end)).fetchnumpy())
    finally:
        con.close()


def _arrays(result: dict[str, npt.NDArray[Any]], spec: RfmSpec, columns: Sequence[str]) -> dict[str, npt.NDArray[Any]]:
    keep = [c for c in columns if spec.monetary_value_col or not c.startswith("monetary_value")]
    return {spec.customer_id_col: result["cid"], **{c: np.asarray(result[c], dtype=np.float64) for c in keep}}


def _frame(result: dict[str, npt.NDArray[Any]], spec: RfmSpec, columns: Sequence[str]) -> pd.DataFrame:
    import pandas as pd

    arrays = _arrays(result, spec, columns)
    index = pd.Index(arrays.pop(spec.customer_id_col), name=spec.customer_id_col)
    return pd.DataFrame(arrays, index=index)


def rfm_summary(
    transactions: TransactionsInput,
    customer_id_col: str = "customer_id",
    datetime_col: str = "ts",
    monetary_value_col: str | None = None,
    observation_period_end: TimeLike | None = None,
    freq: Freq = "D",
    freq_multiplier: float = 1,
) -> pd.DataFrame:
    """Per-customer frequency, recency, T (and monetary value) from a transaction log.

    Parameters
    ----------
    transactions
        A pandas or Polars frame, or Parquet/CSV file path(s).
    observation_period_end
        End of the observation; later periods are ignored. Default: the last transaction.
    freq, freq_multiplier
        Period unit (D, W, h, M) and the divisor applied to recency and T.

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id, columns ``frequency, recency, T[, monetary_value]`` (floats).
    """
    spec = RfmSpec(customer_id_col, datetime_col, monetary_value_col, freq, freq_multiplier)
    return _frame(_summary(transactions, spec, observation_period_end), spec, SUMMARY_COLUMNS)


def rfm_arrays(
    transactions: TransactionsInput,
    customer_id_col: str = "customer_id",
    datetime_col: str = "ts",
    monetary_value_col: str | None = None,
    observation_period_end: TimeLike | None = None,
    freq: Freq = "D",
    freq_multiplier: float = 1,
) -> dict[str, npt.NDArray[Any]]:
    """:func:`rfm_summary` as NumPy arrays: ``{customer_id_col: ids, "frequency": ..., "recency": ..., "T": ...[,
    "monetary_value": ...]}``, by ascending id. For a pipeline that needs no frame: it does not import pandas."""
    spec = RfmSpec(customer_id_col, datetime_col, monetary_value_col, freq, freq_multiplier)
    return _arrays(_summary(transactions, spec, observation_period_end), spec, SUMMARY_COLUMNS)


def _summary(transactions: TransactionsInput, spec: RfmSpec, end: TimeLike | None) -> dict[str, npt.NDArray[Any]]:
    """The columns of :func:`summary_sql`: by one sort where :mod:`cvm.features.rfm_sorted` applies (daily
    periods, integer ids), with the same bits; else by the SQL."""
    con, relation = _connect(transactions, spec)
    try:
        end = _max_ts(con, spec, relation) if end is None else end
        fast = rfm_sorted.summary(con, spec, relation, _source(spec, relation), _ts_literal(end))
        return fast if fast is not None else dict(con.sql(summary_sql(spec, relation, end)).fetchnumpy())
    finally:
        con.close()


def calibration_and_holdout(
    transactions: TransactionsInput,
    customer_id_col: str = "customer_id",
    datetime_col: str = "ts",
    calibration_period_end: TimeLike | None = None,
    observation_period_end: TimeLike | None = None,
    freq: Freq = "D",
    freq_multiplier: float = 1,
    monetary_value_col: str | None = None,
) -> pd.DataFrame:
    """Calibration summary up to ``calibration_period_end`` and what happened after it.

    Returns the columns of lifetimes' ``calibration_and_holdout_data``: ``frequency_cal,
    recency_cal, T_cal[, monetary_value_cal], frequency_holdout[, monetary_value_holdout],
    duration_holdout``. The holdout monetary value is the mean of the individual holdout
    purchases (not of period sums), as in lifetimes.
    """
    if calibration_period_end is None:
        raise BadValueError("calibration_period_end is required")
    spec = RfmSpec(customer_id_col, datetime_col, monetary_value_col, freq, freq_multiplier)
    cal_end = calibration_period_end

    def sql(relation: str, end: TimeLike | None) -> str:
        if _timestamp(_end(end)) <= _timestamp(cal_end):
            raise BadValueError("observation_period_end must be after calibration_period_end: no holdout period")
        return calibration_sql(spec, relation, cal_end, _end(end))

    return _frame(_query(transactions, spec, observation_period_end, sql), spec, CALIBRATION_COLUMNS)


@dataclass(frozen=True)
class RfmCounts:
    """The sufficient statistics of the CLV fits (:func:`counts_sql`), small enough for one process.

    ``rft``: columns ``frequency, recency, T, customers``; ``spend`` (None without a monetary column):
    ``frequency, monetary_value, customers``. Fit with the counts as weights, e.g.
    ``BetaGeo().fit(c.rft["frequency"], c.rft["recency"], c.rft["T"], weights=c.rft["customers"])``:
    the parameters equal those of a fit on one row per customer.
    """

    rft: pd.DataFrame
    spend: pd.DataFrame | None

    @property
    def customers(self) -> int:
        """How many customers the statistics stand for."""
        return int(self.rft["customers"].sum())


def _counts_frame(result: dict[str, npt.NDArray[Any]], columns: Sequence[str]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame({c: np.asarray(result[c], dtype=np.float64) for c in columns})
    return frame.assign(customers=np.asarray(result["customers"], dtype=np.int64))


def rfm_counts(
    transactions: TransactionsInput,
    customer_id_col: str = "customer_id",
    datetime_col: str = "ts",
    monetary_value_col: str | None = None,
    observation_period_end: TimeLike | None = None,
    freq: Freq = "D",
    freq_multiplier: float = 1,
) -> RfmCounts:
    """The distinct rows of :func:`rfm_summary` with customer counts, sorted (see :class:`RfmCounts`)."""
    spec = RfmSpec(customer_id_col, datetime_col, monetary_value_col, freq, freq_multiplier)
    rft = _query(transactions, spec, observation_period_end, lambda rel, end: counts_sql(spec, rel, _end(end), "rft"))
    spend = None
    if monetary_value_col:
        result = _query(
            transactions, spec, observation_period_end, lambda rel, end: counts_sql(spec, rel, _end(end), "spend")
        )
        spend = _counts_frame(result, ("frequency", "monetary_value"))
    return RfmCounts(_counts_frame(rft, ("frequency", "recency", "T")), spend)


def activity_by_period(
    transactions: TransactionsInput,
    customer_id_col: str = "customer_id",
    datetime_col: str = "ts",
    observation_period_end: TimeLike | None = None,
    freq: Freq = "D",
) -> pd.DataFrame:
    """First and repeat purchase periods per period, for tracking plots.

    Returns
    -------
    pandas.DataFrame
        Indexed by period start (only periods with activity), columns ``first_purchases``
        (customers whose first period it is) and ``repeat_purchases`` (customers with a
        repeat purchase in it, each counted once).
    """
    spec = RfmSpec(customer_id_col, datetime_col, None, freq)
    result = _query(
        transactions, spec, observation_period_end, lambda rel, end: activity_sql(spec, rel, end), default_end=False
    )
    import pandas as pd

    index = pd.DatetimeIndex(result["period"], name="period")
    return pd.DataFrame(
        {c: np.asarray(result[c], dtype=np.int64) for c in ("first_purchases", "repeat_purchases")}, index=index
    )


def _end(end: TimeLike | None) -> TimeLike:
    if end is None:
        raise BadValueError("an observation end is required")
    return end


# -- Spark ----------------------------------------------------------------------------
def _spark_view(transactions: Any, spec: RfmSpec, end: TimeLike | None) -> tuple[Any, str, TimeLike]:
    """Register ``transactions`` as a temporary view; return the session, the view and the end."""
    missing = [c for c in spec.columns if c not in transactions.columns]
    if missing:
        raise BadValueError(f"transactions lack the column(s) {', '.join(missing)}")
    view = f"{_INPUT}_{id(transactions)}"
    transactions.createOrReplaceTempView(view)
    spark = transactions.sparkSession
    if end is None:
        row = spark.sql(to_spark_sql(f"SELECT MAX(ts) AS m FROM ({_source(spec, view)}) AS s")).collect()[0]
        if row["m"] is None:
            raise BadValueError("no transactions to summarise")
        end = _timestamp(row["m"])
    return spark, view, end


def rfm_summary_spark(
    transactions: Any,
    customer_id_col: str = "customer_id",
    datetime_col: str = "ts",
    monetary_value_col: str | None = None,
    observation_period_end: TimeLike | None = None,
    freq: Freq = "D",
    freq_multiplier: float = 1,
) -> Any:
    """:func:`rfm_summary` on a Spark DataFrame; returns a Spark DataFrame (customer id column first).

    The session time zone should be UTC so that timestamps mean the same as in DuckDB.
    """
    spec = RfmSpec(customer_id_col, datetime_col, monetary_value_col, freq, freq_multiplier)
    spark, view, end = _spark_view(transactions, spec, observation_period_end)
    out = spark.sql(to_spark_sql(summary_sql(spec, view, end))).withColumnRenamed("cid", customer_id_col)
    return out if monetary_value_col else out.drop("monetary_value")


def calibration_and_holdout_spark(
    transactions: Any,
    customer_id_col: str = "customer_id",
    datetime_col: str = "ts",
    calibration_period_end: TimeLike | None = None,
    observation_period_end: TimeLike | None = None,
    freq: Freq = "D",
    freq_multiplier: float = 1,
    monetary_value_col: str | None = None,
) -> Any:
    """:func:`calibration_and_holdout` on a Spark DataFrame; returns a Spark DataFrame."""
    if calibration_period_end is None:
        raise BadValueError("calibration_period_end is required")
    spec = RfmSpec(customer_id_col, datetime_col, monetary_value_col, freq, freq_multiplier)
    spark, view, end = _spark_view(transactions, spec, observation_period_end)
    out = spark.sql(to_spark_sql(calibration_sql(spec, view, calibration_period_end, end)))
    out = out.withColumnRenamed("cid", customer_id_col)
    return out if monetary_value_col else out.drop("monetary_value_cal", "monetary_value_holdout")


def rfm_counts_spark(
    transactions: Any,
    customer_id_col: str = "customer_id",
    datetime_col: str = "ts",
    monetary_value_col: str | None = None,
    observation_period_end: TimeLike | None = None,
    freq: Freq = "D",
    freq_multiplier: float = 1,
) -> RfmCounts:
    """:func:`rfm_counts` aggregated on Spark and collected to the driver (the statistics are small)."""
    spec = RfmSpec(customer_id_col, datetime_col, monetary_value_col, freq, freq_multiplier)
    spark, view, end = _spark_view(transactions, spec, observation_period_end)

    def collect(what: Literal["rft", "spend"], columns: Sequence[str]) -> pd.DataFrame:
        rows = spark.sql(to_spark_sql(counts_sql(spec, view, end, what))).collect()
        result = {c: np.array([r[c] for r in rows], dtype=np.float64) for c in columns}
        result["customers"] = np.array([r["customers"] for r in rows], dtype=np.int64)
        return _counts_frame(result, columns)

    spend = collect("spend", ("frequency", "monetary_value")) if monetary_value_col else None
    return RfmCounts(collect("rft", ("frequency", "recency", "T")), spend)
