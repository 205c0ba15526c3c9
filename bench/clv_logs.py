"""Transaction logs for ``bench/clv.py`` that CVM did not generate: CDNOW master, replicated.

CDNOW master (Fader & Hardie's 23,570 CDNOW customers, 69,659 purchases from 1997-01-01 to 1998-06-30,
shipped by lifetimes as ``lifetimes/datasets/CDNOW_master.txt``) is copied ``replicas`` times. Copy ``k``
of customer ``c`` is customer ``k * ID_STRIDE + c`` (so ``id % ID_STRIDE`` is the original id) whose whole
history is moved ``jitter`` whole days earlier (0 for copy 0; uniform in ``0..JITTER_DAYS`` otherwise)
and whose purchases get a random time of day. Each copy keeps its original's frequency, recency and
monetary value; its age ``T`` at the end of observation grows by the jitter. The log is ordered by time,
as a real one is, so that customers are spread over the whole file.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd

ID_STRIDE = 100_000  # above CDNOW's largest id (23,570)
JITTER_DAYS = 180
CDNOW_END = "1998-06-30"  # the last day of CDNOW master


def cdnow_path() -> Path:
    """Where lifetimes keeps CDNOW master (found without importing lifetimes)."""
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("lifetimes is not installed: it ships CDNOW_master.txt")
    return Path(spec.origin).parent / "datasets" / "CDNOW_master.txt"


def cdnow_master() -> pd.DataFrame:
    """CDNOW master as ``customer_id`` (int64), ``ts`` (datetime64[ns], midnight), ``amount`` (float64)."""
    raw = pd.read_csv(cdnow_path(), sep=r"\s+", dtype={"customer_id": np.int64, "date": str})
    ts = pd.to_datetime(raw["date"], format="%Y%m%d").to_numpy().astype("datetime64[ns]")
    return pd.DataFrame({"customer_id": raw["customer_id"].to_numpy(), "ts": ts, "amount": raw["dollar_value"]})


def replicated_cdnow(customers: int, seed: int = 1, ts_unit: str = "ns") -> pd.DataFrame:
    """CDNOW master replicated to ``customers`` customers (see the module docstring), time-ordered.

    ``ts_unit`` is the resolution of the ``ts`` column: ``ns`` or ``us`` (``datetime64[us]``).
    """
    if ts_unit not in ("ns", "us"):
        raise ValueError(f"ts_unit must be ns or us, got {ts_unit!r}")
    base = cdnow_master()
    ids = np.unique(base["customer_id"].to_numpy())
    replicas = max(1, math.ceil(customers / len(ids)))
    rng = np.random.default_rng(seed)
    jitter = rng.integers(0, JITTER_DAYS + 1, size=(replicas, len(ids)))
    jitter[0] = 0  # copy 0 is the original
    # Keep the first ``customers`` of the (copy, customer) pairs.
    keep = (np.arange(replicas)[:, None] * len(ids) + np.arange(len(ids))[None, :]) < customers
    pos = np.searchsorted(ids, base["customer_id"].to_numpy())
    day_ns = np.int64(86_400 * 10**9)
    parts_id, parts_ts, parts_amount = [], [], []
    base_ts = base["ts"].to_numpy().view(np.int64)
    for k in range(replicas):
        rows = keep[k, pos]
        p = pos[rows]
        parts_id.append(k * ID_STRIDE + base["customer_id"].to_numpy()[rows])
        parts_ts.append(base_ts[rows] - jitter[k, p] * day_ns)
        parts_amount.append(base["amount"].to_numpy()[rows])
    ts = np.concatenate(parts_ts)
    ts = ts + rng.integers(0, 86_400, size=ts.size) * np.int64(10**9)  # a time of day, same day
    order = np.argsort(ts, kind="stable")
    out = pd.DataFrame(
        {
            "customer_id": np.concatenate(parts_id)[order],
            "ts": ts[order].view("datetime64[ns]").astype(f"datetime64[{ts_unit}]"),
            "amount": np.concatenate(parts_amount)[order],
        }
    )
    return out
