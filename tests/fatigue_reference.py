"""The fatigue model's person-periods as they were first written, in pandas: the reference the SQL is tested against.

Kept in the tests only: the product builds them with :func:`cvm.plans.fatigue_sql.contact_periods_sql`, where the
offline backend runs. The one intended difference: here a later contact at the very same instant does not count
towards ``n``; in SQL, contacts at the same instant count each other.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl

from cvm.engine import Engine
from cvm.models.fatigue import ADVERSE_TOPICS
from cvm.store.backend import DuckDBBackend

PERIOD_COLUMNS = ("customer_id", "channel", "ts", "n", "adverse")


def contact_periods(
    contacts: pd.DataFrame, window_days: int = 30, attribution_days: int = 7, no_response_streak: int = 3
) -> pd.DataFrame:
    """One person-period per outbound contact of the hub's ``contacts`` table: ``n`` and ``adverse``.

    ``n`` is the contact's rank among the customer's outbound contacts on its channel in the
    ``window_days`` ending at it. ``adverse`` holds when an inbound contact with an adverse topic
    (:data:`ADVERSE_TOPICS`) follows within ``attribution_days``, or when the contact is the
    ``no_response_streak``-th outbound contact in a row with no inbound contact in between.
    """
    need = {"customer_id", "ts", "channel", "direction", "topic"}
    missing = sorted(need - set(contacts.columns))
    if missing:
        raise ValueError(f"contacts: missing column(s) {', '.join(missing)}")
    frame = contacts.loc[:, sorted(need)].copy()
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame = frame.sort_values(["customer_id", "ts"], kind="stable").reset_index(drop=True)
    out = frame[frame["direction"] == "outbound"].copy()
    inbound = frame[frame["direction"] == "inbound"]
    adverse_at = inbound[inbound["topic"].isin(ADVERSE_TOPICS)].groupby("customer_id")["ts"].apply(list).to_dict()
    inbound_at = inbound.groupby("customer_id")["ts"].apply(list).to_dict()
    window, attribution = pd.Timedelta(days=window_days), pd.Timedelta(days=attribution_days)
    ns, flags = [], []
    for (cid, _ch), group in out.groupby(["customer_id", "channel"], sort=False):
        times = group["ts"].tolist()
        bad, answers = adverse_at.get(cid, []), inbound_at.get(cid, [])
        for i, t in enumerate(times):
            ns.append(sum(1 for u in times[: i + 1] if u > t - window))
            streak = i + 1 >= no_response_streak and not any(
                times[i + 1 - no_response_streak] <= a <= t for a in answers
            )
            flags.append((group.index[i], any(t < a <= t + attribution for a in bad) or streak))
    rank = pd.Series(ns, index=[k for k, _ in flags], dtype="int64")
    hit = pd.Series([f for _, f in flags], index=rank.index, dtype=bool)
    out["n"], out["adverse"] = rank, hit
    return out.loc[:, list(PERIOD_COLUMNS)].reset_index(drop=True)


def contacts_backend(root: Path, rows: list[tuple[str, pd.Timestamp, str | None, str, str]]) -> DuckDBBackend:
    """A new workspace at ``root`` whose hub holds these contacts (customer, ts, channel, direction, topic)."""
    engine = Engine.init(root)
    frame = pl.DataFrame(
        {
            "contact_id": [f"k{i}" for i in range(len(rows))],
            "customer_id": [r[0] for r in rows],
            "ts": [r[1].to_pydatetime() for r in rows],
            "channel": [r[2] for r in rows],
            "direction": [r[3] for r in rows],
            "topic": [r[4] for r in rows],
        },
        schema_overrides={"ts": pl.Datetime("us", "UTC")},
    )
    with engine.offline.transaction() as tx:
        tx.append("contacts", frame)
    return DuckDBBackend(engine.offline)
