"""The monitor's bins counted by a query (as on Spark) are the bins numpy gives in this process."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl

from cvm.models.metrics import psi_from_shares
from cvm.reporting.queries import run_local
from cvm.scoring.monitor import profile, psi_of, shares_from_counts, shares_of
from cvm.scoring.monitor_sql import _bins


def _counted(column: str, prof: dict, frame: pd.DataFrame) -> tuple[int, list[int], int]:
    """The rows, the counts per bin and the missing values of ``column``, by the monitor's SQL conditions."""
    cols = [f"count(*) FILTER (WHERE {cond}) AS c{i}" for i, cond in enumerate(_bins(column, prof))]
    sql = f'SELECT count(*) AS n, count(*) FILTER (WHERE "{column}" IS NULL) AS missing, {", ".join(cols)} FROM t'
    row = run_local(sql, {"t": pl.from_pandas(frame)}).row(0, named=True)
    return row["n"], [row[f"c{i}"] for i in range(len(cols))], row["missing"]


def test_bins_counted_in_sql_match_numpy_with_ties_nulls_and_unseen_categories() -> None:
    rng = np.random.default_rng(3)
    train = pd.DataFrame(
        {
            "orders": rng.integers(0, 6, 2000).astype("float64"),  # ties: values fall exactly on the edges
            "spend": rng.lognormal(3, 1, 2000),
            "channel": rng.choice(["web", "shop", "phone"], 2000),
        }
    )
    now = pd.DataFrame(
        {
            "orders": np.where(rng.random(1500) < 0.1, np.nan, rng.integers(0, 9, 1500).astype("float64")),
            "spend": np.where(rng.random(1500) < 0.05, np.nan, rng.lognormal(3.3, 1.2, 1500)),
            "channel": np.where(rng.random(1500) < 0.1, None, rng.choice(["web", "shop", "app"], 1500)),
        }
    )
    for column in now.columns:
        prof = profile(train[column])
        n, counts, missing = _counted(column, prof, now)
        expected, actual = shares_from_counts(prof, n, counts, missing)
        assert (expected, actual) == shares_of(prof, now[column]), column
        assert psi_from_shares(expected, actual) == psi_of(prof, now[column]), column
    assert psi_of(profile(train["channel"]), now["channel"]) > 0.25  # "app" is a category never seen in training
