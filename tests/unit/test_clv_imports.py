"""The CLV pipeline (RFM summary, BG/NBD and Gamma-Gamma fits, predictions) loads no library it does not use.

scikit-learn alone cost about a second to import (more than the whole pipeline on a million customers), because
the estimator base inherited its ``BaseEstimator``: issue 17 asks the pipeline to be 20 times faster than
lifetimes, imports included. A fresh interpreter runs the pipeline on a small log and lists what it loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PIPELINE = """
import json, sys, warnings
import numpy as np
from cvm.features.rfm import rfm_arrays
from cvm.models.clv import BetaGeo, GammaGamma, clv

rng = np.random.default_rng(3)
n = 3000  # BG/NBD customers (r 0.5, alpha 20, a 1, b 3) arriving over 200 days, observed up to day 365
lam, drop = rng.gamma(0.5, 1 / 20.0, n), rng.beta(1.0, 3.0, n)
now = rng.uniform(0, 200, n)
ids, days, alive = [np.arange(n)], [now], np.arange(n)
while alive.size:
    now = now + rng.exponential(1.0, alive.size) / lam[alive]
    alive, now = alive[now < 365], now[now < 365]
    ids.append(alive)
    days.append(now)
    stays = rng.random(alive.size) >= drop[alive]
    alive, now = alive[stays], now[stays]
cid, day = np.concatenate(ids), np.concatenate(days)
ts = np.datetime64("2024-01-01", "s") + (day * 86400).astype("timedelta64[s]")
amount = np.round(rng.gamma(4.0, 5.0, cid.size), 2)
path = sys.argv[1]
import duckdb
con = duckdb.connect()
con.execute(
    "COPY (SELECT UNNEST($1) AS customer_id, UNNEST($2) AS ts, UNNEST($3) AS amount) TO '" + path + "'",
    [cid.tolist(), ts.astype("datetime64[us]").tolist(), amount.tolist()],
)
con.close()
before = set(sys.modules)
s = rfm_arrays(path, monetary_value_col="amount", observation_period_end="2024-12-31")
f, r, t, m = s["frequency"], s["recency"], s["T"], s["monetary_value"]
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    bg = BetaGeo().fit(f, r, t)
    rep = (f > 0) & (m > 0)
    gg = GammaGamma().fit(f[rep], m[rep])
exp = bg.expected_purchases(365.0, f, r, t)
value = clv(bg, gg, f, r, t, m, horizon=12, discount_rate=0.01, freq="D")
assert np.isfinite(exp).all() and np.isfinite(value).all()
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_the_clv_pipeline_loads_no_sklearn_polars_or_pandas(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run(
        [sys.executable, "-c", PIPELINE, str(tmp_path / "log.parquet")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert {"numpy", "scipy", "duckdb", "cvm"} <= loaded  # the check sees what the pipeline loads
    assert loaded.isdisjoint({"sklearn", "polars", "pandas", "pyarrow", "lightgbm"})


def test_not_fitted_error_is_scikit_learns_once_used() -> None:
    import sklearn.exceptions

    from cvm.models.base import NotFittedError
    from cvm.models.clv import NotFittedError as ClvNotFittedError

    assert ClvNotFittedError is NotFittedError
    assert issubclass(NotFittedError, sklearn.exceptions.NotFittedError)
    assert issubclass(NotFittedError, RuntimeError)
